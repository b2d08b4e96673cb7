"""Drawing a series to PNG for people who would rather look than read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.common.errors import ResourceServiceError
from shared.points.columns import series_key
from shared.points.point import Point

SeriesKey = tuple[tuple[str, str], ...]

MAX_LINES = 12
LABEL_MAX = 60
LINE_WIDTH = 1.4
# Below this many points a series is drawn with markers too: one point alone draws no line.
MARKERS_BELOW = 30
# Qualitative palettes by size: the smallest one with a colour for every line drawn.
PALETTES = (("tab10", 10), ("tab20", 20))


def choose_series(
    series: Mapping[SeriesKey, Sequence[Any]], relevant: Sequence[SeriesKey]
) -> list[SeriesKey]:
    """What to draw: the series relevant to the request (most relevant first), else the largest."""
    chosen = [key for key in dict.fromkeys(relevant) if key in series]
    if not chosen:
        # sorted() is stable: series of one size keep the order they came in.
        chosen = sorted(series, key=lambda key: len(series[key]), reverse=True)
    return chosen[:MAX_LINES]


def series_label(key: SeriesKey, fallback: str) -> str:
    """A series' dimension values, empty ones left out (no `, Africa` from an empty code)."""
    label = ", ".join(value.strip() for _, value in key if value.strip())
    if len(label) > LABEL_MAX:
        label = label[: LABEL_MAX - 1] + "…"
    return label or fallback


def palette(count: int) -> list[tuple[float, float, float, float]]:
    """`count` distinct colours from the smallest qualitative palette that has that many."""
    import matplotlib

    name, size = next(((name, size) for name, size in PALETTES if size >= count), PALETTES[-1])
    if count > size:
        raise ValueError(f"no palette has {count} distinct colours; draw at most {size} lines")
    colours = matplotlib.colormaps[name]
    return [tuple(colours(index)) for index in range(count)]  # type: ignore[misc]


def draw_series(
    points: Sequence[Point], *, title: str, unit: str = "", order: Sequence[SeriesKey] | None = None
) -> Any:
    """A matplotlib figure of the chosen series (see `choose_series`), titled with what it shows."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ResourceServiceError("plotting needs matplotlib: install the 'plot' extra") from exc

    series: dict[SeriesKey, list[Point]] = {}
    for point in points:
        series.setdefault(series_key(point.dimensions), []).append(point)
    relevant = [key for key in order or () if key in series]
    chosen = choose_series(series, relevant)
    figure, axes = plt.subplots(figsize=(10, 5), dpi=100)
    for key, colour in zip(chosen, palette(len(chosen)), strict=True):
        members = sorted(series[key], key=lambda p: p.timestamp)
        times: list[Any] = [p.timestamp for p in members]
        axes.plot(
            times,
            [p.value for p in members],
            label=series_label(key, title),
            color=colour,
            linewidth=LINE_WIDTH,
            marker="o" if len(members) < MARKERS_BELOW else None,
            markersize=3,
        )
    axes.set_title(_title(title, drawn=len(chosen), total=len(series), matched=bool(relevant)))
    axes.set_ylabel(unit or "value")
    axes.grid(alpha=0.3)
    if len(chosen) > 1 or len(chosen) < len(series):
        # One line picked out of many still says which series it is.
        axes.legend(fontsize=7, loc="best")
    figure.autofmt_xdate()
    figure.tight_layout()
    return figure


def _title(title: str, *, drawn: int, total: int, matched: bool) -> str:
    if drawn == total:
        return title if total <= 1 else f"{title} ({total} series)"
    which = "best matching the request" if matched else "with the most points"
    return f"{title} ({drawn} of {total} series, {which})"


def plot_points(
    points: Sequence[Point], path: Path, *, title: str, unit: str = "", order: list[SeriesKey] | None = None
) -> int:
    """Draw the series relevant to the request (`order`), else the largest; return how many were drawn."""
    import matplotlib.pyplot as plt

    figure = draw_series(points, title=title, unit=unit, order=order)
    try:
        figure.savefig(path)
        return len(figure.axes[0].get_lines())
    finally:
        plt.close(figure)
