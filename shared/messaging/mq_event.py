"""Amazon MQ for RabbitMQ Lambda events: parsed message by message, and built from consumed messages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pika
from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMessage, RabbitMQEvent
from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from shared.common.json_text import load_json
from shared.messaging.broker import APP_ID, CONTENT_TYPE, PERSISTENT, encode_payload, message_id_for

EVENT_SOURCE = "aws:rmq"
DEFAULT_EVENT_SOURCE_ARN = (
    "arn:aws:mq:us-east-1:123456789012:broker:resource-service:b-4f7f0f3e-8c39-4c1e-9a55-2f3b1d6c0a71"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class QueueMessage(BaseModel):
    """One message of an event; `error` says why its body could not be read (then `body` is None)."""

    queue: str
    vhost: str = "/"
    message_id: str | None = None
    redelivered: bool = False
    headers: dict[str, JsonValue] = Field(default_factory=dict)
    body: JsonValue = None
    error: str | None = None
    # The body as received, so that a message given up on can be parked byte for byte.
    raw: bytes = Field(default=b"", exclude=True, repr=False)

    @property
    def ok(self) -> bool:
        """Whether the body was decoded."""
        return self.error is None


class EventBasicProperties(BaseModel):
    """The AMQP properties of a message, as Lambda's poller serializes them (every key, null when unset)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    content_type: str | None = None
    content_encoding: str | None = None
    headers: dict[str, Any] | None = None
    delivery_mode: int | None = None
    priority: int | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    expiration: str | None = None
    message_id: str | None = None
    timestamp: str | None = None
    type: str | None = None
    user_id: str | None = None
    app_id: str | None = None
    cluster_id: str | None = None
    body_size: int


class EventMessage(BaseModel):
    """One message of an Amazon MQ event; `data` is the base64 body."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    basic_properties: EventBasicProperties
    redelivered: bool = False
    data: str


class MQEvent(BaseModel):
    """An Amazon MQ for RabbitMQ event; messages are keyed "<queue>::<vhost>"."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    event_source: str = EVENT_SOURCE
    event_source_arn: str = DEFAULT_EVENT_SOURCE_ARN
    rmq_messages_by_queue: dict[str, list[EventMessage]]


def parse_rabbitmq_event(event: Mapping[str, Any]) -> list[QueueMessage]:
    """Decode every message of an Amazon MQ event; a malformed message is reported, not raised."""
    if event.get("eventSource") != EVENT_SOURCE or not isinstance(event.get("rmqMessagesByQueue"), dict):
        raise ValueError(f"not an Amazon MQ for RabbitMQ event (eventSource={event.get('eventSource')!r})")
    parsed = RabbitMQEvent(dict(event))
    messages: list[QueueMessage] = []
    for key, queue_messages in parsed.rmq_messages_by_queue.items():
        queue, separator, vhost = key.rpartition("::")
        if not separator:
            queue, vhost = key, "/"
        messages.extend(_parse_message(queue, vhost, message) for message in queue_messages)
    return messages


def build_rabbitmq_event(
    queue: str,
    messages: Sequence[Any],
    *,
    vhost: str = "/",
    event_source_arn: str = DEFAULT_EVENT_SOURCE_ARN,
) -> dict[str, Any]:
    """Build the event Lambda would send for messages consumed from `queue`.

    Each item is a body (bytes or str sent as is, anything else as canonical JSON, with the properties
    the publisher sets), a `(properties, body)` pair, or a `(method, properties, body)` triple as
    returned by `basic_get`/`consume`, whose `redelivered` flag is kept.
    """
    records = []
    for item in messages:
        redelivered = False
        if isinstance(item, tuple) and len(item) == 3:
            method, properties, body = item
            redelivered = bool(getattr(method, "redelivered", False))
        elif isinstance(item, tuple) and len(item) == 2:
            properties, body = item
        else:
            body = _body_bytes(item)
            properties = pika.BasicProperties(
                content_type=CONTENT_TYPE,
                delivery_mode=PERSISTENT,
                message_id=message_id_for(queue, body),
                app_id=APP_ID,
            )
        records.append(
            EventMessage(
                basic_properties=_basic_properties(properties, body),
                redelivered=redelivered,
                data=base64.b64encode(body).decode("ascii"),
            )
        )
    event = MQEvent(event_source_arn=event_source_arn, rmq_messages_by_queue={f"{queue}::{vhost}": records})
    return event.model_dump(by_alias=True)


