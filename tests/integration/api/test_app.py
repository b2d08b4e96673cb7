"""Behaviour every route shares: authentication and tenants, idempotency, error shape and outages, CORS."""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from functions.api.app import create_app
from functions.api.errors import unhandled_error_response
from functions.api.key_cache import api_keys
from functions.api.log import logger
from shared.common.settings import Settings
from tests.integration.api.support import (
    CREATION,
    PARSE_CODE,
    Queues,
    assert_error,
    auth,
    closed_port,
    create,
    no_server_error,
    resource_body,
    use_env,
)

pytestmark = pytest.mark.integration


# --- authentication and tenants ---------------------------------------------------------------


def test_missing_or_invalid_key_is_401_with_a_challenge(client: TestClient, key_a: str) -> None:
    missing = client.get("/resources")
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    invalid = client.get("/resources", headers=auth("rs_not-a-key"))
    assert_error(invalid, 401, "unauthorized")
    assert 'error="invalid_token"' in invalid.headers["www-authenticate"]
    assert_error(client.get("/resources", headers={"Authorization": f"Basic {key_a}"}), 401, "unauthorized")
    assert_error(client.get("/wrappers", headers={"X-API-Key": "x" * 5000}), 401, "unauthorized")
    for method, path in [
        ("POST", "/resources"),
        ("GET", "/wrappers"),
        ("POST", "/uploads"),
        ("GET", "/resources/0/points"),
        ("PUT", "/wrappers/w/code"),
    ]:
        assert client.request(method, path).status_code == 401


def test_bearer_and_x_api_key_both_authenticate(client: TestClient, key_a: str) -> None:
    assert client.get("/resources", headers=auth(key_a)).status_code == 200
    assert client.get("/resources", headers={"X-API-Key": key_a}).status_code == 200


def test_revoked_key_is_refused(client: TestClient, db: Database, key_a: str) -> None:
    db["api_keys"].update_many({}, {"$set": {"revoked": True}})
    assert_error(client.get("/resources", headers=auth(key_a)), 401, "unauthorized")


def test_a_revoked_key_is_refused_once_its_cached_entry_expires(
    client: TestClient, db: Database, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, api_key_cache_seconds="30")
    clock = SimpleNamespace(now=time.monotonic())
    monkeypatch.setattr(api_keys, "clock", lambda: clock.now)
    assert client.get("/resources", headers=auth(key_a)).status_code == 200
    db["api_keys"].update_many({}, {"$set": {"revoked": True}})
    clock.now += 29  # the container trusts the key it authenticated for RS_API_KEY_CACHE_SECONDS
    assert client.get("/resources", headers=auth(key_a)).status_code == 200
    clock.now += 1
    assert_error(client.get("/resources", headers=auth(key_a)), 401, "unauthorized")
    clock.now += 60  # a refused key is not remembered: it stays refused
    assert_error(client.get("/resources", headers=auth(key_a)), 401, "unauthorized")


def test_without_the_key_cache_a_revocation_applies_at_once(
    client: TestClient, db: Database, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, api_key_cache_seconds="0")
    assert client.get("/resources", headers=auth(key_a)).status_code == 200
    db["api_keys"].update_many({}, {"$set": {"revoked": True}})
    assert_error(client.get("/resources", headers=auth(key_a)), 401, "unauthorized")


def test_every_route_but_health_and_docs_needs_a_key(client: TestClient) -> None:
    checked = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if path in ("/health", "/ready"):
            continue
        concrete = path.replace("{resource_id}", "6761a2f0c3d4e5f601234567").replace("{wrapper_id}", "w")
        for method in operations:
            response = client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
            checked += 1
    assert checked >= 19  # every operation of the resources, data, wrappers and uploads routers


