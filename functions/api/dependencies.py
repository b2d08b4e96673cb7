"""Request dependencies: settings, the database, the broker publisher and the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pymongo.database import Database
from starlette.concurrency import run_in_threadpool

from functions.api.errors import ErrorDetail, InvalidRequestError, UnauthorizedError
from functions.api.log import correlate
from shared.database import get_database
from shared.handover import MessagePublisher
from shared.models import ApiKeyPublic
from shared.repositories import ApiKeyRepository
from shared.settings import Settings, get_settings

OFFSET_MAX = 1_000_000
KEY_MAX_LENGTH = 512

_bearer = HTTPBearer(auto_error=False, description="an API key as a bearer token")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


def settings_dependency() -> Settings:
    """The process-wide settings."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dependency)]


def database_dependency(settings: SettingsDep) -> Database:
    """The service database; the client is created on first use and reused by warm invocations."""
    return get_database(settings)


DatabaseDep = Annotated[Database, Depends(database_dependency)]


def publisher_dependency(settings: SettingsDep) -> MessagePublisher:
    """The process-wide publisher; it connects on the first publish, not here."""
    # Imported on first use: pika is not needed to answer reads, and cold starts are mostly reads.
    from shared.broker import get_publisher

    return get_publisher(settings)


PublisherDep = Annotated[MessagePublisher, Depends(publisher_dependency)]


async def tenant_dependency(
    request: Request,
    db: DatabaseDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> ApiKeyPublic:
    """The API key of the request (Authorization: Bearer … or X-API-Key), hence its tenant; else 401."""
    secret = bearer.credentials if bearer is not None else api_key
    if not secret:
        raise UnauthorizedError("an API key is required: send `Authorization: Bearer <key>` or `X-API-Key`")
    key = None
    if len(secret) <= KEY_MAX_LENGTH:
        key = await run_in_threadpool(ApiKeyRepository(db).authenticate, secret.strip())
    if key is None:
        raise UnauthorizedError("the API key is not valid", invalid=True)
    request.state.tenant_id = key.tenant_id
    # Set here, in the request's task, so the route's worker thread inherits the keys.
    correlate(
        tenant_id=key.tenant_id,
        key_id=key.key_id,
        resource_id=request.path_params.get("resource_id"),
        wrapper_id=request.path_params.get("wrapper_id"),
    )
    return key


TenantDep = Annotated[ApiKeyPublic, Depends(tenant_dependency)]


class Pagination:
    """limit/offset of a listing, bounded by `api_page_size_max`."""

    def __init__(self, *, limit: int, offset: int) -> None:
        self.limit = limit
        self.offset = offset


def pagination_dependency(
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, description="page size, at most RS_API_PAGE_SIZE_MAX")] = 50,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX, description="items to skip")] = 0,
) -> Pagination:
    """The page a listing asks for."""
    if limit > settings.api_page_size_max:
        raise InvalidRequestError(
            "the page size is too large",
            details=[
                ErrorDetail(field="query.limit", reason=f"must be at most {settings.api_page_size_max}")
            ],
        )
    return Pagination(limit=limit, offset=offset)


PaginationDep = Annotated[Pagination, Depends(pagination_dependency)]
