"""Next run times from rates and cron expressions, and the backoff after failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.domain.models import Schedule
from shared.domain.schedule import failure_backoff, next_run_at, parse_cron


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def cron_next(expression: str, after: datetime) -> datetime:
    return next_run_at(Schedule(cron=expression), after=after)


def cron_series(expression: str, after: datetime, count: int) -> list[datetime]:
    moments = []
    for _ in range(count):
        after = cron_next(expression, after)
        moments.append(after)
    return moments


# --- rates ---------------------------------------------------------------------------------------


def test_a_rate_adds_its_seconds() -> None:
    assert next_run_at(Schedule(rate_seconds=900), after=at(2024, 1, 1, 10, 7, 30)) == at(
        2024, 1, 1, 10, 22, 30
    )


def test_no_schedule_uses_the_default_rate() -> None:
    after = at(2024, 1, 1, 10)
    assert next_run_at(None, after=after) == at(2024, 1, 1, 11)
    assert next_run_at(None, after=after, default_rate_seconds=60) == at(2024, 1, 1, 10, 1)


def test_a_naive_after_is_taken_as_utc_and_an_offset_is_converted() -> None:
    assert next_run_at(None, after=datetime(2024, 1, 1, 10)) == at(2024, 1, 1, 11)
    plus_two = datetime(2024, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    result = next_run_at(Schedule(cron="30 * * * *"), after=plus_two)
    assert result == at(2024, 1, 1, 12, 30) and result.tzinfo == UTC


# --- cron ----------------------------------------------------------------------------------------


def test_every_15_minutes() -> None:
    assert cron_series("*/15 * * * *", at(2024, 1, 1, 23, 31, 5), 3) == [
        at(2024, 1, 1, 23, 45),
        at(2024, 1, 2, 0, 0),
        at(2024, 1, 2, 0, 15),
    ]


def test_the_result_is_strictly_after_even_on_a_matching_minute() -> None:
    assert cron_next("*/15 * * * *", at(2024, 1, 1, 10, 15)) == at(2024, 1, 1, 10, 30)
    assert cron_next("*/15 * * * *", at(2024, 1, 1, 10, 14, 59)) == at(2024, 1, 1, 10, 15)
    assert cron_next("* * * * *", at(2024, 1, 1, 10, 15, 0)) == at(2024, 1, 1, 10, 16)


def test_hourly_at_five_past() -> None:
    assert cron_series("5 * * * *", at(2024, 3, 10, 22, 5), 3) == [
        at(2024, 3, 10, 23, 5),
        at(2024, 3, 11, 0, 5),
        at(2024, 3, 11, 1, 5),
    ]


def test_daily_at_half_past_two() -> None:
    assert cron_next("30 2 * * *", at(2024, 1, 1, 2, 29)) == at(2024, 1, 1, 2, 30)
    assert cron_next("30 2 * * *", at(2024, 1, 1, 2, 30)) == at(2024, 1, 2, 2, 30)
    assert cron_next("30 2 * * *", at(2024, 12, 31, 3)) == at(2025, 1, 1, 2, 30)


def test_weekdays_skip_the_weekend() -> None:
    # 2024-01-05 is a Friday.
    assert cron_series("0 9 * * 1-5", at(2024, 1, 5, 9), 2) == [at(2024, 1, 8, 9), at(2024, 1, 9, 9)]
    assert cron_next("0 9 * * mon-fri", at(2024, 1, 5, 9)) == at(2024, 1, 8, 9)


def test_sunday_is_0_and_7() -> None:
    assert cron_next("0 0 * * 0", at(2024, 1, 1)) == at(2024, 1, 7)
    assert cron_next("0 0 * * 7", at(2024, 1, 1)) == at(2024, 1, 7)
    assert cron_next("0 0 * * SUN", at(2024, 1, 1)) == at(2024, 1, 7)


def test_month_boundaries() -> None:
    assert cron_next("0 0 1 * *", at(2024, 1, 31, 12)) == at(2024, 2, 1)
    assert cron_next("0 0 31 * *", at(2024, 4, 1)) == at(2024, 5, 31)  # April has 30 days
    assert cron_next("0 12 * 3 *", at(2024, 3, 31, 12)) == at(2025, 3, 1, 12)
    assert cron_next("59 23 31 12 *", at(2024, 12, 31, 23, 59)) == at(2025, 12, 31, 23, 59)


def test_february_29_waits_for_a_leap_year() -> None:
    assert cron_next("0 0 29 2 *", at(2024, 3, 1)) == at(2028, 2, 29)
    assert cron_next("0 0 29 2 *", at(2096, 3, 1)) == at(2104, 2, 29)  # 2100 is not a leap year


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # The 13th or any Friday: 2024-09-06 is a Friday, the 13th is a Friday too, 2024-10-13 a Sunday.
    moments = cron_series("0 0 13 * 5", at(2024, 9, 1), 6)
    assert moments == [
        at(2024, 9, 6),
        at(2024, 9, 13),
        at(2024, 9, 20),
        at(2024, 9, 27),
        at(2024, 10, 4),
        at(2024, 10, 11),
    ]
    assert cron_next("0 0 13 * 5", at(2024, 10, 11)) == at(2024, 10, 13)


def test_a_star_day_field_means_and() -> None:
    # Only the day-of-week restricts: Mondays, not "every day or Monday".
    assert cron_next("0 0 * * 1", at(2024, 1, 2)) == at(2024, 1, 8)
    # A day-of-week starting with "*" keeps AND semantics, as in cron: the 1st when it is a Sunday.
    assert cron_next("0 0 1 * */7", at(2024, 1, 1)) == at(2024, 9, 1)
    assert cron_next("0 0 1 * 1", at(2024, 1, 2)) == at(2024, 1, 8)  # both restricted: OR


def test_lists_ranges_and_steps() -> None:
    cron = parse_cron("0,30 8-18/2 1-7,15 */3 *")
    assert cron.minutes == (0, 30)
    assert cron.hours == (8, 10, 12, 14, 16, 18)
    assert cron.days == frozenset({1, 2, 3, 4, 5, 6, 7, 15})
    assert cron.months == (1, 4, 7, 10)
    assert parse_cron("10/20 * * * *").minutes == (10, 30, 50)
    assert parse_cron("* * * jan,Jul *").months == (1, 7)
    assert cron_next("0,30 8-18/2 1-7,15 */3 *", at(2024, 1, 7, 18, 30)) == at(2024, 1, 15, 8)


def test_a_far_match_is_found_quickly() -> None:
    # Jumping by field, a match years away costs a few hundred steps, not millions of minutes.
    assert cron_next("0 0 29 2 1", at(2024, 3, 1)) == at(2025, 2, 3)  # OR: any Monday in February
    assert cron_next("0 0 29 2 */7", at(2024, 3, 1)) == at(2032, 2, 29)  # AND: Feb 29 on a Sunday


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("60 * * * *", "minute"),
        ("-1 * * * *", "minute"),
        ("a * * * *", "minute"),
        ("*/0 * * * *", "minute"),
        ("1,,2 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* 5-2 * * *", "hour"),
        ("* * 0 * *", "day-of-month"),
        ("* * 32 * *", "day-of-month"),
        ("* * 30 2 *", "day-of-month"),
        ("* * * 13 *", "month"),
        ("* * * foo *", "month"),
        ("* * * * 8", "day-of-week"),
        ("* * * * mon-", "day-of-week"),
    ],
)
def test_invalid_fields_raise_value_error_naming_the_field(expression: str, field: str) -> None:
    with pytest.raises(ValueError, match=f"cron {field} field"):
        parse_cron(expression)


@pytest.mark.parametrize("expression", ["", "* * * *", "* * * * * *"])
def test_five_fields_are_required(expression: str) -> None:
    with pytest.raises(ValueError, match="5 fields"):
        parse_cron(expression)


def test_the_schedule_model_rejects_a_bad_cron() -> None:
    with pytest.raises(ValidationError, match="cron hour field"):
        Schedule(cron="0 25 * * *")
    assert Schedule(cron="0 9 * * 1-5").cron == "0 9 * * 1-5"


# --- backoff -------------------------------------------------------------------------------------


def test_backoff_doubles() -> None:
    assert [failure_backoff(n).total_seconds() for n in range(1, 6)] == [60, 120, 240, 480, 960]
    assert failure_backoff(3, base_seconds=10) == timedelta(seconds=40)


def test_backoff_is_capped() -> None:
    assert failure_backoff(9) == timedelta(seconds=60 * 2**8)
    assert failure_backoff(10) == timedelta(hours=6)  # 60 * 2**9 s is more than 6 h
    assert failure_backoff(10_000) == timedelta(hours=6)
    assert failure_backoff(4, base_seconds=60, max_seconds=300) == timedelta(seconds=300)


def test_no_failure_means_no_backoff() -> None:
    assert failure_backoff(0) == timedelta(0)
