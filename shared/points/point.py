"""Data points and the checks every wrapper output must pass."""

from __future__ import annotations

import gc
import math
import operator
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, overload

from pydantic import BaseModel, Field, field_validator

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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NAIVE_EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
# The offset of a wall clock in `PointColumns.offsets` (as in shared.wrapper_toolkit).
NAIVE = -(2**31)
# UTC offsets a timestamp may have, in seconds (as Python's timezone allows).
MAX_OFFSET = 86_399
# The timestamps a Point can hold, as UTC microseconds since 1970.
MIN_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // MICROSECOND


class PointColumns(Sequence[Point]):
    """Points held as columns, made into `Point`s only when read: a Sequence[Point] for every consumer.

    `timestamps` are microseconds since 1970 (int64): of the UTC instant of a stamp with an offset, of the
    wall clock of one without. `offsets` (int32) holds each stamp's UTC offset in seconds or NAIVE; without
    offsets every stamp is UTC. `values` are finite float64 and `codes` (int32) index `series`, the distinct
    dimension dicts. The caller vouches for the columns (see validation.PointBuilder).
    """

    def __init__(
        self,
        timestamps: np.ndarray,
        values: np.ndarray,
        *,
        series: list[dict[str, str]],
        codes: np.ndarray | None = None,
        offsets: np.ndarray | None = None,
    ) -> None:
        import numpy as np

        self.timestamps = timestamps
        self.values = values
        self.series = series
        self.codes = codes if codes is not None else np.zeros(len(values), dtype=np.int32)
        self.offsets = offsets
        if not len(timestamps) == len(values) == len(self.codes) or (
            offsets is not None and len(offsets) != len(values)
        ):
            raise ValueError("point columns must have the same length")

    def __len__(self) -> int:
        return len(self.values)

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

        # A range read backwards may stop at -1, which a slice would read as the last position.
        window: slice | np.ndarray = slice(positions.start, positions.stop)
        if positions.step != 1:
            window = np.fromiter(positions, dtype=np.intp, count=len(positions))
        stamps = self.timestamps[window].tolist()
        codes = self.codes[window].tolist()
        series = self.series
        make = Point.model_construct
        values = self.values[window].tolist()
        if self.offsets is None:
            for stamp, value, code in zip(stamps, values, codes, strict=True):
                # Checked columns hold what Point's validators would make: a datetime and a finite float.
                moment = EPOCH + timedelta(microseconds=stamp)
                yield make(timestamp=moment, value=value, dimensions=dict(series[code]))
            return
        offsets = self.offsets[window].tolist()
        for stamp, value, code, offset in zip(stamps, values, codes, offsets, strict=True):
            yield make(timestamp=moment_of(stamp, offset), value=value, dimensions=dict(series[code]))

    @classmethod
    def from_points(cls, points: Sequence[Point]) -> PointColumns:
        """The same points as columns."""
        import numpy as np

        index: dict[tuple[tuple[str, str], ...], int] = {}
        series: list[dict[str, str]] = []
        codes = []
        for point in points:
            key = series_key(point.dimensions)
            code = index.get(key)
            if code is None:
                code = index[key] = len(series)
                series.append(dict(point.dimensions))
            codes.append(code)
        clocks = [micros_of(point.timestamp) for point in points]
        offsets = np.array([offset for _, offset in clocks], dtype=np.int32)
        return cls(
            np.array([stamp for stamp, _ in clocks], dtype=np.int64),
            np.array([point.value for point in points], dtype=np.float64),
            series=series,
            codes=np.array(codes, dtype=np.int32),
            offsets=offsets if offsets.any() else None,
        )

    @classmethod
    def concat(cls, parts: Sequence[PointColumns]) -> PointColumns:
        """The points of all the parts, in order, each distinct series once."""
        import numpy as np

        if not parts:
            return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), series=[])
        index: dict[tuple[tuple[str, str], ...], int] = {}
        series: list[dict[str, str]] = []
        codes = []
        for part in parts:
            mapping = []
            for dimensions in part.series:
                key = series_key(dimensions)
                if key not in index:
                    index[key] = len(series)
                    series.append(dimensions)
                mapping.append(index[key])
            codes.append(np.array(mapping, dtype=np.int32)[part.codes] if mapping else part.codes)
        offsets = None
        if any(part.offsets is not None for part in parts):
            offsets = np.concatenate(
                [
                    part.offsets if part.offsets is not None else np.zeros(len(part), dtype=np.int32)
                    for part in parts
                ]
            ).astype(np.int32, copy=False)
        return cls(
            np.concatenate([part.timestamps for part in parts]).astype(np.int64, copy=False),
            np.concatenate([part.values for part in parts]).astype(np.float64, copy=False),
            series=series,
            codes=np.concatenate(codes).astype(np.int32, copy=False) if codes else None,
            offsets=offsets,
        )


