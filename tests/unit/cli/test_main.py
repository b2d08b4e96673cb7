"""The command line's point writer: every timestamp printed with the clock it has."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone

from shared.cli.main import write_points
from shared.points.point import Point

POINTS = [
    Point(timestamp=datetime(2017, 11, 22, 0, 5), value=1.0),
    Point(timestamp=datetime(2021, 10, 31, 2, tzinfo=timezone(timedelta(hours=1))), value=2.0),
    Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC), value=3.0),
]


def test_jsonl_keeps_wall_clocks_without_an_offset_and_offsets_as_stated() -> None:
    out = io.StringIO()
    write_points(POINTS, "jsonl", out)
    stamps = [json.loads(line)["timestamp"] for line in out.getvalue().splitlines()]
    assert stamps == ["2017-11-22T00:05:00", "2021-10-31T02:00:00+01:00", "2020-01-01T00:00:00Z"]


def test_csv_writes_the_same_timestamps() -> None:
    out = io.StringIO()
    write_points(POINTS, "csv", out)
    rows = out.getvalue().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [
        "2017-11-22T00:05:00",
        "2021-10-31T02:00:00+01:00",
        "2020-01-01T00:00:00Z",
    ]
