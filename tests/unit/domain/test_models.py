"""The retention window of a resource: one unit, and the moment before which points are deleted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.domain.models import Retention


@pytest.mark.parametrize(
    ("retention", "now", "cutoff"),
    [
        (Retention(days=30), datetime(2026, 3, 31, 6, tzinfo=UTC), datetime(2026, 3, 1, 6, tzinfo=UTC)),
        (Retention(months=24), datetime(2026, 12, 4, 12, tzinfo=UTC), datetime(2024, 12, 4, 12, tzinfo=UTC)),
        (Retention(months=1), datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        (Retention(months=1), datetime(2024, 3, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        (Retention(months=3), datetime(2026, 2, 15, tzinfo=UTC), datetime(2025, 11, 15, tzinfo=UTC)),
        (Retention(months=12), datetime(2026, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    ],
    ids=["days", "two-years", "short-month", "leap-year", "across-the-year", "january"],
)
def test_the_cutoff_is_the_window_back_from_now_in_calendar_months_or_days(
    retention: Retention, now: datetime, cutoff: datetime
) -> None:
    assert retention.cutoff(now) == cutoff


@pytest.mark.parametrize(
    "fields",
    [{}, {"days": 1, "months": 1}, {"days": 0}, {"months": 1201}, {"years": 2}],
    ids=["neither", "both", "zero", "too-long", "unknown-unit"],
)
def test_a_window_needs_exactly_one_positive_unit(fields: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        Retention.model_validate(fields)
