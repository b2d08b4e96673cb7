"""Data points and the checks every wrapper output must pass."""

from __future__ import annotations

import gc
import math
import operator
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field, field_validator


class Point(BaseModel):
    """One observation: start of its period (UTC), a finite number and its dimensions."""

    timestamp: datetime
    value: float
    dimensions: dict[str, str] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    def to_wire(self) -> dict[str, object]:
        """Return the JSON shape of DESIGN.md (ISO 8601 UTC timestamp)."""
        return {
            "timestamp": format_timestamp(self.timestamp),
            "value": self.value,
            "dimensions": self.dimensions,
        }


class PointIssue(BaseModel):
    """One problem found in a wrapper's output."""

    code: str
    message: str


class PointsSummary(BaseModel):
    """What a set of points looks like: size, span, series and frequency."""

    count: int
    series: int
    first: str | None = None
    last: str | None = None
    frequency: str | None = None


def format_timestamp(moment: datetime) -> str:
    """Format a UTC datetime as ISO 8601 with a `Z` suffix."""
    if moment.tzinfo is UTC and type(moment) is datetime:
        return _utc_text(moment)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    text = moment.isoformat(timespec="seconds") if not moment.microsecond else moment.isoformat()
    return text + "Z"


def _utc_text(moment: datetime) -> str:
    """What `format_timestamp` writes for a datetime in UTC, written directly (the hot case)."""
    # %-formatting of the fields is the quickest way to this text: isoformat also formats the offset.
    fields = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    if moment.microsecond:
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (*fields, moment.microsecond)  # noqa: UP031
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % fields  # noqa: UP031


def series_key(dimensions: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Return a hashable key that names one series."""
    return tuple(sorted(dimensions.items()))


_FREQUENCIES = (
    ("annual", 365 * 86400, 366 * 86400),
    ("quarterly", 90 * 86400, 92 * 86400),
    ("monthly", 28 * 86400, 31 * 86400),
    ("weekly", 7 * 86400, 7 * 86400),
    ("daily", 86400, 86400),
    ("hourly", 3600, 3600),
)


def infer_frequency(moments: list[datetime]) -> str | None:
    """Name the most common step between sorted timestamps, or None when it is irregular."""
    return _frequency(sorted(set(moments)))


def _frequency(ordered: list[datetime]) -> str | None:
    """infer_frequency of timestamps already sorted and unique."""
    # Step by step as int((b - a).total_seconds()) for each pair, iterated in C.
    steps = Counter(map(int, map(timedelta.total_seconds, map(operator.sub, ordered[1:], ordered))))
    if not steps:
        return None
    step, _ = steps.most_common(1)[0]
    for name, low, high in _FREQUENCIES:
        if low <= step <= high:
            return name
    if step < 3600:
        return f"every {step} s"
    return None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many objects that all stay alive are built."""
    # Every collection walks the objects built so far: building a million points would walk them thousands
    # of times. Nothing built meanwhile is cyclic garbage, and the collector's previous state comes back.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def check_points(points: Iterable[Point]) -> tuple[PointsSummary, list[PointIssue]]:
    """Check a wrapper's output: non-empty, unique (timestamp, dimensions), one frequency per series."""
    issues: list[PointIssue] = []
    points = points if isinstance(points, list) else list(points)
    by_series: dict[tuple[tuple[str, str], ...], list[datetime]] = {}
    with gc_paused():
        if points and not any(point.dimensions for point in points):
            by_series[()] = [point.timestamp for point in points]  # one series: the commonest output
        else:
            for point in points:
                dimensions = point.dimensions
                key = series_key(dimensions) if dimensions else ()
                moments = by_series.get(key)
                if moments is None:
                    moments = by_series[key] = []
                moments.append(point.timestamp)
        count = len(points)
        # Sorted and unique per series; timestamps usually arrive in order, and then they already are.
        ordered = {
            key: moments if all(map(operator.lt, moments, moments[1:])) else sorted(set(moments))
            for key, moments in by_series.items()
        }
    duplicates = sum(len(by_series[key]) - len(moments) for key, moments in ordered.items())
    example = _first_duplicate(points) if duplicates else ""
    first = min((min(moments) for moments in by_series.values()), default=None)
    last = max((max(moments) for moments in by_series.values()), default=None)
    if count == 0:
        issues.append(PointIssue(code="no_points", message="the parse code returned no points"))
    if duplicates:
        issues.append(
            PointIssue(
                code="duplicate_points",
                message=f"{duplicates} points repeat a (timestamp, dimensions) pair, e.g. {example}; "
                "add the dimension that tells them apart",
            )
        )
    frequencies = {key: _frequency(ordered[key]) for key, moments in by_series.items() if len(moments) > 2}
    named = {f for f in frequencies.values() if f is not None}
    if len(named) > 1:
        issues.append(
            PointIssue(
                code="mixed_frequency",
                message=f"series have different frequencies ({', '.join(sorted(named))}); "
                "keep one frequency or add a dimension for it",
            )
        )
    summary = PointsSummary(
        count=count,
        series=len(by_series),
        first=format_timestamp(first) if first else None,
        last=format_timestamp(last) if last else None,
        frequency=next(iter(named)) if len(named) == 1 else None,
    )
    return summary, issues


def _first_duplicate(points: list[Point]) -> str:
    """The first point that repeats an earlier (timestamp, dimensions) pair, as text."""
    seen: set[tuple[datetime, tuple[tuple[str, str], ...]]] = set()
    for point in points:
        key = series_key(point.dimensions)
        if (point.timestamp, key) in seen:
            return f"{format_timestamp(point.timestamp)} {dict(key)}"
        seen.add((point.timestamp, key))
    return ""
