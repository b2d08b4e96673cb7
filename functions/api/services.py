"""What the routes do, beyond reading: writes that must stay consistent with the messages they publish.

Every write that hands work to a queue either publishes or is undone (create, delete), or leaves the
wrapper `failed` with a reason the caller can act on (regenerate, validate, code, source change), so a
503 from the broker never strands a wrapper in a state nothing will move it out of.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import PyMongoError

from functions.api.log import logger
from shared.common.addresses import check_public_url
from shared.common.clock import utcnow
from shared.common.errors import (
    BrokerError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    SourceError,
)
from shared.common.settings import Settings
from shared.domain.lifecycle import (
    IN_PREPARATION,
    LEASE_FIELDS,
    MAY_REGENERATE,
    MAY_REVALIDATE,
    MAY_START,
    VALIDATED,
    WITHOUT_VALIDATED_CODE,
)
from shared.domain.models import (
    CodeReplacement,
    FetchSpecProposal,
    ResourceCreate,
    ResourcePublic,
    ResourceRecord,
    ResourceSource,
    ResourceUpdate,
    RunTrigger,
    Schedule,
    SourceType,
    WrapperMode,
    WrapperPublic,
    WrapperRecord,
    WrapperStatus,
)
from shared.domain.wrapper import FetchSpecPublic, FetchSpecUpdate, hint_problems
from shared.messaging.handover import (
    MessagePublisher,
    publish_generation,
    publish_resource_deleted,
    publish_validation,
)
from shared.store.resources import ResourceRepository, public_resource
from shared.store.wrappers import WrapperRepository, public_wrapper

NOT_NULL_FIELDS = ("name", "type", "unit", "description", "source")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

Publish = Callable[..., None]


def safe_segment(value: str, *, default: str = "_", limit: int = 120) -> str:
    """A path segment of letters, digits, dot, dash and underscore only (no slashes, no leading dot)."""
    cleaned = _UNSAFE.sub("_", value).strip("._")[:limit]
    return cleaned or default


def upload_prefix(tenant_id: str) -> str:
    """Where a tenant's uploads live in the upload bucket."""
    return f"uploads/{safe_segment(tenant_id)}/"


def mode_for(source_type: SourceType, schedule: Schedule | None = None) -> WrapperMode:
    """APIs are polled on a schedule; files are read once, or kept up with when they have a schedule."""
    continuous = source_type == SourceType.API or schedule is not None
    return WrapperMode.CONTINUOUS if continuous else WrapperMode.ONCE


def check_schedule(source: ResourceSource, schedule: Schedule | None) -> None:
    """Refuse a schedule that can never find anything new: one on an uploaded object."""
    if schedule is not None and source.url.startswith("s3://"):
        raise InvalidRequestError(
            "a schedule needs a source that can change",
            fields={
                "body.schedule": "the source is an uploaded object, which never changes; drop the schedule, "
                "or point the resource at an http(s):// URL that is republished"
            },
        )


def indicator_metadata(*, name: str, description: str, unit: str) -> dict[str, Any]:
    """The indicator metadata a wrapper is generated for."""
    return {"name": name, "description": description, "unit": unit}


def check_source(source: ResourceSource, *, tenant_id: str, settings: Settings) -> None:
    """Refuse options that are not layout hints, and sources the tenant may not point at (s3://, API)."""
    problems = hint_problems(source.options)
    if problems:
        raise InvalidRequestError(
            "source.options are not valid layout hints",
            fields={f"body.source.options.{name}": why for name, why in problems},
        )
    if not source.url.startswith("s3://"):
        return
    if source.type == SourceType.API:
        raise InvalidRequestError(
            "the source is not acceptable",
            fields={"body.source.url": "an api source needs an http(s):// URL"},
        )
    if not settings.upload_bucket:
        reason = "s3:// sources are objects uploaded through POST /uploads, and uploads are not configured"
    elif source.url.startswith(f"s3://{settings.upload_bucket}/{upload_prefix(tenant_id)}"):
        return
    else:
        reason = "an s3:// source must be an object uploaded through POST /uploads (use its source.url)"
    # Valid as a URL; what is refused is reading an object that is not this tenant's upload.
    raise ForbiddenError("the source is not one of your uploads", fields={"body.source.url": reason})


