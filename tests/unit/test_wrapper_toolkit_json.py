"""The toolkit's JSON helpers: record walking, Microsoft dates, clocks beside dates, JSON-stat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.wrapper_toolkit import (
    ToolkitError,
    clock_offset,
    detect_clock_format,
    header_records,
    is_daily,
    is_dotnet_date,
    jsonstat_points,
    parse_dotnet_date,
    parse_duration,
    record_month,
    record_points,
    series_points,
    walk_records,
)

DAYS = {
    "issued": "2024-03-01",
    "days": [
        {"date": "2024-03-02", "hours": [{"hour": 0, "price": 1.5}, {"hour": 1, "price": 2.5}]},
        {"date": "2024-03-03"},
    ],
}


def test_walk_records_steps_into_every_item_and_keeps_the_fields_around_each_record() -> None:
    records = list(walk_records(DAYS, "days[].hours"))

    # The envelope's own fields ("issued") are not a record around them; the day is.
    assert records == [
        {"date": "2024-03-02", "hour": 0, "price": 1.5},
        {"date": "2024-03-02", "hour": 1, "price": 2.5},
    ]


def test_walk_records_without_inheritance_gives_the_records_own_fields() -> None:
    assert next(walk_records(DAYS, "days[].hours", inherit=False)) == {"hour": 0, "price": 1.5}


def test_walk_records_of_a_path_that_is_not_there_says_where_it_stopped() -> None:
    with pytest.raises(ToolkitError, match="'weeks'"):
        list(walk_records(DAYS, "weeks"))


def test_walk_records_of_a_top_level_list_of_lists_reads_positional_rows() -> None:
    assert list(walk_records([[1, 2.5], [2, 3.5]], "")) == [{"0": 1, "1": 2.5}, {"0": 2, "1": 3.5}]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("/Date(1507114800000)/", datetime(2017, 10, 4, 11, tzinfo=UTC)),
        ("/Date(1507114800000-0500)/", datetime(2017, 10, 4, 11, tzinfo=UTC)),
        ("/Date(-86400000)/", datetime(1969, 12, 31, tzinfo=UTC)),
        ("Date(1507114800000)", None),
        (1507114800000, None),
    ],
)
def test_microsoft_json_dates_are_milliseconds_since_1970_in_utc(
    cell: object, expected: datetime | None
) -> None:
    assert parse_dotnet_date(cell) == expected


def test_a_column_is_of_microsoft_dates_only_when_every_value_is_one() -> None:
    assert is_dotnet_date(["/Date(1507114800000)/", None, "/Date(1507118400000)/"])
    assert not is_dotnet_date(["/Date(1507114800000)/", "2017-10-04"])


@pytest.mark.parametrize(
    ("cell", "fmt", "hours"),
    [
        ("13:30", "clock", 13.5),
        ("00-01", "range", 0),
        ("23 - 24", "range", 23),
        ("5", "hour", 5),
        (24, "hour_ending", 23),
        ("3", "position:PT15M", 0.5),
        (1, "position:PT1H", 0),
    ],
)
def test_clock_offset_reads_times_ranges_and_hours(cell: object, fmt: str, hours: float) -> None:
    assert clock_offset(cell, fmt) == timedelta(hours=hours)


def test_detect_clock_format_reads_bare_hours_only_when_told_they_are_hours() -> None:
    assert detect_clock_format(["00-01", "01-02", "23-24", "23:45 - 00:00"]) == "range"
    assert detect_clock_format(["0-14", "15-64"]) is None
    assert detect_clock_format([1, 2, 24]) is None
    assert detect_clock_format([1, 2, 24], hours=True) == "hour_ending"
    assert detect_clock_format([0, 1, 23], hours=True) == "hour"


def test_stamps_at_one_local_hour_on_different_dates_are_daily() -> None:
    assert is_daily(["2016-01-02T00:00:00-05:00", "2016-01-03T00:00:00-05:00"], "iso")
    assert is_daily(["2024-01-01 06:00", "2024-01-02 06:00"], "iso")
    assert not is_daily(["2024-01-01 06:00", "2024-01-01 07:00"], "iso")
    assert not is_daily(["2024-01-01"], "iso")


def test_utc_stamps_of_a_local_midnight_east_of_greenwich_are_not_dated_by_their_utc_date() -> None:
    assert not is_daily(["2024-01-01T23:00:00Z", "2024-01-02T23:00:00Z"], "iso")
    assert is_daily(["2024-01-01T05:00:00Z", "2024-01-02T05:00:00Z"], "iso")


def test_record_points_date_a_daily_series_by_the_date_as_written() -> None:
    records = [
        {"day": "2016-01-02T00:00:00-05:00", "load": 5},
        {"day": "2016-01-03T00:00:00-05:00", "load": 6},
    ]

    points = list(record_points(records, time_key="day", time_format="iso", value_key="load", date_only=True))

    assert [p["timestamp"] for p in points] == [
        datetime(2016, 1, 2, tzinfo=UTC),
        datetime(2016, 1, 3, tzinfo=UTC),
    ]


def test_record_points_join_a_date_and_an_hour_range_and_read_decimal_commas() -> None:
    """A wall clock without an offset stays one: shared.points.clock settles its zone later."""
    records = [{"Dia": "01/06/2021", "Hora": "13-14", "PCB": "121,84"}]

    points = list(
        record_points(
            records,
            time_key="Dia",
            time_format="day_month_year",
            value_key="PCB",
            clock_key="Hora",
            clock_format="range",
            decimal=",",
        )
    )

    assert [(p["timestamp"], p["value"]) for p in points] == [(datetime(2021, 6, 1, 13), 121.84)]


def test_record_points_read_microsoft_dates() -> None:
    records = [{"when": "/Date(1507114800000)/", "wind": 30.64}]

    points = list(record_points(records, time_key="when", time_format="dotnet_date", value_key="wind"))

    assert points[0]["timestamp"] == datetime(2017, 10, 4, 11, tzinfo=UTC)


CUBE = {
    "class": "dataset",
    "id": ["area", "period"],
    "size": [2, 2],
    "dimension": {
        "area": {
            "label": "Area",
            "category": {"index": ["DE", "FR"], "label": {"DE": "Germany", "FR": "France"}},
        },
        "period": {
            "label": "Period",
            "category": {"index": {"p2": 1, "p1": 0}, "label": {"p1": "Jan 2020", "p2": "Feb 2020"}},
        },
    },
    "value": [1.0, 2.0, None, 4.0],
    "status": ["", "p", ":", ""],
}


def test_jsonstat_without_a_time_role_finds_the_time_by_its_label_and_reads_period_labels() -> None:
    points = list(jsonstat_points(CUBE))

    assert [(p["timestamp"].month, p["value"], p["dimensions"]["area"]) for p in points] == [
        (1, 1.0, "DE"),
        (2, 2.0, "DE"),
        (2, 4.0, "FR"),
    ]


def test_jsonstat_where_keeps_one_category_named_by_dimension_and_category_labels() -> None:
    points = list(jsonstat_points(CUBE, where={"Area": "France"}))

    assert [p["value"] for p in points] == [4.0]


def test_jsonstat_where_with_an_unknown_category_is_an_error() -> None:
    with pytest.raises(ToolkitError, match="no category 'Spain'"):
        list(jsonstat_points(CUBE, where={"area": "Spain"}))


@pytest.mark.parametrize(
    ("cell", "month"),
    [("M07", 7), ("July", 7), (7, 7), ("Q3", 7), ("Q04", 10), ("M13", None), ("Annual", None)],
)
def test_record_month_reads_month_codes_names_numbers_and_quarters(cell: object, month: int | None) -> None:
    assert record_month(cell) == month


def test_record_points_join_a_year_and_a_month_key() -> None:
    records = [
        {"year": "2023", "period": "M12", "value": "1.5"},
        {"year": "2023", "period": "M13", "value": "9"},
    ]

    points = list(
        record_points(records, time_key="year", time_format="year", value_key="value", month_key="period")
    )

    assert [(p["timestamp"], p["value"]) for p in points] == [(datetime(2023, 12, 1), 1.5)]


def test_series_points_pair_each_named_series_with_the_shared_times() -> None:
    series = [{"name": "Wind", "data": [1.0, None]}, {"name": "Solar", "data": [2.0, 3.0]}, {"name": "Empty"}]

    points = list(
        series_points([2020, 2021], series, values_key="data", name_keys=["name"], time_format="year")
    )

    assert [(p["dimensions"]["name"], p["timestamp"].year, p["value"]) for p in points] == [
        ("Wind", 2020, 1.0),
        ("Solar", 2020, 2.0),
        ("Solar", 2021, 3.0),
    ]


def test_header_records_name_each_row_by_the_first_row() -> None:
    rows = [["NAME", "B01001_001E", "state"], ["Alabama", "4903185", "01"], ["Alaska", "731545"]]

    assert header_records(rows) == [
        {"NAME": "Alabama", "B01001_001E": "4903185", "state": "01"},
        {"NAME": "Alaska", "B01001_001E": "731545"},
    ]


def test_walk_records_with_the_envelope_carry_the_fields_of_the_objects_on_the_path_only() -> None:
    document = {"meta": {"date": "2024-01-01"}, "data": {"day": "2024-01-02", "prices": [{"hour": 0}]}}

    assert list(walk_records(document, "data.prices", envelope=True)) == [{"day": "2024-01-02", "hour": 0}]


@pytest.mark.parametrize(
    ("text", "step"),
    [
        ("PT15M", timedelta(minutes=15)),
        ("PT1H", timedelta(hours=1)),
        ("P1D", timedelta(days=1)),
        ("P1M", None),
    ],
)
def test_parse_duration_reads_days_hours_minutes_but_not_months(text: str, step: timedelta | None) -> None:
    assert parse_duration(text) == step


def test_jsonstat_without_a_time_role_or_name_takes_the_one_dimension_of_periods() -> None:
    cube = {
        "class": "dataset",
        "id": ["alue", "vuosi"],
        "size": [1, 2],
        "dimension": {
            "alue": {"label": "Alue", "category": {"index": ["SSS"], "label": {"SSS": "Koko maa"}}},
            "vuosi": {"label": "Vuosi", "category": {"index": ["2021", "2022"]}},
        },
        "value": [5.5, 6.5],
    }

    points = list(jsonstat_points(cube))

    assert [(p["timestamp"].year, p["value"]) for p in points] == [(2021, 5.5), (2022, 6.5)]
