"""Data points and the checks every wrapper output must pass."""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, overload

from pydantic import BaseModel, Field, field_validator

from shared.points.columns import (
    EPOCH,
    MICROSECOND,
    NAIVE,
    PointColumns,
    gc_paused,
    moment_of,
    series_key,
)

if TYPE_CHECKING:
    import numpy as np


class Point(BaseModel):
    """One observation: start of its period, a finite number and its dimensions.

    The timestamp keeps its clock: aware in the offset its source stated (UTC as `UTC`), or naive for a
    wall clock whose zone is not known (see shared.points.clock).
    """

    timestamp: datetime
    value: float
    dimensions: dict[str, str] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _clock(cls, value: datetime) -> datetime:
        offset = value.utcoffset()
        if offset is None or offset:
            return value
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value

    def in_utc(self) -> Point:
        """The same point in UTC, as the store and its messages keep it (a wall clock counts as UTC there)."""
        moment = self.timestamp
        if moment.tzinfo is UTC:
            return self
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return Point.model_construct(timestamp=moment, value=self.value, dimensions=self.dimensions)

    def to_wire(self) -> dict[str, object]:
        """Return the JSON shape of DESIGN.md (ISO 8601 timestamp: `Z` for UTC, its offset, or none)."""
        return {
            "timestamp": format_timestamp(self.timestamp),
            "value": self.value,
            "dimensions": self.dimensions,
        }


class PointSequence(Sequence[Point]):
    """Points held as columns and made into `Point`s only when read: a Sequence[Point] for every consumer.

    The caller vouches for the columns (see validation.PointBuilder): finite values, timestamps in range.
    """

    def __init__(self, columns: PointColumns) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns)

    @overload
    def __getitem__(self, index: int) -> Point: ...

    @overload
    def __getitem__(self, index: slice) -> list[Point]: ...

    def __getitem__(self, index: int | slice) -> Point | list[Point]:
        if isinstance(index, slice):
            return list(self._points(range(len(self))[index]))
        position = range(len(self))[index]  # negative indexes and IndexError as for a list
        return next(self._points(range(position, position + 1)))

    def __iter__(self) -> Iterator[Point]:
        return self._points(range(len(self)))

    def _points(self, positions: range) -> Iterator[Point]:
        import numpy as np

        columns = self.columns
        # A range read backwards may stop at -1, which a slice would read as the last position.
        window: slice | np.ndarray = slice(positions.start, positions.stop)
        if positions.step != 1:
            window = np.fromiter(positions, dtype=np.intp, count=len(positions))
        stamps = columns.timestamps[window].tolist()
        codes = columns.series_codes()[window].tolist()
        series = columns.series
        make = Point.model_construct
        values = columns.values[window].tolist()
        if columns.offsets is None:
            for stamp, value, code in zip(stamps, values, codes, strict=True):
                # Checked columns hold what Point's validators would make: a datetime and a finite float.
                moment = EPOCH + timedelta(microseconds=stamp)
                yield make(timestamp=moment, value=value, dimensions=dict(series[code]))
            return
        offsets = columns.offsets[window].tolist()
        for stamp, value, code, offset in zip(stamps, values, codes, offsets, strict=True):
            yield make(timestamp=moment_of(stamp, offset), value=value, dimensions=dict(series[code]))

    def since(self, moment: datetime) -> PointSequence:
        """The points at or after `moment`, an aware datetime (a wall clock is compared as if it were UTC)."""
        keep = self.columns.timestamps >= (moment - EPOCH) // MICROSECOND
        return self if keep.all() else PointSequence(self.columns.take(keep))

    def span(self) -> tuple[datetime, datetime] | None:
        """The earliest and the latest timestamp, with their clocks; None without points."""
        if not len(self):
            return None
        columns = self.columns
        first, last = int(columns.timestamps.argmin()), int(columns.timestamps.argmax())
        return _column_moment(columns, first), _column_moment(columns, last)

    @classmethod
    def from_points(cls, points: Sequence[Point]) -> PointSequence:
        """The same points, held as columns."""
        # Points are read as they are: a dump would copy every point's dimensions.
        rows = ({"timestamp": p.timestamp, "value": p.value, "dimensions": p.dimensions} for p in points)
        return cls(PointColumns.from_points(rows))

    @classmethod
    def concat(cls, parts: Sequence[PointSequence]) -> PointSequence:
        """The points of all the parts, in order, each distinct series once."""
        return cls(PointColumns.concat([part.columns for part in parts]))


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
    """ISO 8601: a UTC timestamp with `Z`, another offset as `+HH:MM`, a wall clock without either."""
    if moment.tzinfo is UTC and type(moment) is datetime:
        return _utc_text(moment)
    offset = moment.utcoffset()
    if offset == timedelta(0):
        return _utc_text(moment.astimezone(UTC))
    return moment.isoformat(timespec="seconds") if not moment.microsecond else moment.isoformat()