def micros_of(moment: datetime) -> tuple[int, int]:
    """(microseconds since 1970, UTC offset in seconds or NAIVE) of a timestamp, as PointColumns holds it."""
    offset = moment.utcoffset()
    if offset is None:
        return (moment - NAIVE_EPOCH) // MICROSECOND, NAIVE
    return (moment - EPOCH) // MICROSECOND, int(offset.total_seconds())


def moment_of(stamp: int, offset: int) -> datetime:
    """The timestamp PointColumns holds as (microseconds, offset): `micros_of` the other way."""
    if offset == NAIVE:
        return NAIVE_EPOCH + timedelta(microseconds=stamp)
    moment = EPOCH + timedelta(microseconds=stamp)
    return moment.astimezone(timezone(timedelta(seconds=offset))) if offset else moment


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
    return _step_name(step)


def _step_name(step: int) -> str | None:
    """The frequency a step of `step` seconds stands for, or None."""
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
    if isinstance(points, PointColumns):
        return _verdict(_column_facts(points))
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
    series = np.array(named, dtype=np.int64)[points.codes] if named else points.codes.astype(np.int64)
    stamps = points.timestamps
    # By series, then time (stable: repeats follow their first); points usually arrive in that order already.
    ordered = bool(
        np.all((series[1:] > series[:-1]) | ((series[1:] == series[:-1]) & (stamps[1:] >= stamps[:-1])))
    )
    order = np.arange(len(stamps)) if ordered else np.lexsort((stamps, series))
    codes, stamps = series[order], stamps[order]
    repeat = (codes[1:] == codes[:-1]) & (stamps[1:] == stamps[:-1])
    example = ""
    if repeat.any():
        at = int(order[1:][repeat].min())  # the first point, in output order, that repeats an earlier one
        example = f"{format_timestamp(_column_moment(points, at))} {dict(names[int(series[at])])}"
    unique = np.concatenate(([True], ~repeat)) if len(codes) else np.zeros(0, dtype=bool)
    sizes = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(len(names), dtype=np.int64)
    frequencies: list[str | None] = []
    unique_codes, unique_stamps = codes[unique], stamps[unique]
    bounds = np.searchsorted(unique_codes, np.arange(len(names) + 1))
    for code in range(len(names)):
        if sizes[code] > 2:
            frequencies.append(_column_frequency(unique_stamps[bounds[code] : bounds[code + 1]]))
    present = np.flatnonzero(sizes)
    naive = int(np.count_nonzero(points.offsets == NAIVE)) if points.offsets is not None else 0
    return _Facts(
        count=len(points),
        series=len(present),
        duplicates=int(repeat.sum()),
        example=example,
        first=_column_moment(points, int(np.argmin(points.timestamps))) if len(stamps) else None,
        last=_column_moment(points, int(np.argmax(points.timestamps))) if len(stamps) else None,
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
    steps = np.diff(ordered) // 1_000_000
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
