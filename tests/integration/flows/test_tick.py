"""The run_wrappers job on real RabbitMQ and the MongoDB wire server: ticks, water marks, leases, outages."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from devtools.local_stack import JobTicker
from shared.common.errors import DatabaseUnavailableError
from shared.common.settings import Settings, get_settings
from shared.domain.models import Schedule, WrapperStatus
from shared.domain.wrapper import FetchSpec, SourceFormat
from shared.flows.steps import generate_step, validate_step
from shared.flows.tick import TickResult, tick
from shared.messaging.broker import get_publisher
from shared.messaging.queues import WRAPPER_CREATION_QUEUE, WRAPPER_VALIDATION_QUEUE
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_client, get_database
from shared.store.resources import ResourceRepository
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    Messages,
    add_wrapper,
    drain_collected,
    hour,
    iso,
    job_settings,
    make_due,
    points_of,
    private_mongodb,
    readings_spec,
    serve_readings,
    stored_points,
)
from tests.support import serve_files, take_message

ROOT = Path(__file__).resolve().parents[3]
CSV = b"Year,Total,Per Capita\n2018,10,1.2\n2019,11,1.3\n2020,12,1.4\n2021,13,1.5\n"


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    """Settings of this test's own database."""
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


def outcome_of(result: TickResult, wrapper_id: str) -> Any:
    matching = [o for o in result.outcomes if o.run.wrapper_id == wrapper_id]
    assert len(matching) == 1, result.lines()
    return matching[0]


def test_a_continuous_wrapper_collects_exactly_the_points_served_over_ticks(
    settings: Settings, db: Database, amqp_url: str
) -> None:
    with serve_readings() as api:
        api.grow(12)
        resource_id, wrapper_id = add_wrapper(
            db, url=api.url, spec=readings_spec(api, size=5), schedule=Schedule(rate_seconds=60)
        )
        wrappers = WrapperRepository(db)

        first = outcome_of(tick(settings), wrapper_id)
        assert first.status == WrapperStatus.RUNNING and first.run.error is None, first.run
        assert (first.run.pages, first.run.points_fetched, first.run.points_new) == (3, 12, 12)
        assert "start" not in api.requests[0]  # the first run reads the whole history
        wrapper = wrappers.get(wrapper_id)
        assert wrapper.high_water_mark == hour(11) and wrapper.low_water_mark == hour(0)
        assert wrapper.next_run_at is not None
        assert wrapper.next_run_at > datetime.now(UTC) + timedelta(seconds=30)
        assert wrapper.lease_owner is None and wrapper.consecutive_failures == 0
        assert tick(settings).outcomes == []  # not due again before its schedule says so

        api.grow(20)
        with api.lock:
            api.values[hour(10)] = 99.5  # revised inside the 2-hour lookback
        api.requests.clear()
        make_due(db, wrapper_id)
        second = outcome_of(tick(settings), wrapper_id).run
        assert api.requests[0]["start"] == iso(hour(9))  # high water mark 11:00 minus the lookback
        assert (second.points_fetched, second.points_new, second.points_revised) == (11, 8, 1)
        assert second.points_duplicate == 2 and second.points_published == 9
        assert second.high_water_mark == hour(19)

        api.grow(27)
        api.requests.clear()
        make_due(db, wrapper_id)
        third = outcome_of(tick(settings), wrapper_id).run
        assert api.requests[0]["start"] == iso(hour(17))
        assert (third.points_fetched, third.points_new, third.points_duplicate) == (10, 7, 3)

        served = api.expected()
        assert stored_points(db, resource_id) == served
        messages = Messages(amqp_url).wait_points(resource_id, 28)
        delivered = points_of(messages)
        # Every point once, plus the revision of 10:00 after its first value: no gap, no duplicate.
        assert len(delivered) == 28 and len({m for m, _ in messages}) == len(messages)
        assert sorted(set(delivered)) == sorted({*served, (iso(hour(10)), 15.25)})
        assert delivered.index((iso(hour(10)), 15.25)) < delivered.index((iso(hour(10)), 99.5))

        resource = ResourceRepository(db).get_any(resource_id)
        assert (resource.start_period, resource.end_period) == (hour(0), hour(26))
        wrapper = wrappers.get(wrapper_id)
        assert wrapper.high_water_mark == hour(26) and wrapper.low_water_mark == hour(0)
        assert [e.event for e in wrapper.execution_log].count("run") == 3
        runs = RunRepository(db).list(wrapper_id, limit=10, offset=0)
        assert [r.points_new for r in runs.items] == [7, 8, 12] and all(r.error is None for r in runs.items)
        raw = drain_collected(amqp_url, resource_id)
        assert len(raw) == 3 + 3 + 2 and not any(m["truncated"] for m in raw)


