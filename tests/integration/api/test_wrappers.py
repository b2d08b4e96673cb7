"""/wrappers: list, get, prompts, regenerate, validate, replace code."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from shared.common.settings import Settings
from shared.domain.wrapper import Exchange
from shared.store.prompt_records import PromptRecordRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.api.support import (
    CREATION,
    FETCH_SPEC,
    PARSE_CODE,
    VALIDATION,
    Queues,
    assert_error,
    auth,
    closed_port,
    create,
    set_wrapper,
    use_env,
)

pytestmark = pytest.mark.integration


def test_list_and_get_wrappers(client: TestClient, db: Database, key_a: str) -> None:
    first = create(client, key_a)
    second = create(client, key_a, name="Second")
    set_wrapper(
        db,
        second["wrapper_id"],
        status="ready",
        generated_code=PARSE_CODE,
        fetch_spec=FETCH_SPEC,
        generator="heuristic",
        validation={"ok": True, "errors": []},
        high_water_mark=datetime(2023, 1, 1, tzinfo=UTC),
        low_water_mark=datetime(1990, 1, 1, tzinfo=UTC),
    )
    listing = client.get("/wrappers", headers=auth(key_a)).json()
    assert listing["total"] == 2
    assert "generated_code" not in listing["items"][0]
    ready = client.get("/wrappers?status=ready", headers=auth(key_a)).json()
    assert [w["wrapper_id"] for w in ready["items"]] == [second["wrapper_id"]]
    pending = client.get("/wrappers", params={"status": "pending", "limit": 1}, headers=auth(key_a)).json()
    assert [w["wrapper_id"] for w in pending["items"]] == [first["wrapper_id"]]
    assert client.get("/wrappers?status=sleeping", headers=auth(key_a)).status_code == 422
    detail = client.get(f"/wrappers/{second['wrapper_id']}", headers=auth(key_a)).json()
    assert detail["generated_code"] == PARSE_CODE
    assert detail["fetch_spec"] == FETCH_SPEC
    assert detail["generator"] == "heuristic"
    assert detail["validation"] == {"ok": True, "errors": []}
    assert detail["high_water_mark"].startswith("2023-01-01T00:00:00")
    assert detail["low_water_mark"].startswith("1990-01-01")
    assert detail["execution_log"][0]["event"] == "created"


def test_prompts_of_a_wrapper(client: TestClient, db: Database, key_a: str) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    assert client.get(f"/wrappers/{wid}/prompts", headers=auth(key_a)).json() == {"items": []}
    PromptRecordRepository(db).add(
        wid,
        [
            Exchange(attempt=1, role="prompt", text="write a parser"),
            Exchange(attempt=1, role="response", text="def parse(...)"),
        ],
    )
    items = client.get(f"/wrappers/{wid}/prompts", headers=auth(key_a)).json()["items"]
    assert [(i["attempt"], i["role"], i["text"]) for i in items] == [
        (1, "prompt", "write a parser"),
        (1, "response", "def parse(...)"),
    ]
    assert set(items[0]) == {"wrapper_id", "attempt", "role", "text", "created_at"}


def test_regenerate(client: TestClient, db: Database, key_a: str, queues: Queues) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    queues.mine(CREATION)
    for busy in ("generating", "validating"):
        set_wrapper(db, wid, status=busy)
        error = assert_error(client.post(f"/wrappers/{wid}/regenerate", headers=auth(key_a)), 409, "conflict")
        assert busy in error["message"]
    assert queues.mine(CREATION) == []
    set_wrapper(
        db,
        wid,
        status="failed",
        attempts=3,
        generator_override="heuristic",
        feedback="bad",
        generated_code=PARSE_CODE,
    )
    response = client.post(f"/wrappers/{wid}/regenerate", headers=auth(key_a))
    assert response.status_code == 202
    wrapper = response.json()
    assert (wrapper["status"], wrapper["attempts"], wrapper["validation"]) == ("pending", 0, None)
    stored = WrapperRepository(db).get(wid)
    assert stored.generator_override is None and stored.feedback is None
    assert len(queues.of(CREATION, wrapper_id=wid)) == 1
    # A retry of the same request with its Idempotency-Key is answered, not acted on again.
    headers = {**auth(key_a), "Idempotency-Key": "regen-1"}
    again = client.post(f"/wrappers/{wid}/regenerate", headers=headers)
    replay = client.post(f"/wrappers/{wid}/regenerate", headers=headers)
    assert again.status_code == replay.status_code == 202 and replay.json() == again.json()
    assert len(queues.of(CREATION, wrapper_id=wid)) == 1


def test_validate(client: TestClient, db: Database, key_a: str, queues: Queues) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    set_wrapper(db, wid, status="failed")
    error = assert_error(client.post(f"/wrappers/{wid}/validate", headers=auth(key_a)), 409, "conflict")
    assert "no generated code" in error["message"]
    set_wrapper(db, wid, status="validating", generated_code=PARSE_CODE, fetch_spec=FETCH_SPEC)
    assert_error(client.post(f"/wrappers/{wid}/validate", headers=auth(key_a)), 409, "conflict")
    set_wrapper(db, wid, status="pending")
    assert_error(client.post(f"/wrappers/{wid}/validate", headers=auth(key_a)), 409, "conflict")
    set_wrapper(db, wid, status="ready", validation={"ok": True})
    response = client.post(f"/wrappers/{wid}/validate", headers=auth(key_a))
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["validation"]) == ("validating", None)
    assert response.json()["generated_code"] == PARSE_CODE
    assert len(queues.of(VALIDATION, wrapper_id=wid)) == 1


def test_replace_code(client: TestClient, db: Database, key_a: str, queues: Queues) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    path = f"/wrappers/{wid}/code"
    body = {"parse_code": "def parse(data, context):\n    yield from ()\n"}
    error = assert_error(client.put(path, json=body, headers=auth(key_a)), 409, "conflict")
    assert "fetch spec" in error["message"]
    set_wrapper(db, wid, status="generating", fetch_spec=FETCH_SPEC, generated_code=PARSE_CODE)
    assert_error(client.put(path, json=body, headers=auth(key_a)), 409, "conflict")
    set_wrapper(db, wid, status="ready", generator="heuristic", validation={"ok": True})
    assert_error(client.put(path, json={"parse_code": ""}, headers=auth(key_a)), 422, "validation_error")
    assert_error(client.put(path, json={**body, "x": 1}, headers=auth(key_a)), 422, "validation_error")
    response = client.put(path, json=body, headers=auth(key_a))
    assert response.status_code == 202
    wrapper = response.json()
    assert wrapper["status"] == "validating"
    assert wrapper["generator"] == "manual"
    assert wrapper["generated_code"] == body["parse_code"]
    assert wrapper["validation"] is None
    assert wrapper["fetch_spec"] == FETCH_SPEC
    assert len(queues.of(VALIDATION, wrapper_id=wid)) == 1


def test_broker_down_regenerate_is_503_and_parks_the_wrapper_with_a_reason(
    client: TestClient, db: Database, key_a: str, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    set_wrapper(db, wid, status="ready", generated_code=PARSE_CODE, fetch_spec=FETCH_SPEC)
    use_env(
        monkeypatch,
        amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F",
        broker_connect_attempts="1",
    )
    assert_error(client.post(f"/wrappers/{wid}/regenerate", headers=auth(key_a)), 503, "broker_unavailable")
    wrapper = client.get(f"/wrappers/{wid}", headers=auth(key_a)).json()
    assert wrapper["status"] == "failed"
    assert f"/wrappers/{wid}/regenerate" in wrapper["status_reason"]
    assert_error(
        client.delete(f"/resources/{resource['id']}", headers=auth(key_a)), 503, "broker_unavailable"
    )
    assert client.get(f"/resources/{resource['id']}", headers=auth(key_a)).status_code == 200  # not deleted
    use_env(monkeypatch, amqp_url=settings.amqp_url.get_secret_value())
    assert client.post(f"/wrappers/{wid}/regenerate", headers=auth(key_a)).status_code == 202
    assert client.delete(f"/resources/{resource['id']}", headers=auth(key_a)).status_code == 204
