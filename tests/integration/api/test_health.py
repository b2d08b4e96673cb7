"""/health, /ready and the docs: open to everyone, readiness names what is down."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.api.support import (
    assert_error,
    closed_port,
    use_env,
)

pytestmark = pytest.mark.integration


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
