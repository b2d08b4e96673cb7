"""`resource-service dev` end to end: the API under uvicorn and the queue bridge, as a developer runs them."""

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

ROOT = Path(__file__).resolve().parents[2]
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


def test_dev_stack_turns_a_posted_resource_into_a_ready_wrapper(
    stack_env: dict[str, str], source_url: str
) -> None:
    created = subprocess.run(
        [sys.executable, "-m", "shared.cli", "api-key", "create", "--tenant", "acme", "--json"],
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
        [sys.executable, "-m", "shared.cli", "dev", "--port", str(port)],
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
            if wrapper.get("status") in ("ready", "failed"):
                break
            time.sleep(0.5)
        assert wrapper.get("status") == "ready", wrapper
        assert wrapper["validation"]["summary"]["count"] == 4
    finally:
        stack.terminate()
        output = stack.communicate(timeout=30)[0]
    assert f"wrapper {resource['wrapper_id']} generated" in output
    assert f"wrapper {resource['wrapper_id']} ready" in output
