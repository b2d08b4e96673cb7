"""Wrappers: the generated code of a resource, its state, and the hand-offs a user may ask for."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Query, Response

from functions.api import services
from functions.api.dependencies import DatabaseDep, PaginationDep, PublisherDep, SettingsDep, TenantDep
from functions.api.errors import ERROR_RESPONSES, documented_error
from functions.api.idempotency import IdempotencyDep
from functions.api.workers import offload
from shared.domain.base import DomainModel
from shared.domain.models import (
    BackfillRequest,
    CodeReplacement,
    Page,
    PromptRecordPublic,
    RunPublic,
    WrapperPublic,
    WrapperStatus,
    WrapperSummary,
)
from shared.domain.wrapper import FetchSpecPublic, FetchSpecUpdate
from shared.store.prompt_records import PromptRecordRepository
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository, public_wrapper

T = TypeVar("T")

router = APIRouter(prefix="/wrappers", tags=["wrappers"], responses=ERROR_RESPONSES)

CONFLICT: dict[int | str, dict[str, Any]] = {409: documented_error("the wrapper is busy or has no code yet")}
CONTROL_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: documented_error("no validated code yet, busy, stopped (start it first) or its resource was deleted")
}


class Items(DomainModel, Generic[T]):
    """A short, complete list."""

    items: list[T]


@router.get("", response_model=Page[WrapperSummary])
async def list_wrappers(
    tenant: TenantDep,
    db: DatabaseDep,
    page: PaginationDep,
    status: Annotated[WrapperStatus | None, Query(description="only wrappers in this status")] = None,
) -> Page[WrapperSummary]:
    """List the tenant's wrappers, newest first."""
    return await offload(
        WrapperRepository(db).list, tenant.tenant_id, limit=page.limit, offset=page.offset, status=status
    )


@router.get("/{wrapper_id}", response_model=WrapperPublic)
async def get_wrapper(wrapper_id: str, tenant: TenantDep, db: DatabaseDep) -> WrapperPublic:
    """One wrapper: status, code, fetch spec, generator, validation report, execution log, water marks."""
    return public_wrapper(await offload(WrapperRepository(db).get_for_tenant, tenant.tenant_id, wrapper_id))


@router.get("/{wrapper_id}/prompts", response_model=Items[PromptRecordPublic])
async def list_prompts(
    wrapper_id: str,
    tenant: TenantDep,
    db: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Items[PromptRecordPublic]:
    """The prompts, responses and tool exchanges of the wrapper's generations, oldest first."""
    await offload(WrapperRepository(db).get_for_tenant, tenant.tenant_id, wrapper_id)
    prompts = await offload(PromptRecordRepository(db).list, wrapper_id, limit=limit)
    return Items[PromptRecordPublic](items=prompts)


@router.post("/{wrapper_id}/regenerate", status_code=202, response_model=WrapperPublic, responses=CONFLICT)
async def regenerate_wrapper(
    wrapper_id: str, tenant: TenantDep, db: DatabaseDep, publisher: PublisherDep, idempotency: IdempotencyDep
) -> Response:
    """Generate the wrapper again from scratch (409 while it is generating or validating)."""
    regenerate = partial(
        services.regenerate_wrapper, db, publisher, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id
    )
    return await offload(idempotency.run, 202, regenerate)


@router.post("/{wrapper_id}/validate", status_code=202, response_model=WrapperPublic, responses=CONFLICT)
async def validate_wrapper(
    wrapper_id: str, tenant: TenantDep, db: DatabaseDep, publisher: PublisherDep, idempotency: IdempotencyDep
) -> Response:
    """Validate the wrapper's current code again (409 without code or while busy)."""
    validate = partial(
        services.validate_wrapper, db, publisher, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id
    )
    return await offload(idempotency.run, 202, validate)


@router.put("/{wrapper_id}/code", status_code=202, response_model=WrapperPublic, responses=CONFLICT)
async def replace_code(
    wrapper_id: str, body: CodeReplacement, tenant: TenantDep, db: DatabaseDep, publisher: PublisherDep
) -> WrapperPublic:
    """Replace the parse code by hand; the wrapper is validated again before it runs."""
    return await offload(
        services.replace_code, db, publisher, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id, code=body
    )


@router.get("/{wrapper_id}/fetch-spec", response_model=FetchSpecPublic, responses=CONFLICT)
async def get_fetch_spec(wrapper_id: str, tenant: TenantDep, db: DatabaseDep) -> FetchSpecPublic:
    """How the wrapper fetches its source (secrets by name), and a given one still being validated."""
    return await offload(services.get_fetch_spec, db, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id)


@router.put("/{wrapper_id}/fetch-spec", status_code=202, response_model=WrapperPublic, responses=CONFLICT)
async def replace_fetch_spec(
    wrapper_id: str,
    body: FetchSpecUpdate,
    tenant: TenantDep,
    db: DatabaseDep,
    publisher: PublisherDep,
    settings: SettingsDep,
) -> WrapperPublic:
    """Give the wrapper a fetch spec (422 with the reason when it is unsafe or malformed); it is validated
    on a fresh sample and replaces the current one only if it validates, else the current one is kept."""
    return await offload(
        services.replace_fetch_spec,
        db,
        publisher,
        tenant_id=tenant.tenant_id,
        wrapper_id=wrapper_id,
        spec=body,
        settings=settings,
    )


@router.get("/{wrapper_id}/runs", response_model=Page[RunPublic])
async def list_runs(
    wrapper_id: str, tenant: TenantDep, db: DatabaseDep, page: PaginationDep
) -> Page[RunPublic]:
    """The wrapper's runs, newest first: figures, water mark reached, error."""
    await offload(WrapperRepository(db).get_for_tenant, tenant.tenant_id, wrapper_id)
    return await offload(RunRepository(db).list, wrapper_id, limit=page.limit, offset=page.offset)


@router.post("/{wrapper_id}/start", response_model=WrapperPublic, responses=CONTROL_CONFLICT)
async def start_wrapper(wrapper_id: str, tenant: TenantDep, db: DatabaseDep) -> WrapperPublic:
    """Run a validated wrapper (again): `running` and due now; a no-op when it is running."""
    return await offload(services.start_wrapper, db, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id)


@router.post("/{wrapper_id}/stop", response_model=WrapperPublic, responses=CONTROL_CONFLICT)
async def stop_wrapper(wrapper_id: str, tenant: TenantDep, db: DatabaseDep) -> WrapperPublic:
    """Stop a wrapper: no further runs (one in progress finishes); a no-op when it is stopped."""
    return await offload(services.stop_wrapper, db, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id)


@router.post("/{wrapper_id}/run-now", response_model=WrapperPublic, responses=CONTROL_CONFLICT)
async def run_wrapper_now(wrapper_id: str, tenant: TenantDep, db: DatabaseDep) -> WrapperPublic:
    """Make the wrapper due now, so the next tick runs it (409 when stopped: start it first)."""
    return await offload(services.run_wrapper_now, db, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id)


@router.post("/{wrapper_id}/backfill", response_model=WrapperPublic, responses=CONTROL_CONFLICT)
async def backfill_wrapper(
    wrapper_id: str, body: BackfillRequest, tenant: TenantDep, db: DatabaseDep
) -> WrapperPublic:
    """Re-run from `start` (not in the future): unchanged points are kept, changed ones revised."""
    return await offload(
        services.backfill_wrapper, db, tenant_id=tenant.tenant_id, wrapper_id=wrapper_id, start=body.start
    )
