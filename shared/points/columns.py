"""Points held as numpy columns: what the toolkit builds, the sandbox channel carries and the checks read."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PointDict = dict[str, Any]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Wall clocks (naive datetimes) count from this moment.
NAIVE_EPOCH = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)
# The offset of a wall clock time whose zone the source does not say, in `PointColumns.offsets`.
NAIVE = -(2**31)
# UTC offsets a timestamp may have, in seconds (as Python's timezone allows).
MAX_OFFSET = 86_399
# The timestamps a point can hold, as microseconds since 1970.
MIN_MICROS = (datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND
MAX_MICROS = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // MICROSECOND


class ColumnsError(ValueError):
    """Point columns that do not fit together (lengths, series codes)."""


def series_key(dimensions: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Return a hashable key that names one series."""
    return tuple(sorted(dimensions.items()))


def micros_of(moment: datetime) -> tuple[int, int]:
    """(microseconds since 1970, UTC offset in seconds or NAIVE) of a datetime, as PointColumns holds it."""
    offset = moment.utcoffset()
    if offset is None:
        return (moment - NAIVE_EPOCH) // MICROSECOND, NAIVE
    return (moment - EPOCH) // MICROSECOND, int(offset.total_seconds())


def moment_of(stamp: int, offset: int) -> datetime:
    """The datetime PointColumns holds as (microseconds, offset): `micros_of` the other way."""
    if offset == NAIVE:
        return NAIVE_EPOCH + timedelta(microseconds=stamp)
    moment = EPOCH + timedelta(microseconds=stamp)
    return moment.astimezone(timezone(timedelta(seconds=offset))) if offset else moment


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


class PointColumns:
    """Points as columns: no dict per point until one is asked for.

    `timestamps` are microseconds since 1970 (int64): of the UTC instant for a stamp that said its offset,
    of the wall clock for one that did not. `offsets` (int32) holds each stamp's UTC offset in seconds, or
    NAIVE for a wall clock; without offsets every stamp is UTC. `values` are float64, `series` the distinct
    dimension dicts and `codes` (int32) the series of each point; without codes every point is in
    `series[0]`. Iterating yields point dicts, so code that loops over a helper's points works as with a
    generator.
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
        lengths = {len(timestamps), len(values)} | {
            len(part) for part in (codes, offsets) if part is not None
        }
        if len(lengths) != 1:
            raise ColumnsError("point columns must have the same length")
        if codes is None and len(series) != 1 and len(values):
            raise ColumnsError("points without series codes need exactly one series")
        self.timestamps = timestamps
        self.values = values
        self.series = series
        self.codes = codes
        self.offsets = offsets

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[PointDict]:
        codes = self.codes.tolist() if self.codes is not None else [0] * len(self.values)
        offsets = self.offsets.tolist() if self.offsets is not None else [0] * len(self.values)
        columns = zip(self.timestamps.tolist(), self.values.tolist(), codes, offsets, strict=True)
        for stamp, value, code, offset in columns:
            yield {
                "timestamp": moment_of(stamp, offset),
                "value": value,
                "dimensions": dict(self.series[code]),
            }

    def take(self, keep: np.ndarray | slice) -> PointColumns:
        """The points `keep` selects (a slice, or booleans one per point), in order, with the same series."""
        return PointColumns(
            self.timestamps[keep],
            self.values[keep],
            series=self.series,
            codes=None if self.codes is None else self.codes[keep],
            offsets=None if self.offsets is None else self.offsets[keep],
        )

    def chunks(self, size: int) -> Iterator[PointColumns]:
        """The points `size` at a time, in order, each chunk a view of these columns."""
        for start in range(0, len(self.values), size):
            yield self.take(slice(start, start + size))

    def series_codes(self) -> np.ndarray:
        """The series code of every point (all 0 when the columns hold one series without codes)."""
        import numpy as np

        return self.codes if self.codes is not None else np.zeros(len(self.values), dtype=np.int32)

    def present_series(self) -> list[int]:
        """The codes of the series that have points, in the order each first occurs."""
        if self.codes is None:
            return [0] if len(self.values) else []
        import numpy as np

        codes, first = np.unique(self.codes, return_index=True)
        return codes[np.argsort(first)].tolist()

    @classmethod
    def from_points(cls, points: Iterable[PointDict]) -> PointColumns:
        """Columns of point dicts whose timestamps are datetimes, naive (wall clocks) or aware."""
        import numpy as np

        stamps: list[int] = []
        offsets: list[int] = []
        values: list[float] = []
        codes: list[int] = []
        index: dict[tuple[tuple[str, str], ...], int] = {}
        series: list[dict[str, str]] = []
        for point in points:
            stamp, offset = micros_of(point["timestamp"])
            stamps.append(stamp)
            offsets.append(offset)
            values.append(point["value"])
            dimensions = point["dimensions"]
            key = series_key(dimensions)
            code = index.get(key)
            if code is None:
                code = index[key] = len(series)
                series.append(dict(dimensions))
            codes.append(code)
        offset_column = np.array(offsets, dtype=np.int32)
        return cls(
            np.array(stamps, dtype=np.int64),
            np.array(values, dtype=np.float64),
            series=series or [{}],
            codes=np.array(codes, dtype=np.int32) if len(series) > 1 else None,
            offsets=offset_column if offset_column.any() else None,
        )

    @classmethod
    def concat(cls, parts: Sequence[PointColumns]) -> PointColumns:
        """The points of all the parts, in order, each distinct series once."""
        return cls.drain(list(parts))

    @classmethod
    def drain(cls, parts: list[PointColumns]) -> PointColumns:
        """`concat` of the parts that empties the list as it goes: each part is let go once it is copied."""
        import numpy as np

        index: dict[tuple[tuple[str, str], ...], int] = {}
        series: list[dict[str, str]] = []
        mappings = []
        for part in parts:
            named = []
            for dimensions in part.series:
                key = series_key(dimensions)
                if key not in index:
                    index[key] = len(series)
                    series.append(dimensions)
                named.append(index[key])
            mappings.append(np.array(named, dtype=np.int32))
        total = sum(len(part) for part in parts)
        stamps = np.empty(total, dtype=np.int64)
        values = np.empty(total, dtype=np.float64)
        # One series needs no codes: none is kept per point.
        codes = np.empty(total, dtype=np.int32) if len(series) != 1 else None
        offsets = np.zeros(total, dtype=np.int32) if any(p.offsets is not None for p in parts) else None
        start = 0
        parts.reverse()
        for mapping in mappings:
            # Popped, so that a part (a view of a frame's buffer) is freed before the next is copied: the
            # points are never held twice over.
            part = parts.pop()
            end = start + len(part)
            stamps[start:end] = part.timestamps
            values[start:end] = part.values
            if codes is not None:
                part_codes = part.series_codes()
                codes[start:end] = mapping[part_codes] if len(mapping) else part_codes
            if offsets is not None and part.offsets is not None:
                offsets[start:end] = part.offsets
            start = end
        return cls(stamps, values, series=series, codes=codes, offsets=offsets)
