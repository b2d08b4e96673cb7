"""One run of a claimed wrapper: fetch, parse in the sandbox, store, publish, then move the water marks.

The point store keeps an outbox: points are stored and queued first, then published with publisher
confirms, and the water marks move only when everything queued for the resource is confirmed. A run that dies
or loses the broker half way leaves the water marks where they were, so the next run fetches the
same window again; the point store makes that idempotent and the next tick publishes what waits.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import nullcontext
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from shared.common.clock import utcnow
from shared.common.errors import (
    BrokerError,
    HintError,
    JobStoppedError,
    LeaseLostError,
    NotFoundError,
    OutboxPendingError,
    ResourceServiceError,
    RunFailedError,
)
from shared.common.settings import Settings
from shared.domain.health import wrapper_cadence
from shared.domain.lifecycle import clip_reason
from shared.domain.models import (
    ResourceRecord,
    RunPublic,
    RunStatus,
    RunTrigger,
    SourceValidators,
    WrapperMode,
    WrapperRecord,
    WrapperStatus,
)
from shared.domain.schedule import failure_backoff, next_run_at
from shared.domain.wrapper import FetchSpec, SourceFormat
from shared.flows.shutdown import Shutdown
from shared.flows.steps import resource_request
from shared.messaging.broker import CollectedDataMessage, Publisher, collected_data
from shared.messaging.queues import COLLECTED_DATA_QUEUE
from shared.points.point import PointSequence, format_timestamp
from shared.sandbox.run import SandboxLimits, prepare_sandbox, run_parse
from shared.source.fetch_plan import FetchResult, fetch_if_changed, fetch_pages
from shared.store.point_store import PointStore
from shared.store.resources import ResourceRepository
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository
from shared.validate.validation import ZONE_REQUIRED, PointBuilder, check_built

logger = logging.getLogger(__name__)
# A run records this many page requests at most (the count is in `pages`).
RECORDED_REQUESTS = 200
# A run that succeeded has done what was asked of it: the next one is the schedule's, with the usual window.
# A failed run keeps them, so its retries are still the backfill (or run-now) that was asked for.
REQUEST_DONE: dict[str, Any] = {"requested_trigger": None, "backfill_from": None}
# Sources read whole: on a schedule they are fetched only when they changed upstream.
FILE_FORMATS = frozenset({SourceFormat.CSV, SourceFormat.XLSX})


def run_wrapper(
    wrapper: WrapperRecord,
    *,
    db: Database,
    publisher: Publisher,
    settings: Settings,
    owner: str,
    trigger: RunTrigger | None = None,
    shutdown: Shutdown | None = None,
) -> RunPublic:
    """Run a wrapper `owner` has claimed, record the run, and release the wrapper with its next state.

    The trigger is what asked for the run (`run-now`, `backfill`, `start` on the wrapper), else the schedule.
    Runs of the wrapper left open by a process that died are closed as abandoned first.
    """
    runs = RunRepository(db)
    run_id = str(uuid.uuid4())
    runs.abandon_unfinished(wrapper.wrapper_id, taken_over_by=run_id)
    run = runs.start(
        wrapper_id=wrapper.wrapper_id,
        resource_id=wrapper.resource_id,
        trigger=trigger or wrapper.requested_trigger or RunTrigger.SCHEDULE,
        run_id=run_id,
    )
    execution = _Execution(
        wrapper, run, db=db, publisher=publisher, settings=settings, owner=owner, shutdown=shutdown
    )
    execution.execute()
    return runs.finish(execution.run)


class _Execution:
    """The state of one run while it goes through its stages."""

    def __init__(
        self,
        wrapper: WrapperRecord,
        run: RunPublic,
        *,
        db: Database,
        publisher: Publisher,
        settings: Settings,
        owner: str,
        shutdown: Shutdown | None = None,
    ) -> None:
        self.wrapper = wrapper
        self.run = run
        self.publisher = publisher
        self.settings = settings
        self.owner = owner
        self.wrappers = WrapperRepository(db)
        self.resources = ResourceRepository(db)
        self.store = PointStore(db)
        self.first: datetime | None = None
        self.last: datetime | None = None
        self.complete = True
        self.validators: SourceValidators | None = None
        self.shutdown = shutdown

    def execute(self) -> None:
        """Run every stage; turn the outcome into the wrapper's next state (MongoDB faults propagate)."""
        try:
            resource = self.resources.get_any(self.wrapper.resource_id)
        except NotFoundError:
            resource = None
        if resource is None or resource.deleted:
            self._stop()
            return
        try:
            self._collect(resource)
        except PyMongoError:
            raise
        except JobStoppedError as exc:
            self._after_interrupt(exc)
        except LeaseLostError as exc:
            self.run.error = str(exc)
            self.run.status = RunStatus.FAILED
        except BrokerError as exc:
            self._after_broker_fault(exc)
        except Exception as exc:  # any fault of this wrapper is recorded on it; the tick goes on
            self._after_failure(exc)
        else:
            self._after_success(resource)

    def _collect(self, resource: ResourceRecord) -> None:
        spec, code = self._wrapper_parts()
        parsed = self._fetch_and_parse(spec, code, resource)
        if parsed is None:
            return  # the file has not changed upstream: nothing to parse, store or publish
        points, collected = parsed
        self.run.points_fetched = len(points)
        if resource.retention is not None:
            # Points outside the window would be stored and published only for the next tick to delete them.
            points = points.since(resource.retention.cutoff(utcnow()))
        span = points.span()
        if span is not None:
            self.first, self.last = span
        self._keep_lease()
        stored = self.store.store(resource.id, points)
        self.run.points_new = stored.new
        self.run.points_revised = stored.revised
        self.run.points_duplicate = stored.duplicate
        self.resources.set_periods(resource.id, first=self.first, last=self.last)
        self._keep_lease()
        self._publish(resource, collected)

    def _fetch_and_parse(
        self, spec: FetchSpec, code: str, resource: ResourceRecord
    ) -> tuple[PointSequence, list[CollectedDataMessage]] | None:
        """The source's points and its pages' raw messages; None when a kept-up file has not changed."""
        # What is published of the pages (cut to `collected_data_max_bytes`) is made here, and the parse lets
        # go of their bytes once the child has them: the source is not held while its points are parsed,
        # checked, stored and published.
        kept_up_file = self.wrapper.mode == WrapperMode.CONTINUOUS and spec.format in FILE_FORMATS
        # The sandbox child starts while the source is fetched.
        prepare_sandbox(self.settings)
        with self.shutdown.interruptible() if self.shutdown else nullcontext():
            fetched = self._fetch_changed_file(spec) if kept_up_file else self._fetch(spec)
        if fetched is None:
            return None
        self.run.pages = len(fetched.pages)
        self.run.bytes_fetched = fetched.bytes_fetched
        self.complete = fetched.complete
        collected = [
            collected_data(
                resource.id,
                page.content,
                limit=self.settings.collected_data_max_bytes,
                content_type=page.content_type,
                wrapper_id=self.wrapper.wrapper_id,
            )
            for page in fetched.pages
        ]
        payloads = fetched.payloads()
        del fetched  # the payloads are the pages' only bytes now, and the parse empties that list
        self._keep_lease()
        return self._parse(code, spec, payloads, resource), collected

    def _fetch(self, spec: FetchSpec) -> FetchResult:
        """Fetch the window this run asks for, and record the window and every page request on the run."""
        continuous = self.wrapper.mode == WrapperMode.CONTINUOUS
        if not continuous:
            spec = spec.model_copy(update={"water_mark": None})  # a one-off run reads the URL as given
        fetched = fetch_pages(
            spec,
            settings=self.settings,
            high_water_mark=self.wrapper.high_water_mark if continuous else None,
            # A backfill fetches from its date: no lookback before it.
            start=self.wrapper.backfill_from if continuous else None,
        )
        self.run.window = fetched.window
        self.run.window_start = fetched.window_start
        self.run.requests = fetched.requests[:RECORDED_REQUESTS]
        self.run.stop_reason = fetched.stop_reason
        return fetched

    def _fetch_changed_file(self, spec: FetchSpec) -> FetchResult | None:
        """A scheduled file, fetched conditionally; None (and the note `unchanged`) when it is the same."""
        fetch = fetch_if_changed(spec, settings=self.settings, validators=self.wrapper.source_validators)
        self.validators = fetch.validators
        self.run.requests = fetch.requests
        if fetch.result is None:
            self.run.note = f"unchanged ({fetch.how})"
        return fetch.result

    def _wrapper_parts(self) -> tuple[FetchSpec, str]:
        if not self.wrapper.fetch_spec or not self.wrapper.generated_code:
            raise RunFailedError("the wrapper has no fetch spec or parse code")
        return FetchSpec.model_validate(self.wrapper.fetch_spec), self.wrapper.generated_code

    def _parse(
        self, code: str, spec: FetchSpec, payloads: list[bytes], resource: ResourceRecord
    ) -> PointSequence:
        request = resource_request(resource)
        context = {
            "indicator": request.model_dump(),
            "source": {"location": spec.location, "format": spec.format.value},
            "high_water_mark": _iso(self.wrapper.high_water_mark),
            "low_water_mark": _iso(self.wrapper.low_water_mark),
        }
        # Points are checked and kept as columns as they stream in, not held as the child's raw rows.
        builder = PointBuilder()
        result = run_parse(
            code,
            payloads,
            context=context,
            limits=SandboxLimits.from_settings(self.settings),
            on_points=builder.add,
            warm_start=self.settings.sandbox_warm_start,
            release_payloads=True,  # the child reads them from its files: the run need not hold them
        )
        if not result.ok:
            raise RunFailedError(f"parse failed: {result.error_type}: {result.error}")
        # Kept as columns through the clocks, the checks and the retention window: the store makes documents
        # a chunk at a time, so the caller never holds an object per point.
        try:
            checked = check_built(builder, zone=request.hints.timezone)
        except HintError as exc:
            raise RunFailedError(str(exc)) from exc
        if checked.issues:
            raise RunFailedError(f"invalid points: {checked.issues[0].message}")
        if checked.clock.wall_clocks:
            raise RunFailedError(f"unknown_timezone: {ZONE_REQUIRED}")
        for problem in checked.problems:
            # An incremental window may well be empty; a file that yields nothing is broken.
            empty_window = problem.code == "no_points" and self.wrapper.mode == WrapperMode.CONTINUOUS
            if problem.code in ("no_points", "duplicate_points") and not empty_window:
                raise RunFailedError(f"{problem.code}: {problem.message}")
        return checked.points

    def _publish(self, resource: ResourceRecord, collected: list[CollectedDataMessage]) -> None:
        try:
            outbox = self.store.flush_outbox(
                resource.id, self.publisher, batch_size=self.settings.job_publish_batch_size
            )
        except BrokerError as exc:
            waiting = self.store.unpublished_count(resource.id)
            raise OutboxPendingError(f"{waiting} points waiting in the outbox: {exc}") from exc
        self.run.points_published = outbox.published
        if outbox.remaining:
            raise OutboxPendingError(f"{outbox.remaining} points waiting in the outbox")
        try:
            for message in collected:
                self.publisher.publish(COLLECTED_DATA_QUEUE, message)
        except BrokerError as exc:
            raise OutboxPendingError(f"the raw payload was not published: {exc}") from exc

    def _keep_lease(self) -> None:
        if self.shutdown is not None:
            self.shutdown.check()
        extended = self.wrappers.extend_lease(
            self.wrapper.wrapper_id, owner=self.owner, lease_seconds=self.settings.job_lease_seconds
        )
        if not extended:
            raise LeaseLostError(
                f"wrapper {self.wrapper.wrapper_id} was taken over or regenerated during the run"
            )

    def _stop(self) -> None:
        self.run.error = "the resource was deleted; the wrapper is stopped"
        self.run.status = RunStatus.FAILED
        self._release(
            WrapperStatus.STOPPED,
            fields={"next_run_at": None, **REQUEST_DONE},
            event="stopped",
            reason="resource deleted",
        )

    def _after_success(self, resource: ResourceRecord) -> None:
        high = _later(self.wrapper.high_water_mark, self.last)
        low = _earlier(self.wrapper.low_water_mark, self.first)
        self.run.high_water_mark = high
        self.run.status = RunStatus.SUCCEEDED
        fields: dict[str, Any] = {
            "high_water_mark": high,
            "low_water_mark": low,
            "consecutive_failures": 0,
            **REQUEST_DONE,
        }
        fields["cadence_seconds"] = wrapper_cadence(
            rate_seconds=resource.schedule.rate_seconds if resource.schedule else None,
            cron=resource.schedule.cron if resource.schedule else None,
            validation=self.wrapper.validation,
            default_rate_seconds=self.settings.job_default_rate_seconds,
            now=utcnow(),
        )
        if self.validators is not None:
            fields["source_validators"] = self.validators.model_dump()
        run = self.run
        detail = (
            f"{run.points_fetched} points: {run.points_new} new, {run.points_revised} revised, "
            f"{run.points_duplicate} unchanged; {run.points_published} published"
        )
        if run.note:
            detail = f"{run.note}: {detail}"
        if not self.complete:
            detail += f"; {self.run.stop_reason} (the high water mark is where this run got to)"
        if self.wrapper.mode == WrapperMode.ONCE:
            self._release(
                WrapperStatus.COMPLETED,
                fields={**fields, "next_run_at": None},
                event="completed",
                detail=detail,
            )
            return
        upcoming = next_run_at(
            resource.schedule, after=utcnow(), default_rate_seconds=self.settings.job_default_rate_seconds
        )
        self._release(
            WrapperStatus.RUNNING, fields={**fields, "next_run_at": upcoming}, event="run", detail=detail
        )

    def _after_interrupt(self, exc: JobStoppedError) -> None:
        # Not the wrapper's fault and nothing moved: due again now, for the next tick to take over.
        self.run.error = str(exc)
        self.run.status = RunStatus.INTERRUPTED
        self._release(
            WrapperStatus.RUNNING,
            fields={"next_run_at": utcnow()},
            event="run interrupted",
            reason=str(exc),
        )

    def _after_broker_fault(self, exc: BrokerError) -> None:
        # Not the wrapper's fault: retried soon, without counting towards `error`.
        reason = _text(exc)
        self.run.error = reason
        self.run.status = RunStatus.FAILED
        retry = utcnow() + self._backoff(1)
        self._release(
            WrapperStatus.RUNNING, fields={"next_run_at": retry}, event="run incomplete", reason=reason
        )

    def _after_failure(self, exc: Exception) -> None:
        reason = (
            _text(exc) if isinstance(exc, ResourceServiceError) else f"{type(exc).__name__}: {_text(exc)}"
        )
        self.run.error = reason
        self.run.status = RunStatus.FAILED
        failures = self.wrapper.consecutive_failures + 1
        limit = self.settings.job_max_consecutive_failures
        if failures >= limit:
            self._release(
                WrapperStatus.ERROR,
                fields={"consecutive_failures": failures, "next_run_at": None},
                event="error",
                reason=clip_reason(f"{failures} runs in a row failed; last: {reason}"),
            )
            return
        retry = utcnow() + self._backoff(failures)
        self._release(
            WrapperStatus.RUNNING,
            fields={"consecutive_failures": failures, "next_run_at": retry},
            event="run failed",
            reason=clip_reason(f"run failed ({failures} of {limit} before error): {reason}"),
        )

    def _backoff(self, failures: int) -> timedelta:
        return failure_backoff(
            failures,
            base_seconds=self.settings.job_backoff_base_seconds,
            max_seconds=self.settings.job_backoff_max_seconds,
        )

    def _release(
        self,
        to: WrapperStatus,
        *,
        fields: dict[str, Any],
        event: str,
        detail: str = "",
        reason: str | None = None,
    ) -> None:
        released = self.wrappers.release(
            self.wrapper.wrapper_id,
            owner=self.owner,
            to=to,
            fields=fields,
            event=event,
            detail=detail or reason or "",
            reason=reason,
        )
        if released is None:
            # Stopped, regenerated or taken over meanwhile: whoever changed it decides its state now.
            logger.warning("wrapper %s changed during its run; left as it is", self.wrapper.wrapper_id)


def _iso(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


def _later(current: datetime | None, seen: datetime | None) -> datetime | None:
    if current is None or seen is None:
        return seen or current
    return max(current, seen)


def _earlier(current: datetime | None, seen: datetime | None) -> datetime | None:
    if current is None or seen is None:
        return seen or current
    return min(current, seen)


def _text(exc: BaseException) -> str:
    return clip_reason(str(exc) or type(exc).__name__)