def create_resource(
    db: Database, publisher: MessagePublisher, *, tenant_id: str, data: ResourceCreate, settings: Settings
) -> ResourcePublic:
    """Store a resource and its pending wrapper, and queue the wrapper for generation."""
    check_source(data.source, tenant_id=tenant_id, settings=settings)
    check_schedule(data.source, data.schedule)
    wrapper_id = str(uuid.uuid4())
    resource = ResourceRepository(db).create(tenant_id, data, wrapper_id=wrapper_id)
    logger.thread_safe_append_keys(resource_id=resource.id, wrapper_id=wrapper_id)
    try:
        wrapper = WrapperRepository(db).create(
            tenant_id=tenant_id,
            resource_id=resource.id,
            source_type=data.source.type,
            mode=mode_for(data.source.type, data.schedule),
            metadata=indicator_metadata(name=data.name, description=data.description, unit=data.unit),
            wrapper_id=wrapper_id,
        )
        publish_generation(publisher, wrapper)
    except (BrokerError, PyMongoError):
        # Undo, so that the 503 means "nothing happened" and a retry (same Idempotency-Key or not) is safe.
        _discard(db, resource.id, wrapper_id)
        raise
    logger.info("resource created", extra={"source_type": data.source.type.value})
    return public_resource(resource)


def _discard(db: Database, resource_id: str, wrapper_id: str) -> None:
    with suppress(PyMongoError):
        WrapperRepository(db).collection.delete_one({"wrapper_id": wrapper_id})
        ResourceRepository(db).collection.delete_one({"_id": ObjectId(resource_id)})


def update_resource(
    db: Database,
    publisher: MessagePublisher,
    *,
    tenant_id: str,
    resource_id: str,
    changes: ResourceUpdate,
    settings: Settings,
) -> ResourcePublic:
    """Change a resource; a new source sends its wrapper back to generation."""
    nulls = [
        name
        for name in NOT_NULL_FIELDS
        if name in changes.model_fields_set and getattr(changes, name) is None
    ]
    if nulls:
        raise InvalidRequestError(
            "only schedule and retention may be set to null",
            fields={f"body.{name}": "may not be null" for name in nulls},
        )
    resources = ResourceRepository(db)
    wrappers = WrapperRepository(db)
    current = resources.get(tenant_id, resource_id)
    if changes.source is not None:
        check_source(changes.source, tenant_id=tenant_id, settings=settings)
    schedule = changes.schedule if "schedule" in changes.model_fields_set else current.schedule
    check_schedule(changes.source or current.source, schedule)
    new_source = changes.source if changes.source != current.source else None
    if new_source is not None and wrappers.get(current.wrapper_id).status not in MAY_REGENERATE:
        raise _busy(wrappers, current.wrapper_id, action="change the source")
    updated = resources.update(tenant_id, resource_id, changes)
    metadata = indicator_metadata(name=updated.name, description=updated.description, unit=updated.unit)
    if new_source is None:
        if metadata != indicator_metadata(
            name=current.name, description=current.description, unit=current.unit
        ):
            wrappers.update_fields(updated.wrapper_id, {"metadata": metadata}, event="metadata changed")
        _follow_schedule(wrappers, updated)
        return public_resource(updated)
    # The resource changed first, so a generation message already in flight reads the new source.
    moved = wrappers.transition(
        updated.wrapper_id,
        expected=MAY_REGENERATE,
        to=WrapperStatus.PENDING,
        event="source changed",
        fields={
            "source_type": new_source.type.value,
            "mode": mode_for(new_source.type, updated.schedule).value,
            "metadata": metadata,
            "attempts": 0,
            "generator_override": None,
            "feedback": None,
            "validation": None,
            "generated_code": None,
            "fetch_spec": None,
            "fetch_spec_proposal": None,
            "generator": None,
            "rationale": None,
            "inference": None,
            "variants": [],
            # New data: what the old source's water marks said no longer applies.
            "high_water_mark": None,
            "low_water_mark": None,
            "backfill_from": None,
            "next_run_at": None,
        },
        unset=LEASE_FIELDS,
    )
    if moved is None:  # it got busy since the check above: put the resource back as it was
        _restore(resources, tenant_id, resource_id, current, changes)
        raise _busy(wrappers, updated.wrapper_id, action="change the source")
    _hand_over(wrappers, moved, publish_generation, publisher, retry="regenerate")
    return public_resource(updated)