def _utc_text(moment: datetime) -> str:
    """What `format_timestamp` writes for a datetime in UTC, written directly (the hot case)."""
    # %-formatting of the fields is the quickest way to this text: isoformat also formats the offset.
    fields = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    if moment.microsecond:
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (*fields, moment.microsecond)  # noqa: UP031
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % fields  # noqa: UP031


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
    return _step_name(step)


def _step_name(step: int) -> str | None:
    """The frequency a step of `step` seconds stands for, or None."""
    for name, low, high in _FREQUENCIES:
        if low <= step <= high:
            return name
    if step < 3600:
        return f"every {step} s"
    return None


def check_points(points: Iterable[Point]) -> tuple[PointsSummary, list[PointIssue]]:
    """Check a wrapper's output: non-empty, unique (timestamp, dimensions), one frequency per series."""
    if isinstance(points, PointSequence):
        return _verdict(_column_facts(points.columns))
    return _verdict(_row_facts(points if isinstance(points, list) else list(points)))


@dataclass
class _Facts:
    """What check_points judges, found row by row or column by column."""

    count: int
    series: int
    duplicates: int
    example: str
    first: datetime | None
    last: datetime | None
    frequencies: list[str | None]
    wall_clocks: int = 0  # timestamps without an offset, when others have one


def _row_facts(points: list[Point]) -> _Facts:
    by_series: dict[tuple[tuple[str, str], ...], list[datetime]] = {}
    naive = sum(1 for point in points if point.timestamp.tzinfo is None)
    mixed = 0 < naive < len(points)
    with gc_paused():
        if points and not any(point.dimensions for point in points) and not mixed:
            by_series[()] = [point.timestamp for point in points]  # one series: the commonest output
        else:
            for point in points:
                dimensions = point.dimensions
                key = series_key(dimensions) if dimensions else ()
                moments = by_series.get(key)
                if moments is None:
                    moments = by_series[key] = []
                stamp = point.timestamp
                # Wall clocks among stamps with offsets cannot be ordered with them: compared as if UTC.
                moments.append(stamp.replace(tzinfo=UTC) if mixed and stamp.tzinfo is None else stamp)
        # Sorted and unique per series; timestamps usually arrive in order, and then they already are.
        ordered = {
            key: moments if all(map(operator.lt, moments, moments[1:])) else sorted(set(moments))
            for key, moments in by_series.items()
        }
    duplicates = sum(len(by_series[key]) - len(moments) for key, moments in ordered.items())
    return _Facts(
        count=len(points),
        series=len(by_series),
        duplicates=duplicates,
        example=_first_duplicate(points) if duplicates else "",
        first=min((min(moments) for moments in by_series.values()), default=None),
        last=max((max(moments) for moments in by_series.values()), default=None),
        frequencies=[_frequency(ordered[key]) for key, moments in by_series.items() if len(moments) > 2],
        wall_clocks=naive if mixed else 0,
    )


