"""`explain` and its text form: the structure and candidates of a source as one document."""

from __future__ import annotations

from pathlib import Path

from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, LayoutHints
from shared.generate.heuristic.explain import explain, render_explain
from shared.source.profile import build_profile
from shared.source.read import read_source

CSV = (
    b"Gas supply (GWh)\n\nMonth,Imports,Net imports\nJanuary 2020,10,4\nFebruary 2020,11,5\n1) Provisional.\n"
)


def test_explain_gives_per_table_rows_classes_blocks_time_axis_and_candidates(tmp_path: Path) -> None:
    path = tmp_path / "gas.csv"
    path.write_bytes(CSV)
    profile = build_profile(read_source(str(path), settings=Settings()))
    doc = explain(profile, IndicatorRequest(name="Gas imports"))
    table = doc["tables"][0]
    assert table["header_rows"] == [2]
    assert table["data_rows"] == [3, 4]
    assert table["row_classes"] == ["title", "blank", "header", "data", "data", "note"]
    assert table["blocks"][0]["columns"] == ["Month", "Imports", "Net imports"]
    assert table["time_axis"]["orientation"] == "column"
    assert table["time_axis"]["time_column"] == "Month"
    assert [c["label"] for c in doc["candidates"]] == ["value column 'Imports'", "value column 'Net imports'"]
    assert set(doc["candidates"][0]) == {"label", "score", "reason", "hint"}
    assert doc["candidates"][0]["hint"] == {"value_column": "Imports"}
    text = render_explain(doc)
    assert "row classes: 0 title, 1 blank, 2 header, 3-4 data, 5 note" in text
    assert "1. value column 'Imports'" in text


def test_explain_names_a_header_row_of_periods_as_the_time_axis(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(b"Country,2019,2020,2021\nDE,1,2,3\nFR,4,5,6\n")
    profile = build_profile(read_source(str(path), settings=Settings()))
    table = explain(profile, IndicatorRequest(name="Emissions"))["tables"][0]
    assert table["time_axis"] == {"orientation": "header row", "period_format": "year", "header_row": 0}
    assert table["column_classes"] == {"Country": "label", "2019": "time", "2020": "time", "2021": "time"}


def test_explain_with_a_sheet_hint_shows_only_that_sheet(tmp_path: Path) -> None:
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "A"  # type: ignore[union-attr]
    book.active.append(["Year", "x"])  # type: ignore[union-attr]
    book.active.append([2020, 1.0])  # type: ignore[union-attr]
    book.create_sheet("B").append(["Year", "y"])
    book["B"].append([2020, 2.0])
    buffer = io.BytesIO()
    book.save(buffer)
    path = tmp_path / "two.xlsx"
    path.write_bytes(buffer.getvalue())
    profile = build_profile(read_source(str(path), settings=Settings()))
    doc = explain(profile, IndicatorRequest(name="y", hints=LayoutHints(sheet="B")))
    assert [t["name"] for t in doc["tables"]] == ["B"]
