"""Point identities: the `_id` of a stored point, which sorts a resource's points by time, then series.

Kept apart from shared.store.point_store so that readers (the API) need neither pika nor the outbox.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from shared.common.clock import to_milliseconds

KEY_SEPARATOR = "|"


def series_key(dimensions: dict[str, str]) -> str:
    """Name one series canonically: its dimensions as sorted, compact JSON."""
    return json.dumps(dimensions, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stored_timestamp(moment: datetime) -> datetime:
    """The timestamp as MongoDB keeps it: milliseconds, so keys compare equal after a round trip."""
    return to_milliseconds(moment)


def key_timestamp(moment: datetime) -> str:
    """A timestamp as it appears in point ids: UTC (naive is read as UTC), fixed width, milliseconds."""
    if moment.utcoffset():
        moment = moment.astimezone(UTC)
    fields = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (*fields, moment.microsecond // 1000)  # noqa: UP031


def resource_prefix(resource_id: str) -> str:
    """What every point id of the resource starts with."""
    if KEY_SEPARATOR in resource_id:
        raise ValueError(f"a resource id must not contain {KEY_SEPARATOR!r}: {resource_id!r}")
    return resource_id + KEY_SEPARATOR


def point_id(resource_id: str, moment: datetime, *, series: str) -> str:
    """The `_id` of a stored point: resource, UTC timestamp in milliseconds, series key."""
    return f"{resource_prefix(resource_id)}{key_timestamp(moment)}{KEY_SEPARATOR}{series}"


def resource_id_range(
    resource_id: str, *, start: datetime | None = None, end: datetime | None = None
) -> dict[str, str]:
    """A filter on `_id` for the resource's points in [start, end) (UTC), either end open when None."""
    prefix = resource_prefix(resource_id)
    # The character after the separator bounds every id that starts with the prefix from above.
    upper = resource_id + chr(ord(KEY_SEPARATOR) + 1)
    return {
        "$gte": prefix + key_timestamp(start) if start is not None else prefix,
        "$lt": prefix + key_timestamp(end) if end is not None else upper,
    }