def _column_facts(points: PointColumns) -> _Facts:
    """_row_facts of the same points, computed on the columns."""
    import numpy as np

    keys: dict[tuple[tuple[str, str], ...], int] = {}
    named = [keys.setdefault(series_key(dimensions), len(keys)) for dimensions in points.series]
    names = list(keys)
    codes = points.series_codes()
    # The columns' own codes when their series are distinct (the usual case): no copy per point.
    distinct = named == list(range(len(named)))
    series = codes if distinct else np.array(named or [0], dtype=np.int32)[codes]
    stamps = points.timestamps
    # By series, then time (stable: repeats follow their first); points usually arrive in that order already.
    in_time = stamps[1:] >= stamps[:-1]
    if len(names) > 1:
        in_time = (series[1:] > series[:-1]) | ((series[1:] == series[:-1]) & in_time)
    order = None if bool(np.all(in_time)) else np.lexsort((stamps, series))
    del in_time
    if order is not None:
        series, stamps = series[order], stamps[order]
    repeat = stamps[1:] == stamps[:-1]
    if len(names) > 1:
        repeat &= series[1:] == series[:-1]
    example = ""
    if repeat.any():
        # The first point, in output order, that repeats an earlier one.
        at = int(order[1:][repeat].min()) if order is not None else int(np.argmax(repeat)) + 1
        code = int(points.series_codes()[at])
        example = f"{format_timestamp(_column_moment(points, at))} {dict(names[named[code]])}"
        unique = np.concatenate(([True], ~repeat))
        unique_codes, unique_stamps = series[unique], stamps[unique]
    else:
        unique_codes, unique_stamps = series, stamps
    del repeat
    sizes = np.bincount(series, minlength=len(names)) if len(series) else np.zeros(len(names), dtype=np.int64)
    frequencies: list[str | None] = []
    bounds = np.searchsorted(unique_codes, np.arange(len(names) + 1))
    for code in range(len(names)):
        if sizes[code] > 2:
            frequencies.append(_column_frequency(unique_stamps[bounds[code] : bounds[code + 1]]))
    present = np.flatnonzero(sizes)
    naive = int(np.count_nonzero(points.offsets == NAIVE)) if points.offsets is not None else 0
    first, last = PointSequence(points).span() or (None, None)
    return _Facts(
        count=len(points),
        series=len(present),
        duplicates=len(series) - len(unique_stamps),
        example=example,
        first=first,
        last=last,
        frequencies=frequencies,
        wall_clocks=naive if 0 < naive < len(points) else 0,
    )


def _column_moment(points: PointColumns, at: int) -> datetime:
    """The timestamp of the point at `at`, with its clock."""
    offset = int(points.offsets[at]) if points.offsets is not None else 0
    return moment_of(int(points.timestamps[at]), offset)


def _column_frequency(ordered: np.ndarray) -> str | None:
    """_frequency of sorted unique UTC microseconds."""
    import numpy as np

    if len(ordered) < 2:
        return None
    steps = np.diff(ordered)
    steps //= 1_000_000
    if not (steps != steps[0]).any():
        return _step_name(int(steps[0]))  # a regular series, the usual one: no sort of its steps
    values, first_seen, counts = np.unique(steps, return_index=True, return_counts=True)
    # Counter.most_common: the commonest step, the first seen among equally common ones.
    tied = np.flatnonzero(counts == counts.max())
    return _step_name(int(values[tied[np.argmin(first_seen[tied])]]))


def _verdict(facts: _Facts) -> tuple[PointsSummary, list[PointIssue]]:
    """The summary and issues of check_points."""
    issues: list[PointIssue] = []
    if facts.count == 0:
        issues.append(PointIssue(code="no_points", message="the parse code returned no points"))
    if facts.duplicates:
        issues.append(
            PointIssue(
                code="duplicate_points",
                message=f"{facts.duplicates} points repeat a (timestamp, dimensions) pair, "
                f"e.g. {facts.example}; add the dimension that tells them apart",
            )
        )
    if facts.wall_clocks:
        issues.append(
            PointIssue(
                code="mixed_clocks",
                message=f"{facts.wall_clocks} of {facts.count} timestamps carry no UTC offset while the "
                "others do; give every timestamp its offset, or none",
            )
        )
    named = {f for f in facts.frequencies if f is not None}
    if len(named) > 1:
        issues.append(
            PointIssue(
                code="mixed_frequency",
                message=f"series have different frequencies ({', '.join(sorted(named))}); "
                "keep one frequency or add a dimension for it",
            )
        )
    summary = PointsSummary(
        count=facts.count,
        series=facts.series,
        first=format_timestamp(facts.first) if facts.first else None,
        last=format_timestamp(facts.last) if facts.last else None,
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
