"""Helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import copy
import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

EVENTS = Path(__file__).resolve().parents[1] / "infra" / "events"


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "test-function"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-central-1:123456789012:function:test-function"
    aws_request_id: str = ""

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())


class _FileHandler(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serve_files(files: dict[str, bytes]) -> Iterator[str]:
    """Serve `files` (path → bytes) on loopback; yield the base URL."""
    with serve_loopback(type("FileHandler", (_FileHandler,), {"files": files})) as base:
        yield base


@contextmanager
def serve_loopback(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run `handler` on a threaded HTTP server on a free loopback port; yield its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def take_message(
    channel: Any, queue: str, wrapper_id: str, *, timeout: float = 10.0
) -> tuple[Any, Any, bytes]:
    """Read the message about `wrapper_id` from a real queue; others are held unacked, then put back."""
    deadline = time.monotonic() + timeout
    held: list[int] = []
    try:
        while time.monotonic() < deadline:
            method, properties, body = channel.basic_get(queue)
            if method is None:
                time.sleep(0.1)
                continue
            if json.loads(body).get("wrapper_id") == wrapper_id:
                channel.basic_ack(method.delivery_tag)
                return method, properties, body
            held.append(method.delivery_tag)
    finally:
        for tag in held:
            channel.basic_nack(tag, requeue=True)
    raise AssertionError(f"no message for {wrapper_id} on {queue}")


def http_api_event(method: str, path: str, *, key: str, body: Any = None, query: str = "") -> dict[str, Any]:
    """A real-shaped API Gateway HTTP API (payload 2.0) event from infra/events, for the Mangum handler."""
    event = copy.deepcopy(json.loads((EVENTS / "api_create_resource.json").read_text()))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["headers"]["authorization"] = f"Bearer {key}"
    event["headers"].pop("idempotency-key", None)
    if body is None:
        event["body"] = None
        event["headers"].pop("content-length", None)
        event["headers"].pop("content-type", None)
    else:
        event["body"] = json.dumps(body)
        event["headers"]["content-length"] = str(len(event["body"]))
    return event
