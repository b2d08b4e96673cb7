"""The RabbitMQ publisher: durable queues, publisher confirms, persistent messages and stable message ids."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import queue as queues
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import (
    AMQPChannelError,
    AMQPConnectionError,
    AMQPError,
    AuthenticationError,
    ChannelClosedByBroker,
    NackError,
    ProbableAccessDeniedError,
    ProbableAuthenticationError,
    UnroutableError,
)
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_serializer
from pydantic_core import to_jsonable_python

from shared.common.errors import (
    BrokerError,
    BrokerUnavailableError,
    QueueArgumentsError,
    SecretUnavailableError,
)
from shared.common.secrets import clear_secret_cache, read_secret_document
from shared.common.settings import Settings, get_settings
from shared.messaging.confirm_window import ConfirmWindow, WindowMessage
from shared.messaging.queues import (
    COLLECTED_DATA_QUEUE,
    QUEUES,
    RESOURCE_DATA_QUEUE,
    dead_letter_queue,
    queue_arguments,
)
from shared.points.point import Point

logger = logging.getLogger(__name__)


CONTENT_TYPE = "application/json"
APP_ID = "resource-service"
PERSISTENT = pika.DeliveryMode.Persistent.value
AUTHENTICATION_ERRORS = (AuthenticationError, ProbableAuthenticationError, ProbableAccessDeniedError)
PRECONDITION_FAILED = 406
# A connection that confirmed a publish this recently is not probed before the next one: the probe is for
# pooled or frozen connections idle far longer, and costs a poll of the socket per message.
PROBE_IDLE_SECONDS = 1.0

HeaderValue = str | int | float | bool
Payload = Mapping[str, Any] | BaseModel


class WrapperMessage(BaseModel):
    """Message of `wrapper_creation_queue` and `wrapper_validation_queue`."""

    wrapper_id: str
    # The API request that caused the message; absent (not null) without one, so bodies stay as they were.
    correlation_id: str | None = Field(default=None, exclude_if=lambda value: value is None)


class ResourceDataMessage(BaseModel):
    """Message of `resource_data`: one batch of a resource's points."""

    resource_id: str
    points: list[Point]

    @field_serializer("points")
    def _wire_points(self, points: list[Point]) -> list[dict[str, object]]:
        return [point.in_utc().to_wire() for point in points]


class ResourceDeletedMessage(BaseModel):
    """Message of `resource_deleted`."""

    resource_id: str
    wrapper_id: str | None = None


class CollectedDataMessage(BaseModel):
    """Message of `collected_data`: raw fetched bytes, cut at `collected_data_max_bytes`."""

    resource_id: str
    wrapper_id: str | None = None
    content_type: str | None = None
    size: int
    sha256: str
    truncated: bool
    data_base64: str

    def data(self) -> bytes:
        """Return the (possibly truncated) raw bytes."""
        return base64.b64decode(self.data_base64)


def collected_data(
    resource_id: str,
    raw: bytes,
    *,
    limit: int,
    content_type: str | None = None,
    wrapper_id: str | None = None,
) -> CollectedDataMessage:
    """The `collected_data` message of raw fetched bytes: their size, their hash and their first `limit`."""
    return CollectedDataMessage(
        resource_id=resource_id,
        wrapper_id=wrapper_id,
        content_type=content_type,
        size=len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        truncated=len(raw) > limit,
        data_base64=base64.b64encode(raw[:limit]).decode("ascii"),
    )


class BrokerCredentials(BaseModel):
    """The Amazon MQ user stored in Secrets Manager."""

    username: str
    password: SecretStr


def declare_queues(
    channel: BlockingChannel | ConfirmWindow,
    queue_names: Iterable[str] = QUEUES,
    *,
    settings: Settings | None = None,
) -> None:
    """Declare queues durable with their arguments, each dead-letter target first; a no-op when they exist.

    A queue that exists with other arguments closes the channel (PRECONDITION_FAILED): that is raised as
    QueueArgumentsError, naming the queue, the difference and the migration.
    """
    settings = settings or get_settings()
    for name in _with_dead_letter_targets(queue_names, settings):
        declare_queue(channel, name, settings=settings)