def _follow_schedule(wrappers: WrapperRepository, resource: ResourceRecord) -> None:
    """A file resource given a schedule keeps up with its source; one without goes back to a single read."""
    wrapper = wrappers.get(resource.wrapper_id)
    mode = mode_for(resource.source.type, resource.schedule)
    if wrapper.mode == mode:
        return
    event = "schedule set: kept up with" if mode == WrapperMode.CONTINUOUS else "schedule removed: read once"
    if mode == WrapperMode.CONTINUOUS and wrapper.status == WrapperStatus.COMPLETED:
        # Its one read is done: from now on it runs on the schedule, starting now.
        moved = wrappers.transition(
            wrapper.wrapper_id,
            expected={WrapperStatus.COMPLETED},
            to=WrapperStatus.RUNNING,
            event=event,
            fields={"mode": mode.value, "next_run_at": utcnow()},
        )
        if moved is not None:
            return
    wrappers.update_fields(wrapper.wrapper_id, {"mode": mode.value}, event=event)


def _restore(
    resources: ResourceRepository,
    tenant_id: str,
    resource_id: str,
    current: ResourceRecord,
    changes: ResourceUpdate,
) -> None:
    previous = {name: getattr(current, name) for name in changes.model_fields_set}
    with suppress(NotFoundError):
        resources.update(tenant_id, resource_id, ResourceUpdate.model_validate(previous))


def delete_resource(db: Database, publisher: MessagePublisher, *, tenant_id: str, resource_id: str) -> None:
    """Soft-delete a resource, announce it once, and stop its wrapper."""
    resources = ResourceRepository(db)
    deleted = resources.soft_delete(tenant_id, resource_id)
    if deleted is None:
        raise NotFoundError(f"resource {resource_id!r} not found")
    # Only the request that flipped `deleted` gets here, so the announcement goes out once.
    try:
        publish_resource_deleted(publisher, resource_id=deleted.id, wrapper_id=deleted.wrapper_id)
    except BrokerError:
        resources.collection.update_one(
            {"_id": ObjectId(deleted.id), "deleted": True, "deleted_at": deleted.deleted_at},
            {"$set": {"deleted": False, "deleted_at": None}},
        )
        raise
    with suppress(NotFoundError):
        WrapperRepository(db).stop_for_resource(deleted.id, reason="resource deleted")
    logger.info("resource deleted")


def regenerate_wrapper(
    db: Database, publisher: MessagePublisher, *, tenant_id: str, wrapper_id: str
) -> WrapperPublic:
    """Send a wrapper back to generation from scratch."""
    wrappers = WrapperRepository(db)
    wrappers.get_for_tenant(tenant_id, wrapper_id)
    moved = wrappers.transition(
        wrapper_id,
        expected=MAY_REGENERATE,
        to=WrapperStatus.PENDING,
        event="regenerate requested",
        fields={"attempts": 0, "generator_override": None, "feedback": None, "validation": None},
        unset=LEASE_FIELDS,
    )
    if moved is None:
        raise _busy(wrappers, wrapper_id, action="regenerate it")
    _hand_over(wrappers, moved, publish_generation, publisher, retry="regenerate")
    return public_wrapper(moved)


