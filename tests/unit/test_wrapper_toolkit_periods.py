"""The toolkit's period grammar: decorated labels, quarters, financial years, ranges, dates and clocks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest

from shared.wrapper_toolkit import (
    NAIVE,
    PointColumns,
    day_order,
    detect_period_format,
    financial_year_start,
    jsonstat_points,
    long_points,
    parse_clock,
    parse_month,
    parse_period,
    record_points,
    undecorated,
)


@pytest.mark.parametrize(
    ("label", "fmt", "expected"),
    [
        ("2023 [p]", "year", datetime(2023, 1, 1)),
        ("2022r", "year", datetime(2022, 1, 1)),
        ("2021*", "year", datetime(2021, 1, 1)),
        ("2021 †", "year", datetime(2021, 1, 1)),
        ("1990 [note 3]", "year", datetime(1990, 1, 1)),
        ("1992 \naverage", "year", datetime(1992, 1, 1)),
        ("2019 (provisional)", "year", datetime(2019, 1, 1)),
        ("2020年", "year", datetime(2020, 1, 1)),
        ("2010\n1st quarter", "year_quarter", datetime(2010, 1, 1)),
        ("2010 3rd quarter", "year_quarter", datetime(2010, 7, 1)),
        ("2nd quarter 2011", "year_quarter", datetime(2011, 4, 1)),
        ("2020 Q1", "year_quarter", datetime(2020, 1, 1)),
        ("Q4 2020", "year_quarter", datetime(2020, 10, 1)),
        ("2020-Q2", "year_quarter", datetime(2020, 4, 1)),
        ("Quarter 2 2022 [provisional]", "year_quarter", datetime(2022, 4, 1)),
        ("1. Quartal 2020", "year_quarter", datetime(2020, 1, 1)),
        ("2020 4T", "year_quarter", None),
        ("January 1996 [provisional]", "month_name_year", datetime(1996, 1, 1)),
        ("2020年3月", "year_month", datetime(2020, 3, 1)),
        ("2016/4/1 0:00", "iso", datetime(2016, 4, 1)),
        ("2016-4-1 7:05", "iso", datetime(2016, 4, 1, 7, 5)),
        ("6/9/2021 12:12:28 PM", "month_day_year", datetime(2021, 6, 9, 12, 12, 28)),
        ("6/9/2021 12:05 AM", "month_day_year", datetime(2021, 6, 9, 0, 5)),
        ("11/06/17", "month_day_year", datetime(2017, 11, 6)),
        ("1.2.99", "day_month_year", datetime(1999, 2, 1)),
        ("2019 Wind", "year", None),
        ("2019 [p] [r]", "year", datetime(2019, 1, 1)),
    ],
)
def test_parse_period_reads_labels_with_decorations(label: str, fmt: str, expected: datetime | None) -> None:
    """Footnotes, flags, line breaks and a few trailing words do not change the period; other words do."""
    assert parse_period(label, fmt) == expected


def test_undecorated_strips_only_what_follows_the_period() -> None:
    """Notes and marks go; the period itself stays as written."""
    assert undecorated("2023 [p]") == "2023"
    assert undecorated("Quarter 2 2022 [provisional]") == "Quarter 2 2022"
    assert undecorated("2019M03") == "2019M03"
    assert undecorated("2010 1st quarter") == "2010 1st quarter"


@pytest.mark.parametrize(
    ("label", "fmt", "expected"),
    [
        ("2019/20", "financial_year", datetime(2019, 1, 1)),
        ("2019-20", "financial_year", datetime(2019, 1, 1)),
        ("2019/2020", "financial_year", datetime(2019, 1, 1)),
        ("1999/00", "financial_year", datetime(1999, 1, 1)),
        ("2019/20", "financial_year@4", datetime(2019, 4, 1)),
        ("2017/18 [note 2]", "financial_year@4", datetime(2017, 4, 1)),
        ("FY2020", "financial_year", datetime(2020, 1, 1)),
        ("FY 2020", "financial_year@10", datetime(2019, 10, 1)),
        ("FY20", "financial_year@4", datetime(2019, 4, 1)),
        ("2019/21", "financial_year", None),
        ("2010-2015", "year_range", datetime(2010, 1, 1)),
        ("2010–15", "year_range", datetime(2010, 1, 1)),
        ("2015-2010", "year_range", None),
    ],
)
def test_financial_years_and_ranges_are_dated_by_their_start(
    label: str, fmt: str, expected: datetime | None
) -> None:
    """`2019/20` starts in 2019 (in the start month given, else January); FY2020 ends in 2020."""
    assert parse_period(label, fmt) == expected


@pytest.mark.parametrize(
    ("label", "month"),
    [
        ("Year \n(ending 31/3)", 4),
        ("Financial year ending March", 4),
        ("Year ended 30 June", 7),
        ("April to March", 4),
        ("Year", 1),
        ("Jul-Jun", 7),
    ],
)
def test_financial_year_start_reads_what_the_label_says(label: str, month: int) -> None:
    """The start month comes from the label's stated end or span; without one, January."""
    assert financial_year_start(label) == month