def declare_queue(channel: BlockingChannel | ConfirmWindow, name: str, *, settings: Settings) -> None:
    """Declare one queue durable with its arguments (QueueArgumentsError when it exists with others)."""
    try:
        channel.queue_declare(queue=name, durable=True, arguments=queue_arguments(name, settings) or None)
    except ChannelClosedByBroker as error:
        # Only an optional argument (x-…) may differ for the queue to take messages as it is; a queue of
        # another durability is a conflict the publish must report.
        if error.reply_code != PRECONDITION_FAILED or "inequivalent arg 'x-" not in str(error.reply_text):
            raise
        raise QueueArgumentsError(
            f"queue {name!r} exists with other arguments than this version declares ({error.reply_text}); "
            f"a queue's arguments cannot change in place: migrate it with "
            f"`resource-service messages migrate {name}` (README, Queue limits)"
        ) from error


def _with_dead_letter_targets(queue_names: Iterable[str], settings: Settings) -> list[str]:
    # A dead letter routed to a queue that does not exist yet is dropped: declare the target first.
    ordered: list[str] = []
    for name in queue_names:
        target = dead_letter_queue(queue_arguments(name, settings))
        for item in (target, name):
            if item is not None and item not in ordered:
                ordered.append(item)
    return ordered


def encode_payload(payload: Payload) -> bytes:
    """Serialize a payload as canonical JSON (sorted keys, no spaces, UTF-8)."""
    if isinstance(payload, ResourceDataMessage):
        return encode_points(payload.resource_id, payload.points)
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else to_jsonable_python(payload)
    return _canonical_json(data).encode()


def _canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_points(resource_id: str, points: Sequence[Point]) -> bytes:
    """The body of one `resource_data` message: canonical JSON like `encode_payload`, in one C call."""
    import orjson  # imported here: the API function publishes no points and need not load it

    # A Point's __dict__ is its field dict (timestamp, value, dimensions); orjson writes a UTC datetime with
    # a `Z` and a float as its shortest repr, the same text json.dumps and format_timestamp give.
    fields = [
        vars(point.in_utc() if type(point) is Point else Point.model_validate(point).in_utc())
        for point in points
    ]
    body = orjson.dumps(
        {"points": fields, "resource_id": resource_id},
        option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC,
    )
    # orjson writes a value that is not finite as null (only a Point built unvalidated holds one); inside
    # a JSON string the quotes would be escaped, so this text can only be such a value.
    if b'"value":null' in body:
        raise ValueError("a point value is not a finite number")
    return body


def _point_bodies(resource_id: str, points: Sequence[Point], *, batch_size: int) -> Iterator[bytes]:
    """Each batch's body, encoded as the batch's turn comes."""
    for start in range(0, len(points), batch_size):
        yield encode_points(resource_id, points[start : start + batch_size])


def points_message_id(resource_id: str, body: bytes) -> str:
    """The id of a `resource_data` body published without an id prefix: the resource and a body digest."""
    return f"{resource_id}:{hashlib.sha256(body).hexdigest()[:32]}"


def points_headers(resource_id: str, *, index: int, count: int) -> dict[str, HeaderValue]:
    """The headers of batch `index` of `count` published from one call."""
    return {"resource_id": resource_id, "batch_index": index, "batch_count": count}


def message_id_for(queue: str, body: bytes) -> str:
    """Derive a stable message id from the queue and the canonical body, so duplicates share an id."""
    return hashlib.sha256(queue.encode() + b"\n" + body).hexdigest()


def fetch_broker_credentials(secret_arn: str, *, max_age_seconds: int) -> BrokerCredentials:
    """Read {"username", "password"} from a Secrets Manager secret, read again once older than max age."""
    try:
        document = read_secret_document(secret_arn, max_age_seconds=max_age_seconds)
    except SecretUnavailableError as error:
        raise BrokerUnavailableError(f"cannot read broker secret {secret_arn}: {error}") from error
    try:
        return BrokerCredentials.model_validate(document)
    except ValidationError as error:
        raise BrokerUnavailableError(
            f"broker secret {secret_arn} must hold JSON with 'username' and 'password'"
        ) from error


