"""A wrapper's `health` in the API: stale when its data stops arriving, failing when its runs keep failing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from shared.common.clock import utcnow
from tests.integration.api.support import FETCH_SPEC, PARSE_CODE, auth, create, set_wrapper

pytestmark = pytest.mark.integration

HOUR = 3600


def continuous(client: TestClient, db: Database, key: str, **fields: Any) -> str:
    """An API resource whose continuous wrapper runs hourly, in the given state; returns the wrapper id."""
    wid = str(
        create(
            client,
            key,
            source={"type": "api", "url": "https://example.org/api/readings"},
            schedule={"rate_seconds": HOUR},
        )["wrapper_id"]
    )
    state = {"status": "running", "generated_code": PARSE_CODE, "fetch_spec": FETCH_SPEC, **fields}
    set_wrapper(db, wid, **state)
    return wid


def health(client: TestClient, key: str, wid: str) -> dict[str, Any]:
    response = client.get(f"/wrappers/{wid}", headers=auth(key))
    assert response.status_code == 200, response.text
    return dict(response.json()["health"])


def test_stale_and_failing_wrappers_are_flagged(client: TestClient, db: Database, key_a: str) -> None:
    now = utcnow()
    fresh = continuous(client, db, key_a, cadence_seconds=HOUR, high_water_mark=now - timedelta(hours=2))
    stale = continuous(client, db, key_a, cadence_seconds=HOUR, high_water_mark=now - timedelta(hours=5))
    failing = continuous(client, db, key_a, cadence_seconds=HOUR, high_water_mark=now, consecutive_failures=3)
    given_up = continuous(client, db, key_a, status="error", consecutive_failures=5, high_water_mark=now)

    assert health(client, key_a, fresh) == {
        "state": "ok",
        "reason": "",
        "cadence_seconds": HOUR,
        "consecutive_failures": 0,
    }
    flagged = health(client, key_a, stale)
    assert flagged["state"] == "stale" and "older than 3 cadences of 3600 s" in flagged["reason"]
    flagged = health(client, key_a, failing)
    assert flagged["state"] == "failing" and flagged["consecutive_failures"] == 3
    assert health(client, key_a, given_up)["state"] == "failing"

    listed = client.get("/wrappers", params={"limit": 50}, headers=auth(key_a)).json()["items"]
    states = {item["wrapper_id"]: item["health"]["state"] for item in listed}
    assert [states[w] for w in (fresh, stale, failing, given_up)] == ["ok", "stale", "failing", "failing"]


def test_without_a_stored_cadence_the_datas_frequency_sets_it(
    client: TestClient, db: Database, key_a: str
) -> None:
    monthly = {"ok": True, "summary": {"count": 40, "series": 1, "frequency": "monthly"}}
    now = utcnow()
    recent = continuous(client, db, key_a, validation=monthly, high_water_mark=now - timedelta(days=60))
    old = continuous(client, db, key_a, validation=monthly, high_water_mark=now - timedelta(days=100))
    assert health(client, key_a, recent)["state"] == "ok"
    flagged = health(client, key_a, old)
    assert flagged["state"] == "stale" and flagged["cadence_seconds"] == 31 * 86400


def test_wrappers_off_the_schedule_are_idle(client: TestClient, db: Database, key_a: str) -> None:
    stopped = continuous(client, db, key_a, status="stopped", high_water_mark=utcnow() - timedelta(days=30))
    once = str(create(client, key_a)["wrapper_id"])  # a CSV file: runs once, nothing to expect
    set_wrapper(db, once, status="completed", consecutive_failures=4)
    assert health(client, key_a, stopped)["state"] == "idle"
    assert health(client, key_a, once)["state"] == "idle"
