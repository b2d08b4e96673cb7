"""Controlling execution through the API: start, stop, run-now, backfill, and the run history.

The fixtures (conftest.py) and helpers (support.py) are those of every API test: the TestClient fails on
any 500, the queue helper reads cooperatively and cleans this test's messages up.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from functions.api import services
from shared.common.clock import utcnow
from shared.domain.models import RunPublic, RunTrigger
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.api.support import FETCH_SPEC, PARSE_CODE, assert_error, auth, create, set_wrapper

pytestmark = pytest.mark.integration

VALIDATED = ("ready", "running", "completed", "error")
WITHOUT_CODE = ("pending", "failed")
BUSY = ("generating", "validating")


def validated(client: TestClient, db: Database, key: str, *, status: str = "ready", **fields: Any) -> str:
    """A resource whose wrapper has validated code and is in `status`; returns the wrapper id."""
    wid = str(create(client, key)["wrapper_id"])
    set_wrapper(db, wid, status=status, generated_code=PARSE_CODE, fetch_spec=FETCH_SPEC, **fields)
    return wid


def post(client: TestClient, key: str, wid: str, action: str, body: Any = None) -> Any:
    """POST /wrappers/{wid}/{action}."""
    return client.post(f"/wrappers/{wid}/{action}", json=body, headers=auth(key))


def due(db: Database, wid: str) -> bool:
    """Whether the scheduled job's claim query (ready or running, next_run_at <= now) selects the wrapper."""
    query = {"wrapper_id": wid, "status": {"$in": ["ready", "running"]}, "next_run_at": {"$lte": utcnow()}}
    return db["generated_wrappers"].count_documents(query) == 1


def recently(value: str | None, *, before: datetime) -> bool:
    """An ISO timestamp between `before` and now."""
    assert value is not None
    return before - timedelta(seconds=1) <= datetime.fromisoformat(value) <= utcnow()


# --- tenants, ids, documentation -----------------------------------------------------------------


def test_control_routes_are_tenant_scoped(client: TestClient, db: Database, key_a: str, key_b: str) -> None:
    wid = validated(client, db, key_a)
    before = WrapperRepository(db).get(wid)
    for action, body in [
        ("start", None),
        ("stop", None),
        ("run-now", None),
        ("backfill", {"start": "2020-01-01"}),
    ]:
        assert_error(post(client, key_b, wid, action, body), 404, "not_found")
        assert_error(post(client, key_a, "no-such-wrapper", action, body), 404, "not_found")
        assert client.post(f"/wrappers/{wid}/{action}", json=body).status_code == 401
    assert_error(client.get(f"/wrappers/{wid}/runs", headers=auth(key_b)), 404, "not_found")
    assert_error(client.get("/wrappers/no-such-wrapper/runs", headers=auth(key_a)), 404, "not_found")
    assert WrapperRepository(db).get(wid) == before


def test_openapi_documents_the_control_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for action in ("start", "stop", "run-now", "backfill"):
        operation = paths[f"/wrappers/{{wrapper_id}}/{action}"]["post"]
        assert {"200", "404", "409"} <= set(operation["responses"])
    assert "get" in paths["/wrappers/{wrapper_id}/runs"]


# --- start ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["stopped", "completed", "error", "ready"])
def test_start_runs_a_validated_wrapper_now(
    client: TestClient, db: Database, key_a: str, status: str
) -> None:
    wid = validated(
        client, db, key_a, status=status, consecutive_failures=4, status_reason="why", next_run_at=None
    )
    before = utcnow()
    response = post(client, key_a, wid, "start")
    assert response.status_code == 200, response.text
    wrapper = response.json()
    assert (wrapper["status"], wrapper["status_reason"]) == ("running", None)
    assert recently(wrapper["next_run_at"], before=before)
    assert wrapper["execution_log"][-1]["event"] == "started"
    assert "tenant_id" not in wrapper and "lease_owner" not in wrapper
    assert "requested_trigger" not in wrapper
    stored = WrapperRepository(db).get(wid)
    assert stored.consecutive_failures == 0 and stored.requested_trigger == RunTrigger.START
    assert due(db, wid)