def validate_wrapper(
    db: Database, publisher: MessagePublisher, *, tenant_id: str, wrapper_id: str
) -> WrapperPublic:
    """Validate a wrapper's current code again."""
    wrappers = WrapperRepository(db)
    wrapper = wrappers.get_for_tenant(tenant_id, wrapper_id)
    if not wrapper.generated_code or not wrapper.fetch_spec:
        raise ConflictError(
            f"wrapper {wrapper_id} has no generated code to validate yet", status=wrapper.status.value
        )
    moved = wrappers.transition(
        wrapper_id,
        expected=MAY_REVALIDATE,
        to=WrapperStatus.VALIDATING,
        event="validation requested",
        fields={"validation": None},
        unset=LEASE_FIELDS,
    )
    if moved is None:
        raise _busy(wrappers, wrapper_id, action="validate it")
    _hand_over(wrappers, moved, publish_validation, publisher, retry="validate")
    return public_wrapper(moved)


def replace_code(
    db: Database, publisher: MessagePublisher, *, tenant_id: str, wrapper_id: str, code: CodeReplacement
) -> WrapperPublic:
    """Store hand-written parse code; it is validated before the wrapper runs again."""
    wrappers = WrapperRepository(db)
    wrapper = wrappers.get_for_tenant(tenant_id, wrapper_id)
    if not wrapper.fetch_spec:
        raise ConflictError(
            f"wrapper {wrapper_id} has no fetch spec yet: replace its code once it has been generated",
            status=wrapper.status.value,
        )
    moved = wrappers.transition(
        wrapper_id,
        expected=MAY_REVALIDATE,
        to=WrapperStatus.VALIDATING,
        event="code replaced",
        fields={
            "generated_code": code.parse_code,
            "generator": "manual",
            "rationale": "replaced by hand",
            "validation": None,
            # They described the generated code; runners-up must not replace the user's code.
            "inference": None,
            "variants": [],
        },
        unset=LEASE_FIELDS,
    )
    if moved is None:
        raise _busy(wrappers, wrapper_id, action="replace its code")
    _hand_over(wrappers, moved, publish_validation, publisher, retry="validate")
    return public_wrapper(moved)


def get_fetch_spec(db: Database, *, tenant_id: str, wrapper_id: str) -> FetchSpecPublic:
    """The wrapper's fetch spec, and one given by PUT while it is being validated."""
    wrapper = WrapperRepository(db).get_for_tenant(tenant_id, wrapper_id)
    if not wrapper.fetch_spec:
        raise ConflictError(f"wrapper {wrapper_id} has no fetch spec yet", status=wrapper.status.value)
    proposal = wrapper.fetch_spec_proposal
    return FetchSpecPublic.model_validate(
        {**wrapper.fetch_spec, "proposed": proposal.fetch_spec if proposal else None}
    )


def replace_fetch_spec(
    db: Database,
    publisher: MessagePublisher,
    *,
    tenant_id: str,
    wrapper_id: str,
    spec: FetchSpecUpdate,
    settings: Settings,
) -> WrapperPublic:
    """Validate a user's fetch spec on a fresh sample; it replaces the wrapper's own only if it validates."""
    wrappers = WrapperRepository(db)
    wrapper = wrappers.get_for_tenant(tenant_id, wrapper_id)
    _check_location(spec.location, tenant_id=tenant_id, settings=settings)
    if not wrapper.generated_code or not wrapper.fetch_spec:
        raise ConflictError(
            f"wrapper {wrapper_id} has no parse code yet: give it a fetch spec once it has been generated",
            status=wrapper.status.value,
        )
    proposal = FetchSpecProposal(
        fetch_spec=spec.to_spec().model_dump(mode="json"), previous_status=wrapper.status
    )
    moved = wrappers.transition(
        wrapper_id,
        expected=MAY_REVALIDATE,
        to=WrapperStatus.VALIDATING,
        event="fetch spec given",
        fields={"fetch_spec_proposal": proposal.model_dump(mode="json")},
        unset=LEASE_FIELDS,
    )
    if moved is None:
        raise _busy(wrappers, wrapper_id, action="replace its fetch spec")
    try:
        publish_validation(publisher, moved, revision=str(int(moved.updated_at.timestamp() * 1000)))
    except BrokerError:
        # Nothing will validate it: withdraw the proposal, the wrapper keeps its spec and status.
        wrappers.transition(
            wrapper_id,
            expected={WrapperStatus.VALIDATING},
            to=wrapper.status,
            event="fetch spec withdrawn",
            reason=wrapper.status_reason,
            fields={"fetch_spec_proposal": None},
        )
        raise
    return public_wrapper(moved)


