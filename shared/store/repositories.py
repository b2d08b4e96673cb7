"""Repositories over the MongoDB collections; they return schema objects, never raw documents."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.common.errors import ResourceServiceError
from shared.domain.models import (
    ApiKeyPublic,
    Availability,
    LogEvent,
    Page,
    PointPublic,
    PromptRecordPublic,
    ResourceCreate,
    ResourcePublic,
    ResourceRecord,
    ResourceUpdate,
    RunPublic,
    SourceType,
    WrapperMode,
    WrapperPublic,
    WrapperRecord,
    WrapperStatus,
    WrapperSummary,
)
from shared.domain.wrapper import Exchange
from shared.points.keys import resource_id_range
from shared.store import database as collections

EXECUTION_LOG_LIMIT = 100
# Statuses the run_wrappers job claims; stopped (deleted resource), completed and error never run.
RUNNABLE = (WrapperStatus.READY, WrapperStatus.RUNNING)
API_KEY_PREFIX = "rs_"
Db = Database


class NotFoundError(ResourceServiceError):
    """The record does not exist (or belongs to another tenant)."""


class ConflictError(ResourceServiceError):
    """The request conflicts with the record's current state."""


def utcnow() -> datetime:
    """The current time in UTC, at millisecond precision as MongoDB stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


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

    def __init__(self, db: Db) -> None:
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


def _wrapper(document: dict[str, Any]) -> WrapperRecord:
    return WrapperRecord.model_validate({k: v for k, v in document.items() if k != "_id"})


def public_wrapper(record: WrapperRecord) -> WrapperPublic:
    """The client's view of a stored wrapper."""
    return WrapperPublic.model_validate(record.model_dump(include=set(WrapperPublic.model_fields)))


def summary_wrapper(record: WrapperRecord) -> WrapperSummary:
    """The list view of a stored wrapper."""
    return WrapperSummary.model_validate(record.model_dump(include=set(WrapperSummary.model_fields)))


def log_event(event: str, detail: str = "") -> dict[str, Any]:
    """A log entry ready to push onto a wrapper's execution log."""
    return LogEvent(at=utcnow(), event=event, detail=detail[:2000]).model_dump()


