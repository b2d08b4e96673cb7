"""The trusted toolkit that generated parse code calls: numbers, periods, tables and JSON into points."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest

from shared.wrapper_toolkit import (
    PERIOD_FORMATS,
    ToolkitError,
    column_points,
    decimal_votes,
    detect_decimal,
    detect_period_format,
    detect_sentinels,
    find_row,
    get_path,
    header_names,
    jsonstat_points,
    long_points,
    mapping_records,
    month_columns_points,
    parse_clock,
    parse_month,
    parse_number,
    parse_period,
    read_csv_grid,
    record_points,
    snapshot_points,
    split_dimension_names,
    table_blocks,
    wide_points,
)


def wall(*parts: int) -> datetime:
    """A wall clock time: what a stamp without an offset reads as."""
    return datetime(*parts)  # type: ignore[arg-type]


def utc(*parts: int) -> datetime:
    """A UTC datetime."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def pairs(points: Any) -> list[tuple[datetime, float]]:
    """(timestamp, value) of each point."""
    return [(p["timestamp"], p["value"]) for p in points]


# --- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "decimal", "expected"),
    [
        ("1,5", ",", 1.5),
        ("1.234,5", ",", 1234.5),
        ("1,234.5", ".", 1234.5),
        ("11.6 b", ".", 11.6),
        ("12.3p", ".", 12.3),
        ("739.3 p", ".", 739.3),
        ("12,3 e", ",", 12.3),
        ("\u22125", ".", -5.0),
        ("\u22121.234,5", ",", -1234.5),
        ("(12)", ".", -12.0),
        ("(12.5)", ".", -12.5),
        ("1\u00a0234,5", ",", 1234.5),
        ("1\u202f234.5", ".", 1234.5),
        ("1 234", ".", 1234.0),
        ("1'234.5", ".", 1234.5),
        ("12.5%", ".", 12.5),
        ("1.5e3", ".", 1500.0),
        ("$1,234.50", ".", 1234.5),
        ("12,50 €", ",", 12.5),
        (" 7 ", ".", 7.0),
        (42, ".", 42.0),
        (2.5, ",", 2.5),
    ],
)
def test_parse_number_reads_flags_separators_and_signs(cell: Any, decimal: str, expected: float) -> None:
    """Numbers as statistics offices write them."""
    assert parse_number(cell, decimal=decimal) == expected


@pytest.mark.parametrize(
    "cell", [":", "..", "...", "-", "n/a", "N/A", "", "  ", None, "abc", True, float("nan"), "#N/A"]
)
def test_parse_number_returns_none_for_missing_markers_and_text(cell: Any) -> None:
    """Not-available markers, text, booleans and NaN are no numbers."""
    assert parse_number(cell) is None


def test_parse_number_drops_sentinels_given_as_missing() -> None:
    """-99.99 given as a sentinel is missing, as text or as a float; other values pass."""
    assert parse_number("-99.99", missing=[-99.99]) is None
    assert parse_number(-99.99, missing=[-99.99]) is None
    assert parse_number("-99.98", missing=[-99.99]) == -99.98


def test_detect_decimal_follows_the_telling_values() -> None:
    """Comma decimals, point decimals, thousands groups; ambiguous values do not vote."""
    assert detect_decimal(["1,5", "2,25", "3"]) == ","
    assert detect_decimal(["1.234,5", "7"]) == ","
    assert detect_decimal(["1.234.567"]) == ","
    assert detect_decimal(["0,123"]) == ","
    assert detect_decimal(["12,3 p", "13,1"]) == ","
    assert detect_decimal(["12,50 €"]) == ","
    assert detect_decimal(["1.5", "2.25"]) == "."
    assert detect_decimal(["1,234.5"]) == "."
    assert detect_decimal([1.5, 2.5]) == "."
    assert detect_decimal(["3.000", "2.950"]) == "."
    assert decimal_votes(["3.000", "1,234", "2019"]) == (0, 0)
    assert decimal_votes(["3.000", "2.950", "1.234,5"]) == (1, 0)


