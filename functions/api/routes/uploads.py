"""Uploads: a presigned POST to the upload bucket; its `source` then goes into POST /resources."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Response

from functions.api.dependencies import SettingsDep, TenantDep
from functions.api.errors import ERROR_RESPONSES, documented_error
from functions.api.idempotency import IdempotencyDep
from functions.api.storage import UploadRequest, UploadTicket, presign_upload
from functions.api.workers import offload

router = APIRouter(prefix="/uploads", tags=["uploads"], responses=ERROR_RESPONSES)


@router.post(
    "",
    status_code=201,
    response_model=UploadTicket,
    responses={413: documented_error("the file is larger than the limit")},
)
async def create_upload(
    body: UploadRequest, tenant: TenantDep, settings: SettingsDep, idempotency: IdempotencyDep
) -> Response:
    """Sign an upload of a CSV or XLSX file, at most `size_bytes` long, under the tenant's prefix."""
    sign = partial(presign_upload, body, tenant_id=tenant.tenant_id, settings=settings)
    return await offload(idempotency.run, 201, sign)
