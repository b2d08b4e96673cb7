"""Fargate stopping the task: `python -m jobs.run_wrappers` gets SIGTERM mid-run, then the next tick."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import RunStatus, WrapperStatus
from shared.flows.tick import tick
from shared.store.database import get_client, get_database
from shared.store.point_store import PointStore
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    Messages,
    add_wrapper,
    drain_collected,
    job_settings,
    points_of,
    readings_spec,
    serve_readings,
    start_job,
    stored_points,
    wait_for,
)

POINTS = 600
PAGE_SIZE = 150
# Far longer than the test: the next tick can only take the wrapper over because the lease was released.
LEASE_SECONDS = 3600
# Fargate's default: SIGKILL 30 s after SIGTERM. The job must be gone well within it.
STOP_TIMEOUT = 30


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name, job_lease_seconds=LEASE_SECONDS)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


def stop(job: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, as ECS sends it; the job must exit 0 on its own, long before the SIGKILL would come."""
    job.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = job.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        job.kill()
        job.communicate()
        raise AssertionError("the job did not stop within Fargate's stop timeout") from None
    assert job.returncode == 0, stderr
    assert stderr == ""
    return stdout, stderr


def json_lines(stdout: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(log lines, EMF records): every stdout line is JSON, every log line has a UTC timestamp."""
    logs, metrics = [], []
    for text in stdout.splitlines():
        line = json.loads(text)
        if "_aws" in line:
            metrics.append(line)
            continue
        assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None, line
        logs.append(line)
    return logs, metrics


@pytest.mark.parametrize("moment", ["during-fetch", "after-store"])
def test_sigterm_mid_run_closes_the_run_releases_the_lease_and_loses_nothing(
    settings: Settings, amqp_url: str, moment: str
) -> None:
    db = get_database(settings)
    wrappers = WrapperRepository(db)
    with serve_readings() as api:
        api.grow(POINTS)
        resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api, size=PAGE_SIZE))
        blocked, release = threading.Event(), threading.Event()
        if moment == "during-fetch":

            def hold_third_page(query: dict[str, str]) -> None:
                if query.get("page") == "3":  # a slow source: the answer never comes while the job runs
                    blocked.set()
                    release.wait(60)

            api.on_request = hold_third_page
        job = start_job(settings, lease_seconds=LEASE_SECONDS)
        try:
            if moment == "during-fetch":
                wait_for(blocked.is_set, timeout=60, what="the job to fetch page 3")
            else:
                wait_for(
                    lambda: db["points"].count_documents({"resource_id": resource_id}) > 0,
                    timeout=60,
                    what="points",
                )
            # Page 3 stays unanswered for 60 s: the job can only exit in time by cutting the fetch short.
            stdout, _ = stop(job)
        finally:
            release.set()
            api.on_request = None
            if job.poll() is None:
                job.kill()
                job.communicate()
        logs, metrics = json_lines(stdout)

        # The run record is closed; the wrapper is free and due now, its water marks where they were or
        # (had the run reached its end) where the run left them.
        (run,) = RunRepository(db).list(wrapper_id, limit=10, offset=0).items
        assert run.finished_at is not None and run.duration_seconds is not None
        wrapper = wrappers.get(wrapper_id)
        assert wrapper.lease_owner is None and wrapper.lease_until is None
        assert wrapper.status == WrapperStatus.RUNNING and wrapper.consecutive_failures == 0
        if moment == "during-fetch":
            assert [query.get("page") for query in api.requests] == ["1", "2", "3"]
            assert run.status == RunStatus.INTERRUPTED and (run.error or "").startswith("interrupted")
            assert wrapper.high_water_mark is None and run.points_fetched == 0
            assert wrapper.next_run_at is not None and wrapper.next_run_at <= utcnow()
        else:  # the parse and the writes always reach the next stage boundary
            assert run.status in (RunStatus.INTERRUPTED, RunStatus.SUCCEEDED)
        (run_line,) = [line for line in logs if line["message"] == "run"]
        assert run_line["run_id"] == run.run_id and run_line["status"] == run.status.value
        (summary,) = [line for line in logs if line["message"] == "tick"]
        assert summary["stopped"] is True and summary["runs"] == 1
        (record,) = metrics
        interrupted = 1.0 if run.status == RunStatus.INTERRUPTED else 0.0
        assert (record["Runs"], record["RunsInterrupted"], record["RunFailures"]) == (
            [1.0],
            [interrupted],
            [0.0],
        )

        # The next tick takes the wrapper over at once (no lease to wait for) and completes it.
        if run.status == RunStatus.INTERRUPTED:
            result = tick(settings)
            (outcome,) = result.outcomes
            assert outcome.run.wrapper_id == wrapper_id and outcome.run.status == RunStatus.SUCCEEDED
        served = api.expected()
        assert stored_points(db, resource_id) == served
        assert PointStore(db).unpublished_count(resource_id) == 0
        assert wrappers.get(wrapper_id).high_water_mark is not None

    # Every point reached resource_data; a batch sent before the stop may come again (same values).
    delivered = points_of(Messages(amqp_url).wait_points(resource_id, POINTS))
    assert sorted(set(delivered)) == served and len(delivered) >= POINTS
    drain_collected(amqp_url, resource_id)
