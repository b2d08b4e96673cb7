"""A spare primed with a workbook reads its sheets confined while the code is written, for that payload."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import openpyxl
import pytest

from shared.common.settings import Settings
from shared.sandbox import run as sandbox_run
from shared.sandbox.run import (
    SandboxLimits,
    SandboxResult,
    discard_primed,
    discard_spare,
    prepare_sandbox,
    prime_sandbox,
    run_parse,
)
from shared.sandbox.spare import SPARES
from tests.integration.sandbox.test_warm_start import ended

SETTINGS = Settings()
# The run's dimension says whether the sheets read ahead were there for its payload when the code started.
CODE = textwrap.dedent("""
    from shared.wrapper_toolkit import _PRIMED, find_row, long_points, read_workbook

    def parse(payload, context):
        primed = bool(_PRIMED) and _PRIMED[0].payload is payload
        grid = read_workbook(payload, sheets=["readings"])["readings"]
        points = long_points(
            grid, header_row=find_row(grid, ["timestamp", "value"]), time_column="timestamp",
            time_format="native", value_column="value",
        )
        for point in points:
            yield {**point, "dimensions": {"primed": str(primed)}}
""")


def workbook(rows: int = 200, *, first: float = 0.0) -> bytes:
    book = openpyxl.Workbook(write_only=True)
    book.create_sheet("notes").append(["about"])
    sheet = book.create_sheet("readings")
    sheet.append(["Meter readings"])
    sheet.append(["timestamp", "value"])
    for index in range(rows):
        sheet.append([datetime(2000, 1, 1) + timedelta(hours=index), first + index / 4])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def no_spare() -> Iterator[None]:
    """Each test starts without a spare or a primed child and leaves neither behind."""
    discard_spare()
    yield
    sandbox_run._PRIMED.discard()
    discard_spare()


def run(payload: bytes, *, limits: SandboxLimits | None = None, warm_start: bool = True) -> SandboxResult:
    result = run_parse(
        CODE,
        [payload],
        context={},
        limits=limits or SandboxLimits.from_settings(SETTINGS),
        warm_start=warm_start,
    )
    assert result.ok, (result.error, result.stderr_tail)
    return result


def primed_spare(payload: bytes) -> tuple[int, object]:
    """Prime a spare with the payload; its pid and the token that discards it."""
    prepare_sandbox(SETTINGS)
    waiting = SPARES.ready()
    assert waiting is not None
    token = prime_sandbox(payload, sheets=["readings"], settings=SETTINGS)
    assert token is not None
    return waiting.pid, token


def test_the_run_of_the_primed_payload_takes_the_child_and_its_sheets_and_yields_the_same_points() -> None:
    content = workbook()
    cold = run(content, warm_start=False)
    pid, token = primed_spare(content)
    primed = run(content)
    assert primed.pid == pid
    assert {point[2]["primed"] for point in primed.points} == {"True"}
    assert {point[2]["primed"] for point in cold.points} == {"False"}
    assert [point[:2] for point in primed.points] == [point[:2] for point in cold.points]
    assert ended(pid)
    discard_primed(token)  # taken already: nothing left to end


def test_a_run_of_another_payload_passes_the_primed_child_by_and_leaves_it_for_its_own() -> None:
    content = workbook()
    pid, _ = primed_spare(content)
    other = run(workbook(first=1000.0))
    assert other.pid != pid
    assert {point[2]["primed"] for point in other.points} == {"False"}
    assert other.points[0][1] == 1000.0
    assert run(content).pid == pid


def test_a_run_configured_otherwise_does_not_take_the_primed_child_and_discard_ends_it() -> None:
    content = workbook()
    pid, token = primed_spare(content)
    tighter = SandboxLimits.from_settings(SETTINGS).model_copy(update={"cpu_seconds": 3})
    assert run(content, limits=tighter).pid != pid
    discard_primed(token)
    assert ended(pid)


def test_discard_primed_ends_a_primed_child_no_run_took() -> None:
    pid, token = primed_spare(workbook())
    discard_primed(token)
    assert ended(pid)
    assert run(workbook()).pid != pid


def test_a_sheet_the_workbook_lacks_is_left_to_the_code() -> None:
    content = workbook()
    prepare_sandbox(SETTINGS)
    prime_sandbox(content, sheets=["absent"], settings=SETTINGS)
    result = run(content)
    assert {point[2]["primed"] for point in result.points} == {"True"}  # its sheet names, no grid
    assert len(result.points) == 200


def test_the_next_spare_starts_while_the_primed_child_runs_its_code() -> None:
    content = workbook()
    pid, _ = primed_spare(content)
    during: list[bool] = []

    def watch(points: list[Any]) -> None:
        during.append(SPARES._starting is not None or SPARES._spare is not None)

    result = run_parse(
        CODE, [content], context={}, limits=SandboxLimits.from_settings(SETTINGS), on_points=watch
    )
    assert result.ok and result.pid == pid
    assert during and all(during)
