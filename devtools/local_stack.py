"""`python -m devtools dev`: the API under uvicorn, a bridge from the RabbitMQ queues to the MQ handlers,
and the run_wrappers job ticking on an interval.

SAM cannot emulate Amazon MQ triggers, so the bridge consumes `wrapper_creation_queue` and
`wrapper_validation_queue` itself, wraps each message in a real-shaped Amazon MQ event and calls the
same Lambda handlers, acking only when a handler returns (a raised transient fault requeues it).
Nor can it emulate the EventBridge schedule: a second thread calls the job's tick every
`dev_tick_seconds`, as the scheduled container task would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from pika.exceptions import AMQPError

from shared.common.settings import Settings
from shared.messaging.broker import amqp_parameters, declare_queues
from shared.messaging.mq_event import build_rabbitmq_event
from shared.messaging.queues import WRAPPER_CREATION_QUEUE, WRAPPER_VALIDATION_QUEUE

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
Printer = Callable[[str], None]


@dataclass
class LocalLambdaContext:
    """The Lambda context attributes the handlers read, for local invocations."""

    function_name: str
    memory_limit_in_mb: int = 1769
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


def default_routes() -> dict[str, tuple[str, Handler]]:
    """Queue → (function name, handler) of the two MQ-triggered functions."""
    from functions.generate_wrapper.handler import handler as generate
    from functions.validate_wrapper.handler import handler as validate

    return {
        WRAPPER_CREATION_QUEUE: ("GenerateWrapperFunction", generate),
        WRAPPER_VALIDATION_QUEUE: ("ValidateWrapperFunction", validate),
    }


class QueueBridge:
    """Delivers queue messages to handlers one at a time, as the MQ trigger would (batch size 1)."""

    def __init__(
        self,
        settings: Settings,
        *,
        routes: dict[str, tuple[str, Handler]] | None = None,
        echo: Printer = print,
    ) -> None:
        self.settings = settings
        self.routes = routes or default_routes()
        self.echo = echo
        self._channel: BlockingChannel | None = None
        self._connection: pika.BlockingConnection | None = None

    def _open(self) -> BlockingChannel:
        if self._channel is None or self._channel.is_closed:
            self._connection = pika.BlockingConnection(amqp_parameters(self.settings))
            self._channel = self._connection.channel()
            declare_queues(self._channel)
        return self._channel

    def drain(self, *, max_messages: int = 1000) -> int:
        """Hand every waiting message to its handler; return how many were handled successfully."""
        handled = 0
        progress = True
        while progress and handled < max_messages:
            progress = False
            for queue, (name, handler) in self.routes.items():
                channel = self._open()
                method, properties, body = channel.basic_get(queue)
                if method is None:
                    continue
                progress = True
                event = build_rabbitmq_event(queue, [(method, properties, body)])
                try:
                    result = handler(event, LocalLambdaContext(function_name=name))
                except Exception as exc:  # report and requeue, as the trigger retries a failed batch
                    channel.basic_nack(method.delivery_tag, requeue=True)
                    self.echo(f"[bridge] {queue} → {name}: {type(exc).__name__}: {exc} (requeued)")
                    time.sleep(1.0)
                    continue
                channel.basic_ack(method.delivery_tag)
                handled += 1
                for outcome in result.get("outcomes", []):
                    detail = f" ({outcome['detail']})" if outcome.get("detail") else ""
                    what = f"wrapper {outcome['wrapper_id']} {outcome['action']}{detail}"
                    self.echo(f"[bridge] {queue} → {name}: {what}")
                for rejected in result.get("rejected", []):
                    self.echo(f"[bridge] {queue} → {name}: dropped malformed message {rejected}")
        return handled

    def run(self, stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
        """Drain the queues until `stop` is set, reconnecting after broker faults."""
        while not stop.is_set():
            try:
                self.drain()
            except AMQPError as exc:
                self.echo(f"[bridge] broker unavailable ({type(exc).__name__}); retrying in 5 s")
                self._channel = None
                stop.wait(5.0)
                continue
            stop.wait(poll_seconds)
        self.close()

    def close(self) -> None:
        """Close the bridge's connection."""
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        self._connection = None
        self._channel = None


class JobTicker:
    """Runs the run_wrappers job's tick every `dev_tick_seconds`, printing what each tick did."""

    def __init__(self, settings: Settings, *, echo: Printer = print) -> None:
        self.settings = settings
        self.echo = echo

    def tick_once(self) -> None:
        """One tick; a failed tick is reported, never raised (the next one tries again)."""
        from shared.common.errors import ResourceServiceError
        from shared.flows.tick import tick

        try:
            result = tick(self.settings)
        except ResourceServiceError as exc:
            self.echo(f"[job] tick failed: {exc}")
            return
        except Exception as exc:  # a dev stack keeps ticking after a bug, and says so
            self.echo(f"[job] tick crashed: {type(exc).__name__}: {exc}")
            return
        for line in result.lines():
            self.echo(f"[job] {line}")

    def run(self, stop: threading.Event) -> None:
        """Tick until `stop` is set."""
        while not stop.wait(self.settings.dev_tick_seconds):
            self.tick_once()


def run_dev(settings: Settings, *, host: str, port: int, echo: Printer = print) -> int:
    """Serve the API, bridge the queues and tick the job until interrupted."""
    import uvicorn

    from shared.messaging.broker import get_publisher
    from shared.store.database import ping

    if not ping(settings):
        echo("resource-service: error: MongoDB is not reachable at the configured RS_MONGODB_URI")
        return 3
    if not get_publisher(settings).ping():
        echo("resource-service: error: RabbitMQ is not reachable at the configured RS_AMQP_URL")
        return 3
    stop = threading.Event()
    bridge = QueueBridge(settings, echo=echo)
    worker = threading.Thread(target=bridge.run, args=(stop,), name="queue-bridge", daemon=True)
    worker.start()
    ticker = threading.Thread(
        target=JobTicker(settings, echo=echo).run, args=(stop,), name="job-ticker", daemon=True
    )
    ticker.start()
    echo(f"[dev] API on http://{host}:{port} (docs at /docs); bridging {', '.join(bridge.routes)}")
    echo(f"[dev] running due wrappers every {settings.dev_tick_seconds:g} s")
    try:
        uvicorn.run("functions.api.app:app", host=host, port=port, log_level="info")
    finally:
        stop.set()
        worker.join(10)
        ticker.join(30)
    return 0