def test_detect_period_format_takes_the_financial_year_start_from_the_column_name() -> None:
    """Financial-year labels under `Year (ending 31/3)` start in April."""
    labels = ["2017/18", "2018/19", "2019/20"]
    assert detect_period_format(labels, name="Year \n(ending 31/3)") == "financial_year@4"
    assert detect_period_format(labels, name="Year") == "financial_year"
    assert detect_period_format(["2019-10", "2019-11", "2019-12"]) == "year_month"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["2023 [p]", "2022r", "2021*"], "year"),
        (["2010-2015", "2015-2020"], "year_range"),
        (["Quarter 1 1995", "Quarter 2 2022 [provisional]"], "year_quarter"),
        (["2020 Q1", "2020 Q2"], "year_quarter"),
        (["enero 2020", "febrero 2020"], "month_name_year"),
        (["2016/4/1 0:00", "2016/4/1 1:00"], "iso"),
    ],
)
def test_detect_period_format_reads_the_grammar(values: list[str], expected: str) -> None:
    """Decorated labels and the new forms are recognised as a column."""
    assert detect_period_format(values) == expected


def test_day_first_is_decided_by_the_whole_column_not_the_first_row() -> None:
    """Only the last row proves the day comes first; a second field above 12 proves month-first."""
    days = [f"0{d}/02/2019" for d in range(1, 10)] + ["13/02/2019"]
    assert detect_period_format(days) == "day_month_year"
    many = ["01/02/2019"] * 600 + ["25/02/2019"]
    assert detect_period_format(many) == "day_month_year"
    assert detect_period_format(["01/02/2019", "02/14/2019"]) == "month_day_year"
    assert day_order(["01/02/2019", "13/02/2019", "02/14/2019"]) is None
    assert day_order(["01.02.2019", "03.04.2019"]) == "day_month_year"
    assert day_order(["01/02/2019", "03/04/2019"]) == "month_day_year"


@pytest.mark.parametrize(
    ("name", "month", "expected"),
    [
        ("enero 2020", "month_name_year", 1),
        ("settembre 2020", "month_name_year", 9),
        ("maart 2020", "month_name_year", 3),
        ("março 2020", "month_name_year", 3),
        ("października 2020", "month_name_year", 10),
        ("październik 2020", "month_name_year", 10),
        ("dic. 2020", "month_name_year", 12),
        ("okt 2020", "month_name_year", 10),
        ("diciembre de 2020", "month_name_year", 12),
    ],
)
def test_month_names_in_spanish_italian_dutch_portuguese_and_polish(
    name: str, month: str, expected: int
) -> None:
    """Month names beyond English, German and French read as their month."""
    assert parse_period(name, month) == datetime(2020, expected, 1)


def test_parse_month_reads_japanese_and_other_languages() -> None:
    """`3月`, `marzo`, `maj` are months."""
    assert [parse_month(v) for v in ("3月", "marzo", "maj", "giugno", "juli")] == [3, 3, 5, 6, 7]


@pytest.mark.parametrize("name", ["Jahr", "Année", "Año", "Rok", "年", "Anno", "Jaar", "Data", "Mês"])
def test_time_header_words_in_many_languages_hint_a_time_column(name: str) -> None:
    """Serial numbers under a time word are dates; under another word they are not."""
    assert detect_period_format([43466, 43467], name=name) == "excel_serial"
    assert detect_period_format([43466, 43467], name="Menge") is None


def test_parse_clock_reads_twelve_hour_clocks() -> None:
    """`1:05 PM` is 13:05; `13:00 PM` is no clock."""
    assert parse_clock("1:05 PM") == time(13, 5)
    assert parse_clock("12:00 am") == time(0, 0)
    assert parse_clock("13:00 PM") is None
    assert parse_clock("07:30:61") is None


def test_stamps_without_an_offset_stay_wall_clocks_and_offsets_are_kept() -> None:
    """No stamp is labelled UTC unless it says so: wall clocks are naive, offsets survive."""
    assert parse_period("2021-10-31T02:00:00", "iso") == datetime(2021, 10, 31, 2)
    kept = parse_period("2021-10-31T02:00:00+02:00", "iso")
    assert kept is not None and kept.utcoffset() == timedelta(hours=2)
    assert parse_period("2021-10-31T02:00:00+00:00", "iso") == datetime(2021, 10, 31, 2, tzinfo=UTC)
    local = parse_period("2021-10-31T02:00", "iso", utc_offset_seconds=-18000)
    assert local is not None and local.utcoffset() == timedelta(hours=-5) and local.hour == 2


