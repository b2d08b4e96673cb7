"""Presigned S3 uploads: the client sends the file straight to the upload bucket, never through the API.

A presigned POST is used rather than a presigned PUT: its policy carries a `content-length-range`
condition that S3 itself checks against the bytes received, whatever headers the client sends. (A PUT
URL only limits the size if the signature covers Content-Length, which depends on the signing version.)
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, Field

from functions.api.dependencies import MAXIMUM_FROM
from functions.api.errors import (
    ErrorDetail,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from functions.api.services import safe_segment, upload_prefix
from shared.common.errors import InvalidRequestError
from shared.common.settings import Settings
from shared.domain.base import DomainModel
from shared.domain.models import ResourceSource, SourceType

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SOURCE_TYPES = {CSV_TYPE: SourceType.CSV, XLSX_TYPE: SourceType.XLSX}
SUFFIXES = {SourceType.CSV: ".csv", SourceType.XLSX: ".xlsx"}

_lock = threading.Lock()
_clients: dict[str | None, Any] = {}


class UploadRequest(DomainModel):
    """A file the client wants to upload as a resource's source."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255)
    content_type: Literal["text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    size_bytes: int = Field(
        ge=1,
        description="exact size of the file, at most RS_UPLOAD_MAX_BYTES; the upload must not exceed it",
        json_schema_extra={MAXIMUM_FROM: "upload_max_bytes"},
    )


class UploadTicket(DomainModel):
    """Where and how to upload the file, and the source to create the resource with afterwards."""

    upload_url: str
    method: Literal["POST"] = "POST"
    fields: dict[str, str] = Field(description="form fields to send before the `file` field")
    source: ResourceSource
    key: str
    max_bytes: int
    expires_at: datetime


def _s3_client(settings: Settings) -> Any:
    with _lock:
        client = _clients.get(settings.s3_endpoint_url)
        if client is None:
            # Imported here: boto3 costs a noticeable part of a cold start and most requests never need it.
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=settings.s3_endpoint_url, config=Config(signature_version="s3v4")
            )
            _clients[settings.s3_endpoint_url] = client
        return client


def safe_filename(filename: str, source_type: SourceType) -> str:
    """The file's base name reduced to safe characters, with the suffix its type calls for."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    suffix = SUFFIXES[source_type]
    stem = base[: -len(suffix)] if base.lower().endswith(suffix) else base
    return safe_segment(stem, default="upload", limit=100) + suffix


def presign_upload(request: UploadRequest, *, tenant_id: str, settings: Settings) -> UploadTicket:
    """A presigned POST for one object under the tenant's prefix, limited to the declared size."""
    if not settings.upload_bucket:
        raise ServiceUnavailableError(
            "uploads are not configured: no upload bucket (RS_UPLOAD_BUCKET) is set"
        )
    if request.size_bytes > settings.upload_max_bytes:
        raise PayloadTooLargeError(
            "the file is too large to upload",
            details=[
                ErrorDetail(
                    field="body.size_bytes", reason=f"must be at most {settings.upload_max_bytes} bytes"
                )
            ],
        )
    source_type = SOURCE_TYPES[request.content_type]
    if not request.filename.strip():
        raise InvalidRequestError("the file name is empty", fields={"body.filename": "must not be blank"})
    key = f"{upload_prefix(tenant_id)}{uuid.uuid4()}/{safe_filename(request.filename, source_type)}"
    expiry = settings.upload_url_expiry_seconds
    expires_at = datetime.now(UTC) + timedelta(seconds=expiry)  # never later than the policy's own expiry
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        post = _s3_client(settings).generate_presigned_post(
            settings.upload_bucket,
            key,
            Fields={"Content-Type": request.content_type},
            Conditions=[
                ["content-length-range", 1, request.size_bytes],
                {"Content-Type": request.content_type},
            ],
            ExpiresIn=expiry,
        )
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailableError(f"cannot sign the upload: {type(exc).__name__}") from exc
    return UploadTicket(
        upload_url=post["url"],
        fields=post["fields"],
        source=ResourceSource(type=source_type, url=f"s3://{settings.upload_bucket}/{key}"),
        key=key,
        max_bytes=request.size_bytes,
        expires_at=expires_at,
    )