def test_detect_sentinels_finds_codes_that_stand_apart() -> None:
    """-99.99 among positive values is a sentinel; -1 is an ordinary value; 9999 among small values is."""
    assert detect_sentinels([315.7, 317.4, -99.99, 316.1]) == [-99.99]
    assert detect_sentinels([1.0, 2.0, -1.0]) == []
    assert detect_sentinels([-5.0, 2.0, -99.99]) == []
    assert detect_sentinels([1.0, 2.5, 9999.0]) == [9999.0]
    assert detect_sentinels([-99.0, -99.0]) == []


# --- periods ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "fmt", "expected"),
    [
        ("2019-01-01T10:00:00Z", "iso", utc(2019, 1, 1, 10)),
        ("2019-01-01T10:00:00+02:00", "iso", utc(2019, 1, 1, 8)),
        ("2019-01-01T10:00+0200", "iso", utc(2019, 1, 1, 8)),
        ("2019-01-01T10:00", "iso", wall(2019, 1, 1, 10)),
        ("2019-01-01 10:00", "iso", wall(2019, 1, 1, 10)),
        ("2019-01-01", "iso", wall(2019, 1, 1)),
        ("2019/01/31", "iso", wall(2019, 1, 31)),
        ("2019/01/31 10:00", "iso", wall(2019, 1, 31, 10)),
        ("2019-01-01T10", "iso", wall(2019, 1, 1, 10)),
        ("2019-01-01T00:00:00+01", "iso", utc(2018, 12, 31, 23)),
        ("2019-01-01 00:00:00 UTC", "iso", utc(2019, 1, 1)),
        ("2019-01-01T00:00:00.250Z", "iso", datetime(2019, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
        ("2019", "year", wall(2019, 1, 1)),
        (2019, "year", wall(2019, 1, 1)),
        (2019.0, "year", wall(2019, 1, 1)),
        ("2022*", "year", wall(2022, 1, 1)),
        ("2021 (p)", "year", wall(2021, 1, 1)),
        ("2020 [note 3]", "year", wall(2020, 1, 1)),
        ("2019-03", "year_month", wall(2019, 3, 1)),
        ("2019M03", "year_mmm", wall(2019, 3, 1)),
        ("2019Q2", "year_quarter", wall(2019, 4, 1)),
        ("Q2 2019", "year_quarter", wall(2019, 4, 1)),
        ("2019-Q4", "year_quarter", wall(2019, 10, 1)),
        ("Jan 2019", "month_name_year", wall(2019, 1, 1)),
        ("Januar 2019", "month_name_year", wall(2019, 1, 1)),
        ("März 2019", "month_name_year", wall(2019, 3, 1)),
        ("Mär 2019", "month_name_year", wall(2019, 3, 1)),
        ("janvier 2019", "month_name_year", wall(2019, 1, 1)),
        ("févr. 2019", "month_name_year", wall(2019, 2, 1)),
        ("2019 January", "month_name_year", wall(2019, 1, 1)),
        ("31.12.2019", "day_month_year", wall(2019, 12, 31)),
        ("31.12.2019 23:15", "day_month_year", wall(2019, 12, 31, 23, 15)),
        ("12/31/2019", "month_day_year", wall(2019, 12, 31)),
        ("2019/20", "financial_year", wall(2019, 1, 1)),
        ("2019/20", "financial_year@4", wall(2019, 4, 1)),
        ("2010-2015", "year_range", wall(2010, 1, 1)),
        ("Apr 2020 - Sep 2020", "month_range", wall(2020, 4, 1)),
        ("Oct 2021 – Mar 2022", "month_range", wall(2021, 10, 1)),
        (43466, "excel_serial", wall(2019, 1, 1)),
        ("43466.5", "excel_serial", wall(2019, 1, 1, 12)),
        (1546300800, "epoch_s", utc(2019, 1, 1)),
        (1546300800000, "epoch_ms", utc(2019, 1, 1)),
        ("1546300800000", "epoch_ms", utc(2019, 1, 1)),
        (datetime(2019, 1, 1, 5), "native", wall(2019, 1, 1, 5)),
        (date(2019, 1, 1), "native", wall(2019, 1, 1)),
        (datetime(2019, 1, 1, 5, tzinfo=timezone(timedelta(hours=1))), "native", utc(2019, 1, 1, 4)),
    ],
)
def test_parse_period_reads_every_format_as_the_start_of_its_period(
    cell: Any, fmt: str, expected: datetime
) -> None:
    """Each format gives the start of its period: a wall clock unless the stamp says its offset."""
    assert parse_period(cell, fmt) == expected


def test_parse_period_cases_cover_every_documented_format() -> None:
    """The parametrized cases above exercise each name in PERIOD_FORMATS."""
    covered = {"iso", "year", "year_month", "year_mmm", "year_quarter", "month_name_year", "day_month_year"}
    covered |= {"month_day_year", "excel_serial", "epoch_s", "epoch_ms", "native", "financial_year"}
    covered |= {"year_range", "month_range"}
    assert covered == set(PERIOD_FORMATS)


@pytest.mark.parametrize(
    ("cell", "fmt"),
    [
        ("2019.5", "year"),
        ("3019", "year"),
        ("2019-13", "year_month"),
        ("Foo 2019", "month_name_year"),
        ("", "iso"),
        ("2019-13-01", "iso"),
        ("2019-01-01T25:00", "iso"),
        ("32.01.2019", "day_month_year"),
    ],
)
def test_parse_period_returns_none_for_values_outside_the_format(cell: str, fmt: str) -> None:
    """Values that do not read in the format are no period."""
    assert parse_period(cell, fmt) is None


def test_parse_period_rejects_unknown_formats() -> None:
    """A misspelt format is an error, not a silent None."""
    with pytest.raises(ToolkitError):
        parse_period("2019", "yearly")


def test_utc_offset_shifts_local_times_but_not_explicit_offsets_or_epochs() -> None:
    """utc_offset_seconds=3600 means the wall clock is UTC+1; stamps that say their zone keep it."""
    assert parse_period("2019-01-01T10:00", "iso", utc_offset_seconds=3600) == utc(2019, 1, 1, 9)
    assert parse_period(datetime(2019, 1, 1, 10), "native", utc_offset_seconds=3600) == utc(2019, 1, 1, 9)
    assert parse_period("2019-01-01T10:00Z", "iso", utc_offset_seconds=3600) == utc(2019, 1, 1, 10)
    assert parse_period(1546300800, "epoch_s", utc_offset_seconds=3600) == utc(2019, 1, 1)


@pytest.mark.parametrize(
    ("values", "name", "expected"),
    [
        (["2019-01-01", "2019-02-01"], "", "iso"),
        (["2019-01-01T00:00:00Z"], "", "iso"),
        (["2019", "2020"], "", "year"),
        ([2019, 2020], "", "year"),
        (["2019-03", "2019-04"], "", "year_month"),
        (["2019M01", "2019M02"], "", "year_mmm"),
        (["2019Q1", "2019Q2"], "", "year_quarter"),
        (["Jan 2019", "Mär 2019"], "", "month_name_year"),
        (["31.12.2019", "01.01.2020"], "", "day_month_year"),
        (["01.02.2019", "03.04.2019"], "", "day_month_year"),
        (["13/02/2019", "03/04/2019"], "", "day_month_year"),
        (["01/02/2019", "03/04/2019"], "", "month_day_year"),
        (["12/31/2019"], "", "month_day_year"),
        ([43466, 43467], "Date", "excel_serial"),
        ([1546300800000], "timestamp", "epoch_ms"),
        ([1546300800], "time", "epoch_s"),
        ([datetime(2019, 1, 1), date(2019, 1, 2)], "", "native"),
        ([43466, 43467], "", None),
        ([1546300800000], "", None),
        (["Germany", "France"], "", None),
        ([], "", None),
    ],
)
def test_detect_period_format_picks_the_format_every_value_reads_in(
    values: list[Any], name: str, expected: str | None
) -> None:
    """Day-first only when a day above 12 or dots prove it; serials and epochs only with a time-like name."""
    assert detect_period_format(values, name=name) == expected


def test_detect_period_format_hints_include_japanese_names() -> None:
    """`日付` (date) hints that serial numbers are dates."""
    assert detect_period_format([43466, 43467], name="日付") == "excel_serial"


def test_parse_month_and_parse_clock() -> None:
    """Month numbers and names; times of day as text or cells."""
    assert [parse_month(v) for v in (3, "3", "03", "Mar", "März", "juil.", 13, "x", 2.5)] == [
        3,
        3,
        3,
        3,
        3,
        7,
        None,
        None,
        None,
    ]
    assert parse_clock("07:30") == time(7, 30)
    assert parse_clock("23:59:58") == time(23, 59, 58)
    assert parse_clock(time(1, 2)) == time(1, 2)
    assert parse_clock("24:00") is None
    assert parse_clock("7.30") is None


# --- tables ----------------------------------------------------------------------------------------


def test_read_csv_grid_drops_the_bom_and_uses_the_delimiter() -> None:
    """A UTF-8 BOM does not stick to the first header."""
    grid = read_csv_grid("\ufeffa;b\n1;2\n".encode(), encoding="utf-8", delimiter=";")
    assert grid == [["a", "b"], ["1", "2"]]


def test_header_names_fill_blanks_and_tell_repeats_apart() -> None:
    """Blank headers become column_N; a repeated name gets its position."""
    assert header_names(["Year", None, "Value", "Value", " Multi\nline "]) == [
        "Year",
        "column_2",
        "Value",
        "Value_4",
        "Multi line",
    ]


def test_find_row_finds_the_header_below_a_preamble() -> None:
    """Case and white space do not matter; a missing header is an error."""
    grid = [["Title"], [], ["  year ", "Value"], ["2019", "1"]]
    assert find_row(grid, ["Year", "value"]) == 2
    with pytest.raises(ToolkitError):
        find_row(grid, ["Country"])


def test_long_points_reads_dimensions_decimal_commas_and_sentinels() -> None:
    """One point per row; rows without a time or a value are skipped."""
    grid = [
        ["Report"],
        ["Jahr", "Land", "Wert"],
        ["2019", "DE", "1.234,5"],
        ["2020", "DE", "-99,99"],
        ["2021", "DE", ":"],
        ["", "DE", "3,0"],
        ["2019", "FR", "2,5"],
    ]
    points = list(
        long_points(
            grid,
            header_row=1,
            time_column="Jahr",
            time_format="year",
            value_column="Wert",
            dimension_columns=["Land"],
            decimal=",",
            missing=[-99.99],
        )
    )
    assert pairs(points) == [(wall(2019, 1, 1), 1234.5), (wall(2019, 1, 1), 2.5)]
    assert [p["dimensions"] for p in points] == [{"Land": "DE"}, {"Land": "FR"}]


def test_long_points_with_month_and_clock_columns() -> None:
    """Years plus a month column make months; dates plus a time-of-day column make hours."""
    months = [["year", "month", "average"], [1958, 3, 315.7], [1958, 4, 317.5]]
    assert pairs(
        long_points(
            months,
            header_row=0,
            time_column="year",
            time_format="year",
            value_column="average",
            month_column="month",
        )
    ) == [(wall(1958, 3, 1), 315.7), (wall(1958, 4, 1), 317.5)]
    hours = [["Datum", "Anfang", "MWh"], ["01.01.2023", "00:00", "5"], ["01.01.2023", "01:00", "6"]]
    assert pairs(
        long_points(
            hours,
            header_row=0,
            time_column="Datum",
            time_format="day_month_year",
            value_column="MWh",
            clock_column="Anfang",
            utc_offset_seconds=3600,
        )
    ) == [(utc(2022, 12, 31, 23), 5.0), (utc(2023, 1, 1, 0), 6.0)]


STACKED = [
    ["Emissions by fuel"],
    [],
    ["Coal"],
    ["Year", "Value"],
    ["2019", "10"],
    ["2020", "9"],
    [],
    ["Natural gas"],
    ["Source: inventory"],
    ["Year", "Value"],
    ["2019", "5"],
    ["2020", "6"],
    ["Year", "Value"],
    ["2019", "7"],
]


def test_table_blocks_find_each_stacked_table_and_its_title() -> None:
    """The title is the top of the one-cell rows right above a header; an untitled table is numbered."""
    assert table_blocks(STACKED, 3) == [("Coal", 4, 9), ("Natural gas", 10, 12), ("table 3", 13, 14)]


def test_long_points_on_stacked_tables_skips_repeated_headers_and_names_each_table() -> None:
    """With title_dimension each table is its own series; without it the header rows are still skipped."""
    points = list(
        long_points(
            STACKED,
            header_row=3,
            time_column="Year",
            time_format="year",
            value_column="Value",
            title_dimension="table",
        )
    )
    assert [(p["dimensions"]["table"], p["timestamp"].year, p["value"]) for p in points] == [
        ("Coal", 2019, 10.0),
        ("Coal", 2020, 9.0),
        ("Natural gas", 2019, 5.0),
        ("Natural gas", 2020, 6.0),
        ("table 3", 2019, 7.0),
    ]
    plain = list(
        long_points(STACKED, header_row=3, time_column="Year", time_format="year", value_column="Value")
    )
    assert len(plain) == 5
    assert all(p["dimensions"] == {} for p in plain)


def test_wide_points_reads_years_as_headers_with_gaps_and_a_trailing_empty_column() -> None:
    """World Bank layout: one series per row, empty cells skipped."""
    grid = [
        ["Country Name", "Country Code", "2019", "2020", "2021", ""],
        ["Aruba", "ABW", "1.5", "", "2.1", ""],
        ["Germany", "DEU", "8.5", "7.7", "8.1", ""],
    ]
    points = list(wide_points(grid, header_row=0, period_format="year", dimension_columns=["Country Name"]))
    assert len(points) == 5
    assert (points[0]["timestamp"], points[0]["value"], points[0]["dimensions"]) == (
        wall(2019, 1, 1),
        1.5,
        {"Country Name": "Aruba"},
    )
    assert (points[-1]["timestamp"], points[-1]["value"]) == (wall(2021, 1, 1), 8.1)


def test_wide_points_splits_a_packed_eurostat_column_and_drops_flags() -> None:
    """`unit,geo\\time` gives two dimensions; `p` flags go, `:` is missing."""
    grid = [
        ["unit,geo\\time", "2019 ", "2020 "],
        ["MIO_T,DE", "810.2 ", "739.3 p"],
        ["MIO_T,FR", ":", "360.5 e"],
    ]
    points = list(wide_points(grid, header_row=0, period_format="year", split_column="unit,geo\\time"))
    assert pairs(points) == [(wall(2019, 1, 1), 810.2), (wall(2020, 1, 1), 739.3), (wall(2020, 1, 1), 360.5)]
    assert points[0]["dimensions"] == {"unit": "MIO_T", "geo": "DE"}
    assert split_dimension_names("airpol,src_crf,unit,geo\\time") == ["airpol", "src_crf", "unit", "geo"]


def test_wide_points_needs_period_headers() -> None:
    """A table without period headers is the wrong layout."""
    with pytest.raises(ToolkitError):
        list(wide_points([["a", "b"], ["1", "2"]], header_row=0, period_format="year"))


def test_month_columns_points_reads_a_row_per_year_and_a_column_per_month() -> None:
    """`Year, Jan … Dec, Annual`: the annual column is not a month."""
    grid = [
        ["Year", "Jan", "Feb", "Mar", "Annual"],
        ["2019", "1", "2", "", "1.5"],
        ["2020", "3", "4", "5", "4"],
    ]
    points = list(month_columns_points(grid, header_row=0, year_column="Year"))
    assert pairs(points) == [
        (wall(2019, 1, 1), 1.0),
        (wall(2019, 2, 1), 2.0),
        (wall(2020, 1, 1), 3.0),
        (wall(2020, 2, 1), 4.0),
        (wall(2020, 3, 1), 5.0),
    ]


def test_snapshot_points_puts_every_row_at_the_sheet_period() -> None:
    """A sheet per year: each row is a series at that year."""
    grid = [["Local authority", "GWh"], ["Leeds", "100"], ["York", "10,5"]]
    points = list(
        snapshot_points(
            grid,
            period=datetime(2019, 1, 1),
            header_row=0,
            value_column="GWh",
            dimension_columns=["Local authority"],
            decimal=",",
        )
    )
    assert [(p["timestamp"], p["value"], p["dimensions"]) for p in points] == [
        (wall(2019, 1, 1), 100.0, {"Local authority": "Leeds"}),
        (wall(2019, 1, 1), 10.5, {"Local authority": "York"}),
    ]


# --- JSON ------------------------------------------------------------------------------------------


def test_get_path_follows_keys_and_list_positions() -> None:
    """`1.0.value` walks into lists by index; a wrong path is an error."""
    document = [{"page": 1}, [{"value": 3}]]
    assert get_path(document, "1.0.value") == 3
    assert get_path(document, "") is document
    with pytest.raises(ToolkitError):
        get_path(document, "0.missing")


def test_record_points_reads_nested_keys_and_epoch_milliseconds() -> None:
    """Dotted keys reach into nested objects; null values are skipped."""
    records = [
        {"t": 1704067200000, "price": {"value": "0.25"}, "country": {"id": "NL"}},
        {"t": 1704070800000, "price": {"value": None}, "country": {"id": "NL"}},
        {"t": 1704074400000, "price": {"value": 0.5}, "country": {"id": "NL"}},
    ]
    points = list(
        record_points(
            records,
            time_key="t",
            time_format="epoch_ms",
            value_key="price.value",
            dimension_keys=["country.id"],
        )
    )
    assert pairs(points) == [(utc(2024, 1, 1, 0), 0.25), (utc(2024, 1, 1, 2), 0.5)]
    assert points[0]["dimensions"] == {"country.id": "NL"}


def test_record_points_reads_positional_rows() -> None:
    """`[time, value]` rows are records keyed "0", "1"."""
    rows = [[1704067200000, 42.5], [1704153600000, 43.0]]
    points = record_points(rows, time_key="0", time_format="epoch_ms", value_key="1")
    assert pairs(points) == [(utc(2024, 1, 1), 42.5), (utc(2024, 1, 2), 43.0)]


def test_mapping_records_turns_an_object_keyed_by_period_into_records() -> None:
    """Object values spread into the record; scalar values become `value`."""
    assert mapping_records({"2024-01-02": {"close": "1.5"}}) == [{"period": "2024-01-02", "close": "1.5"}]
    assert mapping_records({"2019": 4.2}, key_name="key") == [{"key": "2019", "value": 4.2}]


def test_column_points_pairs_arrays_and_shifts_local_times() -> None:
    """Open-Meteo: local times with utc_offset_seconds; nulls skipped; unequal arrays are an error."""
    points = column_points(
        ["2024-01-01T00:00", "2024-01-01T01:00", "2024-01-01T02:00"],
        [1.5, None, 0.5],
        time_format="iso",
        utc_offset_seconds=32400,
    )
    assert pairs(points) == [(utc(2023, 12, 31, 15), 1.5), (utc(2023, 12, 31, 17), 0.5)]
    with pytest.raises(ToolkitError):
        list(column_points(["2024-01-01"], [1, 2], time_format="iso"))


def jsonstat_dataset(**extra: Any) -> dict[str, Any]:
    """A JSON-stat 2.0 dataset of 2 countries x 3 years."""
    dataset: dict[str, Any] = {
        "version": "2.0",
        "class": "dataset",
        "id": ["geo", "time"],
        "size": [2, 3],
        "dimension": {
            "geo": {"category": {"index": {"DE": 0, "FR": 1}, "label": {"DE": "Germany", "FR": "France"}}},
            "time": {"category": {"index": ["2019", "2020", "2021"]}},
        },
        "value": [1.0, 2.0, None, 4.0, 5.0, 6.0],
    }
    dataset.update(extra)
    return dataset


def test_jsonstat_points_with_a_time_role() -> None:
    """role.time names the time dimension; other dimensions keep code and label."""
    points = list(jsonstat_points(jsonstat_dataset(role={"time": ["time"]})))
    assert len(points) == 5
    assert (points[0]["timestamp"], points[0]["value"]) == (wall(2019, 1, 1), 1.0)
    assert points[0]["dimensions"] == {"geo": "DE", "geo_label": "Germany"}
    assert (points[-1]["timestamp"], points[-1]["value"], points[-1]["dimensions"]["geo"]) == (
        wall(2021, 1, 1),
        6.0,
        "FR",
    )


def test_jsonstat_points_finds_a_time_dimension_by_its_id() -> None:
    """Without a role, the dimension called `time` is the time."""
    assert len(list(jsonstat_points(jsonstat_dataset()))) == 5


def test_jsonstat_points_reads_a_sparse_dict_of_values() -> None:
    """`value` as {flat index: number} holds only the cells that exist."""
    points = list(jsonstat_points(jsonstat_dataset(value={"1": 2.0, "5": 6.0})))
    assert [(p["timestamp"], p["value"], p["dimensions"]["geo"]) for p in points] == [
        (wall(2020, 1, 1), 2.0, "DE"),
        (wall(2021, 1, 1), 6.0, "FR"),
    ]


def test_jsonstat_points_without_a_time_dimension_is_an_error() -> None:
    """A cube with no time is not a time series."""
    dataset = jsonstat_dataset()
    dataset["id"] = ["geo", "sector"]
    dataset["dimension"].pop("time")
    dataset["dimension"]["sector"] = {"category": {"index": ["energy", "transport", "industry"]}}
    with pytest.raises(ToolkitError):
        list(jsonstat_points(dataset))


def test_align_header_lays_labels_over_the_columns_the_data_fills() -> None:
    from shared.wrapper_toolkit import align_header

    grid: list[list[object]] = [
        ["", "Hour", "", "A", "B", ""],
        ["", "1", "", "5", "", "7"],
        ["", "2", "", "6", "", "8"],
    ]
    assert align_header(grid, 0)[0] == ["", "Hour", "", "A", "", "B"]


def test_align_header_leaves_a_header_over_a_sparse_column_alone() -> None:
    from shared.wrapper_toolkit import align_header

    # An unnamed column full of values and a named one with some: nothing stands apart, nothing moves.
    grid: list[list[object]] = [["Year", "A", "", "B"], ["2020", "1", "9", "3"], ["2021", "2", "9", ""]]
    assert align_header(grid, 0) is grid


def test_title_date_reads_the_day_above_the_header_or_says_there_is_none() -> None:
    from shared.wrapper_toolkit import title_date

    grid: list[list[object]] = [["Report", "31.12.2020"], ["Hour", "Value"], ["1", "5"]]
    assert title_date(grid, 1, time_format="day_month_year") == "2020-12-31"
    with pytest.raises(ToolkitError, match="no cell above row 1"):
        title_date([["Report"], ["Hour", "Value"]], 1, time_format="day_month_year")


def test_long_points_of_one_day_stop_at_the_blank_row_before_the_next_table() -> None:
    grid: list[list[object]] = [
        ["Hour", "Value"],
        ["1", "5"],
        ["24", "6"],
        ["", ""],
        ["Hour", "Other"],
        ["1", "99"],
    ]
    points = list(
        long_points(
            grid,
            header_row=0,
            time_column="Hour",
            time_format="hour_ending",
            value_column="Value",
            day="2020-12-31",
            until_blank=True,
        )
    )
    assert [(p["timestamp"], p["value"]) for p in points] == [
        (datetime(2020, 12, 31, 0), 5.0),
        (datetime(2020, 12, 31, 23), 6.0),
    ]


NESTED_SHEET: list[list[object]] = [
    ["Prices by payment", "", "", ""],
    ["", "", "", ""],
    ["Paid monthly", "", "", ""],
    ["Small users", "Jan 2020 - Jun 2020", "Jul 2020 - Dec 2020", ""],
    ["Fee", 1, 2, ""],
    ["Total", 10, 20, ""],
    ["", "", "", ""],
    ["Large users", "Jan 2020 - Jun 2020", "Jul 2020 - Dec 2020", ""],
    ["Fee", 3, 4, ""],
    ["Total", 30, 40, ""],
    ["", "", "", ""],
    ["Paid in advance", "", "", ""],
    ["Small users", "Jan 2020 - Jun 2020", "Jul 2020 - Dec 2020", ""],
    ["Fee", 5, 6, ""],
    ["Total", 50, 60, ""],
    ["", "", "", ""],
    ["Large users", "Jan 2020 - Jun 2020", "Jul 2020 - Dec 2020", ""],
    ["Fee", 7, 8, ""],
    ["Total", 70, 80, ""],
]


def test_nested_blocks_keep_outer_titles_for_tables_without_their_own() -> None:
    from shared.wrapper_toolkit import nested_blocks

    dims = [found for found, _, _ in nested_blocks(NESTED_SHEET, 3)]
    assert dims == [
        {"title 1": "Paid monthly", "block": "Small users"},
        {"title 1": "Paid monthly", "block": "Large users"},
        {"title 1": "Paid in advance", "block": "Small users"},
        {"title 1": "Paid in advance", "block": "Large users"},
    ]


def test_wide_points_with_nested_titles_tell_stacked_tables_apart() -> None:
    from shared.wrapper_toolkit import wide_points

    points = list(wide_points(NESTED_SHEET, header_row=3, period_format="month_range", nested_titles=True))
    totals = [
        (p["timestamp"], p["value"])
        for p in points
        if p["dimensions"] == {"title 1": "Paid in advance", "block": "Large users"}
    ]
    assert len(points) == 16
    fee, total = (
        [(datetime(2020, 1, 1), 7.0), (datetime(2020, 7, 1), 8.0)],
        [
            (datetime(2020, 1, 1), 70.0),
            (datetime(2020, 7, 1), 80.0),
        ],
    )
    assert totals == [*fee, *total]


@pytest.mark.parametrize(
    ("label", "flagged"),
    [
        ("2023 P", True),
        ("2022 [p]", True),
        ("2021 (est.)", True),
        ("March 2022 [provisional]", True),
        ("2022r", False),
        ("2021*", False),
        ("2020", False),
        ("Q1 2020", False),
        ("1990 [note 3]", False),
    ],
)
def test_is_preliminary_reads_the_flags_of_early_figures_only(label: str, flagged: bool) -> None:
    from shared.wrapper_toolkit import is_preliminary

    assert is_preliminary(label) is flagged


def test_wide_points_leave_out_preliminary_periods_when_asked() -> None:
    from shared.wrapper_toolkit import wide_points

    grid: list[list[object]] = [["Item", 2020, 2021, "2022 P"], ["a", 1, 2, 3]]
    kept = [p["timestamp"].year for p in wide_points(grid, header_row=0, period_format="year")]  # type: ignore[union-attr]
    final = wide_points(grid, header_row=0, period_format="year", preliminary=False)
    assert kept == [2020, 2021, 2022]
    assert [p["timestamp"].year for p in final] == [2020, 2021]  # type: ignore[union-attr]
