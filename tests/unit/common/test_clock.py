"""The clock's conversions: to UTC, clamped to the calendar a datetime can hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from shared.common.clock import to_utc


def test_a_time_with_an_offset_becomes_its_utc_instant() -> None:
    moment = datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert to_utc(moment) == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert to_utc(moment).utcoffset() == timedelta(0)


def test_a_naive_time_is_read_as_utc() -> None:
    assert to_utc(datetime(2024, 3, 1, 12)) == datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_instants_beyond_the_calendar_are_clamped_to_its_ends() -> None:
    early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
    late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
    assert to_utc(early) == datetime.min.replace(tzinfo=UTC)
    assert to_utc(late) == datetime.max.replace(tzinfo=UTC)
