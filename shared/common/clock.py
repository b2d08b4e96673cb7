"""The service's clock: UTC, at the precision MongoDB stores."""

from __future__ import annotations

from datetime import UTC, datetime


def to_milliseconds(moment: datetime) -> datetime:
    """The moment cut to milliseconds, as MongoDB keeps it, so it compares equal after a round trip."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    """The current time in UTC, at millisecond precision as MongoDB stores it."""
    return to_milliseconds(datetime.now(UTC))


def to_utc(moment: datetime) -> datetime:
    """The moment in UTC (naive read as UTC), clamped to the datetimes UTC can hold (years 1 to 9999)."""
    # `0001-01-01T00:00:00+05:00` is a valid RFC 3339 time whose UTC instant lies before year 1: clamped,
    # it still bounds what it was meant to bound instead of failing the conversion (or BSON's).
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == datetime.min.year else datetime.max
        return edge.replace(tzinfo=UTC)
