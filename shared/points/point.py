"""Data points and the checks every wrapper output must pass."""

from __future__ import annotations

import gc
import math
import operator
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, overload

from pydantic import BaseModel, Field, field_validator

if TYPE_CHECKING:
    import numpy as np


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


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# The timestamps a Point can hold, as UTC microseconds since 1970.
MIN_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // MICROSECOND


class PointColumns(Sequence[Point]):
    """Points held as columns, made into `Point`s only when read: a Sequence[Point] for every consumer.

    `timestamps` are UTC microseconds since 1970 (int64), `values` finite float64 and `codes` (int32) index
    `series`, the distinct dimension dicts. The caller vouches for the columns (see validation.PointBuilder).
    """

    def __init__(
        self,
        timestamps: np.ndarray,
        values: np.ndarray,
        *,
        series: list[dict[str, str]],
        codes: np.ndarray | None = None,
    ) -> None:
        import numpy as np

        self.timestamps = timestamps
        self.values = values
        self.series = series
        self.codes = codes if codes is not None else np.zeros(len(values), dtype=np.int32)
        if not len(timestamps) == len(values) == len(self.codes):
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
        for stamp, value, code in zip(stamps, self.values[window].tolist(), codes, strict=True):
            # Checked columns hold what Point's validators would make: a UTC datetime and a finite float.
            yield make(
                timestamp=EPOCH + timedelta(microseconds=stamp), value=value, dimensions=dict(series[code])
            )

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
        return cls(
            np.array([(point.timestamp - EPOCH) // MICROSECOND for point in points], dtype=np.int64),
            np.array([point.value for point in points], dtype=np.float64),
            series=series,
            codes=np.array(codes, dtype=np.int32),
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
        return cls(
            np.concatenate([part.timestamps for part in parts]).astype(np.int64, copy=False),
            np.concatenate([part.values for part in parts]).astype(np.float64, copy=False),
            series=series,
            codes=np.concatenate(codes).astype(np.int32, copy=False) if codes else None,
        )


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


def _row_facts(points: list[Point]) -> _Facts:
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
        moment = EPOCH + timedelta(microseconds=int(points.timestamps[at]))
        example = f"{format_timestamp(moment)} {dict(names[int(series[at])])}"
    unique = np.concatenate(([True], ~repeat)) if len(codes) else np.zeros(0, dtype=bool)
    sizes = np.bincount(codes, minlength=len(names)) if len(codes) else np.zeros(len(names), dtype=np.int64)
    frequencies: list[str | None] = []
    unique_codes, unique_stamps = codes[unique], stamps[unique]
    bounds = np.searchsorted(unique_codes, np.arange(len(names) + 1))
    for code in range(len(names)):
        if sizes[code] > 2:
            frequencies.append(_column_frequency(unique_stamps[bounds[code] : bounds[code + 1]]))
    present = np.flatnonzero(sizes)
    return _Facts(
        count=len(points),
        series=len(present),
        duplicates=int(repeat.sum()),
        example=example,
        first=EPOCH + timedelta(microseconds=int(stamps.min())) if len(stamps) else None,
        last=EPOCH + timedelta(microseconds=int(stamps.max())) if len(stamps) else None,
        frequencies=frequencies,
    )


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
