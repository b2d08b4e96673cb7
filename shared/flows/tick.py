"""One tick of the run_wrappers job: publish what waits in the outbox, then run every due wrapper.

Ticks may overlap (the scheduler starts a task while the last one still runs, or the dev stack ticks
next to a manual run): each wrapper is claimed with a lease, so it runs in one tick only, and a lease
left behind by a killed task expires and is taken over.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime

from pydantic import BaseModel, Field
from pymongo.database import Database
from pymongo.errors import PyMongoError

from shared.common.clock import utcnow
from shared.common.errors import BrokerError, DatabaseUnavailableError
from shared.common.settings import Settings
from shared.domain.health import HealthState
from shared.domain.models import RunPublic, WrapperStatus
from shared.flows.run import run_wrapper
from shared.flows.shutdown import Shutdown
from shared.messaging.broker import Publisher
from shared.store.database import get_database
from shared.store.point_store import PointStore
from shared.store.points import PointRepository
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository, health_policy, wrapper_health


class WrapperOutcome(BaseModel):
    """What one run of a tick did, and the wrapper's status afterwards."""

    run: RunPublic
    status: WrapperStatus


class TickResult(BaseModel):
    """What one tick did."""

    owner: str
    started_at: datetime
    outbox_published: int = 0
    outbox_waiting: int = 0
    points_expired: int = 0
    outcomes: list[WrapperOutcome] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    stopped: bool = Field(default=False, description="a stop (SIGTERM) was requested during the tick")
    stale_wrappers: list[str] = Field(default_factory=list)
    failing_wrappers: list[str] = Field(default_factory=list)

    def lines(self) -> list[str]:
        """One human-readable line per thing that happened."""
        lines = []
        if self.outbox_published:
            lines.append(f"published {self.outbox_published} points waiting in outboxes")
        for outcome in self.outcomes:
            run = outcome.run
            what = (
                f"{run.points_fetched} points ({run.points_new} new, {run.points_revised} revised, "
                f"{run.points_duplicate} unchanged), {run.points_published} published, "
                f"{run.pages} pages, {run.bytes_fetched} bytes in {run.duration_seconds or 0:.2f} s"
            )
            window = ", ".join(f"{name}={value}" for name, value in run.window.items()) or "no window"
            error = f"; error: {run.error}" if run.error else ""
            how = f"{run.trigger.value}; {window}"
            lines.append(f"wrapper {run.wrapper_id} {outcome.status.value} ({how}): {what}{error}")
        if self.points_expired:
            lines.append(f"deleted {self.points_expired} points older than their resource's retention window")
        lines.extend(f"error: {error}" for error in self.errors)
        if self.stale_wrappers:
            lines.append(f"stale (no new data): {', '.join(self.stale_wrappers)}")
        if self.failing_wrappers:
            lines.append(f"failing (runs fail): {', '.join(self.failing_wrappers)}")
        if self.stopped:
            lines.append("stopped early: a stop was requested")
        return lines


def default_owner() -> str:
    """A lease owner name unique to this process and tick."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def tick(
    settings: Settings,
    *,
    owner: str | None = None,
    publisher: Publisher | None = None,
    shutdown: Shutdown | None = None,
) -> TickResult:
    """Flush waiting outboxes, then claim and run due wrappers one by one until none is due or the max."""
    result = TickResult(owner=owner or default_owner(), started_at=utcnow())
    own_publisher = publisher is None
    active = publisher or Publisher(settings)
    try:
        _run_tick(settings, active, result, shutdown=shutdown or Shutdown())
    except PyMongoError as exc:
        first_line = (str(exc) or type(exc).__name__).split("\n")[0].split(", Timeout:")[0]
        raise DatabaseUnavailableError(
            f"MongoDB is unreachable ({type(exc).__name__}): {first_line}"
        ) from exc
    finally:
        if own_publisher:
            active.close()
    return result


def _run_tick(settings: Settings, publisher: Publisher, result: TickResult, *, shutdown: Shutdown) -> None:
    db = get_database(settings)
    store = PointStore(db)
    _flush_outboxes(store, publisher, settings=settings, result=result, shutdown=shutdown)
    wrappers = WrapperRepository(db)
    for _ in range(settings.job_tick_max_wrappers):
        if shutdown.requested:
            break
        claimed = wrappers.claim_due(utcnow(), owner=result.owner, lease_seconds=settings.job_lease_seconds)
        if claimed is None:
            break
        run = run_wrapper(
            claimed, db=db, publisher=publisher, settings=settings, owner=result.owner, shutdown=shutdown
        )
        result.outcomes.append(WrapperOutcome(run=run, status=wrappers.get(claimed.wrapper_id).status))
    result.points_expired = expire_points(db, now=utcnow())
    result.stopped = shutdown.requested
    # What still waits for RabbitMQ after the tick: the next tick publishes it (the OutboxDepth metric).
    result.outbox_waiting = sum(store.unpublished_count(r) for r in store.resources_with_outbox())
    _assess_health(wrappers, settings=settings, result=result)


def _assess_health(wrappers: WrapperRepository, *, settings: Settings, result: TickResult) -> None:
    """Name the stale and the failing wrappers, for the job's metrics and alarms."""
    policy, now = health_policy(settings), utcnow()
    for record in wrappers.watched():
        state = wrapper_health(record, policy=policy, now=now).state
        if state == HealthState.STALE:
            result.stale_wrappers.append(record.wrapper_id)
        elif state == HealthState.FAILING:
            result.failing_wrappers.append(record.wrapper_id)


def expire_points(db: Database, *, now: datetime) -> int:
    """Delete the points outside each resource's retention window, only those; return how many."""
    store, resources, points = PointStore(db), ResourceRepository(db), PointRepository(db)
    expired = 0
    for resource in resources.with_retention():
        if resource.retention is None:
            continue
        deleted = store.delete_before(resource.id, resource.retention.cutoff(now))
        if deleted:
            resources.set_start_period(resource.id, points.availability(resource.id).first)
            expired += deleted
    return expired


def _flush_outboxes(
    store: PointStore, publisher: Publisher, *, settings: Settings, result: TickResult, shutdown: Shutdown
) -> None:
    """Publish points earlier runs stored while RabbitMQ was unreachable."""
    for resource_id in store.resources_with_outbox():
        if shutdown.requested:
            return
        try:
            outbox = store.flush_outbox(resource_id, publisher, batch_size=settings.job_publish_batch_size)
        except BrokerError as exc:
            waiting = sum(store.unpublished_count(r) for r in store.resources_with_outbox())
            result.outbox_waiting = waiting
            result.errors.append(f"RabbitMQ: {waiting} points waiting in the outbox: {exc}")
            return
        result.outbox_published += outbox.published