def test_start_is_a_no_op_when_running(client: TestClient, db: Database, key_a: str) -> None:
    next_run = utcnow() + timedelta(hours=1)
    wid = validated(client, db, key_a, status="running", next_run_at=next_run, consecutive_failures=2)
    before = WrapperRepository(db).get(wid)
    response = post(client, key_a, wid, "start")
    assert response.status_code == 200
    assert datetime.fromisoformat(response.json()["next_run_at"]) == next_run
    assert WrapperRepository(db).get(wid) == before


@pytest.mark.parametrize("status", WITHOUT_CODE + BUSY)
def test_start_without_validated_code_is_409(
    client: TestClient, db: Database, key_a: str, status: str
) -> None:
    wid = str(create(client, key_a)["wrapper_id"])
    set_wrapper(db, wid, status=status)
    error = assert_error(post(client, key_a, wid, "start"), 409, "conflict")
    expected = "regenerate first" if status in WITHOUT_CODE else "once it is ready"
    assert expected in error["message"]
    assert WrapperRepository(db).get(wid).status == status


# --- stop ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", VALIDATED)
def test_stop_ends_scheduling(client: TestClient, db: Database, key_a: str, status: str) -> None:
    lease = utcnow() + timedelta(minutes=5)
    wid = validated(
        client, db, key_a, status=status, next_run_at=utcnow(), lease_owner="job-1", lease_until=lease
    )
    response = post(client, key_a, wid, "stop")
    assert response.status_code == 200, response.text
    wrapper = response.json()
    assert (wrapper["status"], wrapper["next_run_at"]) == ("stopped", None)
    assert wrapper["status_reason"] == "stopped on request"
    assert wrapper["execution_log"][-1]["event"] == "stopped"
    assert not due(db, wid)
    # A run in progress keeps its lease: a restart cannot overlap it.
    assert WrapperRepository(db).get(wid).lease_owner == "job-1"
    again = post(client, key_a, wid, "stop")
    assert again.status_code == 200
    assert again.json() == wrapper


@pytest.mark.parametrize("status", WITHOUT_CODE + BUSY)
def test_stop_of_a_wrapper_that_cannot_run_is_409(
    client: TestClient, db: Database, key_a: str, status: str
) -> None:
    wid = str(create(client, key_a)["wrapper_id"])
    set_wrapper(db, wid, status=status)
    assert_error(post(client, key_a, wid, "stop"), 409, "conflict")
    assert WrapperRepository(db).get(wid).status == status


def test_a_stopped_wrapper_can_be_started_again(client: TestClient, db: Database, key_a: str) -> None:
    wid = validated(client, db, key_a, status="running", next_run_at=utcnow())
    assert post(client, key_a, wid, "stop").json()["status"] == "stopped"
    assert post(client, key_a, wid, "start").json()["status"] == "running"
    assert due(db, wid)
    events = [e["event"] for e in client.get(f"/wrappers/{wid}", headers=auth(key_a)).json()["execution_log"]]
    assert events[-2:] == ["stopped", "started"]


# --- run-now ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", VALIDATED)
def test_run_now_makes_the_wrapper_due(client: TestClient, db: Database, key_a: str, status: str) -> None:
    wid = validated(client, db, key_a, status=status, next_run_at=utcnow() + timedelta(days=1))
    before = utcnow()
    response = post(client, key_a, wid, "run-now")
    assert response.status_code == 200, response.text
    wrapper = response.json()
    assert wrapper["status"] == "running"
    assert recently(wrapper["next_run_at"], before=before)
    assert wrapper["execution_log"][-1]["event"] == "run requested"
    assert due(db, wid)
    assert WrapperRepository(db).get(wid).requested_trigger == RunTrigger.RUN_NOW


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("stopped", "start it first"),
        ("pending", "regenerate first"),
        ("failed", "regenerate first"),
        ("generating", "once it is ready"),
        ("validating", "once it is ready"),
    ],
)
def test_run_now_is_409_when_the_wrapper_may_not_run(
    client: TestClient, db: Database, key_a: str, status: str, says: str
) -> None:
    wid = validated(client, db, key_a, status=status)
    error = assert_error(post(client, key_a, wid, "run-now"), 409, "conflict")
    assert says in error["message"]
    assert WrapperRepository(db).get(wid).status == status