def amqp_parameters(settings: Settings) -> pika.URLParameters:
    """Build connection parameters from the URL, with credentials from Secrets Manager when an ARN is set."""
    parameters = pika.URLParameters(settings.amqp_url.get_secret_value())
    if settings.amqp_secret_arn:
        credentials = fetch_broker_credentials(
            settings.amqp_secret_arn, max_age_seconds=settings.service_secret_max_age_seconds
        )
        parameters.credentials = pika.PlainCredentials(
            credentials.username, credentials.password.get_secret_value()
        )
    # The publisher owns the retry policy; pika's own attempts would multiply it.
    parameters.connection_attempts = 1
    # A broker under a resource alarm blocks publishers and withholds confirms: give up instead of hanging.
    if parameters.blocked_connection_timeout is None:
        parameters.blocked_connection_timeout = settings.broker_confirm_timeout_seconds
    return parameters


# What the publisher declares its queues on: a channel of its blocking connection, or its confirm window.
_Declarer = TypeVar("_Declarer", BlockingChannel, ConfirmWindow)


class OutgoingMessage(NamedTuple):
    """A message to publish: its id, its body as sent, its headers."""

    message_id: str
    body: bytes
    headers: Mapping[str, Any] | None


class _Slot:
    """A connection with its confirm-mode channel, and a confirm window opened on first use; one thread's."""

    def __init__(self) -> None:
        self.connection: pika.BlockingConnection | None = None
        self.channel: BlockingChannel | None = None
        # When the connection last confirmed a publish (time.monotonic()).
        self.confirmed_at = -math.inf
        self.window: ConfirmWindow | None = None
        self.window_confirmed_at = -math.inf

    def reset(self) -> None:
        """Close the connection if still open and forget it, and the window's."""
        connection, self.connection, self.channel = self.connection, None, None
        self.confirmed_at = -math.inf
        if connection is not None and connection.is_open:
            with suppress(AMQPError, OSError):
                connection.close()
        self.reset_window()

    def reset_window(self) -> None:
        """Close the confirm window's connection if still open and forget it."""
        window, self.window = self.window, None
        self.window_confirmed_at = -math.inf
        if window is not None:
            with suppress(AMQPError, OSError):
                window.close()


