"""The largest request body the API reads: a larger one is answered 413 in the error shape."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.api.errors import PayloadTooLargeError, error_response

# Above the largest body a schema allows (200,000 characters of parse code, escaped), below API Gateway's
# 10 MB and Lambda's 6 MB payloads.
REQUEST_BODY_MAX_BYTES = 2 * 1024 * 1024
TOO_LARGE = f"the request body is larger than {REQUEST_BODY_MAX_BYTES // (1024 * 1024)} MiB"


class BodyLimit:
    """Refuse a body over `max_bytes`: at once when Content-Length says so, else when reading passes it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = REQUEST_BODY_MAX_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            answer = error_response(PayloadTooLargeError.status_code, PayloadTooLargeError.code, TOO_LARGE)
            await answer(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException reaches the app's handler (FastAPI re-raises it from body parsing).
                    raise HTTPException(PayloadTooLargeError.status_code, detail=TOO_LARGE)
            return message

        await self.app(scope, counted, send)
