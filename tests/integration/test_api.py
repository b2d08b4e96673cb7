"""The HTTP API against the real MongoDB wire server and RabbitMQ: every route, its errors and messages.

Most tests drive the app through FastAPI's TestClient; the Lambda flows at the end go through the
Mangum handler with API Gateway HTTP API (payload v2.0) events built from infra/events/*.json.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from functions.api.app import app, create_app, handler
from functions.api.errors import unhandled_error_response
from functions.api.key_cache import api_keys
from functions.api.log import logger
from shared.common.settings import Settings, get_settings
from shared.generate.base import Exchange
from shared.points.point import Point
from shared.store.database import get_database
from shared.store.point_store import point_documents
from shared.store.repositories import ApiKeyRepository, PromptRecordRepository, WrapperRepository

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "infra" / "events"
CREATION = "wrapper_creation_queue"
VALIDATION = "wrapper_validation_queue"
DELETED = "resource_deleted"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PARSE_CODE = "def parse(data, context):\n    return []\n"
FETCH_SPEC = {"url": "https://example.org/co2.csv"}


def _no_server_error(response: httpx2.Response) -> None:
    assert response.status_code != 500, f"{response.request.method} {response.request.url} answered 500"


@pytest.fixture
def settings(service_env: Settings) -> Settings:
    """The service settings of this test (its own database)."""
    return service_env


@pytest.fixture
def db(settings: Settings) -> Database:
    """The test database, as the API sees it."""
    return get_database(settings)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of the API function's app; any 500 fails the test."""
    with TestClient(app) as test_client:
        test_client.event_hooks = {"request": [], "response": [_no_server_error]}
        yield test_client


@pytest.fixture
def key_a(db: Database) -> str:
    """An API key of tenant-a."""
    return ApiKeyRepository(db).create("tenant-a", name="tests")[1]


@pytest.fixture
def key_b(db: Database) -> str:
    """An API key of tenant-b."""
    return ApiKeyRepository(db).create("tenant-b", name="tests")[1]


