"""GET/PUT /wrappers/{id}/fetch-spec: a user's fetch spec is checked (SSRF rules, pagination and window
fields, secrets by name only), then validated on a fresh sample; a bad one never replaces a working one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from shared.common.settings import Settings
from shared.flows.steps import validate_step
from shared.messaging.broker import get_publisher
from shared.store.wrappers import WrapperRepository
from tests.integration.api.support import VALIDATION, Queues, assert_error, auth, create, set_wrapper, use_env
from tests.integration.job_support import READINGS_CODE, ReadingsApi, serve_readings

pytestmark = pytest.mark.integration

KEY = "k-51d0e8"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReadingsApi]:
    use_env(monkeypatch, fetch_allowed_networks='["127.0.0.1/32"]', secret_readings_key=KEY)
    with serve_readings() as served:
        served.grow(12)
        served.required_headers = {"X-Api-Key": KEY}
        yield served


@pytest.fixture
def working(client: TestClient, db: Database, key_a: str, api: ReadingsApi) -> tuple[str, dict[str, Any]]:
    """A running wrapper of the readings API with a working fetch spec: (wrapper id, that spec)."""
    resource = create(client, key_a, source={"type": "api", "url": api.url})
    spec = {"location": api.url, "format": "json", "header_secrets": {"X-Api-Key": "readings key"}}
    set_wrapper(db, resource["wrapper_id"], status="running", generated_code=READINGS_CODE, fetch_spec=spec)
    return resource["wrapper_id"], spec


def get_spec(client: TestClient, key: str, wid: str) -> dict[str, Any]:
    response = client.get(f"/wrappers/{wid}/fetch-spec", headers=auth(key))
    assert response.status_code == 200, response.text
    return dict(response.json())


def put_spec(client: TestClient, key: str, wid: str, body: dict[str, Any]) -> Any:
    return client.put(f"/wrappers/{wid}/fetch-spec", json=body, headers=auth(key))


def validate(db: Database, wid: str) -> None:
    """Run the validate step the queued message asks for."""
    settings = Settings()
    validate_step(wid, db=db, publisher=get_publisher(settings), settings=settings, owner="test")


def test_a_good_spec_is_validated_on_a_fresh_sample_and_then_replaces_the_old(
    client: TestClient,
    db: Database,
    key_a: str,
    key_b: str,
    api: ReadingsApi,
    queues: Queues,
    working: tuple[str, dict[str, Any]],
) -> None:
    wid, old = working
    assert get_spec(client, key_a, wid) | {"proposed": None} == {
        **get_spec(client, key_a, wid),
        **old,
        "proposed": None,
    }
    assert client.get(f"/wrappers/{wid}/fetch-spec", headers=auth(key_b)).status_code == 404
    paged = {
        **old,
        "params": {"unit": "g"},
        "pagination": {"kind": "page_number", "param": "page", "size_param": "per_page", "size": 5},
        "water_mark": {"start_param": "start", "lookback_seconds": 3600},
    }
    accepted = put_spec(client, key_a, wid, paged)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["status"] == "validating"
    assert get_spec(client, key_a, wid)["proposed"]["pagination"]["size"] == 5
    assert get_spec(client, key_a, wid)["pagination"]["kind"] == "none"  # not yet replaced
    assert len(queues.of(VALIDATION, wrapper_id=wid)) == 1

    api.requests.clear()
    validate(db, wid)
    current = get_spec(client, key_a, wid)
    assert current["pagination"]["size"] == 5 and current["proposed"] is None
    assert current["header_secrets"] == {"X-Api-Key": "readings key"}
    assert [q.get("page") for q in api.requests] == ["1", "2", "3"]  # 12 readings, 5 a page: 3rd is short
    assert all(q.get("unit") == "g" for q in api.requests)
    wrapper = client.get(f"/wrappers/{wid}", headers=auth(key_a)).json()
    assert wrapper["status"] == "ready" and wrapper["validation"]["ok"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"location": "http://169.254.169.254/latest/meta-data"}, "body.location", "not public"),
        ({"location": "http://10.20.30.40/readings"}, "body.location", "not public"),
        ({"location": "ftp://example.org/readings"}, "body.location", "http(s)://"),
        (
            {"location": "s3://elsewhere/r.csv", "format": "csv", "header_secrets": {}},
            "body.location",
            "uploaded",
        ),
        ({"location": "s3://elsewhere/r.csv", "format": "csv"}, "body", "s3:// location takes no"),
        ({"headers": {"X-Api-Key": "k-51d0e8"}}, "body", "headers are refused"),
        ({"header_secrets": {"Authorization": "Bearer k-51d0e8"}}, "body.header_secrets", "never its value"),
        ({"params": {"api_key": "k-51d0e8"}}, "body.params", "query_secrets"),
        ({"location": "https://api.example.org/r?token=k-51d0e8"}, "body.location", "query_secrets"),
        ({"pagination": {"kind": "page_number"}}, "body.pagination", "needs `param`"),
        ({"pagination": {"kind": "next_link"}}, "body.pagination", "next_link_path"),
        ({"pagination": {"kind": "scroll"}}, "body.pagination.kind", "page_number"),
        ({"water_mark": {"start_param": "from", "format": "YYYY-MM-DD"}}, "body.water_mark", "strftime"),
        ({"water_mark": {"start_param": "d", "end_param": "d"}}, "body.water_mark", "differ"),
        ({"pagination": {"kind": "cursor", "param": "c"}}, "body.pagination", "cursor_path"),
        ({"water_mark": {"lookback_seconds": 60}}, "body.water_mark", "needs a start or end"),
    ],
)
def test_a_bad_spec_is_refused_with_the_reason_and_the_old_one_kept(
    client: TestClient,
    db: Database,
    key_a: str,
    working: tuple[str, dict[str, Any]],
    change: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    wid, old = working
    response = put_spec(client, key_a, wid, {**old, **change})
    error = assert_error(response, 422, "validation_error")
    matching = [d for d in error["details"] if d["field"] == field]
    assert matching and reason in matching[0]["reason"], error
    assert "k-51d0e8" not in response.text
    assert {k: get_spec(client, key_a, wid)[k] for k in old} == old
    assert WrapperRepository(db).get(wid).status.value == "running"


def test_a_spec_that_fails_on_the_fresh_sample_is_dropped_and_the_old_one_kept(
    client: TestClient, db: Database, key_a: str, api: ReadingsApi, working: tuple[str, dict[str, Any]]
) -> None:
    wid, old = working
    unauthorised = {**old, "header_secrets": {"X-Api-Key": "another key"}}
    assert put_spec(client, key_a, wid, unauthorised).status_code == 202
    validate(db, wid)
    wrapper = client.get(f"/wrappers/{wid}", headers=auth(key_a)).json()
    assert wrapper["status"] == "running"
    assert wrapper["status_reason"].startswith("the fetch spec given was refused (cannot read source: secret")
    assert "RS_SECRET_ANOTHER_KEY" in wrapper["status_reason"]
    assert get_spec(client, key_a, wid) == {**get_spec(client, key_a, wid), **old, "proposed": None}

    elsewhere = {**old, "location": f"{api.base}/nothing"}
    assert put_spec(client, key_a, wid, elsewhere).status_code == 202
    validate(db, wid)
    wrapper = client.get(f"/wrappers/{wid}", headers=auth(key_a)).json()
    assert wrapper["status"] == "running" and "HTTP 404" in wrapper["status_reason"]
    assert get_spec(client, key_a, wid)["location"] == api.url


def test_a_busy_or_ungenerated_wrapper_refuses_a_spec(
    client: TestClient, db: Database, key_a: str, api: ReadingsApi
) -> None:
    wid = create(client, key_a, source={"type": "api", "url": api.url})["wrapper_id"]
    spec = {"location": api.url, "format": "json"}
    assert_error(client.get(f"/wrappers/{wid}/fetch-spec", headers=auth(key_a)), 409, "conflict")
    assert_error(put_spec(client, key_a, wid, spec), 409, "conflict")
    set_wrapper(db, wid, status="validating", generated_code=READINGS_CODE, fetch_spec=spec)
    assert_error(put_spec(client, key_a, wid, spec), 409, "conflict")
