"""Whether a scheduled wrapper is healthy: its data keeps arriving (not `stale`) and its runs succeed.

A wrapper's expected cadence is the longer of its schedule's period and its data's frequency (a monthly
series polled hourly gains a point a month, not an hour); without a schedule, the job's default rate.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from shared.domain.base import DomainModel
from shared.domain.schedule import parse_cron

DAY = 86_400
# The longest step each frequency name (as validation reports it) allows between two points.
FREQUENCY_SECONDS = {
    "annual": 366 * DAY,
    "quarterly": 92 * DAY,
    "monthly": 31 * DAY,
    "weekly": 7 * DAY,
    "daily": DAY,
    "hourly": 3600,
}
_EVERY = re.compile(r"every (\d+) s")


class HealthState(StrEnum):
    """ok; stale (no new data for N cadences); failing (K failed runs in a row); idle (not scheduled)."""

    OK = "ok"
    STALE = "stale"
    FAILING = "failing"
    IDLE = "idle"


class WrapperHealth(DomainModel):
    """A wrapper's health, computed when it is read."""

    state: HealthState
    reason: str = ""
    cadence_seconds: int | None = Field(default=None, description="how often new data is expected")
    consecutive_failures: int = 0


class HealthPolicy(DomainModel):
    """When a wrapper counts as stale or failing."""

    stale_cadences: int = Field(default=3, ge=1)
    failing_runs: int = Field(default=3, ge=1)
    default_rate_seconds: int = Field(default=3600, ge=1)


def frequency_seconds(frequency: object) -> int | None:
    """The step of a frequency name (`monthly`, `every 900 s`), or None when it is not one."""
    if not isinstance(frequency, str):
        return None
    if frequency in FREQUENCY_SECONDS:
        return FREQUENCY_SECONDS[frequency]
    match = _EVERY.fullmatch(frequency)
    return int(match.group(1)) if match else None


def schedule_seconds(*, rate_seconds: int | None, cron: str | None, now: datetime) -> int | None:
    """The period of a schedule: its rate, or the gap between a cron expression's next two times."""
    if rate_seconds:
        return rate_seconds
    if cron:
        expression = parse_cron(cron)
        first = expression.next_after(now)
        return int((expression.next_after(first) - first).total_seconds())
    return None


def expected_cadence(*, schedule: int | None, frequency: int | None, default_rate_seconds: int) -> int:
    """How often new data is expected: the longer of the schedule's period and the data's frequency."""
    known = [seconds for seconds in (schedule, frequency) if seconds]
    return max(known) if known else default_rate_seconds


def wrapper_cadence(
    *,
    rate_seconds: int | None,
    cron: str | None,
    validation: dict[str, object] | None,
    default_rate_seconds: int,
    now: datetime,
) -> int:
    """The expected cadence of a wrapper from its resource's schedule and its validated data's frequency."""
    summary = (validation or {}).get("summary")
    frequency = frequency_seconds(summary.get("frequency")) if isinstance(summary, dict) else None
    return expected_cadence(
        schedule=schedule_seconds(rate_seconds=rate_seconds, cron=cron, now=now),
        frequency=frequency,
        default_rate_seconds=default_rate_seconds,
    )


def assess_health(
    *,
    scheduled: bool,
    newest: datetime | None,
    consecutive_failures: int,
    cadence_seconds: int,
    now: datetime,
    policy: HealthPolicy,
) -> WrapperHealth:
    """The health of a wrapper whose newest point (or creation) is `newest`; failing beats stale."""
    if not scheduled:
        return WrapperHealth(state=HealthState.IDLE, consecutive_failures=consecutive_failures)
    if consecutive_failures >= policy.failing_runs:
        reason = f"{consecutive_failures} runs in a row failed (failing from {policy.failing_runs})"
        state = HealthState.FAILING
    elif newest is not None and now - newest > timedelta(seconds=cadence_seconds * policy.stale_cadences):
        reason = (
            f"no new data since {newest.isoformat()}: older than {policy.stale_cadences} cadences "
            f"of {cadence_seconds} s"
        )
        state = HealthState.STALE
    else:
        state, reason = HealthState.OK, ""
    return WrapperHealth(
        state=state, reason=reason, cadence_seconds=cadence_seconds, consecutive_failures=consecutive_failures
    )
