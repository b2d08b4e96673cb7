"""The profile reads the head of big sources: what it keeps is what reading them whole would keep."""

from __future__ import annotations

import io
import tracemalloc
from datetime import datetime, timedelta

import openpyxl
import pytest

from shared.domain.wrapper import SourceFormat
from shared.source import profile
from shared.source.profile import biggest_sheet, build_profile, workbook_head
from shared.source.read import SourceData
from shared.wrapper_toolkit import read_csv_grid, read_workbook


def csv_source(text: str) -> SourceData:
    return SourceData(location="test.csv", content=text.encode(), format=SourceFormat.CSV, encoding="utf-8")


def whole(text: str, max_rows: int) -> tuple[int, list[list[str]]]:
    """How many rows reading the whole text finds, and its first rows."""
    grid = read_csv_grid(text.encode())
    return len(grid), grid[:max_rows]


@pytest.mark.parametrize(
    "text",
    [
        "title\n\nyear,value\n" + "".join(f"{1900 + i},{i}\n" for i in range(40)),
        "year,value\r\n" + "".join(f'{1900 + i},"{i},5"\r\n' for i in range(40)),
        "year,note\n" + "".join(f'{1900 + i},"line\nbreak"\n' for i in range(40)),
        "year,value\n" + "".join(f"{1900 + i},{i}\n" for i in range(40)).rstrip("\n"),
        "year,value\n1900,1\n",
    ],
)
def test_csv_profile_keeps_the_first_rows_and_counts_them_all(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small head makes these small files behave as big ones.
    monkeypatch.setattr(profile, "HEAD_CHARS", 16)
    table = build_profile(csv_source(text), max_rows=10).tables[0]
    total, rows = whole(text, 10)
    assert (table.n_rows, table.rows) == (total, rows)
    assert table.n_cols == max(len(row) for row in rows)


ACCENTED = "année;valeur\n" + "".join(f"{1900 + i};é{i}\n" for i in range(40))
QUOTED = "année;note\r\n" + "".join(f'{1900 + i};"ligne\r\nà la suite"\r\n' for i in range(40))


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (ACCENTED, "cp1252"),
        (ACCENTED, "utf-8-sig"),
        ("\ufeff" + ACCENTED, "utf-8"),  # a byte order mark the encoding keeps: dropped as decode_text does
        (ACCENTED, "utf-16"),
        (QUOTED, "utf-16"),
        (ACCENTED, "utf-16-le"),  # no byte order mark
        ("都市;値\n" + "".join(f"{1900 + i};東京{i}\n" for i in range(40)), "shift_jis"),
        (QUOTED, "cp1252"),
    ],
)
def test_csv_profile_reads_the_text_of_any_encoding_as_a_stream_as_read_whole(
    text: str, encoding: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile, "HEAD_CHARS", 16)
    monkeypatch.setattr(profile, "TEXT_BLOCK_CHARS", 7)
    content = text.encode(encoding)
    source = SourceData(location="test.csv", content=content, format=SourceFormat.CSV, encoding=encoding)
    table = build_profile(source, max_rows=10).tables[0]
    grid = read_csv_grid(content, encoding=encoding, delimiter=";")
    assert (table.n_rows, table.rows) == (len(grid), grid[:10])


def test_a_big_csv_is_profiled_without_holding_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEAD_CHARS", "DELIMITER_SAMPLE_CHARS", "TEXT_BLOCK_CHARS"):  # each 1 MiB of text
        monkeypatch.setattr(profile, name, 1 << 16)
    text = "year,value\n" + "".join(f"{1900 + i % 100},{i}.5\n" for i in range(400_000))
    source = csv_source(text)
    tracemalloc.start()
    try:
        table = build_profile(source).tables[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert table.n_rows == 400_001
    # Decoded whole, the text alone was as big as the file; here the head and a block of text are small.
    assert peak < len(source.content) / 4


def workbook(rows: int) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    notes = book.create_sheet("notes")
    notes.append(["about"])
    sheet = book.create_sheet("readings")
    sheet.append(["Meter readings"])
    sheet.append([])
    sheet.append(["timestamp", "value", "site"])
    for index in range(rows):
        sheet.append([datetime(2000, 1, 1) + timedelta(hours=index), index / 4, f"s{index % 3}"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_workbook_head_cuts_big_sheets_to_their_first_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    content = workbook(500)
    monkeypatch.setattr(profile, "SHEET_HEAD_BYTES", 1000)
    head, heights = workbook_head(content, max_rows=50)
    assert heights == {"readings": 503}
    full, cut = read_workbook(content), read_workbook(head)
    assert cut["readings"] == full["readings"][:50] and cut["notes"] == full["notes"]
    source = SourceData(location="book.xlsx", content=content, format=SourceFormat.XLSX)
    tables = {table.name: table for table in build_profile(source, max_rows=50).tables}
    assert (tables["readings"].n_rows, tables["readings"].rows) == (503, full["readings"][:50])


def test_workbook_head_leaves_small_sheets_and_other_workbooks_alone() -> None:
    content = workbook(20)
    assert workbook_head(content, max_rows=5) == (content, {})
    assert workbook_head(b"\xd0\xcf\x11\xe0 an old workbook", max_rows=5)[1] == {}


def test_biggest_sheet_names_the_one_big_sheet_worth_reading_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    content = workbook(500)
    assert biggest_sheet(content) == []  # under SHEET_HEAD_BYTES: nothing to gain
    monkeypatch.setattr(profile, "SHEET_HEAD_BYTES", 1000)
    assert biggest_sheet(content) == ["readings"]
    assert biggest_sheet(content, hint=" Readings") == ["readings"]
    assert biggest_sheet(content, hint="notes") == []  # the code reads another sheet
    assert biggest_sheet(b"\xd0\xcf\x11\xe0 an old workbook") == []
    assert biggest_sheet(b"PK\x03\x04 not really a zip") == []
