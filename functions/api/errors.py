"""One JSON error shape for every failure: {"error": {"code", "message", "details"}}.

The only place where errors become HTTP: the service layer raises domain errors
(shared.common.errors), and DOMAIN_ERRORS says which status and code answers each.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from functions.api.log import logger
from functions.api.methods import allowed_methods
from shared.common.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    SecretUnavailableError,
)
from shared.domain.base import DomainModel

WWW_AUTHENTICATE = 'Bearer realm="resource-service"'
SCHEMA_REF_PREFIX = "#/components/schemas/"


class ErrorDetail(DomainModel):
    """One reason of an error, tied to a field when there is one."""

    field: str | None = None
    reason: str


class ErrorBody(DomainModel):
    """What went wrong, in a machine-readable code and a sentence."""

    code: str
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(DomainModel):
    """The body of every error response."""

    error: ErrorBody


class ApiError(Exception):
    """An error the API answers on purpose, with its status and code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: Sequence[ErrorDetail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


class UnauthorizedError(ApiError):
    """No API key, or one that is unknown or revoked."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str, *, invalid: bool = False) -> None:
        challenge = WWW_AUTHENTICATE + (', error="invalid_token"' if invalid else "")
        super().__init__(message, headers={"WWW-Authenticate": challenge})


class PayloadTooLargeError(ApiError):
    """An upload larger than the configured limit."""

    status_code = 413
    code = "payload_too_large"


class ServiceUnavailableError(ApiError):
    """A dependency the request needs is down or not configured."""

    status_code = 503
    code = "service_unavailable"


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    details: Sequence[ErrorDetail] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A response in the shared error shape."""
    body = ErrorResponse(error=ErrorBody(code=code, message=message, details=list(details)))
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=dict(headers or {}))


def _field(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    if exc.status_code >= 500:
        logger.warning("request failed", extra={"code": exc.code, "reason": exc.message})
    return error_response(exc.status_code, exc.code, exc.message, details=exc.details, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(field=_field(error.get("loc", ())), reason=str(error.get("msg", "invalid")))
        for error in exc.errors()
    ]
    return error_response(422, "validation_error", "the request is not valid", details=details)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    try:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
    except ValueError:
        code = "http_error"
    if (
        exc.status_code == PayloadTooLargeError.status_code
    ):  # a body over the limit (functions.api.body_limit)
        code = PayloadTooLargeError.code
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = allowed_methods(request.app.router.routes, request.scope)
        headers["Allow"] = ", ".join(methods)
        message = f"{request.method} is not allowed here; allowed: {', '.join(methods)}"
    return error_response(exc.status_code, code, message, headers=headers)


class ErrorAnswer(NamedTuple):
    """How an error is answered: status, code, message, and the warning logged for a dependency fault."""

    status_code: int
    code: str
    message: Callable[[Exception], str] = str
    warning: str | None = None


def _broker_message(exc: Exception) -> str:
    return f"the message broker did not take the message: {exc}"


def _database_message(exc: Exception) -> str:
    # pymongo messages name hosts and topology, not credentials; keep the client-facing text generic.
    return f"the database is unavailable ({type(exc).__name__})"


_DATABASE_DOWN = ErrorAnswer(503, "database_unavailable", _database_message, "database unavailable")

# Domain errors (and the database driver's faults) → HTTP; the most specific class of an error wins.
DOMAIN_ERRORS: dict[type[Exception], ErrorAnswer] = {
    NotFoundError: ErrorAnswer(404, "not_found"),
    ConflictError: ErrorAnswer(409, "conflict"),
    InvalidRequestError: ErrorAnswer(422, "validation_error"),
    ForbiddenError: ErrorAnswer(403, "forbidden"),
    BrokerUnavailableError: ErrorAnswer(503, "broker_unavailable", _broker_message, "broker unavailable"),
    BrokerError: ErrorAnswer(503, "broker_error", _broker_message, "broker unavailable"),
    SecretUnavailableError: ErrorAnswer(503, "configuration_unavailable", warning="secret unavailable"),
    ConnectionFailure: _DATABASE_DOWN,
    ExecutionTimeout: _DATABASE_DOWN,
    WTimeoutError: _DATABASE_DOWN,
}


def answer_for(exc: Exception) -> ErrorAnswer:
    """The answer of the most specific class of `exc` in DOMAIN_ERRORS."""
    return next(DOMAIN_ERRORS[kind] for kind in type(exc).__mro__ if kind in DOMAIN_ERRORS)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    answer = answer_for(exc)
    message = answer.message(exc)
    if answer.warning:
        logger.warning(answer.warning, extra={"reason": message})
    fields = exc.fields if isinstance(exc, InvalidRequestError) else {}
    details = [ErrorDetail(field=field, reason=reason) for field, reason in fields.items()]
    return error_response(answer.status_code, answer.code, message, details=details)


def unhandled_error_response(exc: BaseException) -> JSONResponse:
    """Log an unexpected exception and answer 500 in the shared shape (a 500 is always a bug)."""
    logger.exception("unhandled error", extra={"error_type": type(exc).__name__})
    return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every expected failure into the shared shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for error_type in DOMAIN_ERRORS:
        app.add_exception_handler(error_type, _domain_error)


def documented_error(description: str) -> dict[str, Any]:
    """An OpenAPI response in the shared error shape, for a route's `responses`.

    The schema is referenced rather than given as `"model": ErrorResponse`: FastAPI builds a validator
    for every model response of every route when the route is declared, which is most of what the
    API's import would spend on routes; `install_error_schemas` puts the schema into the document.
    """
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"{SCHEMA_REF_PREFIX}{ErrorResponse.__name__}"}}},
    }


def install_error_schemas(app: FastAPI) -> None:
    """Add the error shape's schemas to the app's OpenAPI document, where `documented_error` points."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _with_error_schemas(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_error_schemas(document: dict[str, Any]) -> dict[str, Any]:
    error = ErrorResponse.model_json_schema(ref_template=SCHEMA_REF_PREFIX + "{model}", mode="serialization")
    schemas = {
        **document.get("components", {}).get("schemas", {}),
        # Without null values, as FastAPI writes the rest of the document.
        **jsonable_encoder({**error.pop("$defs", {}), ErrorResponse.__name__: error}, exclude_none=True),
    }
    components = {**document.get("components", {}), "schemas": dict(sorted(schemas.items()))}
    return {**document, "components": components}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented_error("the request body cannot be read (not UTF-8 JSON)"),
    401: documented_error("missing or invalid API key"),
    404: documented_error("not found (or another tenant's)"),
    413: documented_error(
        "the request body is larger than 2 MiB (or, for an upload, the file than the limit)"
    ),
    422: documented_error("invalid request"),
    503: documented_error("database or broker unavailable"),
}
