"""The service's queue bounds on the real RabbitMQ: what overflows is parked or dropped as declared."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pika
import pytest
from pydantic import SecretStr

from shared.common.errors import QueueArgumentsError
from shared.common.settings import Settings
from shared.messaging.broker import Publisher, declare_queue, declare_queues
from shared.messaging.parking import list_parked
from shared.messaging.queues import COLLECTED_DATA_QUEUE, PARKING_QUEUE, RESOURCE_DATA_QUEUE
from shared.points.point import Point
from tests.integration.broker_support import drain, private_vhost, queue_arguments_on_broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LIMITS = {
    "resource_data_max_messages": 3,
    "collected_data_max_messages": 2,
    "collected_data_ttl_seconds": 3600,
}


@pytest.fixture(scope="module")
def vhost_url(amqp_url: str) -> Iterator[str]:
    with private_vhost(amqp_url) as url:
        yield url


@pytest.fixture
def settings(vhost_url: str) -> Settings:
    return Settings(amqp_url=SecretStr(vhost_url), broker_connect_attempts=2, **LIMITS)


@pytest.fixture
def channel(vhost_url: str, settings: Settings) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(vhost_url))
    try:
        channel = connection.channel()
        declare_queues(channel, settings=settings)
        for name in (RESOURCE_DATA_QUEUE, COLLECTED_DATA_QUEUE, PARKING_QUEUE):
            channel.queue_purge(name)
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def batch(index: int) -> list[Point]:
    return [Point(timestamp=datetime(2020 + index, 1, 1, tzinfo=UTC), value=float(index), dimensions={})]


def test_resource_data_past_its_length_parks_its_oldest_messages_with_the_reason(
    settings: Settings, channel: Any
) -> None:
    with Publisher(settings) as publisher:
        for index in range(5):
            publisher.publish_points("r-1", batch(index), message_id_prefix=f"r-1:run:{index}")

    kept = drain(channel, RESOURCE_DATA_QUEUE)
    parked = list_parked(settings)

    assert [json.loads(body)["points"][0]["value"] for _, _, body in kept] == [2.0, 3.0, 4.0]
    assert [message.message_id for message in parked] == ["r-1:run:0:0", "r-1:run:1:0"]
    assert {message.queue for message in parked} == {RESOURCE_DATA_QUEUE}
    assert all("x-max-length" in message.reason for message in parked)
    assert all(message.parked_at is not None for message in parked)
    # Listing consumed nothing: the overflow is still there, in order.
    assert [message.message_id for message in list_parked(settings)] == ["r-1:run:0:0", "r-1:run:1:0"]


def test_collected_data_keeps_its_newest_messages_and_drops_the_rest_without_parking(
    settings: Settings, channel: Any, vhost_url: str
) -> None:
    with Publisher(settings) as publisher:
        for index in range(4):
            publisher.publish_collected("r-1", f"raw {index}".encode())

    kept = drain(channel, COLLECTED_DATA_QUEUE)

    assert [json.loads(body)["data_base64"] for _, _, body in kept] == ["cmF3IDI=", "cmF3IDM="]
    assert list_parked(settings) == []
    arguments = queue_arguments_on_broker(vhost_url, COLLECTED_DATA_QUEUE)
    assert '{"x-message-ttl",3600000}' in arguments and '{"x-max-length",2}' in arguments


def test_declaring_a_queue_with_other_limits_is_a_clear_error_that_names_the_migration(
    settings: Settings, channel: Any
) -> None:
    other = settings.model_copy(update={"resource_data_max_messages": 4})
    connection = pika.BlockingConnection(pika.URLParameters(settings.amqp_url.get_secret_value()))
    try:
        with pytest.raises(QueueArgumentsError) as refused:
            declare_queue(connection.channel(), RESOURCE_DATA_QUEUE, settings=other)
    finally:
        connection.close()

    message = str(refused.value)
    assert "'resource_data'" in message and "x-max-length" in message
    assert "resource-service messages migrate resource_data" in message


def test_a_publisher_whose_limits_differ_keeps_publishing_and_logs_the_mismatch(
    settings: Settings, channel: Any, caplog: pytest.LogCaptureFixture
) -> None:
    other = settings.model_copy(update={"resource_data_max_messages": 4})

    with caplog.at_level(logging.ERROR, logger="shared.messaging.broker"), Publisher(other) as publisher:
        publisher.publish_points("r-2", batch(0), message_id_prefix="r-2:run")

    assert [properties.message_id for _, properties, _ in drain(channel, RESOURCE_DATA_QUEUE)] == [
        "r-2:run:0"
    ]
    assert any("'resource_data' exists with other arguments" in record.message for record in caplog.records)
