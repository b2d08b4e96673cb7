"""The publisher against the real RabbitMQ: confirms, batching, thread safety, reconnects and refusals."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import boto3
import pika
import pytest
from moto import mock_aws
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import ChannelClosedByBroker
from pydantic import SecretStr

from shared.common.errors import BrokerError, BrokerUnavailableError
from shared.common.settings import Settings
from shared.messaging import broker
from shared.messaging.broker import (
    APP_ID,
    CONTENT_TYPE,
    PERSISTENT,
    CollectedDataMessage,
    OutgoingMessage,
    Publisher,
    ResourceDataMessage,
    amqp_parameters,
    encode_payload,
    get_publisher,
    message_id_for,
)
from shared.messaging.confirm_window import ConfirmWindow
from shared.messaging.queues import QUEUES
from shared.points.point import Point

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

AMQP_URL = os.environ.get("RS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
Delivery = tuple[Any, pika.BasicProperties, bytes]


def make_settings(**overrides: Any) -> Settings:
    """Settings for the test broker with small backoffs so failures are quick."""
    values: dict[str, Any] = {
        "amqp_url": SecretStr(AMQP_URL),
        "broker_connect_attempts": 3,
        "broker_backoff_seconds": 0.05,
        "broker_backoff_max_seconds": 0.2,
        "broker_confirm_timeout_seconds": 20.0,
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def drain(channel: BlockingChannel, queue: str) -> list[Delivery]:
    """Consume (and ack) every message waiting in a queue."""
    deliveries: list[Delivery] = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return deliveries
        deliveries.append((method, properties, body))


def broker_connection_pids(connection_name: str) -> list[str]:
    """The broker-side ids of the connections with this client-provided name."""
    marker = f'{{"connection_name","{connection_name}"}}'
    for _ in range(20):
        listed = subprocess.run(
            ["rabbitmqctl", "list_connections", "-q", "--no-table-headers", "pid", "client_properties"],
            capture_output=True,
            text=True,
            check=True,
        )
        pids = [line.split("\t")[0] for line in listed.stdout.splitlines() if marker in line]
        if pids:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"no broker connection named {connection_name}")


def close_broker_side(pids: list[str]) -> None:
    """Have RabbitMQ itself close these connections (other users' connections are left alone)."""
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "closed by test"], check=True, capture_output=True
        )


