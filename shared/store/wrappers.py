"""Generated wrappers; status changes are guarded so redelivery never moves a wrapper backwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.errors import NotFoundError
from shared.common.settings import Settings, get_settings
from shared.domain.health import HealthPolicy, WrapperHealth, assess_health, wrapper_cadence
from shared.domain.lifecycle import (
    LEASE_FIELDS,
    LEASE_OWNER,
    LEASE_UNTIL,
    NOT_STOPPED,
    SCHEDULED,
    WATCHED,
    clip_reason,
)
from shared.domain.models import (
    LogEvent,
    Page,
    SourceType,
    WrapperMode,
    WrapperPublic,
    WrapperRecord,
    WrapperStatus,
    WrapperSummary,
)
from shared.store import database as collections

EXECUTION_LOG_LIMIT = 100


def _wrapper(document: dict[str, Any]) -> WrapperRecord:
    return WrapperRecord.model_validate({k: v for k, v in document.items() if k != "_id"})


def health_policy(settings: Settings | None = None) -> HealthPolicy:
    """The stale and failing thresholds of the settings."""
    settings = settings or get_settings()
    return HealthPolicy(
        stale_cadences=settings.health_stale_cadences,
        failing_runs=settings.health_failing_runs,
        default_rate_seconds=settings.job_default_rate_seconds,
    )


def wrapper_health(
    record: WrapperRecord, *, policy: HealthPolicy | None = None, now: datetime | None = None
) -> WrapperHealth:
    """Whether a wrapper's data keeps arriving and its runs succeed, as of `now`."""
    policy = policy or health_policy()
    cadence = record.cadence_seconds or wrapper_cadence(
        rate_seconds=None,
        cron=None,
        validation=record.validation,
        default_rate_seconds=policy.default_rate_seconds,
        now=now or utcnow(),
    )
    return assess_health(
        scheduled=record.mode == WrapperMode.CONTINUOUS and record.status in WATCHED,
        newest=record.high_water_mark or record.created_at,
        consecutive_failures=record.consecutive_failures,
        cadence_seconds=cadence,
        now=now or utcnow(),
        policy=policy,
    )


def public_wrapper(record: WrapperRecord) -> WrapperPublic:
    """The client's view of a stored wrapper, with its health."""
    fields = record.model_dump(include=set(WrapperPublic.model_fields) - {"health"})
    return WrapperPublic.model_validate({**fields, "health": wrapper_health(record)})


def summary_wrapper(record: WrapperRecord, *, policy: HealthPolicy | None = None) -> WrapperSummary:
    """The list view of a stored wrapper, with its health."""
    fields = record.model_dump(include=set(WrapperSummary.model_fields) - {"health"})
    return WrapperSummary.model_validate({**fields, "health": wrapper_health(record, policy=policy)})


def log_event(event: str, detail: str = "") -> dict[str, Any]:
    """A log entry ready to push onto a wrapper's execution log."""
    return LogEvent(at=utcnow(), event=event, detail=clip_reason(detail)).model_dump()


def _lease_free(now: datetime) -> dict[str, Any]:
    """The filter of a wrapper nobody holds: never leased, released, or its lease expired."""
    return {"$or": [{LEASE_UNTIL: None}, {LEASE_UNTIL: {"$lt": now}}]}


def _lease(owner: str, now: datetime, seconds: int) -> dict[str, Any]:
    """The fields of `owner`'s lease for `seconds` from now."""
    return {LEASE_OWNER: owner, LEASE_UNTIL: now + timedelta(seconds=seconds)}


class WrapperRepository:
    """Generated wrappers; status changes are guarded so redelivery never moves a wrapper backwards."""

    def __init__(self, db: Database) -> None:
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
        policy = health_policy()
        return Page[WrapperSummary](
            items=[summary_wrapper(_wrapper(d), policy=policy) for d in cursor],
            total=total,
            limit=limit,
            offset=offset,
        )

    def watched(self) -> Iterator[WrapperRecord]:
        """The continuous wrappers whose health is watched (scheduled or in error), without their code."""
        cursor = self.collection.find(
            {"mode": WrapperMode.CONTINUOUS.value, "status": {"$in": [s.value for s in WATCHED]}},
            {"generated_code": 0, "execution_log": 0, "variants": 0, "inference": 0},
        )
        for document in cursor:
            yield _wrapper(document)

    def transition(
        self,
        wrapper_id: str,
        *,
        expected: AbstractSet[WrapperStatus],
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
                **_lease_free(now),
            },
            {
                "$set": {"status": to.value, **_lease(owner, now, lease_seconds), "updated_at": now},
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
                "status": {"$in": [s.value for s in SCHEDULED]},
                "next_run_at": {"$lte": now},
                **_lease_free(now),
            },
            {
                "$set": {
                    "status": WrapperStatus.RUNNING.value,
                    **_lease(owner, now, lease_seconds),
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
            {"wrapper_id": wrapper_id, LEASE_OWNER: owner},
            {"$set": _lease(owner, utcnow(), lease_seconds)},
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
            {"wrapper_id": wrapper_id, "status": WrapperStatus.RUNNING.value, LEASE_OWNER: owner},
            {
                "$set": {"status": to.value, "status_reason": reason, "updated_at": utcnow(), **fields},
                "$unset": dict.fromkeys(LEASE_FIELDS, ""),
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
            expected=NOT_STOPPED,
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
