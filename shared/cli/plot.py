"""Drawing a series to PNG for people who would rather look than read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shared.common.errors import ResourceServiceError
from shared.points.columns import series_key
from shared.points.point import Point

SeriesKey = tuple[tuple[str, str], ...]

MAX_LINES = 12


def plot_points(
    points: Sequence[Point], path: Path, *, title: str, unit: str = "", order: list[SeriesKey] | None = None
) -> int:
    """Draw one line per series, in `order` (else the largest first); return how many were drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ResourceServiceError("plotting needs matplotlib: install the 'plot' extra") from exc
    series: dict[tuple[tuple[str, str], ...], list[Point]] = {}
    for point in points:
        series.setdefault(series_key(point.dimensions), []).append(point)
    if order:
        ranked = [(key, series[key]) for key in order if key in series][:MAX_LINES]
    else:
        ranked = sorted(series.items(), key=lambda item: len(item[1]), reverse=True)[:MAX_LINES]
    figure, axes = plt.subplots(figsize=(10, 5), dpi=100)
    for rank, (key, members) in enumerate(ranked):
        members.sort(key=lambda p: p.timestamp)
        label = ", ".join(value for _, value in key) or title
        width = 2.2 if rank == 0 and order else 1.0
        times: list[Any] = [p.timestamp for p in members]
        axes.plot(times, [p.value for p in members], label=label[:60], linewidth=width)
    axes.set_title(title if len(series) <= MAX_LINES else f"{title} ({MAX_LINES} of {len(series)} series)")
    axes.set_ylabel(unit)
    axes.grid(alpha=0.3)
    if len(ranked) > 1:
        axes.legend(fontsize=7, loc="best")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return len(ranked)
