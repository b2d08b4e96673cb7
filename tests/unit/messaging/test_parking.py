"""Parked messages described from their headers: the service's own, or the broker's dead-letter record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pika

from shared.messaging.mq_event import QueueMessage
from shared.messaging.parking import correlation_of, delivery_count, describe, park, parked_id


class FakePublisher:
    """Keeps what would have been published."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, str, dict[str, Any]]] = []

    def publish_body(self, queue: str, body: bytes, *, message_id: str, headers: Any = None) -> str:
        self.sent.append((queue, body, message_id, dict(headers or {})))
        return message_id


def test_park_keeps_the_body_and_adds_queue_reason_time_count_and_correlation() -> None:
    publisher = FakePublisher()
    message = QueueMessage(
        queue="wrapper_creation_queue",
        message_id="m-1",
        redelivered=True,
        headers={"origin": "api", "x-death": "kept by the broker only"},
        body={"correlation_id": "req-9"},
        raw=b'{"correlation_id": "req-9"}',
    )

    parked = park(message, "too   deep\nto read", publisher=publisher)

    [(queue, body, message_id, headers)] = publisher.sent
    assert (queue, body, message_id) == ("parked_messages", b'{"correlation_id": "req-9"}', "m-1")
    assert parked == parked_id("wrapper_creation_queue", "m-1", body)
    assert headers["parked_from"] == "wrapper_creation_queue"
    assert headers["parked_reason"] == "too deep to read"
    assert headers["parked_delivery_count"] == 2
    assert headers["correlation_id"] == "req-9"
    assert headers["origin"] == "api" and "x-death" not in headers
    assert datetime.fromisoformat(headers["parked_at"]).tzinfo is not None


def test_a_message_without_an_id_is_parked_under_one_derived_from_its_body() -> None:
    publisher = FakePublisher()
    message = QueueMessage(queue="q", raw=b"\xff\xfe not utf-8")

    first = park(message, "bad", publisher=publisher)
    again = park(message, "bad", publisher=publisher)

    assert first == again
    assert publisher.sent[0][2] == publisher.sent[1][2]


def test_delivery_count_uses_the_broker_count_when_there_is_one() -> None:
    assert delivery_count(QueueMessage(queue="q")) == 1
    assert delivery_count(QueueMessage(queue="q", redelivered=True)) == 2
    assert delivery_count(QueueMessage(queue="q", redelivered=True, headers={"x-delivery-count": 4})) == 5


def test_correlation_comes_from_the_body_or_else_the_headers() -> None:
    assert (
        correlation_of(QueueMessage(queue="q", body={"correlation_id": "b"}, headers={"correlation_id": "h"}))
        == "b"
    )
    assert correlation_of(QueueMessage(queue="q", body=[1], headers={"correlation_id": "h"})) == "h"
    assert correlation_of(QueueMessage(queue="q", body={"correlation_id": 3})) is None


def test_a_message_dead_lettered_by_the_broker_is_described_from_its_death_record() -> None:
    died = datetime(2026, 12, 4, 10, 30)
    properties = pika.BasicProperties(
        message_id="r-1:0",
        headers={
            "x-death": [
                {"count": 1, "reason": "maxlen", "queue": "resource_data", "time": died, "exchange": ""}
            ],
            "x-first-death-queue": "resource_data",
            "x-first-death-reason": "maxlen",
        },
    )

    parked = describe(properties, b'{"points": []}')

    assert parked.queue == "resource_data"
    assert parked.reason.startswith("dead-lettered by the broker: the queue was full (x-max-length)")
    assert parked.parked_at == died.replace(tzinfo=UTC)
    assert parked.delivery_count == 1
    assert parked.id == parked_id("resource_data", "r-1:0", b'{"points": []}')
    assert parked.preview == '{"points": []}'
