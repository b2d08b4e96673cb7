"""The parking queue: messages the service gave up on, kept with the reason, listed and replayed.

Two kinds of message land there. A queue handler that cannot use a message (malformed, too deep, for
no known wrapper) calls `park`: the body is kept byte for byte with `parked_*` headers (original
queue, reason, time, delivery count) and the correlation id when there is one, and the handler then
acknowledges the message by returning normally, as the Amazon MQ trigger cannot dead-letter by itself.
A queue declared with a dead-letter route (`resource_data` past its length) hands its oldest messages
over through the broker, which records the same facts in its `x-death` headers.

Listing takes the messages without acknowledging them and hands them all back in their places, so a
look changes nothing. Replaying publishes a message to its original queue, waits for the confirm and
only then acknowledges it in the parking queue, so a crash in between duplicates it, never loses it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Protocol

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPConnectionError, AMQPError, NackError, UnroutableError
from pydantic import BaseModel, Field

from shared.common.clock import utcnow
from shared.common.errors import BrokerError, BrokerUnavailableError
from shared.common.settings import Settings
from shared.messaging.broker import (
    AUTHENTICATION_ERRORS,
    amqp_parameters,
    declare_queues,
    get_publisher,
    message_id_for,
)
from shared.messaging.mq_event import QueueMessage
from shared.messaging.queues import DEFAULT_EXCHANGE, PARKING_QUEUE

PARKED_FROM = "parked_from"
PARKED_REASON = "parked_reason"
PARKED_AT = "parked_at"
PARKED_DELIVERY_COUNT = "parked_delivery_count"
CORRELATION_ID = "correlation_id"
# Headers that describe a stay in the parking queue; a replayed message leaves without them.
PARKING_HEADERS = (PARKED_FROM, PARKED_REASON, PARKED_AT, PARKED_DELIVERY_COUNT)
DEATH_HEADERS = ("x-death", "x-first-death-queue", "x-first-death-reason", "x-first-death-exchange")
DEATH_HEADERS_LAST = ("x-last-death-queue", "x-last-death-reason", "x-last-death-exchange")
DEATH_REASONS = {
    "maxlen": "the queue was full (x-max-length): the oldest message was dead-lettered",
    "expired": "the message outlived the queue's x-message-ttl",
    "rejected": "a consumer rejected the message",
    "delivery_limit": "the message was delivered more often than the queue's delivery limit",
}
PREVIEW_CHARS = 300


class BodyPublisher(Protocol):
    """What parking needs of the broker: a confirmed publish of bytes as they are."""

    def publish_body(
        self, queue: str, body: bytes, *, message_id: str, headers: Mapping[str, Any] | None = None
    ) -> str:
        """Publish one persistent, confirmed message."""
        ...


class ParkedMessage(BaseModel):
    """A message in the parking queue: where it came from, why it is there, and how it starts."""

    id: str = Field(description="stable id of the parked message, for `messages replay --id`")
    queue: str | None = Field(description="the queue it was taken from, where a replay puts it back")
    reason: str
    parked_at: datetime | None = None
    delivery_count: int = Field(description="deliveries before it was parked (at least)")
    correlation_id: str | None = None
    message_id: str | None = None
    size: int
    preview: str = Field(description=f"the body's first {PREVIEW_CHARS} characters (UTF-8, lossy)")


class ReplayResult(BaseModel):
    """What a replay moved, and what it could not."""

    replayed: list[ParkedMessage] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list)
    not_found: list[str] = Field(default_factory=list)


def parked_id(queue: str | None, message_id: str | None, body: bytes) -> str:
    """The id a parked message is listed and replayed by: the same for every copy of one message."""
    digest = hashlib.sha256(f"{queue or ''}\n{message_id or ''}\n".encode() + body)
    return digest.hexdigest()[:16]


def delivery_count(message: QueueMessage) -> int:
    """How often the message was delivered, at least: classic queues only say whether it was redelivered."""
    counted = message.headers.get("x-delivery-count")
    if isinstance(counted, int) and not isinstance(counted, bool):
        return counted + 1
    return 2 if message.redelivered else 1


def correlation_of(message: QueueMessage) -> str | None:
    """The message's correlation id, from its body or its headers, when it has one."""
    for source in (message.body, message.headers):
        if isinstance(source, dict) and isinstance(source.get(CORRELATION_ID), str):
            return str(source[CORRELATION_ID])
    return None


def park(
    message: QueueMessage,
    reason: str,
    *,
    publisher: BodyPublisher | None = None,
    settings: Settings | None = None,
) -> str:
    """Keep a message the service gives up on in the parking queue, with the reason; return its parked id.

    Raises BrokerError when the broker does not confirm it: the caller must then not acknowledge the
    message (a queue handler fails its batch so that the trigger redelivers it).
    """
    active: BodyPublisher = publisher or get_publisher(settings)
    body = message.raw
    message_id = message.message_id or message_id_for(message.queue, body)
    headers: dict[str, Any] = {
        name: value
        for name, value in message.headers.items()
        if name not in PARKING_HEADERS and not name.startswith("x-")
    }
    headers.update(
        {
            PARKED_FROM: message.queue,
            PARKED_REASON: " ".join(reason.split())[:1000],
            PARKED_AT: utcnow().isoformat(),
            PARKED_DELIVERY_COUNT: delivery_count(message),
        }
    )
    correlation_id = correlation_of(message)
    if correlation_id is not None:
        headers[CORRELATION_ID] = correlation_id
    active.publish_body(PARKING_QUEUE, body, message_id=message_id, headers=headers)
    return parked_id(message.queue, message_id, body)


