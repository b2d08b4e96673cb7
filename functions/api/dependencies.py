"""Request dependencies: settings, the database, the broker publisher and the caller's tenant."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from pymongo.database import Database

from functions.api.errors import UnauthorizedError
from functions.api.key_cache import api_keys
from functions.api.log import correlate
from functions.api.workers import offload
from shared.common.errors import InvalidRequestError
from shared.common.settings import Settings, get_settings
from shared.domain.models import ApiKeyPublic
from shared.messaging.handover import MessagePublisher
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database

OFFSET_MAX = 1_000_000
KEY_MAX_LENGTH = 512
# Names, in a schema, the setting whose value is the maximum (functions/api/schema_limits.py writes it in).
MAXIMUM_FROM = "x-maximum-from"
KEY_REQUIRED = "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`"

# The two ways to send a key; both are documented as security schemes of the authenticated routes.
BEARER = HTTPBearer(auto_error=False, description="an API key as a bearer token")
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")
SECURITY_SCHEMES = (BEARER, API_KEY_HEADER)


async def settings_dependency() -> Settings:
    """The process-wide settings."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dependency)]


async def database_dependency() -> Database:
    """The service database; the client is created on first use and reused by warm invocations."""
    # A blocking call: the first use creates the indexes (and may read the connection secret).
    return await offload(get_database, get_settings())


DatabaseDep = Annotated[Database, Depends(database_dependency)]


async def publisher_dependency() -> MessagePublisher:
    """The process-wide publisher; it connects on the first publish, not here."""
    return await offload(_publisher, get_settings())


def _publisher(settings: Settings) -> MessagePublisher:
    # Imported on first use: pika is not needed to answer reads, and cold starts are mostly reads.
    from shared.messaging.broker import get_publisher

    return get_publisher(settings)


PublisherDep = Annotated[MessagePublisher, Depends(publisher_dependency)]


async def authentication_dependency(request: Request) -> ApiKeyPublic:
    """The request's API key (Authorization: Bearer … or X-API-Key), authenticated: its tenant; else 401.

    The routers that need a key run this for every route, and routes read the key with `TenantDep`:
    FastAPI solves one dependency once per request, so both get the same key from one lookup.
    """
    # The security schemes read the headers here rather than as sub-dependencies: each dependency costs
    # every request a step of FastAPI's solver. The OpenAPI document declares them (install_security_schemes).
    bearer = await BEARER(request)
    secret = bearer.credentials if bearer is not None else await API_KEY_HEADER(request)
    if not secret:
        raise UnauthorizedError(KEY_REQUIRED)
    key = None
    if len(secret) <= KEY_MAX_LENGTH:
        key = await authenticate(secret.strip())
    if key is None:
        raise UnauthorizedError("the API key is not valid", invalid=True)
    request.state.tenant_id = key.tenant_id
    # Set here, in the request's task, so the worker threads of its blocking calls inherit the keys.
    correlate(
        tenant_id=key.tenant_id,
        key_id=key.key_id,
        resource_id=request.path_params.get("resource_id"),
        wrapper_id=request.path_params.get("wrapper_id"),
    )
    return key


TenantDep = Annotated[ApiKeyPublic, Depends(authentication_dependency)]


async def authenticate(secret: str) -> ApiKeyPublic | None:
    """The key record of a presented secret, from this container's cache or else from MongoDB."""
    key = api_keys.get(secret)
    if key is None:
        settings = get_settings()
        key = await offload(_look_up_key, secret, settings=settings)
        if key is not None:
            api_keys.put(secret, key, ttl_seconds=settings.api_key_cache_seconds)
    return key


def _look_up_key(secret: str, *, settings: Settings) -> ApiKeyPublic | None:
    return ApiKeyRepository(get_database(settings)).authenticate(secret)


class Pagination:
    """limit/offset of a listing, bounded by `api_page_size_max`."""

    def __init__(self, *, limit: int, offset: int) -> None:
        self.limit = limit
        self.offset = offset


async def pagination_dependency(
    settings: SettingsDep,
    limit: Annotated[
        int,
        Query(
            ge=1,
            description="page size, at most RS_API_PAGE_SIZE_MAX",
            json_schema_extra={MAXIMUM_FROM: "api_page_size_max"},
        ),
    ] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX, description="items to skip")] = 0,
) -> Pagination:
    """The page a listing asks for."""
    if limit > settings.api_page_size_max:
        raise InvalidRequestError(
            "the page size is too large",
            fields={"query.limit": f"must be at most {settings.api_page_size_max}"},
        )
    return Pagination(limit=limit, offset=offset)


PaginationDep = Annotated[Pagination, Depends(pagination_dependency)]


def install_security_schemes(app: FastAPI, *, routers: Sequence[APIRouter]) -> None:
    """Document the key's security schemes on every operation of `routers` (those that authenticate)."""
    generate = app.openapi
    schemes = {
        scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
        for scheme in SECURITY_SCHEMES
    }
    requirement: list[dict[str, list[str]]] = [{name: []} for name in schemes]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            paths = document.get("paths", {})
            for route in (route for router in routers for route in router.routes):
                if isinstance(route, APIRoute) and route.include_in_schema:
                    for method in route.methods or ():
                        paths[route.path_format][method.lower()]["security"] = requirement
            components = document.setdefault("components", {})
            components["securitySchemes"] = {**components.get("securitySchemes", {}), **schemes}
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