class WrapperRepository:
    """Generated wrappers; status changes are guarded so redelivery never moves a wrapper backwards."""

    def __init__(self, db: Db) -> None:
        self.collection = db[collections.WRAPPERS]

    def create(
        self,
        *,
        tenant_id: str,
        resource_id: str,
        source_type: SourceType,
        mode: WrapperMode,
        metadata: dict[str, Any],
        wrapper_id: str | None = None,
    ) -> WrapperRecord:
        """Store a new wrapper in status pending."""
        now = utcnow()
        document = {
            "wrapper_id": wrapper_id or str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "resource_id": resource_id,
            "status": WrapperStatus.PENDING.value,
            "status_reason": None,
            "mode": mode.value,
            "source_type": source_type.value,
            "metadata": metadata,
            "attempts": 0,
            "execution_log": [log_event("created")],
            "created_at": now,
            "updated_at": now,
        }
        self.collection.insert_one(document)
        return _wrapper(document)

    def get(self, wrapper_id: str) -> WrapperRecord:
        """A wrapper by id (internal: not tenant-scoped)."""
        document = self.collection.find_one({"wrapper_id": wrapper_id})
        if document is None:
            raise NotFoundError(f"wrapper {wrapper_id!r} not found")
        return _wrapper(document)

    def get_for_tenant(self, tenant_id: str, wrapper_id: str) -> WrapperRecord:
        """A wrapper of the tenant, or NotFoundError."""
        document = self.collection.find_one({"wrapper_id": wrapper_id, "tenant_id": tenant_id})
        if document is None:
            raise NotFoundError(f"wrapper {wrapper_id!r} not found")
        return _wrapper(document)

    def list(
        self, tenant_id: str, *, limit: int, offset: int, status: WrapperStatus | None = None
    ) -> Page[WrapperSummary]:
        """A page of the tenant's wrappers, newest first."""
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if status:
            query["status"] = status.value
        total = self.collection.count_documents(query)
        cursor = self.collection.find(query).sort("created_at", DESCENDING).skip(offset).limit(limit)
        return Page[WrapperSummary](
            items=[summary_wrapper(_wrapper(d)) for d in cursor], total=total, limit=limit, offset=offset
        )

    def transition(
        self,
        wrapper_id: str,
        *,
        expected: set[WrapperStatus],
        to: WrapperStatus,
        fields: dict[str, Any] | None = None,
        event: str | None = None,
        reason: str | None = None,
        unset: tuple[str, ...] = (),
    ) -> WrapperRecord | None:
        """Move a wrapper from one of the expected statuses to `to`; None when it was elsewhere."""
        update: dict[str, Any] = {
            "$set": {"status": to.value, "status_reason": reason, "updated_at": utcnow(), **(fields or {})},
            "$push": {
                "execution_log": {
                    "$each": [log_event(event or to.value, reason or "")],
                    "$slice": -EXECUTION_LOG_LIMIT,
                }
            },
        }
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        document = self.collection.find_one_and_update(
            {"wrapper_id": wrapper_id, "status": {"$in": [s.value for s in expected]}},
            update,
            return_document=ReturnDocument.AFTER,
        )
        return _wrapper(document) if document is not None else None

    def claim(
        self, wrapper_id: str, *, status: WrapperStatus, to: WrapperStatus, owner: str, lease_seconds: int
    ) -> WrapperRecord | None:
        """Lease an unleased (or lease-expired) wrapper in `status` or `to` to `owner` and move it to `to`."""
        now = utcnow()
        document = self.collection.find_one_and_update(
            {
                "wrapper_id": wrapper_id,
                "status": {"$in": [status.value, to.value]},
                "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
            },
            {
                "$set": {
                    "status": to.value,
                    "lease_owner": owner,
                    "lease_until": now + timedelta(seconds=lease_seconds),
                    "updated_at": now,
                },
                "$push": {
                    "execution_log": {"$each": [log_event(to.value, owner)], "$slice": -EXECUTION_LOG_LIMIT}
                },
            },
            return_document=ReturnDocument.AFTER,
        )
        return _wrapper(document) if document is not None else None

    def claim_due(self, now: datetime, *, owner: str, lease_seconds: int) -> WrapperRecord | None:
        """Lease the most overdue ready/running wrapper whose lease is free or expired; mark it running."""
        document = self.collection.find_one_and_update(
            {
                "status": {"$in": [s.value for s in RUNNABLE]},
                "next_run_at": {"$lte": now},
                "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
            },
            {
                "$set": {
                    "status": WrapperStatus.RUNNING.value,
                    "lease_owner": owner,
                    "lease_until": now + timedelta(seconds=lease_seconds),
                    "updated_at": now,
                }
            },
            sort=[("next_run_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return _wrapper(document) if document is not None else None

    def extend_lease(self, wrapper_id: str, *, owner: str, lease_seconds: int) -> bool:
        """Push `owner`'s lease further out; False when another task took the wrapper over.

        A wrapper stopped meanwhile keeps its lease, so its run in progress may finish.
        """
        result = self.collection.update_one(
            {"wrapper_id": wrapper_id, "lease_owner": owner},
            {"$set": {"lease_until": utcnow() + timedelta(seconds=lease_seconds)}},
        )
        return result.matched_count == 1

    def release(
        self,
        wrapper_id: str,
        *,
        owner: str,
        to: WrapperStatus,
        fields: dict[str, Any],
        event: str,
        detail: str = "",
        reason: str | None = None,
    ) -> WrapperRecord | None:
        """End `owner`'s run of a running wrapper: set its outcome and drop the lease.

        None when the wrapper was stopped, regenerated or taken over meanwhile: then nothing changes.
        """
        document = self.collection.find_one_and_update(
            {"wrapper_id": wrapper_id, "status": WrapperStatus.RUNNING.value, "lease_owner": owner},
            {
                "$set": {"status": to.value, "status_reason": reason, "updated_at": utcnow(), **fields},
                "$unset": {"lease_owner": "", "lease_until": ""},
                "$push": {
                    "execution_log": {"$each": [log_event(event, detail)], "$slice": -EXECUTION_LOG_LIMIT}
                },
            },
            return_document=ReturnDocument.AFTER,
        )
        return _wrapper(document) if document is not None else None

    def update_fields(self, wrapper_id: str, fields: dict[str, Any], *, event: str | None = None) -> None:
        """Set fields without changing the status (and log an event)."""
        update: dict[str, Any] = {"$set": {**fields, "updated_at": utcnow()}}
        if event:
            update["$push"] = {"execution_log": {"$each": [log_event(event)], "$slice": -EXECUTION_LOG_LIMIT}}
        self.collection.update_one({"wrapper_id": wrapper_id}, update)

    def stop_for_resource(self, resource_id: str, *, reason: str) -> WrapperRecord | None:
        """Stop the wrapper of a deleted resource, whatever it was doing."""
        return self.transition(
            self._wrapper_id_of(resource_id),
            expected=set(WrapperStatus) - {WrapperStatus.STOPPED},
            to=WrapperStatus.STOPPED,
            event="stopped",
            reason=reason,
            fields={"next_run_at": None},
        )

    def _wrapper_id_of(self, resource_id: str) -> str:
        document = self.collection.find_one({"resource_id": resource_id}, {"wrapper_id": 1})
        if document is None:
            raise NotFoundError(f"no wrapper for resource {resource_id!r}")
        return str(document["wrapper_id"])


def hash_api_key(secret: str) -> str:
    """SHA-256 of an API key: keys are random, so a fast hash is enough and lookups stay indexable."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ApiKeyRepository:
    """API keys, stored hashed, each belonging to one tenant."""

    def __init__(self, db: Db) -> None:
        self.collection = db[collections.API_KEYS]

    def create(self, tenant_id: str, *, name: str = "default") -> tuple[ApiKeyPublic, str]:
        """A new key for the tenant: its public record and the secret (shown only now)."""
        secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyPublic(
            key_id=str(uuid.uuid4()), tenant_id=tenant_id, name=name, prefix=secret[:8], created_at=utcnow()
        )
        self.collection.insert_one(
            {**record.model_dump(), "key_hash": hash_api_key(secret), "revoked": False}
        )
        return record, secret

    def authenticate(self, secret: str) -> ApiKeyPublic | None:
        """The key record for a presented secret, or None."""
        if not secret.startswith(API_KEY_PREFIX):
            return None
        # By the indexed hash alone (see ResourceRepository.get); revocation is checked here.
        document = self.collection.find_one({"key_hash": hash_api_key(secret)})
        if document is None or document.get("revoked") is not False:
            return None
        return ApiKeyPublic.model_validate({k: document[k] for k in ApiKeyPublic.model_fields})


class IdempotencyRepository:
    """Responses of POST requests by Idempotency-Key, so a retried create returns the first result."""

    def __init__(self, db: Db) -> None:
        self.collection = db[collections.IDEMPOTENCY]

    def find(self, tenant_id: str, *, route: str, key: str) -> dict[str, Any] | None:
        """The stored {"request_hash", "status_code", "body"} for a key, if any."""
        document = self.collection.find_one({"tenant_id": tenant_id, "route": route, "key": key})
        if document is None:
            return None
        return {k: document.get(k) for k in ("request_hash", "status_code", "body")}

    def save(
        self, tenant_id: str, *, route: str, key: str, request_hash: str, status_code: int, body: Any
    ) -> bool:
        """Store the response for a key; False when another request stored one first."""
        try:
            self.collection.insert_one(
                {
                    "tenant_id": tenant_id,
                    "route": route,
                    "key": key,
                    "request_hash": request_hash,
                    "status_code": status_code,
                    "body": body,
                    "created_at": utcnow(),
                }
            )
        except DuplicateKeyError:
            return False
        return True


class PromptRecordRepository:
    """Prompts, responses and tool exchanges of generations, for debugging."""

    def __init__(self, db: Db) -> None:
        self.collection = db[collections.PROMPTS]

    def add(self, wrapper_id: str, exchanges: list[Exchange]) -> None:
        """Append a generation's exchanges."""
        if not exchanges:
            return
        now = utcnow()
        self.collection.insert_many(
            [{"wrapper_id": wrapper_id, **e.model_dump(), "created_at": now} for e in exchanges]
        )

    def list(self, wrapper_id: str, *, limit: int = 200) -> list[PromptRecordPublic]:
        """The exchanges of a wrapper, oldest first."""
        cursor = self.collection.find({"wrapper_id": wrapper_id}).sort("created_at", ASCENDING).limit(limit)
        return [
            PromptRecordPublic.model_validate({k: d[k] for k in PromptRecordPublic.model_fields})
            for d in cursor
        ]


class PointRepository:
    """Stored points of resources (one document per series and timestamp, keyed by `_id`)."""

    def __init__(self, db: Db) -> None:
        self.collection = db[collections.POINTS]

    def range(
        self, resource_id: str, *, start: datetime | None, end: datetime | None, limit: int, offset: int = 0
    ) -> list[PointPublic]:
        """Points of a resource in [start, end), oldest first (then by series)."""
        # Point ids sort by resource, time, then series: the window is an `_id` range in the API's order.
        query = {"_id": resource_id_range(resource_id, start=start, end=end)}
        cursor = self.collection.find(query).sort("_id", ASCENDING).skip(offset).limit(limit)
        return [
            PointPublic(timestamp=d["timestamp"], value=d["value"], dimensions=d.get("dimensions") or {})
            for d in cursor
        ]

    def availability(self, resource_id: str) -> Availability:
        """First and last timestamp and the number of points of a resource."""
        query = {"_id": resource_id_range(resource_id)}
        first = self.collection.find_one(query, sort=[("_id", ASCENDING)])
        if first is None:
            return Availability()
        last = self.collection.find_one(query, sort=[("_id", DESCENDING)])
        count = self.collection.count_documents(query)
        return Availability(first=first["timestamp"], last=last["timestamp"] if last else None, count=count)


class RunRepository:
    """The run history of wrappers."""

    def __init__(self, db: Db) -> None:
        self.collection = db[collections.RUNS]

    def start(self, *, wrapper_id: str, resource_id: str, trigger: str) -> RunPublic:
        """Record a run that has begun."""
        run = RunPublic(
            run_id=str(uuid.uuid4()),
            wrapper_id=wrapper_id,
            resource_id=resource_id,
            started_at=utcnow(),
            trigger=trigger,
        )
        self.collection.insert_one(run.model_dump())
        return run

    def finish(self, run: RunPublic) -> RunPublic:
        """Store the final figures of a run."""
        now = utcnow()
        seconds = round((now - run.started_at).total_seconds(), 3)
        finished = run.model_copy(update={"finished_at": now, "duration_seconds": seconds})
        self.collection.replace_one({"run_id": run.run_id}, finished.model_dump())
        return finished

    def list(self, wrapper_id: str, *, limit: int, offset: int) -> Page[RunPublic]:
        """A page of a wrapper's runs, newest first."""
        query = {"wrapper_id": wrapper_id}
        total = self.collection.count_documents(query)
        cursor = self.collection.find(query).sort("started_at", DESCENDING).skip(offset).limit(limit)
        items = [RunPublic.model_validate({k: d.get(k) for k in RunPublic.model_fields}) for d in cursor]
        return Page[RunPublic](items=items, total=total, limit=limit, offset=offset)
