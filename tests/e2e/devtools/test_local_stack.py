"""`python -m devtools dev` end to end: the API under uvicorn, the queue bridge and the job ticker."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
CSV = b"Year,Total,Per Capita\n2018,10,1.2\n2019,11,1.3\n2020,12,1.4\n2021,13,1.5\n"


class _Source(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(CSV)))
        self.end_headers()
        self.wfile.write(CSV)

    def log_message(self, format: str, *args: Any) -> None:
        return


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def source_url() -> Iterator[str]:
    """A CSV served on loopback."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Source)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/emissions.csv"
    server.shutdown()


@pytest.fixture
def stack_env(mongodb_uri: str, amqp_url: str, database_name: str) -> dict[str, str]:
    """The environment of a developer's shell pointing the stack at the test services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RS_") and "GEMINI" not in k}
    env.update(
        RS_MONGODB_URI=mongodb_uri,
        RS_MONGODB_DATABASE=database_name,
        RS_AMQP_URL=amqp_url,
        RS_FETCH_ALLOWED_NETWORKS='["127.0.0.1/32"]',
        RS_DEV_TICK_SECONDS="1",
    )
    return env


def _call(method: str, url: str, *, key: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"X-API-Key": key})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _take_messages(amqp_url: str, resource_id: str) -> dict[str, int]:
    """Take the resource's messages off resource_data and collected_data (others are put back)."""
    import pika

    from shared.messaging.broker import declare_queues

    counts = {}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    for queue in ("resource_data", "collected_data"):
        declare_queues(channel, [queue])
        counts[queue], others = 0, []
        while True:
            method, _, body = channel.basic_get(queue)
            if method is None:
                break
            message = json.loads(body)
            if message.get("resource_id") == resource_id:
                channel.basic_ack(method.delivery_tag)
                counts[queue] += len(message.get("points", [None]))
            else:
                others.append(method.delivery_tag)
        for tag in others:
            channel.basic_nack(tag, requeue=True)
    connection.close()
    return counts


def test_dev_stack_turns_a_posted_resource_into_a_ready_wrapper_and_runs_it(
    stack_env: dict[str, str], source_url: str
) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "shared.cli.main", "api-key", "create", "--tenant", "acme", "--json"],
        env=stack_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
    )
    key = json.loads(created.stdout)["api_key"]
    port = _free_port()
    stack = subprocess.Popen(
        [sys.executable, "-m", "devtools", "dev", "--port", str(port)],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        status, resource = _call(
            "POST",
            f"{base}/resources",
            key=key,
            body={"name": "Total emissions", "unit": "Mt", "source": {"type": "csv", "url": source_url}},
        )
        assert status == 201, resource
        wrapper_url = f"{base}/wrappers/{resource['wrapper_id']}"
        wrapper: dict[str, Any] = {}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            _, wrapper = _call("GET", wrapper_url, key=key)
            # The ticker runs a ready once-mode wrapper within a second: ready may never be seen here.
            if wrapper.get("status") in ("completed", "failed", "error"):
                break
            time.sleep(0.5)
        assert wrapper.get("status") == "completed", wrapper
        assert wrapper["validation"]["summary"]["count"] == 4
        _, resource = _call("GET", f"{base}/resources/{resource['id']}", key=key)
        assert resource["startPeriod"].startswith("2018-01-01") and resource["endPeriod"].startswith(
            "2021-01-01"
        )
    finally:
        stack.terminate()
        output = stack.communicate(timeout=30)[0]
    assert f"wrapper {resource['wrapper_id']} generated" in output
    assert f"wrapper {resource['wrapper_id']} ready" in output
    ran = f"[job] wrapper {resource['wrapper_id']} completed (schedule; no window): 4 points (4 new"
    assert ran in output
    assert _take_messages(stack_env["RS_AMQP_URL"], resource["id"]) == {
        "resource_data": 4,
        "collected_data": 1,
    }
