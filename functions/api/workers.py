"""Where the API's blocking calls (pymongo, pika, boto3) run: inline in a Lambda invocation, else on
worker threads that outlive requests.

Routes and dependencies are async and hand their blocking calls to `offload` rather than being sync
functions that Starlette runs on AnyIO's worker threads: AnyIO stops those threads when the task that
started them ends, and Mangum runs every invocation as a new task, so each warm invocation would start
a thread of its own. Inside a Lambda invocation no thread is used at all: Mangum runs one request at a
time on its event loop, so a blocking call holds up nothing there, and a hand-off to a thread would
only add two thread switches to every call. Under a server that interleaves requests on one loop
(uvicorn in `python -m devtools dev`, the test client) blocking calls go to the worker threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

P = ParamSpec("P")
T = TypeVar("T")

# A Lambda container serves one request at a time; the local server (uvicorn) serves more.
WORKERS = 16
# Mangum puts the Lambda event into the scope of every request it serves.
LAMBDA_EVENT_KEY = "aws.event"

_executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="api-worker")
_inline = contextvars.ContextVar("api_blocking_calls_inline", default=False)


class BlockingCallPlacement:
    """ASGI middleware: the blocking calls of a Lambda invocation run inline, those of other requests
    on the worker threads."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _inline.set(LAMBDA_EVENT_KEY in scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _inline.reset(token)


async def offload(call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking call where the request allows it, in the caller's context (its log keys)."""
    if _inline.get():
        return call(*args, **kwargs)
    context = contextvars.copy_context()
    future = asyncio.get_running_loop().run_in_executor(
        _executor, functools.partial(context.run, call, *args, **kwargs)
    )
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # As with Starlette's threadpool, a cancelled request waits for its call to finish, so that
        # its cleanup (releasing an idempotency key) never runs beside the call.
        await asyncio.wait({future})
        raise