class Queues:
    """The service's queues on the shared test broker, read cooperatively.

    Queue names are fixed and other suites may use them at the same time, so nothing is purged:
    a scan takes the messages of this test (by its wrapper and resource ids, or a match) and hands
    every other message back to the broker untouched.
    """

    def __init__(self, channel: Any, db: Database) -> None:
        self.channel = channel
        self.db = db
        for name in (CREATION, VALIDATION, DELETED):
            channel.queue_declare(queue=name, durable=True)

    def take(self, queue: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Acknowledge and return the messages `keep` selects; requeue the others."""
        taken, others = [], []
        while True:  # unacknowledged messages stay with this channel, so the scan ends
            method, properties, body = self.channel.basic_get(queue=queue, auto_ack=False)
            if method is None:
                break
            message = json.loads(body)
            if keep(message):
                self.channel.basic_ack(method.delivery_tag)
                taken.append({**message, "_message_id": properties.message_id})
            else:
                others.append(method.delivery_tag)
        for tag in others:
            self.channel.basic_nack(tag, requeue=True)
        return taken

    def of(self, queue: str, **match: str) -> list[dict[str, Any]]:
        """Take the messages of `queue` whose fields equal `match`."""
        return self.take(queue, lambda m: all(m.get(k) == v for k, v in match.items()))

    def mine(self, queue: str) -> list[dict[str, Any]]:
        """Take the messages of `queue` about this test's wrappers and resources."""
        wrappers = set(self.db["generated_wrappers"].distinct("wrapper_id"))
        resources = {str(i) for i in self.db["resources"].distinct("_id")}
        return self.take(
            queue, lambda m: m.get("wrapper_id") in wrappers or m.get("resource_id") in resources
        )


@pytest.fixture(autouse=True)
def queues(amqp_channel: Any, db: Database) -> Iterator[Queues]:
    """The service's queues; this test's messages are removed afterwards, nobody else's."""
    helper = Queues(amqp_channel, db)
    yield helper
    for name in (CREATION, VALIDATION, DELETED):
        helper.mine(name)


def auth(key: str) -> dict[str, str]:
    """Bearer authentication headers."""
    return {"Authorization": f"Bearer {key}"}


def resource_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /resources body."""
    body: dict[str, Any] = {
        "name": "CO2 emissions per capita, Switzerland",
        "unit": "t/capita",
        "description": "Annual CO2 emissions per person",
        "source": {"type": "csv", "url": "https://example.org/data/co2.csv"},
    }
    body.update(overrides)
    return body


def create(client: TestClient, key: str, **overrides: Any) -> dict[str, Any]:
    """Create a resource and return its JSON."""
    response = client.post("/resources", json=resource_body(**overrides), headers=auth(key))
    assert response.status_code == 201, response.text
    return dict(response.json())


def set_wrapper(db: Database, wrapper_id: str, **fields: Any) -> None:
    """Put a wrapper in a given state, as the workers would have."""
    WrapperRepository(db).update_fields(wrapper_id, fields)


def assert_error(response: httpx2.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an error in the shared shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    return dict(body["error"])


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def use_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> Settings:
    """Change RS_* settings for the rest of the test."""
    for name, value in values.items():
        monkeypatch.setenv(f"RS_{name.upper()}", value)
    get_settings.cache_clear()
    return get_settings()


# --- health, readiness, docs -------------------------------------------------------------------


def test_health_and_docs_need_no_key(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    spec = client.get("/openapi.json").json()
    assert "/resources/{resource_id}/points" in spec["paths"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])
    assert "swagger" in client.get("/docs").text.lower()


def test_ready_when_mongodb_and_rabbitmq_answer(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"mongodb": "ok", "rabbitmq": "ok"}}


def test_ready_names_mongodb_when_it_is_down(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(
        monkeypatch,
        mongodb_uri=f"mongodb://127.0.0.1:{closed_port()}/?directConnection=true",
        mongodb_server_selection_timeout_ms="300",
    )
    error = assert_error(client.get("/ready"), 503, "not_ready")
    assert "mongodb" in error["message"]
    assert [d["field"] for d in error["details"]] == ["mongodb"]


def test_ready_names_rabbitmq_when_it_is_down(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F")
    error = assert_error(client.get("/ready"), 503, "not_ready")
    assert [d["field"] for d in error["details"]] == ["rabbitmq"]


# --- authentication and tenants ----------------------------------------------------------------


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
    assert fetched and fetched[0]["status"] == 200 and fetched[0]["tenant_id"] == "tenant-a"


# --- resources ----------------------------------------------------------------------------------


def test_create_resource_queues_a_pending_wrapper(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    response = client.post("/resources", json=resource_body(), headers=auth(key_a))
    assert response.status_code == 201
    resource = response.json()
    assert response.headers["location"] == f"/resources/{resource['id']}"
    assert resource["name"] == "CO2 emissions per capita, Switzerland"
    assert resource["type"] == "indicator"
    assert resource["source"] == {"type": "csv", "url": "https://example.org/data/co2.csv", "options": {}}
    assert resource["startPeriod"] is None and resource["endPeriod"] is None
    assert "tenant_id" not in resource and "deleted" not in resource
    wrapper = client.get(f"/wrappers/{resource['wrapper_id']}", headers=auth(key_a)).json()
    assert wrapper["status"] == "pending"
    assert wrapper["mode"] == "once"
    assert wrapper["resource_id"] == resource["id"]
    assert wrapper["metadata"] == {
        "name": "CO2 emissions per capita, Switzerland",
        "description": "Annual CO2 emissions per person",
        "unit": "t/capita",
    }
    assert "tenant_id" not in wrapper and "lease_owner" not in wrapper
    messages = queues.of(CREATION, wrapper_id=resource["wrapper_id"])
    assert len(messages) == 1
    assert set(messages[0]) == {"wrapper_id", "_message_id"}


def test_api_sources_run_continuously(client: TestClient, key_a: str) -> None:
    resource = create(
        client,
        key_a,
        source={
            "type": "api",
            "url": "https://api.example.org/intensity",
            "options": {"timezone": "Europe/Zurich"},
        },
        schedule={"rate_seconds": 3600},
    )
    assert resource["schedule"] == {"rate_seconds": 3600, "cron": None}
    wrapper = client.get(f"/wrappers/{resource['wrapper_id']}", headers=auth(key_a)).json()
    assert (wrapper["mode"], wrapper["source_type"]) == ("continuous", "api")


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (resource_body(source={"type": "csv", "url": "ftp://example.org/a.csv"}), "body.source.url", "http"),
        (resource_body(source={"type": "csv", "url": "file:///etc/passwd"}), "body.source.url", "http"),
        ({k: v for k, v in resource_body().items() if k != "name"}, "body.name", "required"),
        (resource_body(name=""), "body.name", "at least 1"),
        (resource_body(colour="blue"), "body.colour", "extra"),
        (resource_body(source={"type": "pdf", "url": "https://e.org/a"}), "body.source.type", "api"),
        (resource_body(schedule={"cron": "* *"}), "body.schedule", "5 fields"),
    ],
)
def test_invalid_resources_are_422_with_field_and_reason(
    client: TestClient, key_a: str, body: dict[str, Any], field: str, reason: str
) -> None:
    error = assert_error(client.post("/resources", json=body, headers=auth(key_a)), 422, "validation_error")
    matching = [d for d in error["details"] if d["field"] == field]
    assert matching, error
    assert reason.lower() in matching[0]["reason"].lower()


def test_malformed_json_is_422(client: TestClient, key_a: str) -> None:
    response = client.post(
        "/resources", content=b"{not json", headers={**auth(key_a), "Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


def test_s3_sources_must_be_the_tenants_uploads(
    client: TestClient, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = resource_body(source={"type": "csv", "url": "s3://someone-elses-bucket/data.csv"})
    error = assert_error(
        client.post("/resources", json=foreign, headers=auth(key_a)), 422, "validation_error"
    )
    assert error["details"][0]["field"] == "body.source.url"
    use_env(monkeypatch, upload_bucket="rs-uploads")
    other_tenant = resource_body(source={"type": "csv", "url": "s3://rs-uploads/uploads/tenant-b/x/a.csv"})
    assert client.post("/resources", json=other_tenant, headers=auth(key_a)).status_code == 422
    api_s3 = resource_body(source={"type": "api", "url": "s3://rs-uploads/uploads/tenant-a/x/a.csv"})
    assert client.post("/resources", json=api_s3, headers=auth(key_a)).status_code == 422
    own = resource_body(source={"type": "csv", "url": "s3://rs-uploads/uploads/tenant-a/x/a.csv"})
    assert client.post("/resources", json=own, headers=auth(key_a)).status_code == 201


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
    assert client.post("/resources", json=bad, headers=headers).status_code == 422
    assert client.post("/resources", json=bad, headers=headers).status_code == 422
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


def test_list_resources_filters_and_pages(client: TestClient, key_a: str) -> None:
    create(client, key_a, name="Grid carbon intensity", source={"type": "api", "url": "https://a.example/x"})
    create(client, key_a, name="Renewable share", type="share")
    create(client, key_a, name="Gas use campus", source={"type": "xlsx", "url": "https://e.org/gas.xlsx"})
    everything = client.get("/resources", headers=auth(key_a)).json()
    assert everything["total"] == 3 and everything["limit"] == 50 and everything["offset"] == 0
    assert {r["name"] for r in everything["items"]} == {
        "Grid carbon intensity",
        "Renewable share",
        "Gas use campus",
    }
    page = client.get("/resources?limit=2&offset=2", headers=auth(key_a)).json()
    assert (page["total"], len(page["items"]), page["offset"]) == (3, 1, 2)
    by_name = client.get("/resources", params={"name": "CARBON"}, headers=auth(key_a)).json()
    assert [r["name"] for r in by_name["items"]] == ["Grid carbon intensity"]
    by_type = client.get("/resources", params={"type": "share"}, headers=auth(key_a)).json()
    assert [r["name"] for r in by_type["items"]] == ["Renewable share"]
    by_source = client.get("/resources", params={"source_type": "xlsx"}, headers=auth(key_a)).json()
    assert [r["name"] for r in by_source["items"]] == ["Gas use campus"]
    regex = client.get("/resources", params={"name": ".*"}, headers=auth(key_a)).json()
    assert regex["total"] == 0  # the filter is a literal substring, not a pattern


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "query.limit"),
        ("limit=501", "query.limit"),
        ("limit=ten", "query.limit"),
        ("offset=-1", "query.offset"),
        ("offset=99999999999999999999", "query.offset"),
        ("source_type=pdf", "query.source_type"),
    ],
)
def test_bad_pagination_and_filters_are_422(client: TestClient, key_a: str, query: str, field: str) -> None:
    for path in ("/resources", "/wrappers"):
        if field == "query.source_type" and path == "/wrappers":
            continue
        error = assert_error(client.get(f"{path}?{query}", headers=auth(key_a)), 422, "validation_error")
        assert error["details"][0]["field"] == field


def test_patch_name_updates_the_wrapper_metadata_without_regenerating(
    client: TestClient, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    queues.mine(CREATION)
    response = client.patch(
        f"/resources/{resource['id']}",
        json={"name": "CO2 per capita (CH)", "schedule": None},
        headers=auth(key_a),
    )
    assert response.status_code == 200
    assert response.json()["name"] == "CO2 per capita (CH)"
    assert response.json()["updated_at"] > resource["updated_at"]
    wrapper = client.get(f"/wrappers/{resource['wrapper_id']}", headers=auth(key_a)).json()
    assert wrapper["metadata"]["name"] == "CO2 per capita (CH)"
    assert wrapper["status"] == "pending"
    assert queues.mine(CREATION) == []


def test_patch_source_sends_the_wrapper_back_to_generation(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    first = queues.of(CREATION, wrapper_id=wid)
    set_wrapper(
        db,
        wid,
        status="ready",
        attempts=2,
        generated_code=PARSE_CODE,
        fetch_spec=FETCH_SPEC,
        generator="gemini-2.5-flash",
        generator_override="heuristic",
        feedback="fix the dates",
        validation={"ok": True},
        high_water_mark=datetime(2020, 1, 1, tzinfo=UTC),
    )
    new_source = {"type": "api", "url": "https://api.example.org/co2", "options": {}}
    response = client.patch(f"/resources/{resource['id']}", json={"source": new_source}, headers=auth(key_a))
    assert response.status_code == 200
    assert response.json()["source"] == new_source
    wrapper = WrapperRepository(db).get(wid)
    assert wrapper.status == "pending"
    assert wrapper.attempts == 0
    assert wrapper.generator_override is None and wrapper.feedback is None and wrapper.validation is None
    assert wrapper.generated_code is None and wrapper.high_water_mark is None
    assert (wrapper.mode, wrapper.source_type) == ("continuous", "api")
    assert wrapper.execution_log[-1].event == "source changed"
    again = queues.of(CREATION, wrapper_id=wid)
    assert len(again) == 1
    assert again[0]["_message_id"] != first[0]["_message_id"]  # not deduplicated as the first hand-over
    # The same source again is no change: nothing is regenerated.
    client.patch(f"/resources/{resource['id']}", json={"source": new_source}, headers=auth(key_a))
    assert queues.mine(CREATION) == []


def test_patch_source_while_the_wrapper_is_busy_is_409_and_changes_nothing(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    set_wrapper(db, resource["wrapper_id"], status="generating")
    queues.mine(CREATION)
    body = {"name": "Renamed", "source": {"type": "csv", "url": "https://example.org/new.csv"}}
    error = assert_error(
        client.patch(f"/resources/{resource['id']}", json=body, headers=auth(key_a)), 409, "conflict"
    )
    assert "generating" in error["message"]
    unchanged = client.get(f"/resources/{resource['id']}", headers=auth(key_a)).json()
    assert unchanged["source"] == resource["source"] and unchanged["name"] == resource["name"]
    assert queues.mine(CREATION) == []


def test_patch_rejects_nulls_extra_fields_and_bad_urls(client: TestClient, key_a: str) -> None:
    resource = create(client, key_a)
    path = f"/resources/{resource['id']}"
    error = assert_error(
        client.patch(path, json={"name": None}, headers=auth(key_a)), 422, "validation_error"
    )
    assert error["details"] == [{"field": "body.name", "reason": "may not be null"}]
    assert client.patch(path, json={"owner": "x"}, headers=auth(key_a)).status_code == 422
    bad = {"source": {"type": "csv", "url": "gopher://x"}}
    assert client.patch(path, json=bad, headers=auth(key_a)).status_code == 422


def test_delete_is_soft_stops_the_wrapper_and_announces_once(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    rid, wid = resource["id"], resource["wrapper_id"]
    first = client.delete(f"/resources/{rid}", headers=auth(key_a))
    assert first.status_code == 204 and first.content == b""
    assert_error(client.delete(f"/resources/{rid}", headers=auth(key_a)), 404, "not_found")
    assert_error(client.get(f"/resources/{rid}", headers=auth(key_a)), 404, "not_found")
    assert client.get("/resources", headers=auth(key_a)).json()["total"] == 0
    stored = db["resources"].find_one({"wrapper_id": wid})
    assert stored is not None and stored["deleted"] is True  # still stored, marked deleted
    wrapper = client.get(f"/wrappers/{wid}", headers=auth(key_a)).json()
    assert wrapper["status"] == "stopped"
    messages = queues.of(DELETED, resource_id=rid)
    assert [{k: v for k, v in m.items() if k != "_message_id"} for m in messages] == [
        {"resource_id": rid, "wrapper_id": wid}
    ]
    assert_error(client.post(f"/wrappers/{wid}/regenerate", headers=auth(key_a)), 409, "conflict")


def test_concurrent_deletes_publish_one_message(client: TestClient, key_a: str, queues: Queues) -> None:
    resource = create(client, key_a)
    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = sorted(
            pool.map(
                lambda _: client.delete(f"/resources/{resource['id']}", headers=auth(key_a)).status_code,
                range(5),
            )
        )
    assert statuses == [204, 404, 404, 404, 404]
    assert len(queues.of(DELETED, resource_id=resource["id"])) == 1


# --- broker and database failures ----------------------------------------------------------------


def test_broker_down_create_is_503_and_leaves_nothing_behind(
    client: TestClient, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(
        monkeypatch,
        amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F",
        broker_connect_attempts="1",
    )
    headers = {**auth(key_a), "Idempotency-Key": "while-down"}
    error = assert_error(
        client.post("/resources", json=resource_body(), headers=headers), 503, "broker_unavailable"
    )
    assert "RabbitMQ" in error["message"] and "guest" not in error["message"]
    assert client.get("/resources", headers=auth(key_a)).json()["total"] == 0
    assert client.get("/wrappers", headers=auth(key_a)).json()["total"] == 0


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


# --- wrappers -------------------------------------------------------------------------------------


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


# --- uploads --------------------------------------------------------------------------------------


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[str]:
    """An S3 upload bucket in moto, configured as RS_UPLOAD_BUCKET."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="eu-central-1").create_bucket(
            Bucket="rs-uploads", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        use_env(monkeypatch, upload_bucket="rs-uploads", upload_max_bytes=str(10 * 1024 * 1024))
        yield "rs-uploads"


def test_upload_is_a_presigned_post_limited_to_the_declared_size(
    client: TestClient, key_a: str, bucket: str
) -> None:
    request = {"filename": "../../Gas use 2024 (campus).CSV", "content_type": "text/csv", "size_bytes": 1234}
    response = client.post("/uploads", json=request, headers=auth(key_a))
    assert response.status_code == 201, response.text
    ticket = response.json()
    key = ticket["key"]
    assert key.startswith("uploads/tenant-a/") and key.endswith("/Gas_use_2024_campus.csv")
    assert ".." not in key
    assert ticket["method"] == "POST"
    assert bucket in ticket["upload_url"]
    assert ticket["source"] == {"type": "csv", "url": f"s3://{bucket}/{key}", "options": {}}
    assert ticket["max_bytes"] == 1234
    assert datetime.fromisoformat(ticket["expires_at"]) > datetime.now(UTC)
    fields = ticket["fields"]
    assert fields["key"] == key
    assert fields["Content-Type"] == "text/csv"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, 1234] in policy["conditions"]
    assert {"key": key} in policy["conditions"]
    assert {"bucket": bucket} in policy["conditions"]
    assert {"Content-Type": "text/csv"} in policy["conditions"]
    assert "x-amz-signature" in fields
    # The ticket's source is accepted as is by POST /resources.
    assert create(client, key_a, source=ticket["source"])["source"]["url"] == f"s3://{bucket}/{key}"


