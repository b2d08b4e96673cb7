"""`wrap --explain` on the command line: one document, no wrapper run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cli.main import main

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
