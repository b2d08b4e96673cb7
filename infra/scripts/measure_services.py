"""The MongoDB the measurement scripts use: a given URI, or the pinned SecantusDB of .cache on a free port."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def secantus() -> Iterator[str]:
    """Start the pinned SecantusDB of .cache on a free port; yield its URI once it answers; stop it."""
    servers = sorted(ROOT.glob(".cache/secantusdb-*/bin/secantusd-py"))
    if not servers:
        sys.exit("no SecantusDB in .cache: run `make test` once, or pass --mongodb-uri")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rs-measure-") as data:
        command = [str(servers[-1]), "--host", "127.0.0.1", "--port", str(port)]
        command += ["--storage-path", data, "--log-level", "WARNING"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=60_000)
            client.admin.command("ping")
            client.close()
            yield uri
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def given(uri: str) -> Iterator[str]:
    """A server that is already running."""
    yield uri
