"""Fixtures of the console's browser tests: the API under uvicorn, the queue workers and the job, Chromium."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import expect

from shared.common.settings import Settings, get_settings
from tests.integration.api.support import use_env

ROOT = Path(__file__).resolve().parents[4]
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium, headless, with nothing of its own reaching out (no updates, sync, QUIC or GPU).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def artifacts_dir() -> Path:
    """Where screenshots and measurements go: $RS_TEST_ARTIFACTS, else .artifacts/ (git-ignored)."""
    path = Path(os.environ.get("RS_TEST_ARTIFACTS") or ROOT / ".artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def console_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The service settings with loopback sources allowed, no Gemini key and a fast job tick."""
    for name in ("RS_GEMINI_API_KEY", "GEMINI_API_KEY", "RS_GEMINI_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    return use_env(monkeypatch, fetch_allowed_networks='["127.0.0.1/32"]', dev_tick_seconds="0.5")


@pytest.fixture
def api_url(console_env: Settings) -> Iterator[str]:
    """The API function's app served by uvicorn on a loopback port; its base URL."""
    from functions.api.app import app

    # The socket is bound here and handed to uvicorn, so no other process can take the port in between.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="console-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def workers(console_env: Settings) -> Iterator[None]:
    """The generate and validate functions on their queues and the job ticking, as in `devtools dev`."""
    with running_workers(get_settings()):
        yield


@contextmanager
def running_workers(settings: Settings) -> Iterator[None]:
    """Run the queue workers and the job for the `with` block: a test can hold a wrapper where it is."""
    from devtools.local_stack import JobTicker, QueueBridge

    stop = threading.Event()
    bridge = QueueBridge(settings, echo=lambda line: None)
    ticker = JobTicker(settings, echo=lambda line: None)
    threads = [
        threading.Thread(target=bridge.run, args=(stop,), kwargs={"poll_seconds": 0.2}, daemon=True),
        threading.Thread(target=ticker.run, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)


@dataclass
class Traffic:
    """Every request the browser made, and what went wrong on its pages."""

    urls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def origins(self) -> set[str]:
        """The origins of the requests (data: and blob: URLs have none)."""
        found = set()
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https", "ws", "wss"):
                found.add(f"{parts.scheme}://{parts.netloc}")
            elif parts.scheme not in ("data", "blob", "about"):
                found.add(url)
        return found


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: run the tests with infra/scripts/test.sh, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def traffic() -> Traffic:
    """The requests and page problems of this test's browser context."""
    return Traffic()


@pytest.fixture
def page(browser: Any, traffic: Traffic) -> Iterator[Any]:
    """A fresh page whose every request and console error is recorded in `traffic`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.on("request", lambda request: traffic.urls.append(request.url))
    page = context.new_page()
    page.on("pageerror", lambda error: traffic.problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            traffic.problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
    try:
        yield page
    finally:
        context.close()
