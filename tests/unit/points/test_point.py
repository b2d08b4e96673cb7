"""Point model and the output checks every wrapper must pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.points.columns import PointColumns
from shared.points.point import Point, PointSequence, check_points, format_timestamp, infer_frequency


def test_point_keeps_the_offset_its_stamp_states_and_the_store_gets_utc() -> None:
    point = Point(timestamp=datetime(2020, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), value=1)
    assert point.timestamp == datetime(2020, 1, 1, tzinfo=UTC)
    assert point.to_wire() == {"timestamp": "2020-01-01T01:00:00+01:00", "value": 1.0, "dimensions": {}}
    assert point.in_utc().to_wire()["timestamp"] == "2020-01-01T00:00:00Z"
    zero = Point(timestamp="2020-01-01T00:00:00+00:00", value=1)
    assert zero.timestamp.tzinfo is UTC and zero.to_wire()["timestamp"] == "2020-01-01T00:00:00Z"


def test_point_keeps_a_wall_clock_without_an_offset() -> None:
    point = Point(timestamp="2020-03-01T07:30:00", value=2)
    assert point.timestamp.tzinfo is None
    assert point.to_wire()["timestamp"] == "2020-03-01T07:30:00"
    assert point.in_utc().to_wire()["timestamp"] == "2020-03-01T07:30:00Z"


def test_check_points_refuses_wall_clocks_mixed_with_offsets() -> None:
    points = [
        Point(timestamp="2020-03-01T07:30:00", value=1),
        Point(timestamp="2020-03-01T08:30:00Z", value=2),
    ]
    _, issues = check_points(points)
    assert [issue.code for issue in issues] == ["mixed_clocks"]
    _, issues = check_points(PointSequence.from_points(points))
    assert [issue.code for issue in issues] == ["mixed_clocks"]


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
    assert "2020-01-01T00:00:00 " in issues[0].message


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
    assert format_timestamp(datetime(2020, 1, 1, 0, 0, 0, 500, tzinfo=UTC)) == "2020-01-01T00:00:00.000500Z"
    assert format_timestamp(datetime(2020, 1, 1, 0, 0, 0, 500)) == "2020-01-01T00:00:00.000500"
    assert (
        format_timestamp(datetime(2020, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))))
        == "2020-01-01T02:00:00+02:00"
    )


# --- point columns ---------------------------------------------------------------------------------


def columns_of(points: list[Point]) -> PointSequence:
    """The same points as columns."""
    return PointSequence.from_points(points)


def hourly(count: int, *, start: int = 0, **dimensions: str) -> list[Point]:
    """`count` hourly points of one series."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        Point(timestamp=base + timedelta(hours=start + index), value=index / 4, dimensions=dimensions)
        for index in range(count)
    ]


def test_point_columns_read_as_a_sequence_of_points() -> None:
    points = hourly(3, geo="DE") + hourly(2, geo="FR")
    columns = columns_of(points)
    assert len(columns) == 5
    assert list(columns) == points
    assert columns[0] == points[0] and columns[-1] == points[-1]
    assert columns[1:4] == points[1:4] and columns[::-2] == points[::-2]
    with pytest.raises(IndexError):
        columns[5]
    # Each Point read gets its own dimensions: changing one changes no other.
    columns[0].dimensions["geo"] = "XX"
    assert columns[0].dimensions == {"geo": "DE"}


def test_point_columns_concatenate_in_order_with_each_series_once() -> None:
    first, second = hourly(2, geo="DE"), hourly(2, start=2, geo="DE") + hourly(1, geo="FR")
    joined = PointSequence.concat([columns_of(first), columns_of(second)])
    assert list(joined) == first + second
    assert joined.columns.series == [{"geo": "DE"}, {"geo": "FR"}]
    assert len(PointSequence.concat([])) == 0


def test_draining_columns_joins_them_as_concat_does_and_empties_the_list() -> None:
    parts = [
        columns_of(p).columns for p in (hourly(2, geo="DE"), hourly(1, geo="FR"), [], hourly(2, start=2))
    ]
    joined = PointColumns.concat(parts)
    drained_from = list(parts)
    drained = PointColumns.drain(drained_from)
    assert drained_from == [] and len(parts) == 4
    assert list(PointSequence(drained)) == list(PointSequence(joined))
    assert drained.series == [{"geo": "DE"}, {"geo": "FR"}, {}]
    one_series = PointColumns.drain([columns_of(hourly(2)).columns, columns_of(hourly(1, start=2)).columns])
    assert one_series.codes is None and len(one_series) == 3


