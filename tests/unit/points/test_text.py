"""Points written as text from their columns: the bytes written from Point objects, a chunk at a time."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from shared.cli.main import write_points
from shared.points.columns import PointColumns
from shared.points.point import Point, PointSequence, format_timestamp
from shared.points.text import cell_widths, dimension_names, timestamp_texts

FORMATS = ("jsonl", "csv", "table")


def written_from_objects(points: Sequence[Point], fmt: str) -> str:
    """What the command line wrote when it made every point an object and its text at once."""
    out = io.StringIO()
    if fmt == "jsonl":
        for point in points:
            out.write(json.dumps(point.to_wire(), ensure_ascii=False) + "\n")
        return out.getvalue()
    names = sorted({name for point in points for name in point.dimensions})
    rows = [
        [format_timestamp(p.timestamp), repr(p.value) if not p.value.is_integer() else str(int(p.value))]
        + [p.dimensions.get(name, "") for name in names]
        for p in points
    ]
    header = ["timestamp", "value", *names]
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()
    widths = [
        max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i])
        for i in range(len(header))
    ]
    out.write("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
    return out.getvalue()


def written(points: Sequence[Point], fmt: str) -> str:
    out = io.StringIO()
    write_points(points, fmt, out)
    return out.getvalue()


UTC_MOMENTS = [
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2020, 2, 29, 12, 30, 15, 123_456, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
]
VALUES = [0.0, -0.0, 1.0, -3.0, 0.1 + 0.2, 1e16, 1e-7, -2.5e300, 123456789.125, 17.3]


def utc_points() -> list[Point]:
    return [
        Point(timestamp=moment, value=value, dimensions={"site": "Zürich"} if index % 2 else {})
        for index, (moment, value) in enumerate(zip(UTC_MOMENTS * 2, VALUES + VALUES[:6], strict=True))
    ]


def clock_points() -> list[Point]:
    return [
        Point(timestamp=datetime(2017, 11, 22, 0, 5), value=1.0, dimensions={"a": "x"}),
        Point(timestamp=datetime(2021, 10, 31, 2, tzinfo=timezone(timedelta(hours=1))), value=2.5),
        Point(
            timestamp=datetime(2021, 3, 28, 1, 30, 0, 7, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
            value=3.0,
        ),
        Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC), value=-0.0, dimensions={"b": '"quoted", comma'}),
        Point(timestamp=datetime(2020, 1, 2, tzinfo=UTC), value=4.0, dimensions={"a": "two\nlines", "b": ""}),
    ]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("make", [utc_points, clock_points], ids=["utc", "offsets-and-wall-clocks"])
def test_points_held_as_columns_are_written_exactly_as_from_objects(
    fmt: str, make: Callable[[], list[Point]]
) -> None:
    points = make()
    expected = written_from_objects(points, fmt)
    assert written(PointSequence.from_points(points), fmt) == expected
    assert written(points, fmt) == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_points_write_the_header_alone(fmt: str) -> None:
    assert written([], fmt) == written_from_objects([], fmt)


def test_utc_timestamps_are_written_as_format_timestamp_writes_them() -> None:
    columns = PointSequence.from_points(
        [Point(timestamp=moment, value=1.0) for moment in UTC_MOMENTS]
    ).columns
    assert columns.offsets is None
    assert timestamp_texts(columns) == [format_timestamp(moment) for moment in UTC_MOMENTS]


def test_chunks_cover_every_point_once_in_order() -> None:
    columns = PointColumns(np.arange(25, dtype=np.int64), np.arange(25, dtype=np.float64), series=[{}])
    chunks = list(columns.chunks(10))
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert np.concatenate([chunk.values for chunk in chunks]).tolist() == columns.values.tolist()


def test_dimension_names_come_only_from_series_that_have_points() -> None:
    columns = PointColumns(
        np.array([0, 1], dtype=np.int64),
        np.array([1.0, 2.0]),
        series=[{"unused": "x"}, {"b": "1"}, {"a": "2", "b": "3"}],
        codes=np.array([1, 2], dtype=np.int32),
    )
    assert dimension_names(columns) == ["a", "b"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_writing_many_points_holds_a_chunk_of_texts_not_every_point(fmt: str) -> None:
    count = 50_000
    stamps = np.arange(count, dtype=np.int64) * 3_600_000_000
    points = PointSequence(PointColumns(stamps, np.linspace(0.5, 99.5, count), series=[{}]))
    out = _Discard()
    write_points(points, fmt, out)  # warm-up: imports and first-use caches are not the writer's
    tracemalloc.start()
    try:
        write_points(points, fmt, out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.size > 0
    # Made from objects, every point's text (and, for CSV and the table, its row) was held at once: about
    # 300 bytes a point here. A chunk of 10,000 at a time is 55 to 80 at this size, and less the more points.
    assert peak / count < 150


class _Discard(io.StringIO):
    """A text stream that counts what is written to it and keeps none of it."""

    def __init__(self) -> None:
        super().__init__()
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


@pytest.mark.parametrize("fraction", [0, 1, 999_999])
def test_a_utc_timestamp_column_is_as_wide_as_its_longest_text(fraction: int) -> None:
    stamps = np.array([-62135596800 * 10**6, 0, 253402300799 * 10**6 + fraction], dtype=np.int64)
    columns = PointColumns(stamps, np.array([1.0, 22.5, -3.0]), series=[{"site": "a"}])
    widths = cell_widths(columns, ["site"])
    assert widths == [max(map(len, timestamp_texts(columns))), 4, 1]


def test_present_series_are_those_with_points_in_the_order_they_first_occur() -> None:
    values = np.zeros(4)
    one = PointColumns(np.arange(4, dtype=np.int64), values, series=[{}])
    assert one.present_series() == [0]
    assert one.take(slice(0, 0)).present_series() == []
    codes = np.array([2, 0, 2, 0], dtype=np.int32)
    many = PointColumns(
        np.arange(4, dtype=np.int64), values, series=[{"a": "0"}, {"a": "1"}, {"a": "2"}], codes=codes
    )
    assert many.present_series() == [2, 0]