# --- backfill --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", VALIDATED)
def test_backfill_moves_the_high_water_mark_back(
    client: TestClient, db: Database, key_a: str, status: str
) -> None:
    wid = validated(
        client, db, key_a, status=status, high_water_mark=datetime(2024, 6, 1, tzinfo=UTC), next_run_at=None
    )
    before = utcnow()
    response = post(client, key_a, wid, "backfill", {"start": "2020-01-01T00:00:00Z"})
    assert response.status_code == 200, response.text
    wrapper = response.json()
    assert wrapper["status"] == "running"
    assert datetime.fromisoformat(wrapper["high_water_mark"]) == datetime(2020, 1, 1, tzinfo=UTC)
    assert recently(wrapper["next_run_at"], before=before)
    assert wrapper["execution_log"][-1]["event"].startswith("backfill from 2020-01-01")
    stored = WrapperRepository(db).get(wid)
    assert stored.high_water_mark == stored.backfill_from == datetime(2020, 1, 1, tzinfo=UTC)
    assert stored.requested_trigger == RunTrigger.BACKFILL
    assert due(db, wid)


def test_backfill_reads_a_date_without_zone_as_utc(client: TestClient, db: Database, key_a: str) -> None:
    wid = validated(client, db, key_a)
    response = post(client, key_a, wid, "backfill", {"start": "2021-03-01T12:00:00"})
    assert response.status_code == 200, response.text
    assert WrapperRepository(db).get(wid).high_water_mark == datetime(2021, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "body.start"),
        ({"start": "yesterday"}, "body.start"),
        ({}, "body.start"),
        ({"start": "2020-01-01T00:00:00Z", "end": "2021-01-01"}, "body.end"),
    ],
)
def test_bad_backfills_are_422(
    client: TestClient, db: Database, key_a: str, body: dict[str, Any], field: str
) -> None:
    wid = validated(client, db, key_a, high_water_mark=datetime(2024, 6, 1, tzinfo=UTC))
    before = WrapperRepository(db).get(wid)
    error = assert_error(post(client, key_a, wid, "backfill", body), 422, "validation_error")
    assert field in [d["field"] for d in error["details"]]
    assert WrapperRepository(db).get(wid) == before


@pytest.mark.parametrize("status", ["stopped", "pending", "failed", "generating", "validating"])
def test_backfill_is_409_when_the_wrapper_may_not_run(
    client: TestClient, db: Database, key_a: str, status: str
) -> None:
    wid = validated(client, db, key_a, status=status)
    assert_error(post(client, key_a, wid, "backfill", {"start": "2020-01-01"}), 409, "conflict")
    assert WrapperRepository(db).get(wid).high_water_mark is None


def test_backfill_waits_for_the_run_in_progress(client: TestClient, db: Database, key_a: str) -> None:
    mark = datetime(2024, 6, 1, tzinfo=UTC)
    wid = validated(
        client,
        db,
        key_a,
        status="running",
        high_water_mark=mark,
        lease_owner="job-1",
        lease_until=utcnow() + timedelta(minutes=5),
    )
    error = assert_error(post(client, key_a, wid, "backfill", {"start": "2020-01-01"}), 409, "conflict")
    assert "when the run is done" in error["message"]
    assert WrapperRepository(db).get(wid).high_water_mark == mark
    set_wrapper(db, wid, lease_until=utcnow() - timedelta(seconds=1))  # the lease of a finished/dead run
    assert post(client, key_a, wid, "backfill", {"start": "2020-01-01"}).status_code == 200