def describe(properties: pika.BasicProperties, body: bytes) -> ParkedMessage:
    """A parked message as listed: from the `parked_*` headers, or from the broker's `x-death` record."""
    headers = dict(properties.headers or {})
    death = _first_death(headers)
    queue = _text(headers.get(PARKED_FROM)) or _text(headers.get("x-first-death-queue")) or death.get("queue")
    reason = _text(headers.get(PARKED_REASON))
    if reason is None:
        cause = _text(headers.get("x-first-death-reason")) or _text(death.get("reason")) or "unknown"
        reason = f"dead-lettered by the broker: {DEATH_REASONS.get(cause, cause)}"
    count = headers.get(PARKED_DELIVERY_COUNT)
    return ParkedMessage(
        id=parked_id(queue, properties.message_id, body),
        queue=queue,
        reason=reason,
        parked_at=_moment(headers.get(PARKED_AT)) or _moment(death.get("time")),
        delivery_count=count if isinstance(count, int) else 1,
        correlation_id=_text(headers.get(CORRELATION_ID)) or properties.correlation_id,
        message_id=properties.message_id,
        size=len(body),
        preview=body[: PREVIEW_CHARS * 4].decode("utf-8", errors="replace")[:PREVIEW_CHARS],
    )


def list_parked(settings: Settings, *, limit: int | None = None) -> list[ParkedMessage]:
    """The parked messages, oldest first, up to `limit`; every one stays parked, in its place."""
    with operator_channel(settings) as channel:
        found: list[ParkedMessage] = []
        while limit is None or len(found) < limit:
            method, properties, body = channel.basic_get(PARKING_QUEUE, auto_ack=False)
            if method is None:
                break
            found.append(describe(properties, body))
        return found


def replay(settings: Settings, *, ids: set[str] | None = None) -> ReplayResult:
    """Move parked messages back to their original queues: those with `ids`, or all when None.

    Each is published with confirms and acknowledged in the parking queue only once confirmed; the
    messages left are handed back in their places. Only the messages parked when the replay starts are
    looked at, so a message that overflows its queue again waits for the next replay.
    """
    result = ReplayResult()
    wanted = set(ids) if ids is not None else None
    with operator_channel(settings) as channel:
        channel.confirm_delivery()
        waiting = channel.queue_declare(PARKING_QUEUE, passive=True).method.message_count
        for _ in range(waiting):
            method, properties, body = channel.basic_get(PARKING_QUEUE, auto_ack=False)
            if method is None:
                break
            parked = describe(properties, body)
            if wanted is not None and parked.id not in wanted:
                continue
            if parked.queue is None:
                result.failed.append(f"{parked.id}: the message does not say which queue it came from")
                continue
            try:
                channel.basic_publish(
                    exchange=DEFAULT_EXCHANGE,
                    routing_key=parked.queue,
                    body=body,
                    properties=_restored(properties),
                    mandatory=True,
                )
            except UnroutableError:
                result.failed.append(f"{parked.id}: queue {parked.queue!r} does not exist")
                continue
            except NackError:
                result.failed.append(f"{parked.id}: RabbitMQ refused it for queue {parked.queue!r}")
                continue
            channel.basic_ack(method.delivery_tag)
            result.replayed.append(parked)
    if wanted is not None:
        found = {parked.id for parked in result.replayed} | {line.split(":")[0] for line in result.failed}
        result.not_found = sorted(wanted - found)
    return result


def _restored(properties: pika.BasicProperties) -> pika.BasicProperties:
    """The message's properties as first published: without what the parking added."""
    headers = {
        name: value
        for name, value in (properties.headers or {}).items()
        if name not in (*PARKING_HEADERS, *DEATH_HEADERS, *DEATH_HEADERS_LAST)
    }
    return pika.BasicProperties(
        content_type=properties.content_type,
        content_encoding=properties.content_encoding,
        delivery_mode=properties.delivery_mode,
        message_id=properties.message_id,
        correlation_id=properties.correlation_id,
        timestamp=properties.timestamp,
        app_id=properties.app_id,
        type=properties.type,
        headers=headers or None,
    )


@contextmanager
def operator_channel(
    settings: Settings, *, declare: Sequence[str] = (PARKING_QUEUE,)
) -> Iterator[BlockingChannel]:
    """A channel for an operator's command, `declare` declared; unacknowledged messages go back on exit."""
    parameters = amqp_parameters(settings)
    where = f"{parameters.host}:{parameters.port} vhost {parameters.virtual_host!r}"
    try:
        connection = pika.BlockingConnection(parameters)
    except AUTHENTICATION_ERRORS as error:
        raise BrokerUnavailableError(f"RabbitMQ at {where} refused the credentials") from error
    except (AMQPConnectionError, OSError) as error:
        raise BrokerUnavailableError(f"RabbitMQ at {where} is unreachable: {type(error).__name__}") from error
    try:
        channel = connection.channel()
        declare_queues(channel, declare, settings=settings)
        yield channel
        if channel.is_open:
            # Hand back, in their places, the messages taken but not acknowledged.
            channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
    except AMQPError as error:
        raise BrokerError(f"RabbitMQ at {where}: {type(error).__name__}: {error}") from error
    finally:
        with suppress(AMQPError, OSError):
            if connection.is_open:
                connection.close()


def _first_death(headers: Mapping[str, Any]) -> dict[str, Any]:
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], dict):
        # RabbitMQ puts the most recent death first; the first one names the original queue.
        return {name: _plain(value) for name, value in deaths[-1].items()}
    return {}


def _plain(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _text(value: Any) -> str | None:
    value = _plain(value)
    return value if isinstance(value, str) and value else None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        with suppress(ValueError):
            return datetime.fromisoformat(value)
    return None