class Publisher:
    """Publishes JSON messages to RabbitMQ with publisher confirms and persistent delivery.

    Thread safety: pika's BlockingConnection is not thread-safe, so the pool holds
    `broker_channel_pool_size` slots, each one connection with one confirm-mode channel, in a
    `queue.LifoQueue`. A thread checks a slot out, uses it alone, and puts it back; the queue hand-off
    orders the threads' use of a connection, so no connection or channel is ever touched by two
    threads at once, and at most pool-size connections exist. Slots connect lazily on first use, and
    LIFO order reuses the warm connection first, so a single-threaded Lambda holds one connection.

    Reconnects: connection errors are retried (reconnect, then publish again) with capped
    exponential backoff up to `broker_connect_attempts`, then BrokerUnavailableError. A publish
    retried after a lost connection may reach the broker twice; the stable message id lets
    consumers drop the duplicate. Channel-level refusals (unroutable, nacked, channel closed by the
    broker) are never retried: they raise BrokerError naming the queue. pika has no per-publish
    confirm timeout; `broker_confirm_timeout_seconds` bounds the wait for a free slot and, as pika's
    blocked-connection timeout, a broker that withholds confirms under a resource alarm.

    `publish_window` sends through the slot's ConfirmWindow (a second connection, opened on first use)
    with the same properties, declarations, retries and errors, many messages awaiting their confirm.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        queue_names: Sequence[str] = QUEUES,
        connection_name: str = APP_ID,
    ) -> None:
        self.settings = settings
        self._queue_names = tuple(queue_names)
        self._connection_name = connection_name
        self._parameters: pika.URLParameters | None = None
        self._parameters_lock = threading.Lock()
        self._closed = False
        self._slots: queues.LifoQueue[_Slot] = queues.LifoQueue()
        for _ in range(max(1, settings.broker_channel_pool_size)):
            self._slots.put(_Slot())

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def publish(
        self,
        queue: str,
        payload: Payload,
        *,
        message_id: str | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
    ) -> str:
        """Publish one JSON message and wait for the broker's confirm; return its message id."""
        body = encode_payload(payload)
        message = OutgoingMessage(message_id or message_id_for(queue, body), body, headers)
        self._send(queue, [message])
        return message.message_id

    def publish_body(
        self, queue: str, body: bytes, *, message_id: str, headers: Mapping[str, Any] | None = None
    ) -> str:
        """Publish bytes as they are (a parked message is kept byte for byte), confirmed; return its id."""
        self._send(queue, [OutgoingMessage(message_id, body, headers)])
        return message_id

    def publish_window(
        self,
        queue: str,
        messages: Sequence[OutgoingMessage],
        *,
        on_confirmed: Callable[[int], None],
    ) -> None:
        """Publish bodies as they are, in order, many awaiting their confirm at once (see ConfirmWindow).

        `on_confirmed(n)` is called whenever the first n messages are confirmed, before anything later is
        reported. A refusal (unroutable, nacked) raises BrokerError once the messages in flight are
        settled; a lost connection is retried like every publish, from the first unconfirmed message.
        """
        if messages:
            with self._checkout() as slot:
                self._window_on(slot, queue, messages, on_confirmed=on_confirmed)

    def publish_many(self, queue: str, payloads: Iterable[Payload]) -> list[str]:
        """Publish several JSON messages on one checked-out channel, each confirmed; return their ids."""
        messages = []
        for payload in payloads:
            body = encode_payload(payload)
            messages.append(OutgoingMessage(message_id_for(queue, body), body, None))
        self._send(queue, messages)
        return [message.message_id for message in messages]

    def publish_points(
        self,
        resource_id: str,
        points: Sequence[Point],
        *,
        batch_size: int = 1000,
        message_id_prefix: str | None = None,
        queue: str = RESOURCE_DATA_QUEUE,
    ) -> list[str]:
        """Publish points in batches of at most `batch_size`, each confirmed; return the message ids.

        The ids are `{prefix}:{index}`, or without a prefix `{resource_id}:{digest of the batch}`, so the
        same batch published again carries the same id either way.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not points:
            return []
        count = math.ceil(len(points) / batch_size)
        ids: list[str] = []
        with self._checkout() as slot:
            for index, body in enumerate(_point_bodies(resource_id, points, batch_size=batch_size)):
                message_id = (
                    f"{message_id_prefix}:{index}"
                    if message_id_prefix
                    else points_message_id(resource_id, body)
                )
                headers = points_headers(resource_id, index=index, count=count)
                self._publish_on(slot, queue, OutgoingMessage(message_id, body, headers))
                ids.append(message_id)
        return ids

    def publish_collected(
        self,
        resource_id: str,
        raw: bytes,
        *,
        content_type: str | None = None,
        wrapper_id: str | None = None,
        message_id: str | None = None,
        queue: str = COLLECTED_DATA_QUEUE,
    ) -> str:
        """Publish raw fetched bytes, cut at `collected_data_max_bytes` and flagged `truncated`."""
        message = collected_data(
            resource_id,
            raw,
            limit=self.settings.collected_data_max_bytes,
            content_type=content_type,
            wrapper_id=wrapper_id,
        )
        return self.publish(queue, message, message_id=message_id)

    def ping(self) -> bool:
        """Return whether the broker answers now (one connection attempt, no backoff)."""
        try:
            with self._checkout() as slot:
                self._channel(slot)
            return True
        except (BrokerError, AMQPError, OSError) as error:
            logger.warning("broker ping failed: %s", _describe(error))
            return False

    def close(self) -> None:
        """Close every idle connection; connections in use are closed when their thread puts them back."""
        self._closed = True
        idle = []
        while True:
            try:
                slot = self._slots.get_nowait()
            except queues.Empty:
                break
            slot.reset()
            idle.append(slot)
        for slot in idle:
            self._slots.put(slot)

    def _send(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        with self._checkout() as slot:
            for message in messages:
                self._publish_on(slot, queue, message)

    @contextmanager
    def _checkout(self) -> Iterator[_Slot]:
        if self._closed:
            raise BrokerError("the publisher is closed")
        wait = self.settings.broker_confirm_timeout_seconds
        try:
            slot = self._slots.get(timeout=wait)
        except queues.Empty:
            raise BrokerError(f"no broker channel became free within {wait:g}s") from None
        try:
            self._probe(slot)
            yield slot
        except BrokerError:
            raise
        except BaseException:
            # Interrupted mid-frame: the connection's state is unknown, never hand it to another thread.
            slot.reset()
            raise
        finally:
            if self._closed:
                slot.reset()
            self._slots.put(slot)

    def _probe(self, slot: _Slot) -> None:
        # A pooled or frozen (Lambda) connection sends no heartbeats and may have been dropped by the
        # broker meanwhile; servicing it once notices that before a publish is attempted on it.
        if slot.connection is None or time.monotonic() - slot.confirmed_at < PROBE_IDLE_SECONDS:
            return
        if not slot.connection.is_open:
            slot.reset()
            return
        try:
            slot.connection.process_data_events(time_limit=0)
        except Exception as error:
            logger.info("dropping a stale broker connection: %s", _describe(error))
            slot.reset()

    def _channel(self, slot: _Slot) -> BlockingChannel:
        if slot.connection is None or not slot.connection.is_open:
            slot.reset()
            slot.connection = pika.BlockingConnection(self._connection_parameters())
        if slot.channel is None or not slot.channel.is_open:
            channel = self._declared_channel(slot.connection)
            channel.confirm_delivery()
            slot.channel = channel
        return slot.channel

    def _declared_channel(self, connection: pika.BlockingConnection) -> BlockingChannel:
        """A channel on which every queue of the publisher was declared, or found declared otherwise."""
        return self._declare_queues(connection.channel(), reopen=connection.channel)

    def _declare_queues(self, channel: _Declarer, *, reopen: Callable[[], _Declarer]) -> _Declarer:
        """Declare every queue of the publisher on `channel`; return the channel to publish on.

        A queue that exists with other arguments closes the channel: `reopen` gives the one to go on with.
        """
        for name in _with_dead_letter_targets(self._queue_names, self.settings):
            try:
                declare_queue(channel, name, settings=self.settings)
            except QueueArgumentsError as error:
                # The queue exists and takes messages as it is: keep publishing, and say loudly what to do.
                logger.error("%s", error)
                channel = reopen()
        return channel

    def _publish_on(self, slot: _Slot, queue: str, message: OutgoingMessage) -> None:
        properties = _properties(message)
        attempts = max(1, self.settings.broker_connect_attempts)
        for attempt in range(1, attempts + 1):
            try:
                channel = self._channel(slot)
                channel.basic_publish(
                    exchange="", routing_key=queue, body=message.body, properties=properties, mandatory=True
                )
                slot.confirmed_at = time.monotonic()
                return
            except AUTHENTICATION_ERRORS as error:
                slot.reset()
                raise self._credentials_refused(error) from error
            except AMQPConnectionError as error:
                slot.reset()
                self._wait_to_retry(error, attempt=attempt, attempts=attempts, queue=queue)
            except (UnroutableError, NackError) as error:
                raise _refusal(error, queue=queue, message_id=message.message_id) from error
            except AMQPChannelError as error:
                slot.channel = None
                raise _refusal(error, queue=queue, message_id=message.message_id) from error

    def _window_on(
        self,
        slot: _Slot,
        queue: str,
        messages: Sequence[OutgoingMessage],
        *,
        on_confirmed: Callable[[int], None],
    ) -> None:
        """Publish through the slot's confirm window; the retries and errors are those of `_publish_on`."""
        ready = [WindowMessage(message.body, _properties(message)) for message in messages]
        confirmed = 0

        def advance(count: int) -> None:
            nonlocal confirmed
            confirmed = start + count
            on_confirmed(confirmed)

        attempts = max(1, self.settings.broker_connect_attempts)
        attempt = 1
        while True:
            start = confirmed
            try:
                window = self._window(slot)
                window.publish(queue, ready[start:], on_confirmed=advance)
                slot.window_confirmed_at = time.monotonic()
                return
            except AUTHENTICATION_ERRORS as error:
                slot.reset_window()
                raise self._credentials_refused(error) from error
            except AMQPConnectionError as error:
                slot.reset_window()
                # As `_publish_on` counts per message: a confirm since the last failure restarts the count.
                attempt = 1 if confirmed > start else attempt
                self._wait_to_retry(error, attempt=attempt, attempts=attempts, queue=queue)
                attempt += 1
            except (UnroutableError, NackError) as error:
                raise _refusal(error, queue=queue, message_id=_refused_id(error)) from error
            except AMQPChannelError as error:
                slot.reset_window()
                raise _refusal(error, queue=queue, message_id="?") from error

    def _credentials_refused(self, error: BaseException) -> BrokerUnavailableError:
        """The error of a broker that refused the credentials, which are read afresh next time."""
        self._forget_parameters()
        return BrokerUnavailableError(
            f"RabbitMQ at {self._where()} refused the credentials: {_describe(error)}"
        )

    def _wait_to_retry(self, error: BaseException, *, attempt: int, attempts: int, queue: str) -> None:
        """Back off before the next attempt after a lost connection; BrokerUnavailableError after the last."""
        if attempt == attempts:
            raise BrokerUnavailableError(
                f"RabbitMQ at {self._where()} unreachable after {attempts} attempts "
                f"(publishing to queue {queue!r}): {_describe(error)}"
            ) from error
        delay = self._backoff(attempt)
        logger.warning(
            "broker connection failed (attempt %d of %d), retrying in %.2fs: %s",
            attempt,
            attempts,
            delay,
            _describe(error),
        )
        time.sleep(delay)

    def _window(self, slot: _Slot) -> ConfirmWindow:
        """The slot's confirm window: probed when idle, opened with the publisher's queues declared."""
        window = slot.window
        if window is not None and time.monotonic() - slot.window_confirmed_at >= PROBE_IDLE_SECONDS:
            try:
                window.probe()
            except Exception as error:
                logger.info("dropping a stale broker connection: %s", _describe(error))
            if not window.is_open:
                slot.reset_window()
        if slot.window is None:
            window = ConfirmWindow(self._connection_parameters(), size=self.settings.broker_confirm_window)

            def reopen() -> ConfirmWindow:
                window.open_channel()
                return window

            try:
                self._declare_queues(window, reopen=reopen)
            except BaseException:
                window.close()
                raise
            slot.window = window
        return slot.window

    def _backoff(self, attempt: int) -> float:
        base = self.settings.broker_backoff_seconds * 2 ** (attempt - 1)
        delay = min(base, self.settings.broker_backoff_max_seconds)
        # Jitter spreads the reconnects of many warm functions after a broker restart.
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography

    def _connection_parameters(self) -> pika.URLParameters:
        with self._parameters_lock:
            if self._parameters is None:
                parameters = amqp_parameters(self.settings)
                parameters.client_properties = {"connection_name": self._connection_name}
                self._parameters = parameters
            return self._parameters

    def _forget_parameters(self) -> None:
        # Credentials may have been rotated: read the secret again on the next connection.
        with self._parameters_lock:
            self._parameters = None
        clear_secret_cache()

    def _where(self) -> str:
        parameters = pika.URLParameters(self.settings.amqp_url.get_secret_value())
        return f"{parameters.host}:{parameters.port} vhost {parameters.virtual_host!r}"