def test_upload_form_reaches_the_bucket(client: TestClient, key_a: str, bucket: str) -> None:
    import boto3
    import requests

    content = b"year,value\n2020,1.5\n"
    request = {"filename": "co2.xlsx", "content_type": XLSX, "size_bytes": len(content)}
    ticket = client.post("/uploads", json=request, headers=auth(key_a)).json()
    assert ticket["source"]["type"] == "xlsx" and ticket["key"].endswith("/co2.xlsx")
    upload = requests.post(
        ticket["upload_url"], data=ticket["fields"], files={"file": ("co2.xlsx", content)}, timeout=10
    )
    assert upload.status_code in (200, 201, 204), upload.text
    stored = boto3.client("s3", region_name="eu-central-1").get_object(Bucket=bucket, Key=ticket["key"])
    assert stored["Body"].read() == content


def test_upload_errors(client: TestClient, key_a: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    too_large = {"filename": "big.csv", "content_type": "text/csv", "size_bytes": 10 * 1024 * 1024 + 1}
    error = assert_error(
        client.post("/uploads", json=too_large, headers=auth(key_a)), 413, "payload_too_large"
    )
    assert error["details"][0]["field"] == "body.size_bytes"
    wrong = {"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 10}
    error = assert_error(client.post("/uploads", json=wrong, headers=auth(key_a)), 422, "validation_error")
    assert error["details"][0]["field"] == "body.content_type"
    empty = {"filename": "a.csv", "content_type": "text/csv", "size_bytes": 0}
    assert client.post("/uploads", json=empty, headers=auth(key_a)).status_code == 422
    monkeypatch.delenv("RS_UPLOAD_BUCKET")
    get_settings.cache_clear()
    ok = {"filename": "a.csv", "content_type": "text/csv", "size_bytes": 10}
    error = assert_error(client.post("/uploads", json=ok, headers=auth(key_a)), 503, "service_unavailable")
    assert "RS_UPLOAD_BUCKET" in error["message"]


# --- data ----------------------------------------------------------------------------------------


def add_points(db: Database, resource_id: str) -> None:
    """Store points as the job does: one document per series and timestamp."""
    points = []
    for year, ch, de in [(2019, 4.5, 8.4), (2020, 4.1, 7.7), (2021, 4.3, 8.1)]:
        moment = datetime(year, 1, 1, tzinfo=UTC)
        for country, value in (("CH", ch), ("DE", de)):
            points.append(Point(timestamp=moment, value=value, dimensions={"country": country}))
    db["points"].insert_many(point_documents(resource_id, points))


def test_points_and_availability_are_empty_before_execution(client: TestClient, key_a: str) -> None:
    resource = create(client, key_a)
    points = client.get(f"/resources/{resource['id']}/points", headers=auth(key_a)).json()
    assert points["items"] == [] and points["next_offset"] is None
    availability = client.get(f"/resources/{resource['id']}/availability", headers=auth(key_a)).json()
    assert availability == {"first": None, "last": None, "count": 0}
    csv_text = client.get(f"/resources/{resource['id']}/points?format=csv", headers=auth(key_a)).text
    assert csv_text == "timestamp,value\n"


def test_points_as_json_and_csv(client: TestClient, db: Database, key_a: str) -> None:
    resource = create(client, key_a)
    rid = resource["id"]
    add_points(db, rid)
    add_points(db, create(client, key_a, name="Other")["id"])  # another resource's points stay apart
    page = client.get(f"/resources/{rid}/points", headers=auth(key_a)).json()
    assert len(page["items"]) == 6
    assert page["items"][0] == {
        "timestamp": "2019-01-01T00:00:00Z",
        "value": 4.5,
        "dimensions": {"country": "CH"},
    }
    window = client.get(
        f"/resources/{rid}/points",
        params={"start": "2020-01-01T00:00:00Z", "end": "2021-01-01", "limit": 1},
        headers=auth(key_a),
    ).json()
    assert [(p["timestamp"], p["value"]) for p in window["items"]] == [("2020-01-01T00:00:00Z", 4.1)]
    assert (window["limit"], window["next_offset"]) == (1, 1)
    second = client.get(
        f"/resources/{rid}/points",
        params={"start": "2020-01-01T00:00:00Z", "end": "2021-01-01", "limit": 1, "offset": 1},
        headers=auth(key_a),
    ).json()
    assert [p["dimensions"]["country"] for p in second["items"]] == ["DE"]
    response = client.get(f"/resources/{rid}/points?format=csv&end=2020-06-01", headers=auth(key_a))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{rid}.csv"' in response.headers["content-disposition"]
    assert response.text.splitlines() == [
        "timestamp,value,country",
        "2019-01-01T00:00:00Z,4.5,CH",
        "2019-01-01T00:00:00Z,8.4,DE",
        "2020-01-01T00:00:00Z,4.1,CH",
        "2020-01-01T00:00:00Z,7.7,DE",
    ]
    availability = client.get(f"/resources/{rid}/availability", headers=auth(key_a)).json()
    assert availability == {"first": "2019-01-01T00:00:00Z", "last": "2021-01-01T00:00:00Z", "count": 6}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=2021-01-01&end=2020-01-01", "query.end"),
        ("start=yesterday", "query.start"),
        ("format=xml", "query.format"),
        ("limit=0", "query.limit"),
        ("limit=10001", "query.limit"),
    ],
)
def test_bad_point_queries_are_422(client: TestClient, key_a: str, query: str, field: str) -> None:
    resource = create(client, key_a)
    response = client.get(f"/resources/{resource['id']}/points?{query}", headers=auth(key_a))
    assert assert_error(response, 422, "validation_error")["details"][0]["field"] == field


