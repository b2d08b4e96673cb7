"""Wrapper health: the expected cadence, and when a wrapper is stale, failing, ok or idle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.health import (
    HealthPolicy,
    HealthState,
    assess_health,
    expected_cadence,
    frequency_seconds,
    schedule_seconds,
    wrapper_cadence,
)

NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
POLICY = HealthPolicy(stale_cadences=3, failing_runs=3, default_rate_seconds=3600)


@pytest.mark.parametrize(
    ("frequency", "seconds"),
    [("monthly", 31 * 86400), ("hourly", 3600), ("every 900 s", 900), ("irregular", None), (None, None)],
)
def test_frequency_names_map_to_their_longest_step(frequency: object, seconds: int | None) -> None:
    assert frequency_seconds(frequency) == seconds


def test_a_schedule_period_is_its_rate_or_the_gap_between_two_cron_times() -> None:
    assert schedule_seconds(rate_seconds=600, cron=None, now=NOW) == 600
    assert schedule_seconds(rate_seconds=None, cron="0 6 * * *", now=NOW) == 86400
    assert schedule_seconds(rate_seconds=None, cron="*/15 * * * *", now=NOW) == 900
    assert schedule_seconds(rate_seconds=None, cron=None, now=NOW) is None


def test_the_cadence_is_the_longer_of_schedule_and_data_frequency() -> None:
    # A monthly series polled hourly gains a point a month: staleness counts in months.
    assert expected_cadence(schedule=3600, frequency=31 * 86400, default_rate_seconds=60) == 31 * 86400
    assert expected_cadence(schedule=86400, frequency=3600, default_rate_seconds=60) == 86400
    assert expected_cadence(schedule=None, frequency=None, default_rate_seconds=1800) == 1800
    validation = {"summary": {"frequency": "daily"}}
    assert (
        wrapper_cadence(
            rate_seconds=None, cron=None, validation=validation, default_rate_seconds=3600, now=NOW
        )
        == 86400
    )


def assess(*, newest: datetime | None, failures: int = 0, scheduled: bool = True):  # type: ignore[no-untyped-def]
    return assess_health(
        scheduled=scheduled,
        newest=newest,
        consecutive_failures=failures,
        cadence_seconds=3600,
        now=NOW,
        policy=POLICY,
    )


def test_a_wrapper_is_stale_once_its_newest_point_is_older_than_n_cadences() -> None:
    assert assess(newest=NOW - timedelta(hours=3)).state == HealthState.OK
    stale = assess(newest=NOW - timedelta(hours=3, seconds=1))
    assert stale.state == HealthState.STALE
    assert "3 cadences of 3600 s" in stale.reason and stale.cadence_seconds == 3600


def test_a_wrapper_is_failing_after_k_failed_runs_in_a_row_even_when_stale() -> None:
    assert assess(newest=NOW, failures=2).state == HealthState.OK
    failing = assess(newest=NOW - timedelta(days=9), failures=3)
    assert failing.state == HealthState.FAILING
    assert failing.reason.startswith("3 runs in a row failed") and failing.consecutive_failures == 3


def test_a_wrapper_off_the_schedule_is_idle_whatever_its_data() -> None:
    idle = assess(newest=NOW - timedelta(days=400), failures=9, scheduled=False)
    assert idle.state == HealthState.IDLE and idle.reason == ""
