"""Resources of tenants: every read and write is scoped by tenant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import DESCENDING, ReturnDocument
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.errors import NotFoundError
from shared.domain.models import (
    Page,
    ResourceCreate,
    ResourcePublic,
    ResourceRecord,
    ResourceUpdate,
    SourceType,
)
from shared.store import database as collections


def _object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError) as exc:
        raise NotFoundError(f"resource {value!r} not found") from exc


def _resource(document: dict[str, Any]) -> ResourceRecord:
    data = {key: value for key, value in document.items() if key != "_id"}
    return ResourceRecord.model_validate({"id": str(document["_id"]), **data})


def public_resource(record: ResourceRecord) -> ResourcePublic:
    """The client's view of a stored resource."""
    return ResourcePublic.model_validate(record.model_dump(include=set(ResourcePublic.model_fields)))


class ResourceRepository:
    """Resources of tenants; every read and write is scoped by tenant."""

    def __init__(self, db: Database) -> None:
        self.collection = db[collections.RESOURCES]

    def create(self, tenant_id: str, data: ResourceCreate, *, wrapper_id: str) -> ResourceRecord:
        """Store a new resource pointing at its wrapper."""
        now = utcnow()
        document = {
            "tenant_id": tenant_id,
            "wrapper_id": wrapper_id,
            **data.model_dump(mode="json"),
            "startPeriod": None,
            "endPeriod": None,
            "deleted": False,
            "created_at": now,
            "updated_at": now,
        }
        result = self.collection.insert_one(document)
        document["_id"] = result.inserted_id
        return _resource(document)

    def get(self, tenant_id: str, resource_id: str) -> ResourceRecord:
        """A live resource of the tenant, or NotFoundError."""
        # By `_id` alone, the lookup every server serves from its index (SecantusDB scans the collection
        # for a filter with more fields); tenant and deletion are checked here, as the filter did.
        document = self.collection.find_one({"_id": _object_id(resource_id)})
        if document is None or document.get("tenant_id") != tenant_id or document.get("deleted") is not False:
            raise NotFoundError(f"resource {resource_id!r} not found")
        return _resource(document)

    def get_any(self, resource_id: str) -> ResourceRecord:
        """A resource by id, deleted or not, for internal workers."""
        document = self.collection.find_one({"_id": _object_id(resource_id)})
        if document is None:
            raise NotFoundError(f"resource {resource_id!r} not found")
        return _resource(document)

    def list(
        self,
        tenant_id: str,
        *,
        limit: int,
        offset: int,
        name: str | None = None,
        type: str | None = None,
        source_type: SourceType | None = None,
    ) -> Page[ResourcePublic]:
        """A page of the tenant's live resources, newest first, optionally filtered."""
        query: dict[str, Any] = {"tenant_id": tenant_id, "deleted": False}
        if name:
            query["name"] = {"$regex": re.escape(name), "$options": "i"}
        if type:
            query["type"] = type
        if source_type:
            query["source.type"] = source_type.value
        total = self.collection.count_documents(query)
        cursor = self.collection.find(query).sort("created_at", DESCENDING).skip(offset).limit(limit)
        items = [public_resource(_resource(document)) for document in cursor]
        return Page[ResourcePublic](items=items, total=total, limit=limit, offset=offset)

    def update(self, tenant_id: str, resource_id: str, changes: ResourceUpdate) -> ResourceRecord:
        """Apply the given fields to a live resource."""
        fields = changes.model_dump(mode="json", exclude_unset=True)
        fields["updated_at"] = utcnow()
        document = self.collection.find_one_and_update(
            {"_id": _object_id(resource_id), "tenant_id": tenant_id, "deleted": False},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            raise NotFoundError(f"resource {resource_id!r} not found")
        return _resource(document)

    def soft_delete(self, tenant_id: str, resource_id: str) -> ResourceRecord | None:
        """Mark a live resource deleted; None when it was not live (already deleted or unknown)."""
        now = utcnow()
        document = self.collection.find_one_and_update(
            {"_id": _object_id(resource_id), "tenant_id": tenant_id, "deleted": False},
            {"$set": {"deleted": True, "deleted_at": now, "updated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _resource(document) if document is not None else None

    def with_retention(self) -> Iterator[ResourceRecord]:
        """The live resources that keep their points for a limited window."""
        for document in self.collection.find({"deleted": False, "retention": {"$ne": None}}):
            yield _resource(document)

    def set_start_period(self, resource_id: str, first: datetime | None) -> None:
        """Move startPeriod up to the first point left after older points were deleted (none: no period)."""
        fields = {"startPeriod": first} if first is not None else {"startPeriod": None, "endPeriod": None}
        self.collection.update_one({"_id": _object_id(resource_id)}, {"$set": fields})

    def set_periods(self, resource_id: str, *, first: datetime | None, last: datetime | None) -> None:
        """Widen the resource's startPeriod/endPeriod to cover [first, last]."""
        if first is None or last is None:
            return
        oid = _object_id(resource_id)
        self.collection.update_one(
            {"_id": oid, "$or": [{"startPeriod": None}, {"startPeriod": {"$gt": first}}]},
            {"$set": {"startPeriod": first}},
        )
        self.collection.update_one(
            {"_id": oid, "$or": [{"endPeriod": None}, {"endPeriod": {"$lt": last}}]},
            {"$set": {"endPeriod": last}},
        )
