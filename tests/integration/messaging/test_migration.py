"""Migrating a live queue to this version's arguments on the real RabbitMQ: messages kept, in order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pydantic import SecretStr

from shared.common.errors import QueueArgumentsError
from shared.common.settings import Settings
from shared.messaging.broker import declare_queue
from shared.messaging.migration import HOLDING_SUFFIX, migrate_queue
from shared.messaging.parking import list_parked
from shared.messaging.queues import PARKING_QUEUE, RESOURCE_DATA_QUEUE
from tests.integration.broker_support import drain, private_vhost, queue_arguments_on_broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def vhost_url(amqp_url: str) -> Iterator[str]:
    with private_vhost(amqp_url) as url:
        yield url


@pytest.fixture
def channel(vhost_url: str) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(vhost_url))
    try:
        channel = connection.channel()
        for name in (RESOURCE_DATA_QUEUE, RESOURCE_DATA_QUEUE + HOLDING_SUFFIX, PARKING_QUEUE):
            channel.queue_delete(name)
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def settings_for(vhost_url: str, **limits: Any) -> Settings:
    return Settings(amqp_url=SecretStr(vhost_url), **limits)


def fill_unbounded(channel: Any, count: int) -> None:
    """resource_data as an earlier version declared it: durable, no arguments, with messages waiting."""
    channel.queue_declare(RESOURCE_DATA_QUEUE, durable=True)
    for index in range(count):
        channel.basic_publish(
            "",
            RESOURCE_DATA_QUEUE,
            b"%d" % index,
            pika.BasicProperties(message_id=f"m-{index}", delivery_mode=2),
        )


def test_an_unbounded_queue_gets_its_limits_and_keeps_its_messages_in_order(
    vhost_url: str, channel: Any
) -> None:
    fill_unbounded(channel, 4)
    settings = settings_for(vhost_url, resource_data_max_messages=10)

    result = migrate_queue(settings, RESOURCE_DATA_QUEUE)

    assert result.redeclared and result.moved == 4
    assert '{"x-max-length",10}' in queue_arguments_on_broker(vhost_url, RESOURCE_DATA_QUEUE)
    assert [properties.message_id for _, properties, _ in drain(channel, RESOURCE_DATA_QUEUE)] == [
        "m-0",
        "m-1",
        "m-2",
        "m-3",
    ]
    # The holding queue is gone, and the queue now declares cleanly.
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        channel.queue_declare(RESOURCE_DATA_QUEUE + HOLDING_SUFFIX, passive=True)
    declare_queue(channel.connection.channel(), RESOURCE_DATA_QUEUE, settings=settings)


def test_messages_beyond_the_new_limit_are_parked_not_lost(vhost_url: str, channel: Any) -> None:
    fill_unbounded(channel, 5)
    settings = settings_for(vhost_url, resource_data_max_messages=3)

    migrate_queue(settings, RESOURCE_DATA_QUEUE)

    assert [body for _, _, body in drain(channel, RESOURCE_DATA_QUEUE)] == [b"2", b"3", b"4"]
    assert [parked.message_id for parked in list_parked(settings)] == ["m-0", "m-1"]


def test_a_queue_that_already_has_its_arguments_is_left_as_it_is(vhost_url: str, channel: Any) -> None:
    settings = settings_for(vhost_url)
    declare_queue(channel, RESOURCE_DATA_QUEUE, settings=settings)

    result = migrate_queue(settings, RESOURCE_DATA_QUEUE)

    assert not result.redeclared and result.moved == 0


def test_only_the_service_queues_can_be_migrated(vhost_url: str, channel: Any) -> None:
    with pytest.raises(QueueArgumentsError, match="not a queue of the service"):
        migrate_queue(settings_for(vhost_url), "someone_elses_queue")
