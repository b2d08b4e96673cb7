"""The generate and validate steps the MQ-triggered functions run, one wrapper message at a time.

Every step starts with a guarded claim, so a redelivered message or a second worker changes nothing.
Permanent problems end the wrapper `failed` with a reason; transient faults raise so the trigger
redelivers. When a hand-over message was lost (crash between a status change and its publish), the
next delivery of the earlier message publishes it again.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.errors import (
    GenerationError,
    HintError,
    NoSeriesFoundError,
    NotFoundError,
    SourceError,
    WorkerBusyError,
)
from shared.common.settings import Settings
from shared.domain.lifecycle import IN_PREPARATION, LEASE_FIELDS, clip_reason
from shared.domain.models import ResourceRecord, SourceType, WrapperRecord, WrapperStatus
from shared.domain.wrapper import (
    FetchSpec,
    IndicatorRequest,
    LayoutHints,
    SourceFormat,
    WrapperDraft,
    hint_problems,
)
from shared.flows.fallback import validate_ranked
from shared.generate.base import HEURISTIC, FallbackPolicy, make_generator
from shared.messaging.handover import (
    MessagePublisher,
    publish_generation,
    publish_validation,
)
from shared.source.profile import build_profile
from shared.source.read import SourceData, read_source
from shared.store.prompt_records import PromptRecordRepository
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository
from shared.validate.validation import ValidationReport

SOURCE_FORMATS = {SourceType.CSV: SourceFormat.CSV, SourceType.XLSX: SourceFormat.XLSX}

# The detail of a message for a wrapper that does not exist: the batch parks such a message.
UNKNOWN_WRAPPER = "unknown wrapper"

Action = Literal["generated", "ready", "regenerating", "failed", "stopped", "skipped", "republished"]


class StepOutcome(BaseModel):
    """What a step did with one message."""

    wrapper_id: str
    action: Action
    status: WrapperStatus | None = None
    detail: str = ""


def _active_lease(wrapper: WrapperRecord) -> bool:
    return wrapper.lease_until is not None and wrapper.lease_until > utcnow()


def _recover(
    wrapper: WrapperRecord, publisher: MessagePublisher, *, step: Literal["generate", "validate"]
) -> StepOutcome:
    """Decide what a message for a wrapper that could not be claimed means."""
    if _active_lease(wrapper) and wrapper.status in IN_PREPARATION:
        raise WorkerBusyError(
            f"wrapper {wrapper.wrapper_id} is being {wrapper.status.value} by {wrapper.lease_owner}"
        )
    if step == "generate" and wrapper.status == WrapperStatus.VALIDATING and wrapper.validation is None:
        publish_validation(publisher, wrapper)
        return StepOutcome(wrapper_id=wrapper.wrapper_id, action="republished", status=wrapper.status)
    if step == "validate" and wrapper.status == WrapperStatus.PENDING:
        publish_generation(publisher, wrapper)
        return StepOutcome(wrapper_id=wrapper.wrapper_id, action="republished", status=wrapper.status)
    return StepOutcome(
        wrapper_id=wrapper.wrapper_id,
        action="skipped",
        status=wrapper.status,
        detail=f"wrapper is {wrapper.status}",
    )


def _fail(
    wrappers: WrapperRepository,
    wrapper: WrapperRecord,
    *,
    expected: WrapperStatus,
    reason: str,
    **fields: Any,
) -> StepOutcome:
    wrappers.transition(
        wrapper.wrapper_id,
        expected={expected},
        to=WrapperStatus.FAILED,
        reason=clip_reason(reason),
        fields=fields,
        unset=LEASE_FIELDS,
    )
    return StepOutcome(
        wrapper_id=wrapper.wrapper_id, action="failed", status=WrapperStatus.FAILED, detail=reason
    )


def _read(resource: ResourceRecord, request: IndicatorRequest, settings: Settings) -> SourceData:
    return read_source(
        resource.source.url,
        settings=settings,
        format_hint=SOURCE_FORMATS.get(resource.source.type),
        allow_local_files=False,
        encoding=request.hints.encoding,
    )


def resource_request(resource: ResourceRecord) -> IndicatorRequest:
    """The indicator request of a resource, its `source.options` as layout hints (HintError when invalid)."""
    problems = hint_problems(resource.source.options)
    if problems:
        raise HintError("invalid source.options: " + "; ".join(f"{name}: {why}" for name, why in problems))
    hints = LayoutHints.model_validate(resource.source.options)
    return IndicatorRequest(
        name=resource.name, description=resource.description, unit=resource.unit, hints=hints
    )


def _begin(
    wrappers: WrapperRepository,
    db: Database,
    wrapper_id: str,
    *,
    status: WrapperStatus,
    to: WrapperStatus,
    publisher: MessagePublisher,
    settings: Settings,
    owner: str,
) -> tuple[WrapperRecord, ResourceRecord] | StepOutcome:
    """Claim the wrapper for a step and load its resource, or say why the message needs nothing more."""
    try:
        wrappers.get(wrapper_id)
    except NotFoundError:
        return StepOutcome(wrapper_id=wrapper_id, action="skipped", detail=UNKNOWN_WRAPPER)
    claimed = wrappers.claim(
        wrapper_id, status=status, to=to, owner=owner, lease_seconds=settings.generation_lease_seconds
    )
    if claimed is None:
        step: Literal["generate", "validate"] = "generate" if status == WrapperStatus.PENDING else "validate"
        return _recover(wrappers.get(wrapper_id), publisher, step=step)
    resource = ResourceRepository(db).get_any(claimed.resource_id)
    if resource.deleted:
        wrappers.transition(wrapper_id, expected={to}, to=WrapperStatus.STOPPED, reason="resource deleted")
        return StepOutcome(wrapper_id=wrapper_id, action="stopped", status=WrapperStatus.STOPPED)
    return claimed, resource


def generate_step(
    wrapper_id: str, *, db: Database, publisher: MessagePublisher, settings: Settings, owner: str
) -> StepOutcome:
    """Generate code for a pending wrapper and hand it to validation."""
    wrappers = WrapperRepository(db)
    begun = _begin(
        wrappers,
        db,
        wrapper_id,
        status=WrapperStatus.PENDING,
        to=WrapperStatus.GENERATING,
        publisher=publisher,
        settings=settings,
        owner=owner,
    )
    if isinstance(begun, StepOutcome):
        return begun
    claimed, resource = begun
    try:
        request = resource_request(resource)
        source = _read(resource, request, settings)
        profile = build_profile(source, hints=request.hints)
    except SourceError as exc:
        return _fail(
            wrappers, claimed, expected=WrapperStatus.GENERATING, reason=f"cannot read source: {exc}"
        )
    except HintError as exc:
        return _fail(wrappers, claimed, expected=WrapperStatus.GENERATING, reason=str(exc))
    policy = FallbackPolicy(settings)
    name = policy.choose(claimed.generator_override).name
    generator = make_generator(name, settings=settings)
    if hasattr(generator, "previous_code"):
        # A model regenerating from feedback needs the code the feedback is about.
        generator.previous_code = claimed.generated_code
    try:
        generation = generator.generate(
            profile, request, feedback=claimed.feedback, attempt=claimed.attempts + 1
        )
    except (NoSeriesFoundError, HintError) as exc:
        return _fail(wrappers, claimed, expected=WrapperStatus.GENERATING, reason=str(exc))
    except GenerationError as exc:
        if not policy.falls_back(name, exc):
            return _fail(wrappers, claimed, expected=WrapperStatus.GENERATING, reason=str(exc))
        generation = make_generator(HEURISTIC, settings=settings).generate(profile, request)
        generation.draft.notes.append(policy.reason(exc))
    PromptRecordRepository(db).add(wrapper_id, generation.exchanges)
    draft = generation.draft
    moved = wrappers.transition(
        wrapper_id,
        expected={WrapperStatus.GENERATING},
        to=WrapperStatus.VALIDATING,
        event="generated",
        reason="; ".join(draft.notes) or None,
        fields={
            "generated_code": draft.parse_code,
            "fetch_spec": draft.fetch_spec.model_dump(mode="json"),
            "generator": draft.generator,
            "rationale": draft.rationale,
            "inference": draft.inference.model_dump(mode="json") if draft.inference else None,
            "variants": [variant.model_dump(mode="json") for variant in draft.variants],
            "attempts": claimed.attempts + 1,
            "validation": None,
        },
        unset=LEASE_FIELDS,
    )
    if moved is None:
        return StepOutcome(wrapper_id=wrapper_id, action="skipped", detail="wrapper changed while generating")
    publish_validation(publisher, moved)
    return StepOutcome(wrapper_id=wrapper_id, action="generated", status=moved.status, detail=draft.generator)


def validate_step(
    wrapper_id: str, *, db: Database, publisher: MessagePublisher, settings: Settings, owner: str
) -> StepOutcome:
    """Validate a generated wrapper on a fresh sample: ready, regenerate with the errors, or failed."""
    wrappers = WrapperRepository(db)
    begun = _begin(
        wrappers,
        db,
        wrapper_id,
        status=WrapperStatus.VALIDATING,
        to=WrapperStatus.VALIDATING,
        publisher=publisher,
        settings=settings,
        owner=owner,
    )
    if isinstance(begun, StepOutcome):
        return begun
    claimed, resource = begun
    if not claimed.generated_code or not claimed.fetch_spec:
        return _fail(
            wrappers, claimed, expected=WrapperStatus.VALIDATING, reason="no generated code to validate"
        )
    try:
        request = resource_request(resource)
        source = _read(resource, request, settings)
    except SourceError as exc:
        return _fail(
            wrappers, claimed, expected=WrapperStatus.VALIDATING, reason=f"cannot read source: {exc}"
        )
    except HintError as exc:
        return _fail(wrappers, claimed, expected=WrapperStatus.VALIDATING, reason=str(exc))
    draft = WrapperDraft(
        fetch_spec=FetchSpec.model_validate(claimed.fetch_spec),
        parse_code=claimed.generated_code,
        generator=claimed.generator or "unknown",
        rationale=claimed.rationale or "",
        inference=claimed.inference,
        variants=claimed.variants,
    )
    try:
        outcome = validate_ranked(
            draft, [source.content], request=request, settings=settings, progress=_no_progress, instants=True
        )
    except HintError as exc:
        return _fail(wrappers, claimed, expected=WrapperStatus.VALIDATING, reason=str(exc))
    report = outcome.report
    stored = report.model_dump(mode="json")
    if report.ok:
        # A runner-up that validated replaces the code that failed; the log says what was rejected and why.
        chosen = outcome.draft
        ready = wrappers.transition(
            wrapper_id,
            expected={WrapperStatus.VALIDATING},
            to=WrapperStatus.READY,
            event="validated",
            reason=clip_reason("; ".join(r.line() for r in outcome.rejections)) or None,
            fields={
                "validation": stored,
                "feedback": None,
                "next_run_at": utcnow(),
                "generated_code": chosen.parse_code,
                "rationale": chosen.rationale,
                "inference": chosen.inference.model_dump(mode="json") if chosen.inference else None,
                "variants": [variant.model_dump(mode="json") for variant in chosen.variants],
            },
            unset=LEASE_FIELDS,
        )
        status = ready.status if ready else None
        return StepOutcome(wrapper_id=wrapper_id, action="ready", status=status, detail=_summary(report))
    rejected = "; ".join(r.line() for r in outcome.rejections) if len(outcome.rejections) > 1 else None
    return _after_failed_validation(
        wrappers, claimed, report, publisher=publisher, settings=settings, rejected=rejected
    )


def _no_progress(message: str) -> None:
    return None


def _summary(report: ValidationReport) -> str:
    summary = report.summary
    return f"{summary.count} points in {summary.series} series" if summary else ""


def _after_failed_validation(
    wrappers: WrapperRepository,
    wrapper: WrapperRecord,
    report: ValidationReport,
    *,
    publisher: MessagePublisher,
    settings: Settings,
    rejected: str | None = None,
) -> StepOutcome:
    """Regenerate with the errors while attempts remain (Gemini), fall back to the heuristic, or fail.

    `rejected` names every candidate that was tried and why it failed, when there was more than one.
    """
    stored = report.model_dump(mode="json")
    first = report.errors[0] if report.errors else None
    reason = rejected or (f"{first.stage}/{first.code}: {first.message}" if first else "validation failed")
    plan = FallbackPolicy(settings).after_failed_validation(
        wrapper.generator, override=wrapper.generator_override, attempts=wrapper.attempts
    )
    if plan != "fail":
        fields: dict[str, Any] = {"validation": stored, "feedback": report.feedback()}
        if plan == "fall_back":
            fields["generator_override"] = HEURISTIC
        pending = wrappers.transition(
            wrapper.wrapper_id,
            expected={WrapperStatus.VALIDATING},
            to=WrapperStatus.PENDING,
            event="regenerating",
            reason=clip_reason(reason),
            fields=fields,
            unset=LEASE_FIELDS,
        )
        if pending is not None:
            publish_generation(publisher, pending)
        return StepOutcome(
            wrapper_id=wrapper.wrapper_id, action="regenerating", status=WrapperStatus.PENDING, detail=reason
        )
    return _fail(wrappers, wrapper, expected=WrapperStatus.VALIDATING, reason=reason, validation=stored)
