"""What the sandboxed child writes of timestamps: each keeps its clock on the way to the parent."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np

from shared.sandbox import run as sandbox
from shared.sandbox.child import emit_columns, normalize_point, prime
from shared.validate.validation import PointBuilder
from shared.wrapper_toolkit import NAIVE, PointColumns


def test_timestamps_are_written_with_their_clock() -> None:
    """`Z` for UTC, the offset for another, nothing for a wall clock or a date."""
    stamps = [
        datetime(2021, 10, 31, 2, tzinfo=UTC),
        datetime(2021, 10, 31, 2, tzinfo=timezone(timedelta(hours=1))),
        datetime(2021, 10, 31, 2, tzinfo=timezone(timedelta(0))),
        datetime(2021, 10, 31, 2),
        date(2021, 10, 31),
    ]
    written = [normalize_point({"timestamp": stamp, "value": 1}, 0)[0] for stamp in stamps]
    assert written == [
        "2021-10-31T02:00:00Z",
        "2021-10-31T02:00:00+01:00",
        "2021-10-31T02:00:00Z",
        "2021-10-31T02:00:00",
        "2021-10-31T00:00:00",
    ]
    builder = PointBuilder()
    builder.add([[text, 1.0, {"n": str(at)}] for at, text in enumerate(written)])
    points, issues = builder.result()
    assert issues == []
    assert [point.timestamp.utcoffset() for point in points] == [
        timedelta(0),
        timedelta(hours=1),
        timedelta(0),
        None,
        None,
    ]


class _Pipe(io.StringIO):
    """A text channel with a byte buffer, as the child writes to its file descriptor."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()

    def bytes(self) -> bytes:
        return self.getvalue().encode() + self.buffer.getvalue()

    def flush(self) -> None:
        self.buffer.write(self.getvalue().encode())
        self.seek(0)
        self.truncate()


def test_column_offsets_travel_in_the_frame_and_come_out_as_points() -> None:
    """A frame's offsets column reaches the parent: wall clocks stay naive, offsets are kept."""
    hour = 3_600_000_000
    columns = PointColumns(
        np.array([0, hour, 2 * hour], dtype=np.int64),
        np.array([1.0, 2.0, 3.0]),
        series=[{}],
        offsets=np.array([NAIVE, 3600, 0], dtype=np.int32),
    )
    pipe = _Pipe()
    emit_columns(pipe, columns)
    received: list[object] = []
    channel = sandbox._Channel(received.extend)
    channel.feed(pipe.buffer.getvalue())
    assert not channel.unreadable and len(received) == 1
    builder = PointBuilder()
    builder.add(received)  # type: ignore[arg-type]
    points, issues = builder.result()
    assert issues == []
    stamps = [point.timestamp for point in points]
    assert stamps[0] == datetime(1970, 1, 1) and stamps[0].tzinfo is None
    assert stamps[1].utcoffset() == timedelta(hours=1) and stamps[1] == datetime(1970, 1, 1, 1, tzinfo=UTC)
    assert stamps[2] == datetime(1970, 1, 1, 2, tzinfo=UTC)
    header = json.loads(pipe.buffer.getvalue().split(b"\n", 1)[0])
    assert header["columns"]["clocked"] is True


def test_a_frame_with_an_impossible_offset_loses_that_point() -> None:
    columns = PointColumns(
        np.array([0, 0], dtype=np.int64),
        np.array([1.0, 2.0]),
        series=[{}],
        offsets=np.array([90_000, 0], dtype=np.int32),
    )
    pipe = _Pipe()
    emit_columns(pipe, columns)
    received: list[object] = []
    channel = sandbox._Channel(received.extend)
    channel.feed(pipe.buffer.getvalue())
    builder = PointBuilder()
    builder.add(received)  # type: ignore[arg-type]
    points, issues = builder.result()
    assert len(points) == 1 and "no such UTC offset" in issues[0].message


class _Unreadable(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise MemoryError


def test_prime_reads_nothing_ahead_of_a_payload_it_cannot_read_now() -> None:
    assert prime(_Unreadable(b"PK"), ["Data"]) is None


def test_prime_returns_the_payload_and_leaves_the_handle_at_its_start() -> None:
    handle = io.BytesIO(b"PK not a workbook")
    assert prime(handle, ["Data"]) == b"PK not a workbook"
    assert handle.read() == b"PK not a workbook"
