"""The command line: the point writer's timestamps, and `wrap --explain` (one document, no wrapper run)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from shared.cli.main import main, write_points
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


CSV = (
    b"Gas supply (GWh)\n\nMonth,Imports,Net imports\nJanuary 2020,10,4\nFebruary 2020,11,5\n1) Provisional.\n"
)


def test_wrap_explain_json_prints_one_document_and_runs_no_wrapper(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gas.csv"
    path.write_bytes(CSV)
    code = main(["wrap", str(path), "--name", "Gas imports", "--explain", "--format", "json", "--quiet"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tables"][0]["header_rows"] == [2]
    assert doc["candidates"][0]["label"] == "value column 'Imports'"


def test_format_json_without_explain_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gas.csv"
    path.write_bytes(CSV)
    assert main(["wrap", str(path), "--name", "Gas imports", "--format", "json", "--quiet"]) == 2
    assert "--explain" in capsys.readouterr().err