def test_a_bug_is_answered_500_in_the_error_shape_with_the_request_id(settings: Settings) -> None:
    buggy = create_app(settings)

    @buggy.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    with TestClient(buggy) as test_client:
        response = test_client.get("/bug", headers={"X-Request-ID": "req-bug"})
    assert_error(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "req-bug"
    assert "a bug" not in response.text


def test_another_tenants_resource_and_wrapper_are_404(client: TestClient, key_a: str, key_b: str) -> None:
    resource = create(client, key_a)
    rid, wid = resource["id"], resource["wrapper_id"]
    for method, path in [
        ("GET", f"/resources/{rid}"),
        ("PATCH", f"/resources/{rid}"),
        ("DELETE", f"/resources/{rid}"),
        ("GET", f"/resources/{rid}/points"),
        ("GET", f"/resources/{rid}/availability"),
        ("GET", f"/wrappers/{wid}"),
        ("GET", f"/wrappers/{wid}/prompts"),
        ("POST", f"/wrappers/{wid}/regenerate"),
        ("POST", f"/wrappers/{wid}/validate"),
    ]:
        body: dict[str, Any] | None = {} if method == "PATCH" else None
        assert_error(client.request(method, path, json=body, headers=auth(key_b)), 404, "not_found")
    put = client.put(f"/wrappers/{wid}/code", json={"parse_code": PARSE_CODE}, headers=auth(key_b))
    assert_error(put, 404, "not_found")
    assert client.get("/resources", headers=auth(key_b)).json()["total"] == 0
    assert client.get("/wrappers", headers=auth(key_b)).json()["total"] == 0
    assert client.get(f"/resources/{rid}", headers=auth(key_a)).status_code == 200


def test_unknown_ids_are_404(client: TestClient, key_a: str) -> None:
    for path in ["/resources/not-an-object-id", "/resources/6761a2f0c3d4e5f601234567", "/wrappers/nope"]:
        assert_error(client.get(path, headers=auth(key_a)), 404, "not_found")
    assert_error(client.get("/no/such/route", headers=auth(key_a)), 404, "not_found")
    assert_error(client.put("/resources", headers=auth(key_a)), 405, "method_not_allowed")


def test_logs_are_json_correlated_and_never_carry_the_key(client: TestClient, key_a: str) -> None:
    stream = io.StringIO()
    handler_ = logger.registered_handler
    assert hasattr(handler_, "setStream")
    previous = handler_.setStream(stream)
    try:
        resource = create(client, key_a)
        client.get(f"/resources/{resource['id']}", headers={**auth(key_a), "X-Request-ID": "req-123"})
    finally:
        handler_.setStream(previous)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    assert key_a not in stream.getvalue()
    created = next(line for line in lines if line["message"] == "resource created")
    assert created["tenant_id"] == "tenant-a"
    assert created["resource_id"] == resource["id"]
    assert created["wrapper_id"] == resource["wrapper_id"]
    fetched = [line for line in lines if line["message"] == "request" and line.get("request_id") == "req-123"]
    assert fetched and fetched[0]["status"] == "200" and fetched[0]["tenant_id"] == "tenant-a"


# --- idempotency ------------------------------------------------------------------------------


def test_idempotent_create_returns_the_first_result(
    client: TestClient, key_a: str, key_b: str, queues: Queues
) -> None:
    headers = {**auth(key_a), "Idempotency-Key": "create-1"}
    first = client.post("/resources", json=resource_body(), headers=headers)
    # The same request with its keys in another order and other spacing is the same request.
    same = json.dumps(dict(reversed(list(resource_body().items()))), indent=2)
    second = client.post("/resources", content=same, headers={**headers, "Content-Type": "application/json"})
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotency-replayed"] == "true"
    assert client.get("/resources", headers=auth(key_a)).json()["total"] == 1
    assert len(queues.mine(CREATION)) == 1
    different = client.post("/resources", json=resource_body(name="Other"), headers=headers)
    error = assert_error(different, 422, "validation_error")
    assert error["details"][0]["field"] == "header.Idempotency-Key"
    # Keys belong to a tenant: another tenant's identical key is a different request.
    other = client.post(
        "/resources", json=resource_body(), headers={**auth(key_b), "Idempotency-Key": "create-1"}
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert_error(
        client.post(
            "/resources", json=resource_body(), headers={**auth(key_a), "Idempotency-Key": "k" * 300}
        ),
        422,
        "validation_error",
    )


def test_idempotency_key_of_a_failed_request_can_be_retried(client: TestClient, key_a: str) -> None:
    headers = {**auth(key_a), "Idempotency-Key": "retry-me"}
    bad = resource_body(source={"type": "csv", "url": "s3://elsewhere/a.csv"})
    assert client.post("/resources", json=bad, headers=headers).status_code == 403
    assert client.post("/resources", json=bad, headers=headers).status_code == 403
    assert client.post("/resources", json=resource_body(), headers=headers).status_code == 201


def test_a_key_in_progress_is_409_until_it_is_stale(client: TestClient, db: Database, key_a: str) -> None:
    def reserve(key: str, *, minutes_ago: int) -> None:
        response = client.post(
            "/resources", json=resource_body(), headers={**auth(key_a), "Idempotency-Key": key}
        )
        assert response.status_code == 201  # learn the request hash the API computes for this body
        record = db["idempotency_keys"].find_one({"key": key})
        assert record is not None
        db["idempotency_keys"].update_one(
            {"key": key},
            {
                "$set": {
                    "status_code": 0,
                    "body": None,
                    "created_at": datetime.now(UTC) - timedelta(minutes=minutes_ago),
                }
            },
        )

    reserve("busy", minutes_ago=0)
    busy = client.post("/resources", json=resource_body(), headers={**auth(key_a), "Idempotency-Key": "busy"})
    assert "still being processed" in assert_error(busy, 409, "conflict")["message"]
    reserve("abandoned", minutes_ago=10)  # its request died (Lambda timeout): the key is taken over
    taken = client.post(
        "/resources", json=resource_body(), headers={**auth(key_a), "Idempotency-Key": "abandoned"}
    )
    assert taken.status_code == 201 and "idempotency-replayed" not in taken.headers
    replay = client.post(
        "/resources", json=resource_body(), headers={**auth(key_a), "Idempotency-Key": "abandoned"}
    )
    assert replay.json() == taken.json() and replay.headers["location"] == taken.headers["location"]


def test_concurrent_requests_with_one_key_create_one_resource(client: TestClient, key_a: str) -> None:
    headers = {**auth(key_a), "Idempotency-Key": "race"}
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(lambda _: client.post("/resources", json=resource_body(), headers=headers), range(4))
        )
    assert {r.status_code for r in responses} <= {201, 409}
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert client.get("/resources", headers=auth(key_a)).json()["total"] == 1


# --- database failures and bugs ---------------------------------------------------------------


def test_database_down_is_503(client: TestClient, key_a: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(
        monkeypatch,
        mongodb_uri=f"mongodb://127.0.0.1:{closed_port()}/?directConnection=true",
        mongodb_server_selection_timeout_ms="300",
    )
    error = assert_error(client.get("/resources", headers=auth(key_a)), 503, "database_unavailable")
    assert "ServerSelectionTimeoutError" in error["message"]
    assert client.get("/health").status_code == 200


def test_an_unexpected_error_is_a_500_in_the_same_shape() -> None:
    # Exercised directly: no test response may ever be a 500.
    response = unhandled_error_response(RuntimeError("boom"))
    assert response.status_code == 500
    body = json.loads(bytes(response.body))
    assert body == {"error": {"code": "internal_error", "message": body["error"]["message"], "details": []}}
    assert "boom" not in body["error"]["message"]


# --- CORS -------------------------------------------------------------------------------------


def test_no_cors_headers_by_default(client: TestClient, key_a: str) -> None:
    response = client.get("/resources", headers={**auth(key_a), "Origin": "https://app.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/resources", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allow_list(settings: Settings, key_a: str) -> None:
    cors_app = create_app(settings.model_copy(update={"api_cors_origins": ["https://app.example"]}))
    with TestClient(cors_app) as cors:
        cors.event_hooks = {"request": [], "response": [no_server_error]}
        allowed = cors.options(
            "/resources",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,idempotency-key,content-type",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
        simple = cors.get("/resources", headers={**auth(key_a), "Origin": "https://app.example"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example"
        unauthorized = cors.get("/resources", headers={"Origin": "https://app.example"})
        assert unauthorized.status_code == 401  # a browser can read the error too
        assert unauthorized.headers["access-control-allow-origin"] == "https://app.example"
        refused = cors.get("/resources", headers={**auth(key_a), "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in refused.headers