SHAPES = {
    "empty": [],
    "one hourly series": hourly(50),
    "two series, the same hours": hourly(5, geo="DE") + hourly(5, geo="FR"),
    "repeats out of order": [*hourly(4, geo="DE"), *hourly(4, geo="FR"), *hourly(2, start=1, geo="DE")],
    "unordered": list(reversed(hourly(6))) + hourly(1, start=2),
    "mixed frequencies": hourly(4, geo="DE")
    + [
        Point(timestamp=datetime(2000 + year, 1, 1, tzinfo=UTC), value=1, dimensions={"geo": "FR"})
        for year in range(4)
    ],
    "irregular": [
        Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=s), value=1)
        for s in (0, 5, 7, 100000)
    ],
    "dimension order": [
        Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC), value=1, dimensions={"a": "1", "b": "2"}),
        Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC), value=2, dimensions={"b": "2", "a": "1"}),
    ],
    "ties between steps": [
        Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=s), value=1)
        for s in (0, 60, 120, 3720, 7320)
    ],
    "an in-order repeat": hourly(3) + hourly(2, start=2),
    "an in-order repeat among series": hourly(2, geo="DE")
    + hourly(3, start=1, geo="DE")
    + hourly(2, geo="FR"),
    "one series named twice": [
        Point(timestamp=datetime(2020, 1, 1, hour, tzinfo=UTC), value=1, dimensions=dims)
        for hour, dims in enumerate([{"a": "1", "b": "2"}, {"b": "2", "a": "1"}, {"a": "1", "b": "2"}])
    ],
    "microseconds": [
        Point(timestamp=datetime(2020, 1, 1, 0, 0, 0, micro, tzinfo=UTC), value=1) for micro in (5, 5, 900000)
    ],
}


@pytest.mark.parametrize("shape", SHAPES)
def test_check_points_says_the_same_of_rows_and_of_columns(shape: str) -> None:
    points = SHAPES[shape]
    assert check_points(columns_of(points)) == check_points(points)


def test_check_points_on_columns_finds_what_is_wrong() -> None:
    summary, issues = check_points(columns_of(SHAPES["repeats out of order"]))
    assert [issue.code for issue in issues] == ["duplicate_points"]
    assert issues[0].message.startswith(
        "2 points repeat a (timestamp, dimensions) pair, e.g. 2024-01-01T01:00:00Z {'geo': 'DE'}"
    )
    assert (summary.count, summary.series, summary.frequency) == (10, 2, "hourly")
    _, issues = check_points(columns_of(SHAPES["mixed frequencies"]))
    assert [issue.code for issue in issues] == ["mixed_frequency"]


def test_points_since_a_moment_keep_those_at_or_after_it_in_order() -> None:
    points = hourly(3, geo="DE") + hourly(3, geo="FR")
    columns = columns_of(points)
    cutoff = datetime(2024, 1, 1, 1, tzinfo=UTC)
    assert list(columns.since(cutoff)) == [point for point in points if point.timestamp >= cutoff]
    assert columns.since(datetime(2000, 1, 1, tzinfo=UTC)) is columns
    assert len(columns.since(datetime(2030, 1, 1, tzinfo=UTC))) == 0


def test_points_since_compare_instants_whatever_the_offset_stated() -> None:
    plus_two = timezone(timedelta(hours=2))
    points = [Point(timestamp=datetime(2024, 1, 1, hour, tzinfo=plus_two), value=1) for hour in (1, 2, 3)]
    kept = columns_of(points).since(datetime(2024, 1, 1, 0, tzinfo=UTC))
    assert [point.timestamp for point in kept] == [points[1].timestamp, points[2].timestamp]


def test_the_span_of_points_is_their_earliest_and_latest_moment() -> None:
    points = list(reversed(hourly(4, geo="DE"))) + hourly(2, start=-3, geo="FR")
    first, last = columns_of(points).span() or (None, None)
    assert (first, last) == (min(p.timestamp for p in points), max(p.timestamp for p in points))
    assert columns_of([]).span() is None
