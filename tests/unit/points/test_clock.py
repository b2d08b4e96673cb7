"""Settling the clocks of a wrapper's points: calendar dates, business days, wall clocks and zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.common.errors import HintError
from shared.points.clock import settle_clocks
from shared.points.point import Point, PointColumns, check_points, format_timestamp


def points(*stamps: str, series: str = "") -> list[Point]:
    """One point per stamp, valued by its position."""
    dimensions = {"series": series} if series else {}
    return [Point(timestamp=stamp, value=at, dimensions=dimensions) for at, stamp in enumerate(stamps)]


def texts(settled: object) -> list[str]:
    """The timestamps as the output writes them."""
    return [format_timestamp(point.timestamp) for point in settled]  # type: ignore[attr-defined]


def test_a_series_of_dates_is_dated_on_utc_midnight_without_a_warning() -> None:
    settled, verdict = settle_clocks(points("2020-01-01", "2020-02-01", "2020-03-01"), zone=None)
    assert texts(settled) == ["2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"]
    assert (verdict.timezone, verdict.warnings, verdict.wall_clocks) == ("UTC", [], 0)


def test_a_gas_day_series_is_dated_by_its_date_not_the_hour_its_day_starts() -> None:
    settled, verdict = settle_clocks(
        points("2021-10-01 06:00", "2021-10-02 06:00", "2021-10-03 06:00"), zone=None
    )
    assert texts(settled) == ["2021-10-01T00:00:00Z", "2021-10-02T00:00:00Z", "2021-10-03T00:00:00Z"]
    assert verdict.timezone == "UTC" and "dated by their date" in verdict.warnings[0]
    stated = points("2021-10-01T06:00:00+02:00", "2021-10-02T06:00:00+02:00")
    assert texts(settle_clocks(stated, zone=None)[0]) == ["2021-10-01T00:00:00Z", "2021-10-02T00:00:00Z"]


def test_hourly_wall_clocks_without_a_zone_stay_wall_clocks_and_the_zone_is_unknown() -> None:
    settled, verdict = settle_clocks(
        points("2017-11-22 00:00", "2017-11-22 01:00", "2017-11-22 02:00"), zone=None
    )
    assert texts(settled) == ["2017-11-22T00:00:00", "2017-11-22T01:00:00", "2017-11-22T02:00:00"]
    assert verdict.timezone is None and verdict.wall_clocks == 3
    assert "no timezone was given" in verdict.warnings[0]


def test_a_zone_places_wall_clocks_with_the_offset_of_their_season() -> None:
    settled, verdict = settle_clocks(
        points("2021-01-15 12:00", "2021-01-15 13:00", "2021-07-15 12:00", "2021-07-15 13:00"),
        zone="Europe/Paris",
    )
    assert texts(settled) == [
        "2021-01-15T12:00:00+01:00",
        "2021-01-15T13:00:00+01:00",
        "2021-07-15T12:00:00+02:00",
        "2021-07-15T13:00:00+02:00",
    ]
    assert verdict.timezone == "Europe/Paris" and verdict.warnings == []


def test_the_hour_repeated_when_the_clocks_go_back_is_the_later_one_the_second_time() -> None:
    hourly = points(
        "2021-10-31 00:00", "2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 02:00", "2021-10-31 03:00"
    )
    settled, _ = settle_clocks(hourly, zone="Europe/Madrid")
    assert texts(settled) == [
        "2021-10-31T00:00:00+02:00",
        "2021-10-31T01:00:00+02:00",
        "2021-10-31T02:00:00+02:00",
        "2021-10-31T02:00:00+01:00",
        "2021-10-31T03:00:00+01:00",
    ]
    assert check_points(list(settled))[1] == []
    quarter = [f"2021-11-07 01:{m:02d}" for m in (0, 15, 30, 45)] * 2
    settled, _ = settle_clocks(points(*quarter), zone="America/New_York")
    offsets = [point.timestamp.utcoffset() for point in settled]
    assert offsets == [timedelta(hours=-4)] * 4 + [timedelta(hours=-5)] * 4


def test_each_series_goes_through_the_repeated_hour_on_its_own() -> None:
    both = points("2021-10-31 02:00", "2021-10-31 02:00", series="a") + points(
        "2021-10-31 02:00", "2021-10-31 02:00", series="b"
    )
    settled, _ = settle_clocks(both, zone="Europe/Paris")
    assert [point.timestamp.utcoffset() for point in settled] == [timedelta(hours=h) for h in (2, 1, 2, 1)]


def test_wall_clocks_the_zone_skips_are_reported() -> None:
    _, verdict = settle_clocks(
        points("2021-03-28 01:30", "2021-03-28 02:30", "2021-03-28 03:30"), zone="Europe/Paris"
    )
    assert any("do not exist" in warning for warning in verdict.warnings)


def test_stamps_with_offsets_keep_them() -> None:
    stated = points("2021-10-31T00:00:00+02:00", "2021-10-31T02:00:00+02:00", "2021-10-31T02:00:00+01:00")
    settled, verdict = settle_clocks(stated, zone=None)
    assert texts(settled) == [
        "2021-10-31T00:00:00+02:00",
        "2021-10-31T02:00:00+02:00",
        "2021-10-31T02:00:00+01:00",
    ]
    assert verdict.timezone == "UTC+01:00, UTC+02:00"
    midnights = points("2016-01-02T00:00:00-05:00", "2016-01-03T00:00:00-05:00")
    assert texts(settle_clocks(midnights, zone="Europe/Paris")[0]) == [
        "2016-01-02T00:00:00-05:00",
        "2016-01-03T00:00:00-05:00",
    ]


def test_columns_settle_as_points_do() -> None:
    hourly = points("2021-10-31 01:00", "2021-10-31 02:00", "2021-10-31 02:00", "2021-10-31 03:00")
    from_rows = texts(settle_clocks(hourly, zone="Europe/Paris")[0])
    from_columns = texts(settle_clocks(PointColumns.from_points(hourly), zone="Europe/Paris")[0])
    assert from_rows == from_columns


def test_a_zone_that_is_no_iana_name_is_a_hint_error() -> None:
    with pytest.raises(HintError, match="IANA"):
        settle_clocks(points("2021-01-01 01:00", "2021-01-01 02:00"), zone="Mars/Olympus")


def test_nothing_to_settle() -> None:
    settled, verdict = settle_clocks([], zone=None)
    assert list(settled) == [] and verdict.timezone == "UTC"
    utc = [Point(timestamp=datetime(2021, 1, 1, 1, tzinfo=UTC), value=1)]
    assert settle_clocks(utc, zone="Europe/Paris")[1].timezone == "UTC"
    aware = [Point(timestamp=datetime(2021, 1, 1, 1, tzinfo=timezone(timedelta(hours=3))), value=1)]
    assert texts(settle_clocks(aware, zone=None)[0]) == ["2021-01-01T01:00:00+03:00"]


def test_a_monthly_series_stamped_mid_month_or_at_month_end_starts_on_the_1st() -> None:
    mid, verdict = settle_clocks(points("1997-01-15", "1997-02-15", "1997-03-15", "1997-05-15"), zone=None)
    assert texts(mid) == [
        "1997-01-01T00:00:00Z",
        "1997-02-01T00:00:00Z",
        "1997-03-01T00:00:00Z",
        "1997-05-01T00:00:00Z",
    ]
    assert "dated on its 1st" in verdict.warnings[0]
    ends, _ = settle_clocks(points("2020-01-31", "2020-02-29", "2020-03-31"), zone=None)
    assert texts(ends) == ["2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"]


def test_annual_and_daily_series_keep_their_days() -> None:
    annual, _ = settle_clocks(points("2018-12-31", "2019-12-31", "2020-12-31"), zone=None)
    assert texts(annual) == ["2018-12-31T00:00:00Z", "2019-12-31T00:00:00Z", "2020-12-31T00:00:00Z"]
    daily, _ = settle_clocks(points("2020-01-15", "2020-01-16", "2020-01-17"), zone=None)
    assert texts(daily) == ["2020-01-15T00:00:00Z", "2020-01-16T00:00:00Z", "2020-01-17T00:00:00Z"]
    two, _ = settle_clocks(points("2020-01-15", "2020-02-15"), zone=None)
    assert texts(two) == ["2020-01-15T00:00:00Z", "2020-02-15T00:00:00Z"]
