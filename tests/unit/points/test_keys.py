"""Point ids: what makes stored points unique and lets a time window be read as an `_id` range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.points.keys import key_timestamp, point_id, resource_id_range, series_key
from shared.points.point import Point
from shared.store.point_store import point_documents

START = datetime(2020, 1, 1, tzinfo=UTC)


def in_range(key: str, bounds: dict[str, str]) -> bool:
    """Whether MongoDB's `{"_id": bounds}` matches the key (strings compare by code point there too)."""
    return bounds["$gte"] <= key < bounds["$lt"]


def test_key_timestamps_are_fixed_width_milliseconds() -> None:
    assert key_timestamp(START) == "2020-01-01T00:00:00.000Z"
    assert key_timestamp(START + timedelta(microseconds=123_999)) == "2020-01-01T00:00:00.123Z"
    assert key_timestamp(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.000Z"
    assert key_timestamp(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)) == "9999-12-31T23:59:59.000Z"


def test_key_timestamps_are_utc_whatever_the_offset_of_the_moment() -> None:
    zurich = timezone(timedelta(hours=1))
    assert key_timestamp(datetime(2020, 1, 1, 1, 30, tzinfo=zurich)) == "2020-01-01T00:30:00.000Z"
    assert key_timestamp(datetime(2020, 1, 1, 1, 30)) == "2020-01-01T01:30:00.000Z"  # naive: UTC
    window = resource_id_range("r1", start=datetime(2020, 1, 1, 1, tzinfo=zurich))
    assert window["$gte"] == "r1|2020-01-01T00:00:00.000Z"


def test_ids_sort_by_time_then_series_as_the_api_reads_them() -> None:
    moments = [START + timedelta(days=day) for day in (0, 1, 9, 10, 400)]
    series = [series_key({}), series_key({"country": "CH"}), series_key({"country": "DE"})]
    expected = [(moment, name) for moment in moments for name in sorted(series)]
    keys = sorted(point_id("r1", moment, series=name) for moment, name in reversed(expected))
    assert keys == [point_id("r1", moment, series=name) for moment, name in expected]


def test_a_window_is_an_id_range_closed_at_start_open_at_end() -> None:
    keys = [point_id("r1", START + timedelta(hours=hour), series='{"country":"CH"}') for hour in range(5)]
    window = resource_id_range("r1", start=START + timedelta(hours=1), end=START + timedelta(hours=3))
    assert [key for key in keys if in_range(key, window)] == keys[1:3]
    assert all(in_range(key, resource_id_range("r1")) for key in keys)
    assert [key for key in keys if in_range(key, resource_id_range("r1", end=START))] == []
    later = resource_id_range("r1", start=START + timedelta(hours=4))
    assert [key for key in keys if in_range(key, later)] == keys[4:]


def test_a_resource_range_holds_no_other_resource_whose_id_shares_its_prefix() -> None:
    others = [point_id(resource, START, series="{}") for resource in ("r", "r10", "r1a", "r0", "r2")]
    assert not any(in_range(key, resource_id_range("r1")) for key in others)
    assert in_range(point_id("r1", START, series="{}"), resource_id_range("r1"))


def test_a_resource_id_holding_the_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        resource_id_range("r|1")
    with pytest.raises(ValueError, match="must not contain"):
        point_documents("r|1", [Point(timestamp=START, value=1.0)])


def test_documents_name_a_series_by_its_dimensions_whatever_their_order() -> None:
    points = [
        Point(timestamp=START, value=1.0, dimensions={"country": "CH", "sector": "power"}),
        Point(timestamp=START, value=2.0, dimensions={"sector": "power", "country": "CH"}),
        Point(timestamp=START, value=3.0, dimensions={"sector": "power"}),
        Point(timestamp=START + timedelta(microseconds=1500), value=4.0),
    ]
    documents = point_documents("r1", points)
    assert [document["_id"] for document in documents] == [
        'r1|2020-01-01T00:00:00.000Z|{"country":"CH","sector":"power"}',
        'r1|2020-01-01T00:00:00.000Z|{"country":"CH","sector":"power"}',
        'r1|2020-01-01T00:00:00.000Z|{"sector":"power"}',
        "r1|2020-01-01T00:00:00.001Z|{}",
    ]
    assert documents[3] == {
        "_id": "r1|2020-01-01T00:00:00.001Z|{}",
        "resource_id": "r1",
        "timestamp": START + timedelta(milliseconds=1),
        "value": 4.0,
        "dimensions": {},
    }
