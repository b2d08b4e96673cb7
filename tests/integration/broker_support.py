"""A RabbitMQ virtual host of a test module's own, where the service's fixed queue names can be filled."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pika

ATTEMPTS = 3


def _rabbitmqctl(*args: str) -> None:
    # Concurrent rabbitmqctl runs (other suites on the machine) now and then fail to start their CLI node.
    for attempt in range(1, ATTEMPTS + 1):
        done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return
        if attempt == ATTEMPTS:
            raise RuntimeError(
                f"rabbitmqctl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
            )


@contextmanager
def private_vhost(amqp_url: str) -> Iterator[str]:
    """A fresh virtual host on the test broker for the URL's user, deleted afterwards; yields its URL."""
    parts = urlsplit(amqp_url)
    name = f"rs_test_{uuid.uuid4().hex[:10]}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, parts.username or "guest", ".*", ".*", ".*")
        yield urlunsplit((parts.scheme, parts.netloc, "/" + quote(name, safe=""), parts.query, ""))
    finally:
        _rabbitmqctl("delete_vhost", name)


def queue_arguments_on_broker(amqp_url: str, queue: str) -> str:
    """The arguments RabbitMQ keeps for a queue, as `rabbitmqctl list_queues` prints them."""
    vhost = pika.URLParameters(amqp_url).virtual_host
    listed = subprocess.run(
        ["rabbitmqctl", "list_queues", "-q", "--no-table-headers", "-p", vhost, "name", "arguments"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in listed.stdout.splitlines():
        name, _, arguments = line.partition("\t")
        if name == queue:
            return arguments
    raise AssertionError(f"no queue {queue!r} in vhost {vhost!r}")


def drain(channel: Any, queue: str) -> list[tuple[Any, pika.BasicProperties, bytes]]:
    """Take (and acknowledge) every message waiting in a queue."""
    taken = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return taken
        taken.append((method, properties, body))
