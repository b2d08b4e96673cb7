"""The job's stdout: JSON log lines with timestamps (its own and any library's), one EMF record a tick."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from jobs.run_wrappers.__main__ import emit_metrics, log_result, make_logger
from shared.domain.models import RunPublic, RunStatus, WrapperStatus
from shared.flows.tick import TickResult, WrapperOutcome

STARTED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def root_logger() -> Iterator[None]:
    """make_logger takes the root logger over: give it back to pytest afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level


def run(number: int, *, status: RunStatus, new: int = 0, revised: int = 0, seconds: float = 1.0) -> RunPublic:
    """A finished run of wrapper w{number}."""
    return RunPublic(
        run_id=f"r{number}",
        wrapper_id=f"w{number}",
        resource_id=f"res{number}",
        started_at=STARTED,
        points_new=new,
        points_revised=revised,
        duration_seconds=seconds,
        error=None if status == RunStatus.SUCCEEDED else f"{status.value}: reason",
        status=status,
    )


def tick_result() -> TickResult:
    """A tick of three runs (one each: succeeded, failed, interrupted) and some unhealthy wrappers."""
    runs = [
        run(1, status=RunStatus.SUCCEEDED, new=120, revised=3, seconds=2.5),
        run(2, status=RunStatus.FAILED, seconds=0.25),
        run(3, status=RunStatus.INTERRUPTED, new=7, seconds=4.0),
    ]
    return TickResult(
        owner="host:1:abc",
        started_at=STARTED,
        outbox_published=40,
        outbox_waiting=1500,
        outcomes=[WrapperOutcome(run=r, status=WrapperStatus.RUNNING) for r in runs],
        stale_wrappers=["w7"],
        failing_wrappers=["w2", "w8"],
        stopped=True,
    )


def emf_record(text: str) -> dict[str, Any]:
    """The one EMF record printed."""
    (line,) = text.splitlines()
    record: dict[str, Any] = json.loads(line)
    return record


def test_a_tick_prints_one_emf_record_with_the_named_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metrics(tick_result())
    record = emf_record(capsys.readouterr().out)

    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "ResourceService"
    assert directive["Dimensions"] == [["service"]]
    assert record["service"] == "run-wrappers"
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units == {
        "Runs": "Count",
        "RunFailures": "Count",
        "RunsInterrupted": "Count",
        "PointsNew": "Count",
        "PointsRevised": "Count",
        "OutboxDepth": "Count",
        "TickFailures": "Count",
        "StaleWrappers": "Count",
        "FailingWrappers": "Count",
        "RunDuration": "Seconds",
    }
    values = {name: record[name] for name in units}
    assert values == {
        "Runs": [3.0],
        "RunFailures": [1.0],
        "RunsInterrupted": [1.0],
        "PointsNew": [127.0],
        "PointsRevised": [3.0],
        "OutboxDepth": [1500.0],
        "TickFailures": [0.0],
        "StaleWrappers": [1.0],
        "FailingWrappers": [2.0],
        "RunDuration": [2.5, 0.25, 4.0],
    }


def test_a_tick_that_could_not_run_counts_one_tick_failure(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metrics(None)
    record = emf_record(capsys.readouterr().out)
    assert record["TickFailures"] == [1.0]
    assert [m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == ["TickFailures"]


def test_job_and_library_log_lines_are_json_with_a_utc_timestamp() -> None:
    stream = io.StringIO()
    logger = make_logger(stream)
    log_result(logger, tick_result())
    # As the broker logs a retry (shared/messaging/broker.py): a library logger, no handler of its own.
    logging.getLogger("shared.messaging.broker").warning(
        "broker connection failed (attempt %d of %d), retrying in %.2fs: %s", 1, 5, 0.42, "refused"
    )
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]

    assert [line["message"] for line in lines] == [
        "run",
        "run",
        "run",
        "tick",
        "broker connection failed (attempt 1 of 5), retrying in 0.42s: refused",
    ]
    for line in lines:
        stamp = datetime.fromisoformat(line["timestamp"])
        assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
        assert line["service"] == "run-wrappers"
    assert [line["level"] for line in lines] == ["INFO", "WARNING", "WARNING", "INFO", "WARNING"]
    assert lines[0]["run_id"] == "r1" and lines[0]["status"] == "succeeded" and lines[0]["points_new"] == 120
    assert lines[2]["status"] == "interrupted"
    summary = lines[3]
    assert summary["runs"] == 3 and summary["failed_runs"] == 1 and summary["interrupted_runs"] == 1
    assert summary["stale_wrappers"] == ["w7"] and summary["failing_wrappers"] == ["w2", "w8"]
    assert summary["stopped"] is True and summary["outbox_waiting"] == 1500


def test_the_tick_summary_for_people_names_unhealthy_wrappers_and_the_stop() -> None:
    lines = tick_result().lines()
    assert "stale (no new data): w7" in lines
    assert "failing (runs fail): w2, w8" in lines
    assert lines[-1] == "stopped early: a stop was requested"