def test_long_points_keep_each_stamps_clock_in_the_columns() -> None:
    """Columns hold the wall clock with NAIVE, an offset stamp as its instant with its offset."""
    grid: list[list[Any]] = [
        ["time", "value"],
        ["2021-10-31 02:00", "1"],
        ["2021-10-31T02:00:00+01:00", "2"],
        ["2021-10-31T02:00:00Z", "3"],
    ]
    points = long_points(grid, header_row=0, time_column="time", time_format="iso", value_column="value")
    assert isinstance(points, PointColumns) and points.offsets is not None
    assert points.offsets.tolist() == [NAIVE, 3600, 0]
    stamps = [point["timestamp"] for point in points]
    assert stamps[0] == datetime(2021, 10, 31, 2) and stamps[0].tzinfo is None
    assert stamps[1] == datetime(2021, 10, 31, 2, tzinfo=timezone(timedelta(hours=1)))
    assert stamps[1].utcoffset() == timedelta(hours=1)
    assert stamps[2] == datetime(2021, 10, 31, 2, tzinfo=UTC)
    assert PointColumns.from_points(points).offsets.tolist() == [NAIVE, 3600, 0]  # type: ignore[union-attr]


def test_parse_clock_reads_hour_ranges_as_their_start() -> None:
    """`00-01` is the hour from midnight; `02-02` the repeated hour of the autumn change; `03-07` no hour."""
    assert parse_clock("00-01") == time(0)
    assert parse_clock("23-24") == time(23)
    assert parse_clock("23-00") == time(23)
    assert parse_clock("02-02") == time(2)
    assert parse_clock("03-07") is None
    assert parse_clock("24-25") is None


def test_record_points_combine_a_date_key_and_an_hour_key() -> None:
    records = [
        {"Dia": "01/06/2021", "Hora": "00-01", "v": "1"},
        {"Dia": "01/06/2021", "Hora": "01-02", "v": "2"},
    ]
    points = list(
        record_points(records, time_key="Dia", time_format="day_month_year", value_key="v", clock_key="Hora")
    )
    assert [p["timestamp"] for p in points] == [datetime(2021, 6, 1, 0), datetime(2021, 6, 1, 1)]


def test_a_column_name_in_a_day_first_language_breaks_the_tie() -> None:
    """Without a day above 12, `Dia` and `Datum` read day first; `Date` keeps month first for slashes."""
    assert detect_period_format(["01/06/2021", "02/06/2021"], name="Dia") == "day_month_year"
    assert detect_period_format(["01/06/2021", "02/06/2021"], name="Datum") == "day_month_year"
    assert detect_period_format(["01/06/2021", "02/06/2021"], name="Date") == "month_day_year"
    assert detect_period_format(["01/06/2021", "02/13/2021"], name="Dia") == "month_day_year"


def test_microsoft_json_dates_are_epoch_milliseconds_in_utc() -> None:
    """`/Date(1507114800000)/`, escaped or with an offset suffix, is that instant in UTC."""
    expected = datetime(2017, 10, 4, 11, tzinfo=UTC)
    assert parse_period("/Date(1507114800000)/", "epoch_ms") == expected
    assert parse_period("\\/Date(1507114800000-0500)\\/", "epoch_ms") == expected
    assert detect_period_format(["/Date(1507114800000)/", "/Date(1507118400000)/"]) == "epoch_ms"
    assert parse_period("/Date(soon)/", "epoch_ms") is None


def test_jsonstat_time_codes_that_are_opaque_are_read_by_their_labels() -> None:
    """Time codes `CI_…` labelled `Sep 1999` are read by their labels, whatever the index order."""
    document = {
        "class": "dataset",
        "id": ["item", "time"],
        "size": [1, 2],
        "role": {"time": ["time"]},
        "dimension": {
            "item": {"category": {"index": {"CI_1": 0}, "label": {"CI_1": "Electricity"}}},
            "time": {
                "category": {
                    "index": {"CI_0004396": 1, "CI_0004395": 0},
                    "label": {"CI_0004396": "Sep 1999", "CI_0004395": "Aug 1999"},
                }
            },
        },
        "value": [1.5, 2.5],
    }
    points = list(jsonstat_points(document))
    assert [(p["timestamp"], p["value"]) for p in points] == [
        (datetime(1999, 8, 1), 1.5),
        (datetime(1999, 9, 1), 2.5),
    ]


def test_a_format_reads_a_column_when_95_percent_of_its_values_read_and_never_an_empty_one() -> None:
    from shared.wrapper_toolkit import _reads

    years = [str(y) for y in range(1990, 2030)]  # 40 values: 2 may be something else
    assert _reads([*years[:38], "n/a", "?"], "year")
    assert not _reads([*years[:37], "n/a", "?", "-"], "year")
    assert not _reads([], "year")
