"""Where the API's blocking calls run: inline in a Lambda invocation, on lasting worker threads otherwise."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from functions.api.workers import LAMBDA_EVENT_KEY, BlockingCallPlacement, offload

T = TypeVar("T")
marker = contextvars.ContextVar("marker", default="unset")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own, leaving the thread's current loop alone."""
    # asyncio.run would set it to None afterwards; Mangum asks for it and would fail in later tests.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def where() -> tuple[int, str]:
    """The thread a call ran on and the context value it saw."""
    return threading.get_ident(), marker.get()


async def call_through_middleware(scope: dict[str, Any]) -> tuple[int, str]:
    seen: list[tuple[int, str]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        marker.set("request")
        seen.append(await offload(where))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        return None

    await BlockingCallPlacement(app)(scope, receive, send)
    return seen[0]


def test_lambda_invocations_run_blocking_calls_inline() -> None:
    scope = {"type": "http", LAMBDA_EVENT_KEY: {"version": "2.0"}}
    thread, value = run(call_through_middleware(scope))
    assert thread == threading.get_ident()
    assert value == "request"


def test_other_requests_use_lasting_worker_threads_with_the_callers_context() -> None:
    scope = {"type": "http"}
    first, value = run(call_through_middleware(scope))
    second, _ = run(call_through_middleware(scope))
    assert first != threading.get_ident()
    assert value == "request"
    # The request's loop and task are gone, its worker is not: workers outlive the requests that started
    # them. (Which worker serves the next call is the pool's choice: it may start a second one.)
    workers = {
        thread.ident: thread for thread in threading.enumerate() if thread.name.startswith("api-worker")
    }
    assert first in workers and workers[first].is_alive()
    assert second in workers


def test_the_placement_ends_with_the_request() -> None:
    run(call_through_middleware({"type": "http", LAMBDA_EVENT_KEY: {}}))

    async def outside() -> int:
        return (await offload(where))[0]

    assert run(outside()) != threading.get_ident()


def test_errors_reach_the_caller() -> None:
    def fail() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run(offload(fail))


def test_a_cancelled_request_waits_for_its_call() -> None:
    finished = threading.Event()

    def slow() -> None:
        time.sleep(0.2)
        finished.set()

    async def cancel_while_running() -> None:
        task = asyncio.ensure_future(offload(slow))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert finished.is_set()

    run(cancel_while_running())