def test_points_of_a_deleted_resource_are_404(client: TestClient, db: Database, key_a: str) -> None:
    resource = create(client, key_a)
    add_points(db, resource["id"])
    client.delete(f"/resources/{resource['id']}", headers=auth(key_a))
    assert_error(client.get(f"/resources/{resource['id']}/points", headers=auth(key_a)), 404, "not_found")


# --- CORS -----------------------------------------------------------------------------------------


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
        cors.event_hooks = {"request": [], "response": [_no_server_error]}
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


# --- through the Lambda handler (Mangum, HTTP API payload v2.0) ------------------------------------


def lambda_context() -> Any:
    """The parts of a Lambda context object the stack reads."""
    return SimpleNamespace(
        function_name="ApiFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:eu-central-1:123456789012:function:ApiFunction",
        memory_limit_in_mb=512,
        aws_request_id=str(uuid.uuid4()),
        get_remaining_time_in_millis=lambda: 29_000,
    )


def http_event(
    template: str,
    method: str,
    path: str,
    *,
    key: str | None,
    query: str = "",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API v2.0 event from an infra/events template, with the request substituted."""
    event = copy.deepcopy(json.loads((EVENTS / template).read_text()))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["requestId"] = f"req-{uuid.uuid4().hex[:12]}"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event_headers = {
        k: v for k, v in event["headers"].items() if k not in ("authorization", "idempotency-key")
    }
    if key is not None:
        event_headers["authorization"] = f"Bearer {key}"
    event_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    if body is None:
        event.pop("body", None)
        event_headers["content-length"] = "0"
    else:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event_headers["content-length"] = str(len(event["body"].encode()))
        event_headers["content-type"] = "application/json"
    event["headers"] = event_headers
    return event


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """Call the Lambda handler; a 500 fails the test."""
    response = handler(event, lambda_context())
    assert response["statusCode"] != 500, response
    return dict(response)


def test_event_templates_are_http_api_v2_events() -> None:
    for name in ("api_get_resource.json", "api_create_resource.json"):
        event = json.loads((EVENTS / name).read_text())
        assert event["version"] == "2.0"
        assert event["requestContext"]["http"]["method"] in ("GET", "POST")
        assert event["headers"]["authorization"].startswith("Bearer ")
        assert event["rawPath"] == event["requestContext"]["http"]["path"]
    create_event = json.loads((EVENTS / "api_create_resource.json").read_text())
    assert int(create_event["headers"]["content-length"]) == len(create_event["body"].encode())
    json.loads(create_event["body"])


def test_lambda_create_retry_and_get(db: Database, key_a: str, queues: Queues) -> None:
    template = json.loads((EVENTS / "api_create_resource.json").read_text())
    create_event = http_event(
        "api_create_resource.json",
        "POST",
        "/resources",
        key=key_a,
        body=template["body"],
        headers={"Idempotency-Key": "lambda-create-1"},
    )
    first = invoke(create_event)
    assert first["statusCode"] == 201
    assert first["headers"]["content-type"] == "application/json"
    assert first["headers"]["x-request-id"] == create_event["requestContext"]["requestId"]
    assert first["isBase64Encoded"] is False
    resource = json.loads(first["body"])
    assert resource["name"] == "CO2 emissions per capita, Switzerland"
    retried = invoke(create_event)  # API Gateway or the client retrying the same request
    assert retried["statusCode"] == 201 and json.loads(retried["body"]) == resource
    assert db["resources"].count_documents({}) == 1
    assert len(queues.of(CREATION, wrapper_id=resource["wrapper_id"])) == 1

    got = invoke(http_event("api_get_resource.json", "GET", f"/resources/{resource['id']}", key=key_a))
    assert got["statusCode"] == 200
    assert json.loads(got["body"]) == resource
    listed = invoke(
        http_event("api_get_resource.json", "GET", "/resources", key=key_a, query="name=co2&limit=5")
    )
    assert json.loads(listed["body"])["total"] == 1


def test_lambda_auth_delete_and_csv(db: Database, key_a: str, key_b: str, queues: Queues) -> None:
    missing = invoke(http_event("api_get_resource.json", "GET", "/resources", key=None))
    assert missing["statusCode"] == 401
    assert missing["headers"]["www-authenticate"].startswith("Bearer")
    assert json.loads(missing["body"])["error"]["code"] == "unauthorized"
    created = invoke(
        http_event("api_create_resource.json", "POST", "/resources", key=key_a, body=resource_body())
    )
    resource = json.loads(created["body"])
    add_points(db, resource["id"])
    csv_response = invoke(
        http_event(
            "api_get_resource.json",
            "GET",
            f"/resources/{resource['id']}/points",
            key=key_a,
            query="format=csv",
        )
    )
    assert csv_response["statusCode"] == 200
    assert csv_response["headers"]["content-type"].startswith("text/csv")
    assert csv_response["isBase64Encoded"] is False
    assert csv_response["body"].splitlines()[0] == "timestamp,value,country"
    other = invoke(http_event("api_get_resource.json", "DELETE", f"/resources/{resource['id']}", key=key_b))
    assert other["statusCode"] == 404
    deleted = invoke(http_event("api_get_resource.json", "DELETE", f"/resources/{resource['id']}", key=key_a))
    assert deleted["statusCode"] == 204
    again = invoke(http_event("api_get_resource.json", "DELETE", f"/resources/{resource['id']}", key=key_a))
    assert again["statusCode"] == 404
    assert len(queues.of(DELETED, resource_id=resource["id"])) == 1
    invalid = invoke(http_event("api_create_resource.json", "POST", "/resources", key=key_a, body="{}"))
    assert invalid["statusCode"] == 422
    assert {d["field"] for d in json.loads(invalid["body"])["error"]["details"]} == {
        "body.name",
        "body.source",
    }


def test_lambda_request_line_keeps_its_fields(db: Database, key_a: str) -> None:
    stream = io.StringIO()
    handler_ = logger.registered_handler
    assert hasattr(handler_, "setStream")
    previous = handler_.setStream(stream)
    try:
        created = invoke(
            http_event("api_create_resource.json", "POST", "/resources", key=key_a, body=resource_body())
        )
        resource = json.loads(created["body"])
        event = http_event("api_get_resource.json", "GET", f"/resources/{resource['id']}", key=key_a)
        got = invoke(event)
    finally:
        handler_.setStream(previous)
    assert got["statusCode"] == 200
    request_id = event["requestContext"]["requestId"]
    assert got["headers"]["x-request-id"] == request_id
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    line = next(line for line in lines if line["message"] == "request" and line["request_id"] == request_id)
    assert set(line) == {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
        "tenant_id",
    }
    assert (line["method"], line["path"], line["status"]) == ("GET", f"/resources/{resource['id']}", 200)
    assert line["tenant_id"] == "tenant-a"
    # The creation's own lines still carry the correlation keys of its request.
    created_line = next(line for line in lines if line["message"] == "resource created")
    assert created_line["resource_id"] == resource["id"] and created_line["key_id"]


def test_lambda_health_ready_and_openapi(settings: Settings) -> None:
    assert json.loads(invoke(http_event("api_get_resource.json", "GET", "/health", key=None))["body"]) == {
        "status": "ok"
    }
    assert invoke(http_event("api_get_resource.json", "GET", "/ready", key=None))["statusCode"] == 200
    spec = invoke(http_event("api_get_resource.json", "GET", "/openapi.json", key=None))
    assert json.loads(spec["body"])["info"]["title"] == "Resource Service API"
