"""A `sheet` hint narrows the profile to that sheet, or lists the sheets there are."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from shared.common.errors import HintError
from shared.domain.wrapper import LayoutHints, SourceFormat
from shared.source.profile import build_profile
from shared.source.read import SourceData


def workbook(*names: str) -> SourceData:
    book = Workbook()
    book.remove(book.active)
    for name in names:
        sheet = book.create_sheet(name)
        sheet.append(["Year", "Value"])
        sheet.append([2020, 1.5])
    buffer = io.BytesIO()
    book.save(buffer)
    return SourceData(location="book.xlsx", content=buffer.getvalue(), format=SourceFormat.XLSX)


def test_a_sheet_hint_keeps_only_that_sheet() -> None:
    profile = build_profile(workbook("Notes", "Data"), hints=LayoutHints(sheet="Data"))
    assert [table.name for table in profile.tables] == ["Data"]


def test_a_sheet_hint_forgives_case_and_spacing() -> None:
    profile = build_profile(workbook("Notes", "Table  1"), hints=LayoutHints(sheet="table 1"))
    assert [table.name for table in profile.tables] == ["Table  1"]


def test_an_unknown_sheet_lists_the_sheets() -> None:
    with pytest.raises(HintError, match=r"sheet 'Daten' is not in the workbook; sheets: 'Notes', 'Data'"):
        build_profile(workbook("Notes", "Data"), hints=LayoutHints(sheet="Daten"))


def test_a_sheet_hint_on_a_csv_says_it_has_no_sheets() -> None:
    source = SourceData(location="a.csv", content=b"Year,Value\n2020,1\n", format=SourceFormat.CSV)
    with pytest.raises(HintError, match="a csv source has no sheets"):
        build_profile(source, hints=LayoutHints(sheet="Data"))
