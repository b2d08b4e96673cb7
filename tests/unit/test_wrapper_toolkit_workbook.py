"""read_workbook of a payload whose sheets the sandbox child read ahead: the same grids, handed out once."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timedelta

import openpyxl
import pytest

from shared import wrapper_toolkit
from shared.wrapper_toolkit import ToolkitError, _prime_workbook, read_workbook


def workbook() -> bytes:
    book = openpyxl.Workbook(write_only=True)
    for name in ("notes", "readings"):
        sheet = book.create_sheet(name)
        sheet.append([name, None, "x"])
        for index in range(30):
            sheet.append([datetime(2000, 1, 1) + timedelta(hours=index), index / 4, f"s{index % 3}"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def nothing_primed() -> Iterator[None]:
    wrapper_toolkit._PRIMED.clear()
    yield
    wrapper_toolkit._PRIMED.clear()


def test_a_primed_sheet_is_read_as_it_would_be_and_handed_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    content = workbook()
    expected = read_workbook(content)
    _prime_workbook(content, ["readings"])
    primed_grid = wrapper_toolkit._PRIMED[0].grids["readings"]
    first = read_workbook(content)
    assert first == expected and list(first) == ["notes", "readings"]
    assert first["readings"] is primed_grid
    # Taken: the next read parses again, and a grid the code changed is never handed out twice.
    first["readings"].clear()
    assert read_workbook(content, sheets=["readings"]) == {"readings": expected["readings"]}


def test_only_the_very_payload_primed_takes_the_primed_sheets() -> None:
    content = workbook()
    _prime_workbook(content, ["readings"])
    copy = bytes(bytearray(content))
    assert read_workbook(copy, sheets=["readings"]) == read_workbook(workbook(), sheets=["readings"])
    assert wrapper_toolkit._PRIMED  # still there for the payload it was read for
    assert read_workbook(content, sheets=["notes"])["notes"][0][0] == "notes"
    assert not wrapper_toolkit._PRIMED


def test_a_primed_workbook_refuses_missing_sheets_as_an_unprimed_one_does() -> None:
    content = workbook()
    with pytest.raises(ToolkitError) as unprimed:
        read_workbook(content, sheets=["readings", "other"])
    _prime_workbook(content, ["readings", "absent"])
    with pytest.raises(ToolkitError) as primed:
        read_workbook(content, sheets=["readings", "other"])
    assert str(primed.value) == str(unprimed.value)


def test_an_unreadable_workbook_primes_nothing_and_fails_the_same_way() -> None:
    broken = workbook()[:2000]
    with pytest.raises(Exception) as unprimed:
        read_workbook(broken)
    _prime_workbook(broken, ["readings"])
    assert not wrapper_toolkit._PRIMED
    with pytest.raises(Exception) as primed:
        read_workbook(broken)
    assert (type(primed.value), str(primed.value)) == (type(unprimed.value), str(unprimed.value))