class ConnectionCounter:
    """Counts the connections the publisher opens (wraps pika.BlockingConnection)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = pika.BlockingConnection

        def counting(parameters: pika.URLParameters) -> pika.BlockingConnection:
            self.count += 1
            return real(parameters)

        monkeypatch.setattr(broker.pika, "BlockingConnection", counting)


@pytest.fixture
def admin() -> Iterator[BlockingChannel]:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    yield connection.channel()
    if connection.is_open:
        connection.close()


@pytest.fixture
def make_queue() -> Iterator[Callable[..., str]]:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    names: list[str] = []

    def make(*, durable: bool = False, arguments: dict[str, Any] | None = None) -> str:
        name = f"rs-test-{uuid4().hex[:12]}"
        channel.queue_declare(name, durable=durable, arguments=arguments)
        names.append(name)
        return name

    yield make
    cleanup = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    cleanup_channel = cleanup.channel()
    for name in names:
        cleanup_channel.queue_delete(name)
    cleanup.close()
    if connection.is_open:
        connection.close()


@pytest.fixture
def connection_name() -> str:
    return f"rs-test-{uuid4().hex[:12]}"


@pytest.fixture
def publisher(connection_name: str) -> Iterator[Publisher]:
    with Publisher(make_settings(), queue_names=(), connection_name=connection_name) as instance:
        yield instance


def test_service_queues_are_declared_durable() -> None:
    with Publisher(make_settings()) as instance:
        assert instance.ping()

    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        for name in QUEUES:
            connection.channel().queue_declare(name, passive=True)
            # Redeclaring a durable queue as transient is refused: proof that it is durable.
            with pytest.raises(ChannelClosedByBroker) as refused:
                connection.channel().queue_declare(name, durable=False)
            assert refused.value.reply_code == 406
    finally:
        connection.close()


def test_publish_is_confirmed_persistent_json_with_a_stable_id(
    publisher: Publisher, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue()

    first = publisher.publish(queue, {"wrapper_id": "w-1", "n": 1})
    again = publisher.publish(queue, {"n": 1, "wrapper_id": "w-1"})
    chosen = publisher.publish(queue, {"wrapper_id": "w-2"}, message_id="w-2:create", headers={"attempt": 2})
    deliveries = drain(admin, queue)

    assert first == again == message_id_for(queue, b'{"n":1,"wrapper_id":"w-1"}')
    assert chosen == "w-2:create"
    assert [properties.message_id for _, properties, _ in deliveries] == [first, first, "w-2:create"]
    for _, properties, body in deliveries:
        assert properties.delivery_mode == PERSISTENT
        assert properties.content_type == CONTENT_TYPE
        assert properties.app_id == APP_ID
        assert isinstance(json.loads(body), dict)
    assert deliveries[0][2] == b'{"n":1,"wrapper_id":"w-1"}'
    assert deliveries[2][1].headers == {"attempt": 2}


def test_publish_many_confirms_each_message(
    publisher: Publisher, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue()
    payloads = [{"resource_id": f"r-{index}", "wrapper_id": "w"} for index in range(25)]

    ids = publisher.publish_many(queue, payloads)
    deliveries = drain(admin, queue)

    assert [json.loads(body) for _, _, body in deliveries] == payloads
    assert [properties.message_id for _, properties, _ in deliveries] == ids
    assert len(set(ids)) == 25


def test_publish_points_batches_2500_points_into_3_messages(
    publisher: Publisher, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue()
    start = datetime(2020, 1, 1, tzinfo=UTC)
    points = [
        Point(timestamp=start + timedelta(hours=hour), value=hour / 2, dimensions={"zone": "DE"})
        for hour in range(2500)
    ]

    ids = publisher.publish_points("r-1", points, message_id_prefix="run-1", queue=queue)
    deliveries = drain(admin, queue)

    assert ids == ["run-1:0", "run-1:1", "run-1:2"]
    messages = [ResourceDataMessage.model_validate_json(body) for _, _, body in deliveries]
    assert [len(message.points) for message in messages] == [1000, 1000, 500]
    assert [point for message in messages for point in message.points] == points
    assert json.loads(deliveries[0][2])["points"][0] == points[0].to_wire()
    assert [properties.message_id for _, properties, _ in deliveries] == ids
    assert [properties.headers["batch_index"] for _, properties, _ in deliveries] == [0, 1, 2]
    assert {properties.headers["batch_count"] for _, properties, _ in deliveries} == {3}
    # Without a prefix the ids derive from the points: publishing the same points again repeats them.
    derived = publisher.publish_points("r-1", points, queue=queue)
    assert derived == publisher.publish_points("r-1", points, queue=queue)
    assert len(derived) == 3 and derived[0].startswith("r-1:")
    assert publisher.publish_points("r-1", [], queue=queue) == []


def window_messages(count: int, *, size: int = 2_000) -> list[OutgoingMessage]:
    """Messages of about `size` bytes each, with the headers an outbox flush sends."""
    return [
        OutgoingMessage(
            f"m{index}", json.dumps({"seq": index, "pad": "x" * size}).encode(), {"batch_count": 1}
        )
        for index in range(count)
    ]


def test_publish_window_sends_what_publish_body_sends_in_order(
    publisher: Publisher, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue()
    messages = window_messages(300)
    reported: list[int] = []

    publisher.publish_window(queue, messages, on_confirmed=reported.append)
    windowed = drain(admin, queue)
    for message in messages:
        publisher.publish_body(queue, message.body, message_id=message.message_id, headers=message.headers)
    one_by_one = drain(admin, queue)

    def sent(deliveries: list[Delivery]) -> list[tuple[Any, ...]]:
        return [
            (p.message_id, p.headers, p.content_type, p.delivery_mode, p.app_id, body)
            for _, p, body in deliveries
        ]

    assert sent(windowed) == sent(one_by_one)
    assert [p.message_id for _, p, _ in windowed] == [f"m{index}" for index in range(300)]
    assert reported == sorted(reported) and reported[-1] == 300 and len(set(reported)) == len(reported)


def test_publish_window_keeps_up_to_the_window_unconfirmed(
    make_queue: Callable[..., str], admin: BlockingChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue()
    in_flight: list[int] = []
    real = ConfirmWindow._on_confirm

    def recorded(window: ConfirmWindow, frame: Any) -> None:
        in_flight.append(len(window._outstanding))
        real(window, frame)

    monkeypatch.setattr(ConfirmWindow, "_on_confirm", recorded)
    with Publisher(make_settings(broker_confirm_window=8), queue_names=()) as instance:
        instance.publish_window(queue, window_messages(40), on_confirmed=lambda count: None)

    assert len(drain(admin, queue)) == 40
    assert max(in_flight) == 8  # the first confirm finds the whole window sent


def test_publish_window_stops_at_a_nacked_message_and_reports_only_what_came_before(
    make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue(arguments={"x-max-length": 3, "x-overflow": "reject-publish"})
    reported: list[int] = []

    with (
        Publisher(make_settings(broker_confirm_window=8), queue_names=()) as instance,
        pytest.raises(BrokerError, match="nacked") as failure,
    ):
        instance.publish_window(queue, window_messages(10), on_confirmed=reported.append)

    assert not isinstance(failure.value, BrokerUnavailableError)
    assert "message m3 " in str(failure.value) and repr(queue) in str(failure.value)
    assert reported[-1] == 3
    assert [p.message_id for _, p, _ in drain(admin, queue)] == ["m0", "m1", "m2"]


def test_publish_window_to_a_missing_queue_is_returned_and_reports_nothing(
    publisher: Publisher, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    missing = f"rs-test-missing-{uuid4().hex[:8]}"
    reported: list[int] = []

    with pytest.raises(BrokerError, match="unroutable") as failure:
        publisher.publish_window(missing, window_messages(20), on_confirmed=reported.append)

    assert not isinstance(failure.value, BrokerUnavailableError)
    assert "message m0 " in str(failure.value) and repr(missing) in str(failure.value)
    assert reported == []
    queue = make_queue()
    publisher.publish_window(queue, window_messages(3), on_confirmed=reported.append)
    assert reported[-1] == 3 and len(drain(admin, queue)) == 3


def test_a_message_returned_mid_window_stops_it_after_the_confirmed_ones(
    make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    # The queue is deleted once the first messages are confirmed: later ones come back unroutable.
    queue = make_queue(durable=True)
    reported: list[int] = []

    def confirmed(count: int) -> None:
        if not reported:
            admin.queue_delete(queue)
        reported.append(count)

    with (
        Publisher(make_settings(broker_confirm_window=4), queue_names=()) as instance,
        pytest.raises(BrokerError, match="unroutable") as failure,
    ):
        instance.publish_window(queue, window_messages(400), on_confirmed=confirmed)

    refused = int(str(failure.value).split("message m")[1].split(" ")[0])
    # Nothing at or after the returned message is reported confirmed.
    assert reported[-1] <= refused < 400


def test_publish_collected_is_size_capped(make_queue: Callable[..., str], admin: BlockingChannel) -> None:
    queue = make_queue()
    raw = bytes(range(256)) * 20

    with Publisher(make_settings(collected_data_max_bytes=1024), queue_names=()) as instance:
        instance.publish_collected("r-1", raw, content_type="text/csv", wrapper_id="w-1", queue=queue)
        instance.publish_collected("r-1", raw[:100], queue=queue)
    big, small = (CollectedDataMessage.model_validate_json(body) for _, _, body in drain(admin, queue))

    assert (big.truncated, big.size, len(big.data())) == (True, len(raw), 1024)
    assert big.data() == raw[:1024]
    assert big.sha256 == hashlib.sha256(raw).hexdigest()
    assert (big.content_type, big.wrapper_id) == ("text/csv", "w-1")
    assert (small.truncated, small.size, small.data()) == (False, 100, raw[:100])


def test_eight_threads_publish_concurrently_exactly_once(
    connection_name: str, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue()
    errors: list[BaseException] = []
    threads_count, per_thread = 8, 200

    def work(thread: int, instance: Publisher) -> None:
        try:
            for seq in range(per_thread):
                instance.publish(queue, {"thread": thread, "seq": seq})
        except BaseException as error:
            errors.append(error)

    with Publisher(
        make_settings(broker_channel_pool_size=5), queue_names=(), connection_name=connection_name
    ) as instance:
        threads = [threading.Thread(target=work, args=(index, instance)) for index in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
    deliveries = drain(admin, queue)

    assert errors == []
    bodies = [json.loads(body) for _, _, body in deliveries]
    assert len(bodies) == threads_count * per_thread
    assert {(body["thread"], body["seq"]) for body in bodies} == {
        (thread, seq) for thread in range(threads_count) for seq in range(per_thread)
    }
    assert len({properties.message_id for _, properties, _ in deliveries}) == threads_count * per_thread


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to close connections")
def test_next_publish_reconnects_after_the_broker_closed_the_connection(
    publisher: Publisher, connection_name: str, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue()
    publisher.publish(queue, {"before": True})

    close_broker_side(broker_connection_pids(connection_name))
    publisher.publish(queue, {"after": True})

    assert [json.loads(body) for _, _, body in drain(admin, queue)] == [{"before": True}, {"after": True}]


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to close connections")
def test_connection_killed_during_publish_many_loses_nothing(
    publisher: Publisher,
    connection_name: str,
    make_queue: Callable[..., str],
    admin: BlockingChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = make_queue()
    total = 5000
    publisher.publish(queue, {"seq": -1})
    pids = broker_connection_pids(connection_name)
    payloads = [{"seq": seq} for seq in range(total)]
    outcome: list[object] = []

    def work() -> None:
        try:
            outcome.append(publisher.publish_many(queue, payloads))
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=work)
    with caplog.at_level(logging.WARNING, logger="shared.messaging.broker"):
        thread.start()
        while admin.queue_declare(queue, passive=True).method.message_count < 50:
            time.sleep(0.02)
        close_broker_side(pids)
        thread.join(timeout=90)
    deliveries = drain(admin, queue)

    assert len(outcome) == 1 and isinstance(outcome[0], list), outcome
    # The connection died in the middle of the batch and the publisher reconnected there.
    assert any("broker connection failed (attempt 1 of 3)" in record.message for record in caplog.records)
    seqs = [json.loads(body)["seq"] for _, _, body in deliveries]
    assert set(seqs) == set(range(-1, total))
    # A message in flight when the connection died may arrive twice, under the same id.
    assert len(seqs) - (total + 1) <= 1
    assert {properties.message_id for _, properties, _ in deliveries[1:]} == set(outcome[0])


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to close connections")
def test_connection_killed_during_publish_window_resends_from_the_first_unconfirmed(
    publisher: Publisher,
    connection_name: str,
    make_queue: Callable[..., str],
    admin: BlockingChannel,
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = make_queue(durable=True)
    total = 1000
    publisher.publish_window(queue, window_messages(1), on_confirmed=lambda count: None)
    pids = broker_connection_pids(connection_name)
    reported: list[int] = []

    def confirmed(count: int) -> None:
        if not reported:
            close_broker_side(pids)  # while the window is full: the broker drops it mid-flight
        reported.append(count)

    with caplog.at_level(logging.WARNING, logger="shared.messaging.broker"):
        publisher.publish_window(queue, window_messages(total), on_confirmed=confirmed)
    deliveries = drain(admin, queue)

    assert reported[-1] == total
    assert any("broker connection failed (attempt 1 of 3)" in record.message for record in caplog.records)
    seqs = [json.loads(body)["seq"] for _, _, body in deliveries[1:]]
    assert set(seqs) == set(range(total))
    # What was in flight when the connection died arrives again after it, in order, under the same ids.
    assert [seq for index, seq in enumerate(seqs) if seq not in seqs[:index]] == list(range(total))
    extra = len(seqs) - total
    assert extra <= make_settings().broker_confirm_window
    if extra:
        resent = next(index for index in range(1, len(seqs)) if seqs[index] <= seqs[index - 1])
        assert seqs[resent:] == list(range(seqs[resent], total))


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to close connections")
def test_an_idle_window_the_broker_closed_is_dropped_before_the_next_publish(
    publisher: Publisher,
    connection_name: str,
    make_queue: Callable[..., str],
    admin: BlockingChannel,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = make_queue()
    publisher.publish_window(queue, window_messages(2), on_confirmed=lambda count: None)
    close_broker_side(broker_connection_pids(connection_name))
    monkeypatch.setattr(broker, "PROBE_IDLE_SECONDS", 0.0)

    with caplog.at_level(logging.WARNING, logger="shared.messaging.broker"):
        publisher.publish_window(queue, window_messages(3), on_confirmed=lambda count: None)

    assert not [record for record in caplog.records if "broker connection failed" in record.message]
    assert [p.message_id for _, p, _ in drain(admin, queue)] == ["m0", "m1", "m0", "m1", "m2"]


def test_publish_reconnects_after_the_connection_was_closed_client_side(
    publisher: Publisher, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue()
    publisher.publish(queue, {"before": True})
    for slot in list(publisher._slots.queue):
        if slot.connection is not None:
            slot.connection.close()

    publisher.publish(queue, {"after": True})

    assert len(drain(admin, queue)) == 2


def test_unreachable_broker_fails_after_the_configured_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    counter = ConnectionCounter(monkeypatch)
    settings = make_settings(amqp_url=SecretStr(f"amqp://guest:s3cret@127.0.0.1:{port}/%2F"))

    started = time.monotonic()
    with Publisher(settings, queue_names=()) as instance, pytest.raises(BrokerUnavailableError) as failure:
        instance.publish("anything", {"a": 1})
    elapsed = time.monotonic() - started

    assert counter.count == 3
    assert elapsed < 5
    message = str(failure.value)
    assert f"127.0.0.1:{port}" in message
    assert "after 3 attempts" in message
    assert "'anything'" in message
    assert "s3cret" not in message


def test_wrong_credentials_fail_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = ConnectionCounter(monkeypatch)
    url = pika.URLParameters(AMQP_URL)
    settings = make_settings(amqp_url=SecretStr(f"amqp://nobody:wrong-pass@{url.host}:{url.port}/%2F"))

    with Publisher(settings, queue_names=()) as instance, pytest.raises(BrokerUnavailableError) as failure:
        instance.publish("anything", {"a": 1})

    assert counter.count == 1
    assert "refused the credentials" in str(failure.value)
    assert "wrong-pass" not in str(failure.value)


def test_missing_queue_is_a_broker_error_not_retried(
    publisher: Publisher,
    make_queue: Callable[..., str],
    admin: BlockingChannel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = make_queue()
    publisher.publish(queue, {"warm": True})
    counter = ConnectionCounter(monkeypatch)
    missing = f"rs-test-missing-{uuid4().hex[:8]}"

    with pytest.raises(BrokerError) as failure:
        publisher.publish(missing, {"a": 1})

    assert not isinstance(failure.value, BrokerUnavailableError)
    assert repr(missing) in str(failure.value) and "unroutable" in str(failure.value)
    assert counter.count == 0
    publisher.publish(queue, {"still": "working"})
    assert len(drain(admin, queue)) == 2


def test_nacked_publish_is_a_broker_error_not_retried(
    publisher: Publisher, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    queue = make_queue(arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    publisher.publish(queue, {"first": True})

    with pytest.raises(BrokerError, match="nacked") as failure:
        publisher.publish(queue, {"second": True})

    assert repr(queue) in str(failure.value)
    assert [json.loads(body) for _, _, body in drain(admin, queue)] == [{"first": True}]


def test_channel_closed_by_broker_is_a_broker_error_not_retried(
    make_queue: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    transient = make_queue(durable=False)
    counter = ConnectionCounter(monkeypatch)

    # The publisher declares its queues durable; a transient queue of that name is a conflict.
    with (
        Publisher(make_settings(), queue_names=(transient,)) as instance,
        pytest.raises(BrokerError) as failure,
    ):
        instance.publish(transient, {"a": 1})

    assert not isinstance(failure.value, BrokerUnavailableError)
    assert "406" in str(failure.value) and "PRECONDITION_FAILED" in str(failure.value)
    assert repr(transient) in str(failure.value)
    assert counter.count == 1


def test_ping_reports_reachability() -> None:
    with Publisher(make_settings(), queue_names=()) as reachable:
        assert reachable.ping()
    assert not reachable.ping()
    unreachable = Publisher(
        make_settings(amqp_url=SecretStr(f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"))
    )
    assert not unreachable.ping()


def test_closed_publisher_refuses_to_publish(publisher: Publisher) -> None:
    publisher.close()

    with pytest.raises(BrokerError, match="closed"):
        publisher.publish("anything", {"a": 1})


def test_get_publisher_reuses_one_instance() -> None:
    settings = make_settings()

    first = get_publisher(settings)
    try:
        assert get_publisher(settings) is first
        first.close()
        second = get_publisher(settings)
        assert second is not first and not second.closed
    finally:
        get_publisher(settings).close()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def test_credentials_come_from_secrets_manager(
    aws: None, make_queue: Callable[..., str], admin: BlockingChannel
) -> None:
    url = pika.URLParameters(AMQP_URL)
    real = url.credentials
    vhost = quote(url.virtual_host, safe="")  # the test broker's vhost (RS_TEST_AMQP_URL may name its own)
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = client.create_secret(
        Name="resource-service/amqp",
        SecretString=json.dumps({"username": real.username, "password": real.password}),
    )["ARN"]
    settings = make_settings(
        amqp_url=SecretStr(f"amqp://placeholder:placeholder@{url.host}:{url.port}/{vhost}"),
        amqp_secret_arn=arn,
    )
    queue = make_queue()

    parameters = amqp_parameters(settings)
    with Publisher(settings, queue_names=()) as instance:
        instance.publish(queue, {"via": "secret"})

    assert (parameters.credentials.username, parameters.credentials.password) == (
        real.username,
        real.password,
    )
    assert parameters.connection_attempts == 1
    assert [json.loads(body) for _, _, body in drain(admin, queue)] == [{"via": "secret"}]


def test_a_secret_without_credentials_is_refused(aws: None) -> None:
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = client.create_secret(Name="resource-service/bad", SecretString='{"user": "x"}')["ARN"]

    with pytest.raises(BrokerUnavailableError, match="'username' and 'password'"):
        amqp_parameters(make_settings(amqp_secret_arn=arn))
    with pytest.raises(BrokerUnavailableError, match="cannot read broker secret"):
        amqp_parameters(make_settings(amqp_secret_arn=arn.replace("bad", "absent")))


def test_payloads_serialize_canonically() -> None:
    moment = datetime(2024, 5, 1, tzinfo=UTC)

    assert (
        encode_payload({"b": 1, "a": "é", "at": moment})
        == '{"a":"é","at":"2024-05-01T00:00:00Z","b":1}'.encode()
    )
    assert base64.b64decode(base64.b64encode(encode_payload({"x": [1, 2]}))) == b'{"x":[1,2]}'
    with pytest.raises(ValueError):
        encode_payload({"value": float("nan")})
