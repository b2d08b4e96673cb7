"""Data of a resource: its stored points (JSON or CSV) and what exists (first, last, count)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from functions.api.dependencies import DatabaseDep, TenantDep
from functions.api.errors import ERROR_RESPONSES
from functions.api.workers import offload
from shared.common.clock import to_utc
from shared.domain.base import DomainModel
from shared.domain.models import Availability, PointPublic
from shared.store.points import PointRepository
from shared.store.resources import ResourceRepository

POINTS_LIMIT_MAX = 10_000
OFFSET_MAX = 10_000_000

router = APIRouter(prefix="/resources", tags=["data"], responses=ERROR_RESPONSES)


class PointsPage(DomainModel):
    """One page of a resource's points, oldest first."""

    resource_id: str
    items: list[PointPublic]
    limit: int
    offset: int
    next_offset: int | None


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else to_utc(moment)  # a time without an offset is read as UTC


def points_csv(points: list[PointPublic]) -> str:
    """CSV with the header timestamp,value and one column per dimension name (sorted)."""
    # Imported here: the point model module is not needed to answer anything but a CSV export.
    from shared.points.point import format_timestamp

    dimensions = sorted({name for point in points for name in point.dimensions})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["timestamp", "value", *dimensions])
    for point in points:
        row = [format_timestamp(point.timestamp), repr(point.value)]
        writer.writerow(row + [point.dimensions.get(name, "") for name in dimensions])
    return buffer.getvalue()


@router.get(
    "/{resource_id}/points",
    response_model=PointsPage,
    responses={200: {"content": {"text/csv": {}}, "description": "points as JSON or CSV"}},
)
async def get_points(
    resource_id: str,
    tenant: TenantDep,
    db: DatabaseDep,
    start: Annotated[datetime | None, Query(description="inclusive, ISO 8601 (UTC when no offset)")] = None,
    end: Annotated[datetime | None, Query(description="exclusive, ISO 8601 (UTC when no offset)")] = None,
    limit: Annotated[int, Query(ge=1, le=POINTS_LIMIT_MAX)] = 1000,
    offset: Annotated[int, Query(ge=0, le=OFFSET_MAX)] = 0,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
) -> Response | PointsPage:
    """The resource's points in [start, end), oldest first (none when `end` is not after `start`)."""
    start, end = _utc(start), _utc(end)
    resource = await offload(ResourceRepository(db).get, tenant.tenant_id, resource_id)
    empty = start is not None and end is not None and start >= end
    points = (
        []
        if empty
        else await offload(
            PointRepository(db).range, resource.id, start=start, end=end, limit=limit, offset=offset
        )
    )
    if format == "csv":
        return Response(
            points_csv(points),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{resource.id}.csv"'},
        )
    next_offset = offset + len(points) if len(points) == limit else None
    return PointsPage(
        resource_id=resource.id, items=points, limit=limit, offset=offset, next_offset=next_offset
    )


@router.get("/{resource_id}/availability", response_model=Availability)
async def get_availability(resource_id: str, tenant: TenantDep, db: DatabaseDep) -> Availability:
    """The first and last timestamp and the number of stored points."""
    resource = await offload(ResourceRepository(db).get, tenant.tenant_id, resource_id)
    return await offload(PointRepository(db).availability, resource.id)
