"""Data points and the checks every wrapper output must pass."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import pairwise

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
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    text = moment.isoformat(timespec="seconds") if not moment.microsecond else moment.isoformat()
    return text + "Z"


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
    ordered = sorted(set(moments))
    steps = Counter(int((b - a).total_seconds()) for a, b in pairwise(ordered))
    if not steps:
        return None
    step, _ = steps.most_common(1)[0]
    for name, low, high in _FREQUENCIES:
        if low <= step <= high:
            return name
    if step < 3600:
        return f"every {step} s"
    return None


def check_points(points: Iterable[Point]) -> tuple[PointsSummary, list[PointIssue]]:
    """Check a wrapper's output: non-empty, unique (timestamp, dimensions), one frequency per series."""
    issues: list[PointIssue] = []
    seen: set[tuple[datetime, tuple[tuple[str, str], ...]]] = set()
    by_series: dict[tuple[tuple[str, str], ...], list[datetime]] = {}
    duplicates = 0
    example = ""
    count = 0
    first: datetime | None = None
    last: datetime | None = None
    for point in points:
        count += 1
        key = series_key(point.dimensions)
        if (point.timestamp, key) in seen:
            duplicates += 1
            example = example or f"{format_timestamp(point.timestamp)} {dict(key)}"
        seen.add((point.timestamp, key))
        by_series.setdefault(key, []).append(point.timestamp)
        first = point.timestamp if first is None else min(first, point.timestamp)
        last = point.timestamp if last is None else max(last, point.timestamp)
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
    frequencies = {key: infer_frequency(moments) for key, moments in by_series.items() if len(moments) > 2}
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
