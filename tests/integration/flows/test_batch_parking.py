"""A batch meets messages no step can use: each is parked with its reason and acknowledged, never looped."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pydantic import SecretStr

from shared.common.errors import TransientBatchError
from shared.common.settings import Settings
from shared.flows.batch import handle_wrapper_batch
from shared.flows.steps import generate_step
from shared.messaging.broker import declare_queues
from shared.messaging.mq_event import build_rabbitmq_event
from shared.messaging.parking import list_parked
from shared.messaging.queues import PARKING_QUEUE, WRAPPER_CREATION_QUEUE
from tests.integration.broker_support import private_vhost
from tests.integration.flows.test_batch import Log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def vhost_url(amqp_url: str) -> Iterator[str]:
    with private_vhost(amqp_url) as url:
        yield url


@pytest.fixture
def settings(mongodb_uri: str, vhost_url: str, database_name: str) -> Settings:
    return Settings(
        mongodb_uri=mongodb_uri,
        mongodb_database=database_name,
        amqp_url=SecretStr(vhost_url),
        gemini_api_key=None,
        gemini_secret_arn=None,
    )


@pytest.fixture
def channel(vhost_url: str, settings: Settings) -> Iterator[Any]:
    connection = pika.BlockingConnection(pika.URLParameters(vhost_url))
    try:
        channel = connection.channel()
        declare_queues(channel, settings=settings)
        for name in (WRAPPER_CREATION_QUEUE, PARKING_QUEUE):
            channel.queue_purge(name)
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def consume_into_batch(channel: Any, settings: Settings, body: bytes) -> tuple[Any, Any]:
    """Publish a message to the creation queue and take it as the trigger does: unacked, in an event."""
    channel.basic_publish("", WRAPPER_CREATION_QUEUE, body, pika.BasicProperties(message_id="m-1"))
    method, properties, taken = channel.basic_get(WRAPPER_CREATION_QUEUE, auto_ack=False)
    assert method is not None
    return method, build_rabbitmq_event(WRAPPER_CREATION_QUEUE, [(method, properties, taken)])


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b'{"wrong": "shape", "correlation_id": "req-7"}', "expected {'wrapper_id': uuid}"),
    ],
    ids=["not-json", "wrong-shape"],
)
def test_a_malformed_message_is_parked_with_its_reason_and_acknowledged(
    settings: Settings, channel: Any, body: bytes, reason: str
) -> None:
    method, event = consume_into_batch(channel, settings, body)

    result = handle_wrapper_batch(
        event, step=generate_step, settings=settings, owner="worker-1", logger=Log()
    )
    # The batch succeeded, so the trigger acknowledges the message: it is not delivered again.
    channel.basic_ack(method.delivery_tag)

    assert len(result.rejected) == 1 and result.transient == []
    assert channel.queue_declare(WRAPPER_CREATION_QUEUE, passive=True).method.message_count == 0
    [parked] = list_parked(settings)
    assert parked.queue == WRAPPER_CREATION_QUEUE
    assert parked.reason.startswith(reason)
    assert parked.message_id == "m-1" and parked.delivery_count == 1
    if b"correlation_id" in body:
        assert parked.correlation_id == "req-7"


def test_a_message_for_no_known_wrapper_is_parked(settings: Settings, channel: Any) -> None:
    wrapper_id = str(uuid.uuid4())
    _, event = consume_into_batch(channel, settings, f'{{"wrapper_id": "{wrapper_id}"}}'.encode())

    result = handle_wrapper_batch(
        event, step=generate_step, settings=settings, owner="worker-1", logger=Log()
    )

    assert [outcome.action for outcome in result.outcomes] == ["skipped"]
    assert [parked.reason for parked in list_parked(settings)] == [f"no wrapper {wrapper_id}"]


def test_a_message_that_cannot_be_parked_fails_the_batch_for_redelivery(settings: Settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = settings.model_copy(
        update={
            "amqp_url": SecretStr(f"amqp://guest:guest@127.0.0.1:{closed_port}/%2F"),
            "broker_connect_attempts": 1,
        }
    )
    event = build_rabbitmq_event(WRAPPER_CREATION_QUEUE, [b"{not json"])

    with pytest.raises(TransientBatchError, match="cannot park it"):
        handle_wrapper_batch(event, step=generate_step, settings=unreachable, owner="worker-1", logger=Log())
