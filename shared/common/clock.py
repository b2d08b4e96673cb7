"""The service's clock: UTC, at the precision MongoDB stores."""

from __future__ import annotations

from datetime import UTC, datetime


def to_milliseconds(moment: datetime) -> datetime:
    """The moment cut to milliseconds, as MongoDB keeps it, so it compares equal after a round trip."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    """The current time in UTC, at millisecond precision as MongoDB stores it."""
    return to_milliseconds(datetime.now(UTC))