def _parse_message(queue: str, vhost: str, message: RabbitMessage) -> QueueMessage:
    try:
        properties = message.get("basicProperties") or {}
        header = QueueMessage(
            queue=queue,
            vhost=vhost,
            message_id=properties.get("messageId"),
            redelivered=bool(message.get("redelivered", False)),
            headers=_decode_header_table(properties.get("headers") or {}),
        )
    except Exception as error:
        return QueueMessage(queue=queue, vhost=vhost, error=f"malformed message: {error!r}")
    if not isinstance(message.get("data"), str):
        return header.model_copy(update={"error": "message has no base64 'data'"})
    try:
        raw = base64.b64decode(message.data, validate=True)
    except (binascii.Error, ValueError) as error:
        return header.model_copy(
            update={"error": f"data is not valid base64: {error}", "raw": message.data.encode()}
        )
    header = header.model_copy(update={"raw": raw})
    try:
        # Depth-limited: a deeply nested body is malformed, not a RecursionError redelivered forever.
        body = load_json(raw)
    except ValueError as error:
        return header.model_copy(update={"error": f"body is not valid JSON: {error}"})
    return header.model_copy(update={"body": body})


def _decode_header_table(table: Mapping[str, Any]) -> dict[str, JsonValue]:
    return {name: _decode_header_value(value) for name, value in table.items()}


def _decode_header_value(value: Any) -> JsonValue:
    # Lambda's poller serializes AMQP long strings as {"bytes": [...]}.
    if isinstance(value, dict) and set(value) == {"bytes"} and isinstance(value["bytes"], list):
        return bytes(value["bytes"]).decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return _decode_header_table(value)
    if isinstance(value, list):
        return [_decode_header_value(item) for item in value]
    return value


def _encode_header_value(value: Any) -> Any:
    if isinstance(value, str):
        return {"bytes": list(value.encode())}
    if isinstance(value, bytes):
        return {"bytes": list(value)}
    if isinstance(value, dict):
        return {name: _encode_header_value(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_encode_header_value(item) for item in value]
    return value


def _body_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    return encode_payload(item)


def _basic_properties(properties: pika.BasicProperties, body: bytes) -> EventBasicProperties:
    timestamp = properties.timestamp
    return EventBasicProperties(
        content_type=properties.content_type,
        content_encoding=properties.content_encoding,
        headers=_encode_header_value(dict(properties.headers)) if properties.headers else None,
        delivery_mode=properties.delivery_mode,
        priority=properties.priority,
        correlation_id=properties.correlation_id,
        reply_to=properties.reply_to,
        expiration=properties.expiration,
        message_id=properties.message_id,
        timestamp=_java_date(timestamp) if timestamp is not None else None,
        type=properties.type,
        user_id=properties.user_id,
        app_id=properties.app_id,
        cluster_id=properties.cluster_id,
        body_size=len(body),
    )


def _java_date(seconds: int) -> str:
    # The poller is Java and serializes dates with Gson's default pattern: "Jan 1, 1970, 12:33:41 AM".
    moment = datetime.fromtimestamp(seconds, UTC)
    hour = moment.hour % 12 or 12
    meridiem = "AM" if moment.hour < 12 else "PM"
    month = _MONTHS[moment.month - 1]
    return f"{month} {moment.day}, {moment.year}, {hour}:{moment.minute:02d}:{moment.second:02d} {meridiem}"
