"""Helpers of the API tests: request bodies, auth headers, the error shape, the service's queues."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from shared.common.settings import Settings, get_settings
from shared.points.point import Point
from shared.store.point_store import point_documents
from shared.store.wrappers import WrapperRepository

EVENTS = Path(__file__).resolve().parents[3] / "infra" / "events"
CREATION = "wrapper_creation_queue"
VALIDATION = "wrapper_validation_queue"
DELETED = "resource_deleted"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PARSE_CODE = "def parse(data, context):\n    return []\n"
FETCH_SPEC = {"url": "https://example.org/co2.csv"}


def no_server_error(response: httpx2.Response) -> None:
    assert response.status_code != 500, f"{response.request.method} {response.request.url} answered 500"


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


def add_points(db: Database, resource_id: str) -> None:
    """Store points as the job does: one document per series and timestamp."""
    points = []
    for year, ch, de in [(2019, 4.5, 8.4), (2020, 4.1, 7.7), (2021, 4.3, 8.1)]:
        moment = datetime(year, 1, 1, tzinfo=UTC)
        for country, value in (("CH", ch), ("DE", de)):
            points.append(Point(timestamp=moment, value=value, dimensions={"country": country}))
    db["points"].insert_many(point_documents(resource_id, points))
