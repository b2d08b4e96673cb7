"""Resources: an indicator and where its data is; creating one queues its wrapper for generation."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from functions.api import services
from functions.api.dependencies import (
    DatabaseDep,
    PaginationDep,
    PublisherDep,
    SettingsDep,
    TenantDep,
)
from functions.api.errors import ERROR_RESPONSES, documented_error
from functions.api.idempotency import IdempotencyDep
from functions.api.workers import offload
from shared.domain.models import Page, ResourceCreate, ResourcePublic, ResourceUpdate, SourceType
from shared.store.resources import ResourceRepository, public_resource

router = APIRouter(prefix="/resources", tags=["resources"], responses=ERROR_RESPONSES)

CONFLICT: dict[int | str, dict[str, Any]] = {409: documented_error("the wrapper is busy")}
# Sources: an s3:// object that is not one of the tenant's uploads.
SOURCE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CONFLICT,
    403: documented_error("the source is an s3:// object that is not one of your uploads"),
}


@router.post("", status_code=201, response_model=ResourcePublic, responses=SOURCE_RESPONSES)
async def create_resource(
    body: ResourceCreate,
    tenant: TenantDep,
    db: DatabaseDep,
    publisher: PublisherDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Create a resource; its wrapper starts `pending` and is queued for generation."""
    create = partial(
        services.create_resource, db, publisher, tenant_id=tenant.tenant_id, data=body, settings=settings
    )
    return await offload(
        idempotency.run, 201, create, headers=lambda resource: {"Location": f"/resources/{resource.id}"}
    )


@router.get("", response_model=Page[ResourcePublic])
async def list_resources(
    tenant: TenantDep,
    db: DatabaseDep,
    page: PaginationDep,
    name: Annotated[str | None, Query(max_length=300, description="part of the name")] = None,
    type: Annotated[str | None, Query(max_length=100, description="exact type")] = None,
    source_type: Annotated[SourceType | None, Query(description="api, csv or xlsx")] = None,
) -> Page[ResourcePublic]:
    """List the tenant's resources, newest first."""
    return await offload(
        ResourceRepository(db).list,
        tenant.tenant_id,
        limit=page.limit,
        offset=page.offset,
        name=name,
        type=type,
        source_type=source_type,
    )


@router.get("/{resource_id}", response_model=ResourcePublic)
async def get_resource(resource_id: str, tenant: TenantDep, db: DatabaseDep) -> ResourcePublic:
    """One resource."""
    return public_resource(await offload(ResourceRepository(db).get, tenant.tenant_id, resource_id))


@router.patch("/{resource_id}", response_model=ResourcePublic, responses=SOURCE_RESPONSES)
async def update_resource(
    resource_id: str,
    body: ResourceUpdate,
    tenant: TenantDep,
    db: DatabaseDep,
    publisher: PublisherDep,
    settings: SettingsDep,
) -> ResourcePublic:
    """Change a resource; a new source sends its wrapper back to `pending` and regenerates it."""
    return await offload(
        services.update_resource,
        db,
        publisher,
        tenant_id=tenant.tenant_id,
        resource_id=resource_id,
        changes=body,
        settings=settings,
    )


@router.delete("/{resource_id}", status_code=204, response_class=Response)
async def delete_resource(
    resource_id: str, tenant: TenantDep, db: DatabaseDep, publisher: PublisherDep
) -> Response:
    """Delete a resource (soft): its wrapper stops and `resource_deleted` is published once."""
    await offload(
        services.delete_resource, db, publisher, tenant_id=tenant.tenant_id, resource_id=resource_id
    )
    return Response(status_code=204)
