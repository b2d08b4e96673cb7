"""Point model and the output checks every wrapper must pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.points import Point, check_points, format_timestamp, infer_frequency


def test_point_converts_offset_timestamps_to_utc() -> None:
    point = Point(timestamp=datetime(2020, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), value=1)
    assert point.timestamp == datetime(2020, 1, 1, tzinfo=UTC)
    assert point.to_wire() == {"timestamp": "2020-01-01T00:00:00Z", "value": 1.0, "dimensions": {}}


def test_point_treats_naive_timestamps_as_utc() -> None:
    assert Point(timestamp="2020-03-01T00:00:00", value=2).timestamp.tzinfo == UTC


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "abc"])
def test_point_rejects_non_finite_or_non_numeric_values(value: object) -> None:
    with pytest.raises(ValidationError):
        Point(timestamp="2020-01-01", value=value)


def test_check_points_reports_no_points() -> None:
    summary, issues = check_points([])
    assert summary.count == 0
    assert [i.code for i in issues] == ["no_points"]


def test_check_points_reports_duplicate_timestamp_and_dimensions() -> None:
    points = [Point(timestamp="2020-01-01", value=v, dimensions={"geo": "DE"}) for v in (1, 2)]
    _, issues = check_points(points)
    assert issues[0].code == "duplicate_points"
    assert "2020-01-01T00:00:00Z" in issues[0].message


def test_check_points_accepts_same_timestamp_in_different_series() -> None:
    points = [Point(timestamp="2020-01-01", value=1, dimensions={"geo": g}) for g in ("DE", "FR")]
    summary, issues = check_points(points)
    assert issues == []
    assert summary.series == 2


def test_check_points_reports_mixed_frequencies() -> None:
    yearly = [Point(timestamp=f"{y}-01-01", value=1, dimensions={"s": "a"}) for y in range(2000, 2005)]
    monthly = [Point(timestamp=f"2000-{m:02d}-01", value=1, dimensions={"s": "b"}) for m in range(1, 6)]
    _, issues = check_points(yearly + monthly)
    assert [i.code for i in issues] == ["mixed_frequency"]


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (["2000-01-01", "2001-01-01", "2002-01-01", "2004-01-01"], "annual"),
        (["2000-01-01", "2000-02-01", "2000-03-01", "2000-05-01"], "monthly"),
        (["2000-01-01", "2000-04-01", "2000-07-01"], "quarterly"),
        (["2000-01-01T00:00:00", "2000-01-01T01:00:00", "2000-01-01T02:00:00"], "hourly"),
    ],
)
def test_infer_frequency_names_the_most_common_step(stamps: list[str], expected: str) -> None:
    assert infer_frequency([datetime.fromisoformat(s) for s in stamps]) == expected


def test_format_timestamp_keeps_microseconds_only_when_present() -> None:
    assert format_timestamp(datetime(2020, 1, 1, tzinfo=UTC)) == "2020-01-01T00:00:00Z"
    assert format_timestamp(datetime(2020, 1, 1, 0, 0, 0, 500)) == "2020-01-01T00:00:00.000500Z"
