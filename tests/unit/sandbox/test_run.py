"""The sandbox channel as the parent reads it: JSON lines, and frames of point columns between them."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from shared.sandbox import run as sandbox
from shared.sandbox.run import ColumnFrame, SandboxLimits

LIMITS = SandboxLimits(
    wall_seconds=10,
    cpu_seconds=5,
    memory_bytes=1 << 30,
    file_bytes=1 << 20,
    open_files=64,
    output_bytes=1 << 20,
)
CONFINED = b'{"confinement": {"seccomp": "applied"}}\n'
DONE = b'{"done": true, "count": 3, "violations": []}\n'


def line(item: object) -> bytes:
    return json.dumps(item).encode() + b"\n"


def frame(stamps: list[int], values: list[float], codes: list[int] | None, series: object) -> bytes:
    """A frame as the child writes it: its header line, then the raw little-endian columns."""
    header = line({"columns": {"count": len(values), "series": series, "coded": codes is not None}})
    body = struct.pack(f"<{len(stamps)}q", *stamps) + struct.pack(f"<{len(values)}d", *values)
    return header + body + (struct.pack(f"<{len(codes)}i", *codes) if codes is not None else b"")


STREAM = (
    CONFINED
    + line({"points": [["2020-01-01T00:00:00Z", 1.0, {}]]})
    # A body may hold newline bytes: the timestamp 10 is written with one.
    + frame([10, 20], [2.0, 5e-324], [0, 1], [{"geo": "DE"}, {"geo": "FR"}])
    + frame([], [], None, [{}])
    + DONE
)


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_frames_are_read_whole_whatever_the_chunks(size: int) -> None:
    received: list[list[object]] = []
    channel = sandbox._Channel(received.append)
    for start in range(0, len(STREAM), size):
        channel.feed(STREAM[start : start + size])
    assert not channel.unreadable and channel.status is not None and channel.status["done"]
    assert received[0] == [["2020-01-01T00:00:00Z", 1.0, {}]]
    [[first], [empty]] = received[1:]
    assert isinstance(first, ColumnFrame) and isinstance(empty, ColumnFrame)
    assert (first.count, first.series) == (2, [{"geo": "DE"}, {"geo": "FR"}])
    assert struct.unpack("<2q", first.timestamps) == (10, 20)
    assert struct.unpack("<2d", first.values) == (2.0, 5e-324)
    assert first.codes is not None and struct.unpack("<2i", first.codes) == (0, 1)
    assert (empty.count, empty.timestamps, empty.codes) == (0, b"", None)


def test_a_run_keeps_its_frames_in_order_and_counts_their_points() -> None:
    result = sandbox._interpret(STREAM, 0, "", LIMITS)
    assert result.ok
    assert [type(point).__name__ for point in result.points] == ["list", "ColumnFrame", "ColumnFrame"]
    assert result.point_count == 3


@pytest.mark.parametrize(
    "header",
    [
        {"count": -1, "coded": False},
        {"count": "2", "coded": False},
        {"count": 1, "coded": 1},
        {"count": True},
        [],
    ],
)
def test_a_forged_frame_header_makes_the_output_unreadable(header: object) -> None:
    result = sandbox._interpret(CONFINED + line({"columns": header}) + DONE, 0, "", LIMITS)
    assert not result.ok and result.error_type == "ProtocolError"


def test_a_frame_cut_off_by_a_kill_gives_way_to_the_reason_of_the_kill() -> None:
    data = CONFINED + frame([1, 2], [1.0, 2.0], None, [{}])[:-3]
    result = sandbox._interpret(data, -9, "", LIMITS)
    assert not result.ok and result.error_type == "Killed" and result.points == []


def test_a_frame_that_claims_more_bytes_swallows_the_status() -> None:
    data = CONFINED + line({"columns": {"count": 1000, "series": [{}], "coded": False}}) + DONE
    result = sandbox._interpret(data, 0, "", LIMITS)
    assert not result.ok and result.error_type == "Killed"


def test_a_channel_line_nested_past_the_channel_depth_makes_the_output_unreadable() -> None:
    nested = b"[" * 50 + b"1" + b"]" * 50 + b"\n"
    result = sandbox._interpret(CONFINED + nested + DONE, 0, "", LIMITS)
    assert not result.ok and result.error_type == "ProtocolError"


def test_a_frame_beyond_the_points_budget_is_refused_on_its_header() -> None:
    killed: list[bool] = []
    channel = sandbox._Channel(lambda points: None, max_points=10, on_budget=lambda: killed.append(True))
    channel.feed(CONFINED + line({"columns": {"count": 11, "series": [{}], "coded": False}}))
    assert channel.budget_exceeded == "points budget of 10 points exceeded" and killed == [True]
    assert len(channel._body) == 0


def test_batches_count_towards_the_points_budget() -> None:
    received: list[object] = []
    channel = sandbox._Channel(received.append, max_points=3)
    batch = line({"points": [["2020-01-01T00:00:00Z", 1.0, {}]] * 2})
    channel.feed(CONFINED + batch + batch)
    assert len(received) == 1 and channel.count == 2
    assert channel.budget_exceeded == "points budget of 3 points exceeded"


def test_a_line_longer_than_the_cap_makes_the_output_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "MAX_LINE_BYTES", 1000)
    channel = sandbox._Channel()
    channel.feed(CONFINED + b"[" + b" " * 2000)
    assert channel.unreadable


def test_any_byte_on_the_violation_pipe_is_a_violation() -> None:
    assert sandbox._reported_violations(b'{"violation": "sandbox: x"}\n', overflow=False) == ["sandbox: x"]
    assert sandbox._reported_violations(b'{"violation": "hidd', overflow=False) == [
        "sandbox: an unreadable violation report"
    ]
    assert sandbox._reported_violations(b"", overflow=True) == ["sandbox: an unreadable violation report"]
    assert sandbox._reported_violations(b"", overflow=False) == []


def test_the_watchdog_counts_only_what_was_added_to_the_inputs(tmp_path: Path) -> None:
    (tmp_path / "payload-0").write_bytes(b"x" * 100_000)
    watch = sandbox._DiskWatch(tmp_path, max_bytes=64 * 1024, max_files=3)
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "a").write_bytes(b"y" * 10_000)
    watch.check()
    assert watch.exceeded is None
    assert (watch.peak_files, watch.peak_bytes >= 10_000) == (2, True)


def test_the_watchdog_kills_past_the_file_budget_and_past_the_byte_budget(tmp_path: Path) -> None:
    killed: list[str] = []
    watch = sandbox._DiskWatch(tmp_path, max_bytes=64 * 1024, max_files=3)
    watch.on_exceeded = lambda: killed.append("files")
    for index in range(4):
        (tmp_path / f"empty-{index}").touch()
    watch.check()
    assert watch.exceeded == "file budget of 3 files and directories exceeded" and killed == ["files"]
    bytes_watch = sandbox._DiskWatch(tmp_path, max_bytes=1024 * 1024, max_files=3)
    (tmp_path / "big").write_bytes(b"z" * (2 * 1024 * 1024))
    bytes_watch.check()
    assert bytes_watch.exceeded == "disk budget of 1 MB exceeded"


def test_on_done_is_called_when_the_child_says_done_after_the_points_before_it() -> None:
    events: list[object] = []
    channel = sandbox._Channel(events.append, on_done=lambda: events.append("done"))
    channel.feed(STREAM)
    assert [event if event == "done" else type(event[0]).__name__ for event in events] == [
        "list",
        "ColumnFrame",
        "ColumnFrame",
        "done",
    ]
    channel.feed(line({"error": {"type": "ValueError", "message": "x"}}))
    assert events[-1] == "done" and len(events) == 4


def test_what_on_done_raises_is_the_consumers_error() -> None:
    def fail() -> None:
        raise RuntimeError("checks failed")

    channel = sandbox._Channel(lambda points: None, on_done=fail)
    channel.feed(STREAM)
    assert isinstance(channel.consumer_error, RuntimeError)