def _properties(message: OutgoingMessage) -> pika.BasicProperties:
    """The properties of every message the publisher sends: JSON, persistent, its id and headers."""
    return pika.BasicProperties(
        content_type=CONTENT_TYPE,
        delivery_mode=PERSISTENT,
        message_id=message.message_id,
        timestamp=int(time.time()),
        app_id=APP_ID,
        headers=dict(message.headers) if message.headers else None,
    )


def _refusal(error: AMQPChannelError, *, queue: str, message_id: str) -> BrokerError:
    """The error of a message the broker refused: returned as unroutable, nacked, or its channel closed."""
    if isinstance(error, UnroutableError):
        return BrokerError(
            f"RabbitMQ returned message {message_id} as unroutable: queue {queue!r} does not exist"
        )
    if isinstance(error, NackError):
        return BrokerError(
            f"RabbitMQ refused (nacked) message {message_id} for queue {queue!r}; "
            "the queue may be full or the broker out of resources"
        )
    if isinstance(error, ChannelClosedByBroker):
        return BrokerError(
            f"RabbitMQ closed the channel while publishing to queue {queue!r}: "
            f"{error.reply_code} {error.reply_text}"
        )
    return BrokerError(f"channel error while publishing to queue {queue!r}: {_describe(error)}")


def _refused_id(error: UnroutableError | NackError) -> str:
    """The message id of the first message a refusal names."""
    return str(error.messages[0].properties.message_id) if error.messages else "?"


def _describe(error: BaseException) -> str:
    name = type(error).__name__
    text = str(error) or repr(error)
    return text if text.startswith(name) else f"{name}: {text}"


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def get_publisher(settings: Settings | None = None) -> Publisher:
    """Return the process-wide publisher (created lazily, reused by warm Lambda invocations)."""
    global _publisher
    settings = settings or get_settings()
    with _publisher_lock:
        if _publisher is None or _publisher.closed or _publisher.settings != settings:
            if _publisher is not None:
                _publisher.close()
            _publisher = Publisher(settings)
        return _publisher
