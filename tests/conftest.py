"""Fixtures for the real services: the MongoDB wire server and RabbitMQ the test command started."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECANTUS = sorted(ROOT.glob(".cache/secantusdb-*/bin/secantusd-py"))
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


@pytest.fixture(scope="session")
def mongodb_uri() -> Iterator[str]:
    """The URI of the MongoDB wire server: the test command's, or one started here from .cache."""
    uri = os.environ.get("RS_TEST_MONGODB_URI")
    if uri:
        yield uri
        return
    if not SECANTUS:
        pytest.fail(
            "no MongoDB wire server: run the suite with `make test` (it installs and starts SecantusDB)"
        )
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="rs-secantus-") as data:
        process = subprocess.Popen(
            [
                str(SECANTUS[-1]),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--storage-path",
                data,
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if not _wait_port(port, 60):
                pytest.fail("SecantusDB did not start")
            yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The URL of the RabbitMQ broker the test command made sure is running."""
    return os.environ.get("RS_TEST_AMQP_URL", DEFAULT_AMQP_URL)


@pytest.fixture
def database_name() -> str:
    """A database of its own for each test."""
    return f"rs_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def service_env(
    monkeypatch: pytest.MonkeyPatch, mongodb_uri: str, amqp_url: str, database_name: str
) -> Iterator[object]:
    """Settings read from the RS_* environment, pointed at this test's database and the test broker."""
    import contextlib

    from shared.common.settings import get_settings
    from shared.store.database import get_client

    monkeypatch.setenv("RS_MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("RS_MONGODB_DATABASE", database_name)
    monkeypatch.setenv("RS_AMQP_URL", amqp_url)
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    get_settings.cache_clear()
    with contextlib.suppress(Exception):  # best effort: the server may be gone already
        get_client(settings).drop_database(database_name)


@pytest.fixture
def amqp_channel(amqp_url: str) -> Iterator[object]:
    """A channel on the test broker, for declaring, purging and reading queues."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()