# --- deleted resources -----------------------------------------------------------------------------


def test_the_wrapper_of_a_deleted_resource_never_runs_again(
    client: TestClient, db: Database, key_a: str
) -> None:
    resource = create(client, key_a)
    rid, wid = resource["id"], resource["wrapper_id"]
    set_wrapper(
        db, wid, status="running", generated_code=PARSE_CODE, fetch_spec=FETCH_SPEC, next_run_at=utcnow()
    )
    assert client.delete(f"/resources/{rid}", headers=auth(key_a)).status_code == 204
    stopped = WrapperRepository(db).get(wid)
    assert (stopped.status, stopped.next_run_at) == ("stopped", None)
    for action, body in [("start", None), ("run-now", None), ("backfill", {"start": "2020-01-01"})]:
        error = assert_error(post(client, key_a, wid, action, body), 409, "conflict")
        assert "deleted" in error["message"]
    error = assert_error(post(client, key_a, wid, "regenerate"), 409, "conflict")
    assert "deleted" in error["message"]
    assert post(client, key_a, wid, "stop").status_code == 200  # already stopped: a no-op
    assert WrapperRepository(db).get(wid) == stopped
    assert not due(db, wid)


def test_a_delete_racing_a_start_leaves_the_wrapper_stopped(
    client: TestClient, db: Database, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    set_wrapper(db, wid, status="stopped", generated_code=PARSE_CODE, fetch_spec=FETCH_SPEC)
    answers = iter([False, True])  # live when checked, deleted (and its stop done) by the transition
    monkeypatch.setattr(services, "_resource_deleted", lambda *_: next(answers))
    error = assert_error(post(client, key_a, wid, "start"), 409, "conflict")
    assert "deleted" in error["message"]
    wrapper = WrapperRepository(db).get(wid)
    assert (wrapper.status, wrapper.next_run_at, wrapper.status_reason) == (
        "stopped",
        None,
        "resource deleted",
    )


# --- runs ------------------------------------------------------------------------------------------


def test_runs_of_a_wrapper_page_newest_first(
    client: TestClient, db: Database, key_a: str, settings: Any
) -> None:
    resource = create(client, key_a)
    rid, wid = resource["id"], resource["wrapper_id"]
    path = f"/wrappers/{wid}/runs"
    assert client.get(path, headers=auth(key_a)).json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    runs = RunRepository(db)
    finished = []
    for i in range(3):
        run = runs.start(
            wrapper_id=wid, resource_id=rid, trigger=RunTrigger.SCHEDULE if i else RunTrigger.RUN_NOW
        )
        db["runs"].update_one(
            {"run_id": run.run_id}, {"$set": {"started_at": run.started_at + timedelta(seconds=i)}}
        )
        run = run.model_copy(
            update={"started_at": run.started_at + timedelta(seconds=i), "points_new": i, "pages": 1}
        )
        finished.append(runs.finish(run))
    runs.start(wrapper_id="another-wrapper", resource_id=rid, trigger=RunTrigger.SCHEDULE)
    page = client.get(path, headers=auth(key_a)).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert [r["run_id"] for r in page["items"]] == [r.run_id for r in reversed(finished)]
    assert set(page["items"][0]) == set(RunPublic.model_fields)
    newest = RunPublic.model_validate(page["items"][0])
    assert newest == finished[-1]
    assert newest.finished_at is not None and newest.duration_seconds is not None
    second = client.get(path, params={"limit": 1, "offset": 1}, headers=auth(key_a)).json()
    assert [r["run_id"] for r in second["items"]] == [finished[1].run_id]
    assert (second["total"], second["limit"], second["offset"]) == (3, 1, 1)
    too_many = client.get(path, params={"limit": settings.api_page_size_max + 1}, headers=auth(key_a))
    assert_error(too_many, 422, "validation_error")
    assert_error(client.get(path, params={"offset": -1}, headers=auth(key_a)), 422, "validation_error")
