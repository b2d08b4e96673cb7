"""The confirm window: publishes in order with many messages awaiting their publisher confirm at once.

pika's BlockingChannel waits for each confirm before it sends the next message, so a confirmed publish
costs a round trip to the broker's disk. `ConfirmWindow` drives a `SelectConnection` (pika's public
asynchronous adapter) from the calling thread instead: up to `size` messages are sent ahead of their
confirms, and the broker acknowledges them, often many at once (`multiple`). What is reported is the
confirmed prefix: the first messages of the call confirmed with nothing before them unconfirmed, so a
caller that drops only what was reported never drops a message behind one still in doubt.

A return (mandatory, unroutable) or a nack stops the sending; the messages in flight are waited for, so
the prefix is every message confirmed before the refused one, and the error names the refused message
(pika's `UnroutableError` or `NackError`, as a BlockingChannel raises them). A lost connection raises
pika's connection error; the window is then unusable and the caller opens another. Messages after a
refused or lost one may have reached the queue already: they were not reported, so a caller sends them
again, under the same message ids (at least once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Any, NamedTuple

import pika
from pika.adapters.blocking_connection import ReturnedMessage
from pika.adapters.select_connection import IOLoop
from pika.adapters.utils import connection_workflow
from pika.channel import Channel
from pika.connection import Connection, Parameters
from pika.exceptions import (
    AMQPChannelError,
    AMQPConnectionError,
    AMQPError,
    ChannelClosedByBroker,
    ConnectionWrongStateError,
    NackError,
    UnroutableError,
)
from pika.frame import Method
from pika.spec import Basic


class WindowMessage(NamedTuple):
    """A message as the window sends it: its body and its properties (message id included)."""

    body: bytes
    properties: pika.BasicProperties


class ConfirmWindow:
    """One connection and confirm-mode channel, with up to `size` published messages awaiting their confirm.

    Not thread-safe: one thread uses a window at a time (the publisher's pool slots ensure it).
    """

    def __init__(self, parameters: Parameters, *, size: int) -> None:
        if size < 1:
            raise ValueError("the confirm window size must be at least 1")
        self.size = size
        self._ioloop = IOLoop()
        self._connection_error: BaseException | None = None
        self._channel: Channel | None = None
        self._channel_error: BaseException | None = None
        # Delivery tags of the channel: the last one published, those awaiting a confirm, those refused.
        self._tag = 0
        self._outstanding: dict[int, str | None] = {}
        self._refused: dict[int, AMQPChannelError] = {}
        self._ioloop.activate_poller()
        try:
            self._connection = self._connect(parameters)
            self.open_channel()
        except BaseException:
            self.close()
            raise

    @property
    def is_open(self) -> bool:
        """Whether the connection and the channel are open and usable."""
        return (
            self._connection_error is None
            and self._channel_error is None
            and self._connection.is_open
            and self._channel is not None
            and self._channel.is_open
        )

    def open_channel(self) -> None:
        """Open a fresh confirm-mode channel (after the broker closed the previous one)."""
        self._raise_if_disconnected()
        opened: list[Channel] = []
        self._channel_error = None
        self._connection.channel(on_open_callback=opened.append)
        self._run_until(lambda: bool(opened))
        channel = opened[0]
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        self._channel = channel
        self._tag = 0
        self._outstanding.clear()
        self._refused.clear()
        selected: list[Method] = []
        channel.confirm_delivery(self._on_confirm, callback=selected.append)
        self._run_until(lambda: bool(selected))

    def queue_declare(self, queue: str, *, durable: bool, arguments: Mapping[str, Any] | None = None) -> None:
        """Declare a queue; ChannelClosedByBroker when the broker refuses (the channel is then closed)."""
        channel = self._open()
        declared: list[Method] = []
        channel.queue_declare(
            queue, durable=durable, arguments=dict(arguments) if arguments else None, callback=declared.append
        )
        self._run_until(lambda: bool(declared))

    def publish(
        self, queue: str, messages: Sequence[WindowMessage], *, on_confirmed: Callable[[int], None]
    ) -> None:
        """Publish in order, mandatory, at most `size` unconfirmed; on_confirmed(n) as the prefix grows."""
        channel = self._open()
        # Every message of an earlier call was settled before it returned: its refusals are reported.
        self._refused.clear()
        first = self._tag + 1
        reported = 0
        sent = 0
        while True:
            while sent < len(messages) and len(self._outstanding) < self.size and self._sending():
                message = messages[sent]
                channel.basic_publish(
                    exchange="",
                    routing_key=queue,
                    body=message.body,
                    properties=message.properties,
                    mandatory=True,
                )
                self._tag += 1
                self._outstanding[self._tag] = message.properties.message_id
                sent += 1
            confirmed = self._confirmed_through() - first + 1
            if confirmed > reported:
                reported = confirmed
                on_confirmed(confirmed)
            if not self._outstanding and (sent == len(messages) or self._refused):
                break
            if self._connection_error is not None or self._channel_error is not None:
                break
            self._poll()
        if self._refused:
            raise self._refused[min(self._refused)]
        self._raise_if_lost()

    def probe(self) -> None:
        """Read what the broker sent meanwhile without waiting, so that a dropped connection shows."""
        if self._connection_error is None:
            self._ioloop.call_later(0, lambda: None)
            self._poll()

    def close(self) -> None:
        """Close the connection if still open and release the I/O loop."""
        connection = getattr(self, "_connection", None)
        if connection is not None and connection.is_open:
            with suppress(AMQPError, OSError):
                connection.close()
                self._run_until(lambda: connection.is_closed, raise_lost=False)
        self._ioloop.close()

    def _connect(self, parameters: Parameters) -> Connection:
        done: list[Any] = []
        pika.SelectConnection.create_connection([parameters], on_done=done.append, custom_ioloop=self._ioloop)
        while not done:
            self._poll()
        result = done[0]
        if isinstance(result, BaseException):
            raise _connection_failure(result)
        result.add_on_close_callback(self._on_connection_closed)
        return result

    def _open(self) -> Channel:
        self._raise_if_lost()
        if self._channel is None:
            raise AMQPChannelError("the confirm window has no open channel")
        return self._channel

    def _sending(self) -> bool:
        """Whether another message may go: nothing refused, the channel and the connection up."""
        return not self._refused and self._connection_error is None and self._channel_error is None

    def _confirmed_through(self) -> int:
        """The last delivery tag with it and every tag before it confirmed."""
        pending = [*self._outstanding, *self._refused]
        return min(pending) - 1 if pending else self._tag

    def _on_confirm(self, frame: Method) -> None:
        method = frame.method
        tag = method.delivery_tag
        tags = [t for t in self._outstanding if t <= tag] if method.multiple else [tag]
        for settled in tags:
            message_id = self._outstanding.pop(settled, None)
            if isinstance(method, Basic.Nack) and settled not in self._refused:
                properties = pika.BasicProperties(message_id=message_id)
                self._refused[settled] = NackError([ReturnedMessage(method, properties, b"")])

    def _on_return(self, _channel: Channel, method: Basic.Return, properties: Any, body: bytes) -> None:
        # A return carries no delivery tag; it comes before its message's confirm, in publish order, so it
        # is the first unconfirmed message of that id not already returned.
        for tag, message_id in sorted(self._outstanding.items()):
            if message_id == properties.message_id and tag not in self._refused:
                self._refused[tag] = UnroutableError([ReturnedMessage(method, properties, body)])
                return

    def _on_channel_closed(self, _channel: Channel, reason: BaseException) -> None:
        self._channel_error = reason
        self._channel = None

    def _on_connection_closed(self, _connection: Connection, reason: BaseException) -> None:
        self._connection_error = (
            reason if isinstance(reason, AMQPConnectionError) else AMQPConnectionError(reason)
        )

    def _run_until(self, done: Callable[[], bool], *, raise_lost: bool = True) -> None:
        while not done():
            if self._connection_error is not None or self._channel_error is not None:
                if raise_lost:
                    self._raise_if_lost()
                return
            self._poll()

    def _poll(self) -> None:
        self._ioloop.poll()
        self._ioloop.process_timeouts()

    def _raise_if_disconnected(self) -> None:
        if self._connection_error is not None:
            raise self._connection_error
        if self._connection.is_closed:
            raise ConnectionWrongStateError("the confirm window's connection is closed")

    def _raise_if_lost(self) -> None:
        self._raise_if_disconnected()
        if self._channel_error is not None:
            error = self._channel_error
            if isinstance(error, ChannelClosedByBroker):
                raise error
            raise AMQPChannelError(f"the confirm window's channel closed: {error!r}")


def _connection_failure(error: BaseException) -> BaseException:
    """The error of a failed connection attempt, as BlockingConnection raises it."""
    if isinstance(error, connection_workflow.AMQPConnectionWorkflowFailed):
        error = error.exceptions[-1]
        if isinstance(error, connection_workflow.AMQPConnectorSocketConnectError):
            return AMQPConnectionError(error)
        if isinstance(error, connection_workflow.AMQPConnectorPhaseErrorBase):
            error = error.exception
    return error if isinstance(error, AMQPError) else AMQPConnectionError(error)
