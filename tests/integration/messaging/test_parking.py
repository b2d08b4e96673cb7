"""The parking queue on the real RabbitMQ: parked with the reason, listed without consuming, replayed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pydantic import SecretStr

from shared.common.settings import Settings
from shared.messaging.broker import Publisher, declare_queues
from shared.messaging.mq_event import build_rabbitmq_event, parse_rabbitmq_event
from shared.messaging.parking import list_parked, park, replay
from shared.messaging.queues import PARKING_QUEUE, WRAPPER_CREATION_QUEUE, WRAPPER_VALIDATION_QUEUE
from tests.integration.broker_support import drain, private_vhost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def vhost_url(amqp_url: str) -> Iterator[str]:
    with private_vhost(amqp_url) as url:
        yield url


@pytest.fixture
def settings(vhost_url: str) -> Settings:
    return Settings(amqp_url=SecretStr(vhost_url), broker_connect_attempts=2)


@pytest.fixture
def channel(vhost_url: str, settings: Settings) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(vhost_url))
    try:
        channel = connection.channel()
        declare_queues(channel, settings=settings)
        for name in (WRAPPER_CREATION_QUEUE, WRAPPER_VALIDATION_QUEUE, PARKING_QUEUE):
            channel.queue_purge(name)
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def delivered(queue: str, body: bytes, *, message_id: str, redelivered: bool = False, **headers: Any) -> Any:
    """A message as the trigger hands it over, built from what a consumer would have received."""
    method = pika.spec.Basic.GetOk(redelivered=redelivered)
    properties = pika.BasicProperties(message_id=message_id, headers=headers or None)
    return parse_rabbitmq_event(build_rabbitmq_event(queue, [(method, properties, body)]))[0]


def test_a_parked_message_keeps_its_body_and_says_where_from_why_when_and_how_often(
    settings: Settings, channel: Any
) -> None:
    message = delivered(
        WRAPPER_CREATION_QUEUE,
        b'{"wrapper_id": 1, "correlation_id": "req-42"}',
        message_id="m-1",
        redelivered=True,
    )
    with Publisher(settings) as publisher:
        parked_id = park(message, "expected {'wrapper_id': uuid}", publisher=publisher)

    [listed] = list_parked(settings)
    [(_, properties, body)] = drain(channel, PARKING_QUEUE)

    assert body == b'{"wrapper_id": 1, "correlation_id": "req-42"}'
    assert listed.id == parked_id
    assert listed.queue == WRAPPER_CREATION_QUEUE
    assert listed.reason == "expected {'wrapper_id': uuid}"
    assert listed.delivery_count == 2
    assert listed.correlation_id == "req-42"
    assert listed.message_id == "m-1" and properties.message_id == "m-1"
    assert listed.parked_at is not None


def test_listing_consumes_nothing_and_keeps_the_order(settings: Settings, channel: Any) -> None:
    with Publisher(settings) as publisher:
        for index in range(5):
            park(
                delivered(WRAPPER_CREATION_QUEUE, b"not json %d" % index, message_id=f"m-{index}"),
                "bad",
                publisher=publisher,
            )

    first = [parked.message_id for parked in list_parked(settings)]
    limited = [parked.message_id for parked in list_parked(settings, limit=2)]
    again = [parked.message_id for parked in list_parked(settings)]

    assert first == again == ["m-0", "m-1", "m-2", "m-3", "m-4"]
    assert limited == ["m-0", "m-1"]
    assert channel.queue_declare(PARKING_QUEUE, passive=True).method.message_count == 5


def test_replay_by_id_puts_the_message_back_on_its_queue_as_first_published(
    settings: Settings, channel: Any
) -> None:
    with Publisher(settings) as publisher:
        kept = park(
            delivered(WRAPPER_VALIDATION_QUEUE, b"[1]", message_id="m-a", origin="api"),
            "a",
            publisher=publisher,
        )
        moved = park(
            delivered(WRAPPER_CREATION_QUEUE, b"[2]", message_id="m-b", origin="api"),
            "b",
            publisher=publisher,
        )

    result = replay(settings, ids={moved})

    assert [parked.id for parked in result.replayed] == [moved]
    assert result.failed == [] and result.not_found == []
    [(_, properties, body)] = drain(channel, WRAPPER_CREATION_QUEUE)
    assert body == b"[2]" and properties.message_id == "m-b"
    # The parking headers stay behind; the message's own headers travel with it.
    assert properties.headers == {"origin": "api"}
    assert [parked.id for parked in list_parked(settings)] == [kept]


def test_replay_all_moves_every_parked_message_and_replay_of_an_unknown_id_says_so(
    settings: Settings, channel: Any
) -> None:
    with Publisher(settings) as publisher:
        for index in range(3):
            park(
                delivered(WRAPPER_CREATION_QUEUE, b"%d" % index, message_id=f"m-{index}"),
                "bad",
                publisher=publisher,
            )

    missing = replay(settings, ids={"0123456789abcdef"})
    everything = replay(settings)

    assert missing.replayed == [] and missing.not_found == ["0123456789abcdef"]
    assert len(everything.replayed) == 3
    assert [body for _, _, body in drain(channel, WRAPPER_CREATION_QUEUE)] == [b"0", b"1", b"2"]
    assert list_parked(settings) == []


def test_a_message_whose_queue_is_gone_stays_parked(settings: Settings, channel: Any) -> None:
    with Publisher(settings) as publisher:
        parked_id = park(delivered("no_such_queue", b"{}", message_id="m-x"), "bad", publisher=publisher)

    result = replay(settings, ids={parked_id})

    assert result.replayed == []
    assert result.failed == [f"{parked_id}: queue 'no_such_queue' does not exist"]
    assert [parked.id for parked in list_parked(settings)] == [parked_id]
    assert json.loads(drain(channel, PARKING_QUEUE)[0][2]) == {}
