"""The wrapper life cycle: which statuses allow what, the lease fields, and how long a stored reason may be.

pending → generating → validating → ready ⇄ running → completed | error; failed and stopped on the side.
"""

from __future__ import annotations

from shared.domain.models import WrapperStatus

# A generate or validate step is working on the wrapper: requests wait until it is done.
IN_PREPARATION = frozenset({WrapperStatus.GENERATING, WrapperStatus.VALIDATING})
NOT_STOPPED = frozenset(set(WrapperStatus) - {WrapperStatus.STOPPED})
MAY_REGENERATE = NOT_STOPPED - IN_PREPARATION
# The code has passed validation: the only statuses the job may run.
VALIDATED = frozenset(
    {WrapperStatus.READY, WrapperStatus.RUNNING, WrapperStatus.COMPLETED, WrapperStatus.ERROR}
)
# Validated code, or code that failed validation and may be checked (or replaced) again.
MAY_REVALIDATE = VALIDATED | {WrapperStatus.FAILED}
MAY_START = VALIDATED - {WrapperStatus.RUNNING} | {WrapperStatus.STOPPED}
WITHOUT_VALIDATED_CODE = frozenset({WrapperStatus.PENDING, WrapperStatus.FAILED})
# On the schedule: what the run_wrappers job claims when due (completed, error and stopped never run).
SCHEDULED = frozenset({WrapperStatus.READY, WrapperStatus.RUNNING})
# Whose health (stale, failing) is watched: on the schedule, or stopped by failures.
WATCHED = SCHEDULED | {WrapperStatus.ERROR}

LEASE_OWNER = "lease_owner"
LEASE_UNTIL = "lease_until"
LEASE_FIELDS = (LEASE_OWNER, LEASE_UNTIL)

# Reasons and log details are kept short: they are stored on the wrapper and shown to clients.
REASON_LIMIT = 2000


def clip_reason(text: str) -> str:
    """The text cut to the length a stored reason may have."""
    return text[:REASON_LIMIT]