def _check_location(location: str, *, tenant_id: str, settings: Settings) -> None:
    """Refuse a location the trusted fetcher would refuse, or an object that is not the tenant's upload."""
    if location.startswith("s3://"):
        bucket = settings.upload_bucket
        if bucket and location.startswith(f"s3://{bucket}/{upload_prefix(tenant_id)}"):
            return
        reason = "an s3:// location must be an object uploaded through POST /uploads"
    else:
        try:
            check_public_url(location, settings=settings)
            return
        except SourceError as exc:
            reason = str(exc)
    raise InvalidRequestError("the fetch spec is not acceptable", fields={"body.location": reason})


def _busy(wrappers: WrapperRepository, wrapper_id: str, *, action: str) -> ConflictError:
    wrapper = wrappers.get(wrapper_id)
    status = wrapper.status
    if status in IN_PREPARATION:
        return _conflict(wrapper, f"; {action} when it is done")
    if status == WrapperStatus.STOPPED:
        if _resource_deleted(wrappers.collection.database, wrapper):
            return _deleted_conflict(wrapper_id)
        return _conflict(wrapper, f"; start it first (POST /wrappers/{wrapper_id}/start)")
    return _conflict(wrapper, f"; cannot {action} now")


def _hand_over(
    wrappers: WrapperRepository,
    wrapper: WrapperRecord,
    publish: Publish,
    publisher: MessagePublisher,
    *,
    retry: str,
) -> None:
    try:
        publish(publisher, wrapper, revision=str(int(wrapper.updated_at.timestamp() * 1000)))
    except BrokerError as exc:
        wrappers.transition(
            wrapper.wrapper_id,
            expected={wrapper.status},
            to=WrapperStatus.FAILED,
            event="hand-over failed",
            reason=f"could not be queued ({exc}); retry with POST /wrappers/{wrapper.wrapper_id}/{retry}",
        )
        raise


def start_wrapper(db: Database, *, tenant_id: str, wrapper_id: str) -> WrapperPublic:
    """Run a validated wrapper again: `running`, due now, failures forgotten (idempotent when running)."""
    return _control(
        db,
        tenant_id=tenant_id,
        wrapper_id=wrapper_id,
        expected=MAY_START,
        to=WrapperStatus.RUNNING,
        event="started",
        fields={**_due_now(), "requested_trigger": RunTrigger.START.value},
        action="start it",
        unchanged_when=WrapperStatus.RUNNING,
    )


def stop_wrapper(db: Database, *, tenant_id: str, wrapper_id: str) -> WrapperPublic:
    """Stop scheduling a wrapper; a run in progress finishes (idempotent when stopped)."""
    # The lease stays: a restart must not overlap a run that is still finishing.
    return _control(
        db,
        tenant_id=tenant_id,
        wrapper_id=wrapper_id,
        expected=VALIDATED,
        to=WrapperStatus.STOPPED,
        event="stopped",
        reason="stopped on request",
        fields={"next_run_at": None},
        action="stop it",
        unchanged_when=WrapperStatus.STOPPED,
    )


def run_wrapper_now(db: Database, *, tenant_id: str, wrapper_id: str) -> WrapperPublic:
    """Make a validated, not stopped wrapper due now: the next tick runs it."""
    return _control(
        db,
        tenant_id=tenant_id,
        wrapper_id=wrapper_id,
        expected=VALIDATED,
        to=WrapperStatus.RUNNING,
        event="run requested",
        fields={**_due_now(), "requested_trigger": RunTrigger.RUN_NOW.value},
        action="run it",
    )


