"""`resource-service messages parked|replay` on the real RabbitMQ, the broker URL read from RS_AMQP_URL."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pydantic import SecretStr

from shared.cli.main import main
from shared.cli.messages import EXIT_INCOMPLETE, EXIT_UNAVAILABLE
from shared.common.settings import Settings
from shared.messaging.broker import Publisher, declare_queues
from shared.messaging.mq_event import build_rabbitmq_event, parse_rabbitmq_event
from shared.messaging.parking import park
from shared.messaging.queues import (
    COLLECTED_DATA_QUEUE,
    PARKING_QUEUE,
    RESOURCE_DATA_QUEUE,
    WRAPPER_CREATION_QUEUE,
)
from tests.integration.broker_support import drain, private_vhost, queue_arguments_on_broker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def vhost_url(amqp_url: str) -> Iterator[str]:
    with private_vhost(amqp_url) as url:
        yield url


@pytest.fixture
def channel(vhost_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("RS_AMQP_URL", vhost_url)
    connection = pika.BlockingConnection(pika.URLParameters(vhost_url))
    try:
        channel = connection.channel()
        declare_queues(channel, settings=Settings())
        for name in (WRAPPER_CREATION_QUEUE, PARKING_QUEUE):
            channel.queue_purge(name)
        yield channel
    finally:
        if connection.is_open:
            connection.close()


def park_malformed(vhost_url: str, body: bytes, *, message_id: str) -> str:
    event = build_rabbitmq_event(
        WRAPPER_CREATION_QUEUE, [(pika.BasicProperties(message_id=message_id), body)]
    )
    [message] = parse_rabbitmq_event(event)
    with Publisher(Settings(amqp_url=SecretStr(vhost_url))) as publisher:
        return park(message, message.error or "bad", publisher=publisher)


def test_parked_lists_the_messages_with_their_reason_and_keeps_them(
    vhost_url: str, channel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    first = park_malformed(vhost_url, b"{oops", message_id="m-1")
    second = park_malformed(vhost_url, b"[]", message_id="m-2")

    assert main(["messages", "parked", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert main(["messages", "parked", "--limit", "1"]) == 0
    out, err = capsys.readouterr()

    assert [item["id"] for item in listed] == [first, second]
    assert listed[0]["queue"] == WRAPPER_CREATION_QUEUE
    assert listed[0]["reason"].startswith("body is not valid JSON")
    assert listed[0]["delivery_count"] == 1 and listed[0]["parked_at"]
    assert out.startswith(f"{first}  {WRAPPER_CREATION_QUEUE}  ") and "body is not valid JSON" in out
    assert len(out.splitlines()) == 1 and "1 parked message(s) listed" in err
    assert channel.queue_declare(PARKING_QUEUE, passive=True).method.message_count == 2


def test_replay_puts_a_parked_message_back_on_its_original_queue(
    vhost_url: str, channel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    parked = park_malformed(vhost_url, b"{oops", message_id="m-1")
    left = park_malformed(vhost_url, b"[]", message_id="m-2")

    assert main(["messages", "replay", "--id", parked]) == 0
    out, _ = capsys.readouterr()

    assert out == f"replayed {parked} to {WRAPPER_CREATION_QUEUE}\n"
    [(_, properties, body)] = drain(channel, WRAPPER_CREATION_QUEUE)
    assert body == b"{oops" and properties.message_id == "m-1"
    assert main(["messages", "parked", "--json"]) == 0
    assert [item["id"] for item in json.loads(capsys.readouterr().out)] == [left]


def test_replay_of_an_id_that_is_not_parked_exits_non_zero_with_one_line(
    channel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["messages", "replay", "--id", "feedfacecafebeef"]) == EXIT_INCOMPLETE
    _, err = capsys.readouterr()
    assert "resource-service: error: no parked message feedfacecafebeef" in err
    assert "Traceback" not in err


def test_an_unreachable_broker_is_one_line_and_exit_6(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RS_AMQP_URL", f"amqp://guest:guest@127.0.0.1:{port}/%2F")

    assert main(["messages", "parked"]) == EXIT_UNAVAILABLE
    _, err = capsys.readouterr()
    assert err.startswith("resource-service: error: RabbitMQ at 127.0.0.1:") and err.count("\n") == 1


def test_migrate_gives_an_unbounded_queue_its_bounds_and_keeps_its_messages(
    vhost_url: str, channel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    channel.queue_delete(RESOURCE_DATA_QUEUE)
    channel.queue_declare(RESOURCE_DATA_QUEUE, durable=True)
    channel.basic_publish("", RESOURCE_DATA_QUEUE, b"{}", pika.BasicProperties(message_id="r-1:0"))

    assert main(["messages", "migrate", RESOURCE_DATA_QUEUE, COLLECTED_DATA_QUEUE]) == 0
    out, _ = capsys.readouterr()

    first, second = out.splitlines()
    assert first.startswith("queue 'resource_data' declared again with x-max-length=100000")
    assert first.endswith("1 message(s) moved back")
    assert second.startswith("queue 'collected_data' already has x-max-length=10000")
    assert '{"x-max-length",100000}' in queue_arguments_on_broker(vhost_url, RESOURCE_DATA_QUEUE)
    assert [properties.message_id for _, properties, _ in drain(channel, RESOURCE_DATA_QUEUE)] == ["r-1:0"]