def test_two_ticks_started_at_once_run_each_wrapper_once(
    settings: Settings, db: Database, amqp_url: str
) -> None:
    with serve_readings() as api:
        api.grow(6)
        ids = [add_wrapper(db, url=api.url, spec=readings_spec(api, size=4)) for _ in range(4)]
        barrier = threading.Barrier(2)
        results: list[TickResult] = []

        def run() -> None:
            barrier.wait()
            results.append(tick(settings))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)

        ran = [o.run.wrapper_id for result in results for o in result.outcomes]
        assert sorted(ran) == sorted(wrapper_id for _, wrapper_id in ids)
        for resource_id, wrapper_id in ids:
            assert RunRepository(db).list(wrapper_id, limit=10, offset=0).total == 1
            assert stored_points(db, resource_id) == api.expected()
            assert len(points_of(Messages(amqp_url).wait_points(resource_id, 6))) == 6
            drain_collected(amqp_url, resource_id)


def test_mongodb_unreachable_fails_the_tick_clearly_and_the_next_tick_succeeds(
    amqp_url: str, database_name: str, tmp_path: Path
) -> None:
    with private_mongodb(tmp_path) as mongo, serve_readings() as api:
        settings = job_settings(mongo.uri, amqp_url, database_name, mongodb_server_selection_timeout_ms=500)
        api.grow(5)
        resource_id, wrapper_id = add_wrapper(get_database(settings), url=api.url, spec=readings_spec(api))
        mongo.stop()

        with pytest.raises(DatabaseUnavailableError, match="MongoDB is unreachable"):
            tick(settings)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RS_")},
            "RS_MONGODB_URI": mongo.uri,
            "RS_MONGODB_DATABASE": database_name,
            "RS_AMQP_URL": amqp_url,
            "RS_MONGODB_SERVER_SELECTION_TIMEOUT_MS": "500",
        }
        job = subprocess.run(
            [sys.executable, "-m", "jobs.run_wrappers"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert job.returncode == 1
        assert job.stderr.startswith("run_wrappers: error: MongoDB is unreachable")
        assert len(job.stderr.strip().splitlines()) == 1, job.stderr

        mongo.start()
        outcome = outcome_of(tick(settings), wrapper_id)
        assert outcome.run.error is None and outcome.run.points_new == 5
        assert stored_points(get_database(settings), resource_id) == api.expected()
        assert len(points_of(Messages(amqp_url).wait_points(resource_id, 5))) == 5
        drain_collected(amqp_url, resource_id)


def test_a_once_mode_csv_resource_goes_from_ready_to_completed_and_serves_its_points(
    service_env: Settings, monkeypatch: pytest.MonkeyPatch, amqp_channel: Any, amqp_url: str
) -> None:
    from functions.api.app import app

    monkeypatch.setenv("RS_FETCH_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    get_settings.cache_clear()
    settings = get_settings()
    db = get_database(settings)
    key = ApiKeyRepository(db).create("tenant-csv", name="tests")[1]
    headers = {"Authorization": f"Bearer {key}"}
    with serve_files({"/emissions.csv": CSV}) as base, TestClient(app) as client:
        body = {
            "name": "Total emissions",
            "unit": "Mt",
            "source": {"type": "csv", "url": f"{base}/emissions.csv"},
        }
        created = client.post("/resources", json=body, headers=headers)
        assert created.status_code == 201, created.text
        resource_id, wrapper_id = created.json()["id"], created.json()["wrapper_id"]
        publisher = get_publisher(settings)
        generate_step(wrapper_id, db=db, publisher=publisher, settings=settings, owner="test")
        validate_step(wrapper_id, db=db, publisher=publisher, settings=settings, owner="test")
        take_message(amqp_channel, WRAPPER_CREATION_QUEUE, wrapper_id)
        take_message(amqp_channel, WRAPPER_VALIDATION_QUEUE, wrapper_id)
        assert client.get(f"/wrappers/{wrapper_id}", headers=headers).json()["status"] == "ready"

        outcome = outcome_of(tick(settings), wrapper_id)  # nobody asked: ready is due
        assert outcome.status == WrapperStatus.COMPLETED and outcome.run.points_new == 4
        assert tick(settings).outcomes == []  # completed wrappers do not run again

        resource = client.get(f"/resources/{resource_id}", headers=headers).json()
        assert datetime.fromisoformat(resource["startPeriod"]) == datetime(2018, 1, 1, tzinfo=UTC)
        assert datetime.fromisoformat(resource["endPeriod"]) == datetime(2021, 1, 1, tzinfo=UTC)
        page = client.get(f"/resources/{resource_id}/points", headers=headers).json()
        assert [(p["timestamp"][:10], p["value"]) for p in page["items"]] == [
            ("2018-01-01", 10.0),
            ("2019-01-01", 11.0),
            ("2020-01-01", 12.0),
            ("2021-01-01", 13.0),
        ]
        as_csv = client.get(f"/resources/{resource_id}/points", params={"format": "csv"}, headers=headers)
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.text.splitlines()[1:] == [
            "2018-01-01T00:00:00Z,10.0",
            "2019-01-01T00:00:00Z,11.0",
            "2020-01-01T00:00:00Z,12.0",
            "2021-01-01T00:00:00Z,13.0",
        ]
        runs = client.get(f"/wrappers/{wrapper_id}/runs", headers=headers).json()
        assert (
            runs["total"] == 1 and runs["items"][0]["points_new"] == 4 and runs["items"][0]["error"] is None
        )
        wrapper = client.get(f"/wrappers/{wrapper_id}", headers=headers).json()
        assert wrapper["status"] == "completed" and wrapper["next_run_at"] is None
    assert len(points_of(Messages(amqp_url).wait_points(resource_id, 4))) == 4
    raw = drain_collected(amqp_url, resource_id)
    assert len(raw) == 1 and raw[0]["size"] == len(CSV)


def test_a_deleted_resources_wrapper_never_runs_again(settings: Settings, db: Database) -> None:
    with serve_readings() as api:
        api.grow(3)
        resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api))
        # Deleted, but the wrapper was not stopped (a crash between the two writes).
        ResourceRepository(db).soft_delete("tenant-job", resource_id)
        outcome = outcome_of(tick(settings), wrapper_id)
        assert outcome.status == WrapperStatus.STOPPED and api.requests == []
        make_due(db, wrapper_id)
        assert tick(settings).outcomes == []
        assert stored_points(db, resource_id) == []


def test_the_dev_stack_ticker_prints_what_each_tick_did(
    settings: Settings, db: Database, amqp_url: str
) -> None:
    with serve_readings() as api:
        api.grow(4)
        resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api))
        printed: list[str] = []
        stop = threading.Event()
        ticker = JobTicker(settings.model_copy(update={"dev_tick_seconds": 0.2}), echo=printed.append)
        thread = threading.Thread(target=ticker.run, args=(stop,))
        thread.start()
        try:
            for _ in range(100):
                if any(wrapper_id in line for line in printed):
                    break
                stop.wait(0.2)
        finally:
            stop.set()
            thread.join(60)
        assert any(
            f"[job] wrapper {wrapper_id} running (schedule; no window): 4 points (4 new" in line
            for line in printed
        ), printed
        assert len(points_of(Messages(amqp_url).wait_points(resource_id, 4))) == 4
        drain_collected(amqp_url, resource_id)


def test_a_tick_names_the_stale_and_the_failing_wrappers(settings: Settings, db: Database) -> None:
    wrappers = WrapperRepository(db)
    later, now = datetime.now(UTC) + timedelta(hours=1), datetime.now(UTC)
    ids = {}
    for name, fields in {
        "fresh": {"high_water_mark": now - timedelta(hours=1)},
        "stale": {"high_water_mark": now - timedelta(hours=4)},
        "failing": {"high_water_mark": now, "consecutive_failures": 3},
        "stopped": {"high_water_mark": now - timedelta(days=9), "status": "stopped"},
    }.items():
        _, ids[name] = add_wrapper(
            db,
            url="http://127.0.0.1:9/none",
            spec=FetchSpec(location="http://127.0.0.1:9/none", format=SourceFormat.JSON),
        )
        wrappers.update_fields(ids[name], {"next_run_at": later, "cadence_seconds": 3600, **fields})

    result = tick(settings)
    assert result.outcomes == []  # none was due: health is read, nothing is run
    assert result.stale_wrappers == [ids["stale"]]
    assert result.failing_wrappers == [ids["failing"]]