def backfill_wrapper(db: Database, *, tenant_id: str, wrapper_id: str, start: datetime) -> WrapperPublic:
    """Re-run a wrapper from `start`: its high water mark goes back there and it is due now."""
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    if start > utcnow():
        raise InvalidRequestError(
            "a backfill cannot start in the future",
            fields={"body.start": "must not be in the future"},
        )
    wrapper = WrapperRepository(db).get_for_tenant(tenant_id, wrapper_id)
    if wrapper.lease_until is not None and wrapper.lease_until > utcnow():
        # The run in progress read the old water mark and would write its own over this one.
        raise ConflictError(
            f"wrapper {wrapper_id} is running right now; backfill when the run is done",
            status=wrapper.status.value,
        )
    return _control(
        db,
        tenant_id=tenant_id,
        wrapper_id=wrapper_id,
        expected=VALIDATED,
        to=WrapperStatus.RUNNING,
        event=f"backfill from {start.isoformat()}",
        fields={
            **_due_now(),
            "high_water_mark": start,
            "requested_trigger": RunTrigger.BACKFILL.value,
            "backfill_from": start,
        },
        action="backfill it",
    )


def _due_now() -> dict[str, Any]:
    return {"next_run_at": utcnow(), "consecutive_failures": 0}


def _control(
    db: Database,
    *,
    tenant_id: str,
    wrapper_id: str,
    expected: frozenset[WrapperStatus],
    to: WrapperStatus,
    event: str,
    fields: dict[str, Any],
    action: str,
    reason: str | None = None,
    unchanged_when: WrapperStatus | None = None,
) -> WrapperPublic:
    wrappers = WrapperRepository(db)
    wrapper = wrappers.get_for_tenant(tenant_id, wrapper_id)
    runs = to == WrapperStatus.RUNNING
    if runs and _resource_deleted(db, wrapper):
        raise _deleted_conflict(wrapper_id)
    moved = wrappers.transition(
        wrapper_id, expected=expected, to=to, event=event, reason=reason, fields=fields
    )
    if moved is None:
        current = wrappers.get(wrapper_id)
        if current.status == unchanged_when:
            return public_wrapper(current)
        raise _control_conflict(current, action=action)
    if runs and _resource_deleted(db, moved):
        # Deleted between the check and the transition, after its stop: stop it again.
        wrappers.transition(
            wrapper_id,
            expected={WrapperStatus.RUNNING},
            to=WrapperStatus.STOPPED,
            event="stopped",
            reason="resource deleted",
            fields={"next_run_at": None},
        )
        raise _deleted_conflict(wrapper_id)
    logger.info("wrapper control", extra={"action": event, "status": moved.status.value})
    return public_wrapper(moved)


def _resource_deleted(db: Database, wrapper: WrapperRecord) -> bool:
    try:
        return ResourceRepository(db).get_any(wrapper.resource_id).deleted
    except NotFoundError:
        return True


def _deleted_conflict(wrapper_id: str) -> ConflictError:
    # Its wrapper is stopped with the resource (or is being stopped right now).
    return ConflictError(
        f"the resource of wrapper {wrapper_id} was deleted; it never runs again",
        status=WrapperStatus.STOPPED.value,
    )


def _conflict(wrapper: WrapperRecord, advice: str) -> ConflictError:
    """The wrapper's status refuses the request; `advice` says what to do instead."""
    status = wrapper.status.value
    return ConflictError(f"wrapper {wrapper.wrapper_id} is {status}{advice}", status=status)


def _control_conflict(wrapper: WrapperRecord, *, action: str) -> ConflictError:
    wrapper_id, status = wrapper.wrapper_id, wrapper.status
    if status in IN_PREPARATION:
        return _conflict(wrapper, f"; {action} once it is ready")
    if status in WITHOUT_VALIDATED_CODE:
        return _conflict(
            wrapper,
            f" and has no validated code; regenerate first (POST /wrappers/{wrapper_id}/regenerate)",
        )
    if status == WrapperStatus.STOPPED:
        return _conflict(wrapper, f"; start it first (POST /wrappers/{wrapper_id}/start)")
    return _conflict(wrapper, f"; cannot {action} now")
