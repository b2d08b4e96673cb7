"""The API function: a FastAPI app served on Lambda by Mangum (`functions.api.app.handler`).

Nothing connects at import time: the MongoDB client and the broker publisher are created on first use
and reused by warm invocations. Mangum runs with lifespan="off" because it would run the ASGI
lifespan on every invocation.
"""

from __future__ import annotations

import gc

# A cold start imports several hundred thousand long-lived objects and makes no garbage: the collector
# would only walk them again and again (about 60 ms). It resumes at the end of this module, with what the
# import built frozen out of later collections, so warm requests do not walk it either.
_collecting = gc.isenabled()
gc.disable()

import time
import uuid
import warnings
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from mangum import Mangum
from pydantic.warnings import UnsupportedFieldAttributeWarning
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.api.body_limit import BodyLimit
from functions.api.console import pages as console_pages
from functions.api.cors import (
    CORS_ALLOW_HEADERS,
    CORS_ALLOW_METHODS,
    CORS_EXPOSE_HEADERS,
    CORS_MAX_AGE_SECONDS,
)
from functions.api.dependencies import authentication_dependency, install_security_schemes
from functions.api.errors import install_error_handlers, install_error_schemas, unhandled_error_response
from functions.api.log import logger
from functions.api.methods import OptionsResponder
from functions.api.metrics import UNMATCHED_ROUTE, request_metrics
from functions.api.routes import data, health, resources, uploads, wrappers
from functions.api.schema_limits import install_schema_limits
from functions.api.workers import BlockingCallPlacement
from shared.common.correlation import correlated, valid_correlation_id
from shared.common.settings import Settings, get_settings
from shared.common.tracing import make_tracer

# FastAPI's adapters carry field metadata (a body's alias) that pydantic reports as unused when it builds
# them. FastAPI silences that while it builds them at import; the domain models defer their build to first
# use (shared.domain.base), so the adapters are built later, outside FastAPI's silencing.
warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)

API_TITLE = "Resource Service API"
REQUEST_ID_HEADER = "X-Request-ID"
CORRELATION_ID_HEADER = "X-Correlation-Id"


def _request_id(request: Request) -> str:
    event: dict[str, Any] = request.scope.get("aws.event") or {}
    from_gateway = (event.get("requestContext") or {}).get("requestId")
    return str(from_gateway or request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4())[:128]


def _correlation_id(request: Request, request_id: str) -> str:
    """The caller's `X-Correlation-Id` when it is a usable token, else the request's own id."""
    given = valid_correlation_id(request.headers.get(CORRELATION_ID_HEADER))
    return given or valid_correlation_id(request_id) or str(uuid.uuid4())


def _route(scope: Scope) -> str:
    """The matched route's template (`GET /wrappers/{wrapper_id}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return f"{scope.get('method', '')} {path}" if isinstance(path, str) else UNMATCHED_ROUTE


class RequestObserver:
    """Correlate the request's logs, log its outcome, and answer a 500 in the error shape if a bug escapes.

    Plain ASGI rather than a BaseHTTPMiddleware, which runs the app in a task of its own and re-wraps
    the request and response streams.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        request_id = _request_id(request)
        correlation_id = _correlation_id(request, request_id)
        keys = {"request_id": request_id, "correlation_id": correlation_id}
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**keys)
        state = request.state  # created before the app runs, so that authentication's tenant lands here
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                headers[CORRELATION_ID_HEADER] = correlation_id
            await send(message)

        # Every message the request publishes carries its correlation id (shared.messaging.handover).
        with correlated(correlation_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception as exc:
                if response_started:
                    raise
                await unhandled_error_response(exc)(scope, receive, send_with_request_id)
        duration_ms = (time.perf_counter() - started) * 1000
        # The app ran in this context and added its own correlation keys; the request line has only its id.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**keys)
        # One line is both the request's log line and its metric record (functions.api.metrics).
        logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.url.path,
                "duration_ms": round(duration_ms, 1),
                "tenant_id": getattr(state, "tenant_id", None),
                **request_metrics(route=_route(scope), status=status, latency_ms=duration_ms),
            },
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; CORS comes from `settings.api_cors_origins` (no CORS headers when it is empty)."""
    settings = settings or get_settings()
    app = FastAPI(
        title=API_TITLE,
        version="0.1.0",
        description="Resources (indicators and where their data is), their generated wrappers, and data.",
        docs_url=None,  # served by functions.api.console from packaged assets, not a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    install_error_schemas(app)
    install_schema_limits(app, settings)
    app.add_middleware(BlockingCallPlacement)
    app.add_middleware(OptionsResponder)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestObserver)
    # Empty entries come from an unset template parameter ('[""]'): they allow nothing.
    origins = [origin for origin in settings.api_cors_origins if origin.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=CORS_ALLOW_METHODS,
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=CORS_MAX_AGE_SECONDS,
        )
    app.include_router(health.router)
    app.include_router(console_pages.router)
    # Every other route needs an API key; routes read the authenticated key as a dependency.
    authenticated = [module.router for module in (resources, data, wrappers, uploads)]
    for router in authenticated:
        app.include_router(router, dependencies=[Depends(authentication_dependency)])
    install_security_schemes(app, routers=authenticated)
    return app


app = create_app()
asgi_handler = Mangum(app, lifespan="off")
_tracer = make_tracer("resource-service-api")


@logger.inject_lambda_context
@_tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point: API Gateway HTTP API events through Mangum, logged with the invocation."""
    response: dict[str, Any] = asgi_handler(event, context)
    return response


gc.freeze()
if _collecting:
    gc.enable()
