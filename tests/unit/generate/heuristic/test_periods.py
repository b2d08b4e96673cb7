"""Vintage columns and identifier codes: what looks like series in a long table but is not."""

from __future__ import annotations

import json
from pathlib import Path

from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest
from shared.generate import heuristic
from shared.generate.heuristic.periods import code_columns, vintage_columns
from shared.generate.heuristic.plans import ColumnStats
from shared.source.profile import build_profile
from shared.source.read import read_source


def column(name: str, index: int, fmt: str | None = None) -> ColumnStats:
    return ColumnStats(name=name, index=index, fill=1.0, numeric=0.0, period_format=fmt, distinct=2)


TIME = column("date", 0, "iso")
RELEASES = [
    ["2024-12-31 23:00", "CONS", "8300"],
    ["2024-12-31 23:30", "CONS", "8200"],
    ["2025-01-01 00:00", "TR", "9000"],
    ["2025-01-01 00:15", "TR", "9020"],
]


def test_a_label_whose_values_take_turns_along_time_is_a_vintage() -> None:
    found = vintage_columns(RELEASES, time_column=TIME, time_format="iso", candidates=[column("DTYPE", 1)])
    assert [c.name for c in found] == ["DTYPE"]


def test_a_label_whose_values_share_times_names_series() -> None:
    zones = [
        ["2025-01-01 00:00", "North", "1"],
        ["2025-01-01 00:00", "South", "2"],
        ["2025-01-01 01:00", "North", "3"],
        ["2025-01-01 01:00", "South", "4"],
    ]
    assert vintage_columns(zones, time_column=TIME, time_format="iso", candidates=[column("zone", 1)]) == []
    single = [[*row[:1], "CONS", *row[2:]] for row in RELEASES]
    assert vintage_columns(single, time_column=TIME, time_format="iso", candidates=[column("DTYPE", 1)]) == []


ZONES = [
    ["2017-11-22 00:00", "CAPITL", "61757", "1140.5"],
    ["2017-11-22 00:00", "LONGIL", "61762", "1798.3"],
    ["2017-11-22 00:05", "CAPITL", "61757", "1149.5"],
    ["2017-11-22 00:05", "LONGIL", "61762", "1775.4"],
    ["2017-11-22 00:10", "CAPITL", "61757", "1150.0"],
    ["2017-11-22 00:10", "LONGIL", "61762", "1749.0"],
]


def test_an_integer_column_that_repeats_a_label_one_to_one_is_a_code() -> None:
    found = code_columns(
        ZONES, candidates=[column("PTID", 2), column("Load", 3)], labels=[column("Name", 1)], decimal="."
    )
    assert [c.name for c in found] == ["PTID"]


def test_integers_that_vary_within_a_label_are_values() -> None:
    counts = [[*row[:2], str(at), *row[3:]] for at, row in enumerate(ZONES)]
    assert code_columns(counts, candidates=[column("PTID", 2)], labels=[column("Name", 1)], decimal=".") == []


def test_a_request_naming_the_code_still_gets_the_measurement(tmp_path: Path) -> None:
    """The request mentions the zone's id: the id column is still no value column."""
    text = '"Time Stamp","Name","PTID","Load"\n' + "".join(
        f'"{stamp}","{name}",{code},{load}\n' for stamp, name, code, load in ZONES
    )
    path = tmp_path / "zones.csv"
    path.write_text(text)
    source = read_source(str(path), settings=Settings())
    request = IndicatorRequest(name="Long Island load", description="zone LONGIL, PTID 61762", unit="MW")
    draft = heuristic.generate(build_profile(source), request)
    assert "value_column='Load'" in draft.parse_code


def test_the_rationale_says_which_start_a_financial_year_takes(tmp_path: Path) -> None:
    path = tmp_path / "woodland.csv"
    path.write_text("Year (ending 31/3),Area\n2017/18,10\n2018/19,11\n2019/20,12\n")
    source = read_source(str(path), settings=Settings())
    draft = heuristic.generate(build_profile(source), IndicatorRequest(name="Area"))
    assert "financial_year@4" in draft.parse_code
    assert "financial years dated on April 1 of the year they start in" in draft.rationale
    path.write_text("Year,Area\n2017/18,10\n2018/19,11\n2019/20,12\n")
    draft = heuristic.generate(
        build_profile(read_source(str(path), settings=Settings())), IndicatorRequest(name="Area")
    )
    assert "January 1" in draft.rationale and "says no start month" in draft.rationale


def test_json_records_with_a_date_key_and_an_hour_range_key_make_hourly_points(tmp_path: Path) -> None:
    """`Dia` holds the day (day first), `Hora` the hour as a range: together they are the period start."""
    records = [
        {"Dia": "01/06/2021", "Hora": f"{h:02d}-{h + 1:02d}", "Precio": f"{100 + h},5"} for h in range(24)
    ]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"data": records}))
    source = read_source(str(path), settings=Settings())
    draft = heuristic.generate(build_profile(source), IndicatorRequest(name="Precio"))
    assert "clock_key='Hora'" in draft.parse_code and "time_format='day_month_year'" in draft.parse_code
