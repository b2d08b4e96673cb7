"""`resource-service wrap`: wall clocks printed as such, placed with --timezone; every page of a paged API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cli.main import main
from tests.integration.paged_api import serve_paged_api

HOURLY = "Time Stamp,Load\n11/22/2017 00:00,10\n11/22/2017 01:00,11\n11/22/2017 02:00,12\n"


def test_wall_clocks_print_without_an_offset_and_the_warning_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "load.csv"
    path.write_text(HOURLY)
    assert main(["wrap", str(path), "--name", "Load", "--format", "jsonl", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert next(json.loads(line)["timestamp"] for line in out.splitlines()) == "2017-11-22T00:00:00"
    assert err.count("no timezone was given") == 1


def test_the_timezone_flag_places_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "load.csv"
    path.write_text(HOURLY)
    argv = [
        "wrap",
        str(path),
        "--name",
        "Load",
        "--format",
        "jsonl",
        "--quiet",
        "--timezone",
        "America/New_York",
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert next(json.loads(line)["timestamp"] for line in out.splitlines()) == "2017-11-22T00:00:00-05:00"
    assert "no timezone" not in err


@pytest.mark.parametrize("contract", ["pair", "cursor", "link_header"])
def test_a_paged_api_prints_every_pages_points_and_says_how_many_pages(
    contract: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RS_FETCH_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    with serve_paged_api() as api:
        api.grow(30)
        argv = ["wrap", api.url(contract), "--name", "Daily observations", "--format", "jsonl", "--quiet"]
        assert main(argv) == 0
    out, err = capsys.readouterr()
    stamps = [json.loads(line)["timestamp"] for line in out.splitlines()]
    assert len(stamps) == 30 and len(set(stamps)) == 30
    assert "read 5 pages" in err


def test_a_deeply_nested_json_source_exits_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nested.json"
    path.write_text('{"data": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert main(["wrap", str(path), "--name", "Load", "--quiet"]) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "nested deeper than 100 levels" in err, err
