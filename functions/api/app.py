"""The API function: a FastAPI app served on Lambda by Mangum (`functions.api.app.handler`).

Nothing connects at import time: the MongoDB client and the broker publisher are created on first use
and reused by warm invocations. Mangum runs with lifespan="off" because it would run the ASGI
lifespan on every invocation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from mangum import Mangum

from functions.api.dependencies import tenant_dependency
from functions.api.errors import install_error_handlers, unhandled_error_response
from functions.api.log import logger
from functions.api.routes import data, health, resources, uploads, wrappers
from shared.settings import Settings, get_settings

API_TITLE = "Resource Service API"
REQUEST_ID_HEADER = "X-Request-ID"


def _request_id(request: Request) -> str:
    event: dict[str, Any] = request.scope.get("aws.event") or {}
    from_gateway = (event.get("requestContext") or {}).get("requestId")
    return str(from_gateway or request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4())[:128]


async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Correlate the request's logs, log its outcome, and answer a 500 in the error shape if a bug escapes."""
    request_id = _request_id(request)
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(request_id=request_id)
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception as exc:
        response = unhandled_error_response(exc)
    response.headers[REQUEST_ID_HEADER] = request_id
    logger.info(
        "request",
        extra={
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "tenant_id": getattr(request.state, "tenant_id", None),
        },
    )
    return response


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; CORS comes from `settings.api_cors_origins` (no CORS headers when it is empty)."""
    settings = settings or get_settings()
    app = FastAPI(
        title=API_TITLE,
        version="0.1.0",
        description="Resources (indicators and where their data is), their generated wrappers, and data.",
    )
    install_error_handlers(app)
    app.middleware("http")(_observe)
    # Empty entries come from an unset template parameter ('[""]'): they allow nothing.
    origins = [origin for origin in settings.api_cors_origins if origin.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"],
            expose_headers=[REQUEST_ID_HEADER, "Location", "Idempotency-Replayed"],
            max_age=600,
        )
    app.include_router(health.router)
    # Every other route needs an API key; routes also take the tenant as a (cached) dependency.
    for module in (resources, data, wrappers, uploads):
        app.include_router(module.router, dependencies=[Depends(tenant_dependency)])
    return app


app = create_app()
handler = Mangum(app, lifespan="off")
