"""The local wrap records each candidate it validated: rejected ones with their reason, then the chosen."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from shared.common.errors import HintError, WrapperValidationError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, LayoutHints, SourceFormat
from shared.flows.wrap import wrap_code, wrap_source
from shared.source.read import SourceData


def two_sheets() -> SourceData:
    """A workbook whose best-matching sheet repeats a year (it cannot validate) beside a clean one."""
    book = Workbook()
    book.remove(book.active)
    best = book.create_sheet("Emissions")
    best.append(["Year", "Emissions (Mt)"])
    for row in ((2019, 10.0), (2020, 11.0), (2020, 11.5), (2021, 12.0)):
        best.append(row)
    clean = book.create_sheet("Data")
    clean.append(["Year", "Value"])
    for row in ((2019, 1.0), (2020, 2.0), (2021, 3.0)):
        clean.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SourceData(location="two_sheets.xlsx", content=buffer.getvalue(), format=SourceFormat.XLSX)


def test_each_rejected_candidate_is_an_attempt_with_its_reason() -> None:
    result = wrap_source(two_sheets(), IndicatorRequest(name="Emissions", unit="Mt"), settings=Settings())

    assert [(a.candidate, (a.rejected or "").split(":")[0]) for a in result.attempts] == [
        ("sheet 'Emissions', value column 'Emissions (Mt)'", "points/duplicate_points"),
        ("sheet 'Data', value column 'Value'", ""),
    ]
    assert [a.report.ok for a in result.attempts] == [False, True]
    assert [p.value for p in result.points] == [1.0, 2.0, 3.0]
    assert (
        result.draft.inference is not None
        and result.draft.inference.chosen == "sheet 'Data', value column 'Value'"
    )


def test_a_where_no_candidate_can_meet_is_the_users_hint_error() -> None:
    request = IndicatorRequest(name="Emissions", hints=LayoutHints(where={"country": "CH"}))

    with pytest.raises(HintError, match=r"where country=…: the points have no dimension 'country'"):
        wrap_source(two_sheets(), request, settings=Settings())


def test_hand_written_code_that_fails_carries_its_report() -> None:
    code = "def parse(payload, context):\n    return [{'timestamp': 'never', 'value': 1, 'dimensions': {}}]\n"

    with pytest.raises(WrapperValidationError) as caught:
        wrap_code(two_sheets(), IndicatorRequest(name="x"), code, settings=Settings())

    assert "points/invalid_point" in str(caught.value)


def test_a_big_workbook_sheet_is_read_ahead_by_the_spare_and_wraps_as_it_would_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.sandbox import run
    from shared.source import profile

    request = IndicatorRequest(name="Emissions", unit="Mt")
    cold = wrap_source(two_sheets(), request, settings=Settings(sandbox_warm_start=False))
    monkeypatch.setattr(profile, "SHEET_HEAD_BYTES", 0)
    taken = []
    take = run._PRIMED.take
    monkeypatch.setattr(run._PRIMED, "take", lambda *args: taken.append(take(*args)) or taken[-1])
    primed = wrap_source(two_sheets(), request, settings=Settings())
    assert taken[0] is not None and taken[1:] == [None]  # the first candidate's run took it
    assert [p.to_wire() for p in primed.points] == [p.to_wire() for p in cold.points]
    assert primed.draft == cold.draft
    assert [(a.candidate, a.rejected) for a in primed.attempts] == [
        (a.candidate, a.rejected) for a in cold.attempts
    ]
