"""JSON layouts: nested records, Microsoft dates, split date and hour, JSON-stat, ranked candidates, hints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.common.errors import HintError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, LayoutHints
from shared.generate import heuristic
from shared.generate.heuristic.plans import Candidate
from shared.generate.heuristic.records import KeyScorer, json_wrapper
from shared.points.point import Point, check_points
from shared.source.profile import SourceProfile, build_profile
from shared.source.read import read_source

SETTINGS = Settings()


def profile_of(tmp_path: Path, document: Any) -> SourceProfile:
    """The profile of a JSON document written to a file."""
    path = tmp_path / "source.json"
    path.write_text(json.dumps(document))
    return build_profile(read_source(str(path), settings=SETTINGS))


def run(code: str, document: Any) -> list[Point]:
    """The checked points the parse code yields for the document, run in this process."""
    namespace: dict[str, object] = {}
    exec(compile(code, "<wrapper>", "exec"), namespace)
    parse = namespace["parse"]
    points = [Point(**p) for p in parse(json.dumps(document).encode(), {})]  # type: ignore[operator]
    _, issues = check_points(points)
    assert not issues, issues
    return points


def wrap(tmp_path: Path, document: Any, name: str, **hints: Any) -> tuple[list[Candidate], list[Point]]:
    """The ranked candidates for the document and the points of the best one."""
    request = IndicatorRequest(name=name, hints=LayoutHints(**hints))
    candidates = json_wrapper(profile_of(tmp_path, document), request)
    return candidates, run(candidates[0].code, document)


def utc(*parts: int) -> datetime:
    """A UTC datetime."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def wall(*parts: int) -> datetime:
    """A wall clock without an offset, as parse code yields it before its zone is settled."""
    return datetime(*parts)  # type: ignore[misc]


def day(date: str, peak: int, imports: int, warn: str) -> dict[str, Any]:
    """One market day of a seven-day forecast, with city weather nested inside."""
    return {
        "@Day": date[-2:],
        "MarketDate": f"{date}T00:00:00.000-05:00",
        "PeakLoadMw": peak,
        "PeakImportMw": imports,
        "PowerWarn": warn,
        "Weather": {
            "CityWeather": [
                {"CityName": "Springfield", "HighTempF": 38},
                {"CityName": "Shelby", "HighTempF": 35},
            ]
        },
    }


FORECAST = {
    "Forecasts": {
        "Forecast": [
            {
                "BeginDate": "2016-01-01T00:00:00.000-05:00",
                "CreationDate": "2016-01-01T09:45:12.343-05:00",
                "MarketDay": [
                    day("2016-01-02", 16040, 2988, "N"),
                    day("2016-01-03", 16530, 2988, "Y"),
                    day("2016-01-04", 19090, 3188, "N"),
                ],
            }
        ]
    }
}


# --- nested records --------------------------------------------------------------------------------


def test_records_two_levels_deep_give_a_daily_series_dated_by_their_local_dates(tmp_path: Path) -> None:
    candidates, points = wrap(tmp_path, FORECAST, "Forecast peak load (MW)")

    assert [(p.timestamp, p.value) for p in points] == [
        (utc(2016, 1, 2), 16040),
        (utc(2016, 1, 3), 16530),
        (utc(2016, 1, 4), 19090),
    ]
    assert "Forecast[].MarketDay" in candidates[0].code


def test_yes_no_flags_beside_unique_dates_do_not_split_the_series(tmp_path: Path) -> None:
    _, points = wrap(tmp_path, FORECAST, "Forecast peak load")

    assert {tuple(p.dimensions.items()) for p in points} == {()}


def test_forecasts_issued_for_the_same_days_are_told_apart_by_their_issue_date(tmp_path: Path) -> None:
    again = json.loads(json.dumps(FORECAST["Forecasts"]["Forecast"][0]))
    again["BeginDate"] = "2016-01-02T00:00:00.000-05:00"
    document = {"Forecasts": {"Forecast": [FORECAST["Forecasts"]["Forecast"][0], again]}}

    _, points = wrap(tmp_path, document, "Forecast peak load")

    assert len(points) == 6
    assert {p.dimensions["BeginDate"] for p in points} == {
        "2016-01-01T00:00:00.000-05:00",
        "2016-01-02T00:00:00.000-05:00",
    }


def test_hourly_values_inside_each_day_take_the_days_date_and_their_hour(tmp_path: Path) -> None:
    document = [
        {"date": "2024-03-01", "hours": [{"hour": 0, "price": 1.5}, {"hour": 1, "price": 2.5}]},
        {"date": "2024-03-02", "hours": [{"hour": 0, "price": 3.5}, {"hour": 1, "price": 4.5}]},
    ]

    _, points = wrap(tmp_path, document, "Price")

    assert [(p.timestamp, p.value) for p in points] == [
        (wall(2024, 3, 1, 0), 1.5),
        (wall(2024, 3, 1, 1), 2.5),
        (wall(2024, 3, 2, 0), 3.5),
        (wall(2024, 3, 2, 1), 4.5),
    ]


def test_objects_keyed_by_name_are_records_told_apart_by_their_key(tmp_path: Path) -> None:
    document = {
        "stations": {
            "north": {"date": "2024-01-01", "load": 10, "unit": "MW"},
            "south": {"date": "2024-01-01", "load": 20, "unit": "MW"},
        }
    }

    _, points = wrap(tmp_path, document, "Load")

    assert sorted((p.dimensions["key"], p.value) for p in points) == [("north", 10), ("south", 20)]


def test_sibling_objects_keyed_by_year_become_one_series_each(tmp_path: Path) -> None:
    document = {
        "emissions": {
            "DE": {"2019": 1.5, "2020": 1.4, "2021": 1.3},
            "FR": {"2019": 0.5, "2020": 0.4, "2021": 0.3},
        }
    }

    _, points = wrap(tmp_path, document, "Emissions")

    assert len(points) == 6
    assert {p.dimensions["series"] for p in points} == {"DE", "FR"}


# --- dates and numbers written oddly ---------------------------------------------------------------


def test_microsoft_json_dates_are_read_as_utc_instants(tmp_path: Path) -> None:
    document = [
        {"datetime": "/Date(1507114800000)/", "Solid Fuel": 41.99, "Wind": 30.64, "Hydro": 2.74},
        {"datetime": "/Date(1507118400000)/", "Solid Fuel": 42.81, "Wind": 26.91, "Hydro": 3.17},
    ]

    _, points = wrap(tmp_path, document, "Wind share of the generation mix")

    assert [(p.timestamp, p.value) for p in points] == [
        (utc(2017, 10, 4, 11), 30.64),
        (utc(2017, 10, 4, 12), 26.91),
    ]


def test_a_date_and_an_hour_range_in_two_keys_with_decimal_commas_read_day_first(tmp_path: Path) -> None:
    document = {
        "PRICES": [
            {"Dia": "01/06/2021", "Hora": f"{h:02d}-{h + 1:02d}", "PCB": f"{100 + h},5{h}", "CYM": "99,00"}
            for h in range(3)
        ]
    }

    _, points = wrap(tmp_path, document, "Electricity price 'PCB'")

    assert [(p.timestamp, p.value) for p in points] == [
        (wall(2021, 6, 1, 0), 100.50),
        (wall(2021, 6, 1, 1), 101.51),
        (wall(2021, 6, 1, 2), 102.52),
    ]


# --- JSON-stat -------------------------------------------------------------------------------------

JSONSTAT_BUNDLE = {
    "rates": {
        "label": "Unemployment rate",
        "value": [5.0, 5.5, 7.0, 7.5],
        "dimension": {
            "id": ["concept", "area", "year"],
            "size": [1, 2, 2],
            "role": {"time": ["year"], "geo": ["area"], "metric": ["concept"]},
            "concept": {"category": {"label": {"UNR": "unemployment rate"}}},
            "area": {"category": {"index": {"DE": 0, "FR": 1}, "label": {"DE": "Germany", "FR": "France"}}},
            "year": {"category": {"index": {"2020": 0, "2021": 1}}},
        },
    },
    "other": {
        "value": [1.0],
        "dimension": {
            "id": ["year", "area"],
            "size": [1, 1],
            "year": {"category": {"index": ["2020"]}},
            "area": {"category": {"index": ["CA"]}},
        },
    },
}

JSONSTAT_2 = {
    "version": "2.0",
    "class": "dataset",
    "id": ["item", "time", "measure"],
    "size": [2, 3, 1],
    "role": {"metric": ["measure"]},
    "dimension": {
        "item": {
            "label": "Aggregate",
            "category": {"index": ["CI_1", "CI_2"], "label": {"CI_1": "All items", "CI_2": "Electricity"}},
        },
        # Opaque codes whose positions are not in code order; only the labels are periods.
        "time": {
            "label": "Time",
            "category": {
                "index": {"CI_9": 0, "CI_3": 1, "CI_5": 2},
                "label": {"CI_9": "Sep 1999", "CI_3": "Oct 1999", "CI_5": "Nov 1999"},
            },
        },
        "measure": {"category": {"index": ["index"]}},
    },
    "value": {"0": 10.0, "1": 11.0, "2": 12.0, "3": 20.0, "5": 22.0},
    "status": {"5": "p"},
}


def test_a_jsonstat_1_bundle_gives_each_dataset_and_category_its_own_series(tmp_path: Path) -> None:
    _, points = wrap(tmp_path, JSONSTAT_BUNDLE, "Unemployment rate, Germany")

    germany = [p for p in points if p.dimensions.get("area_label") == "Germany"]
    assert [(p.timestamp, p.value) for p in germany] == [(wall(2020, 1, 1), 5.0), (wall(2020 + 1, 1, 1), 5.5)]
    assert {p.dimensions["dataset"] for p in points} == {"rates", "other"}


def test_jsonstat_2_with_opaque_time_codes_reads_the_time_labels_in_index_order(tmp_path: Path) -> None:
    _, points = wrap(tmp_path, JSONSTAT_2, "Electricity price index")

    electricity = [(p.timestamp, p.value) for p in points if p.dimensions["item_label"] == "Electricity"]
    assert electricity == [(wall(1999, 9, 1), 20.0), (wall(1999, 11, 1), 22.0)]
    assert len(points) == 5


def test_a_value_hint_naming_a_jsonstat_category_keeps_only_that_category(tmp_path: Path) -> None:
    candidates, points = wrap(tmp_path, JSONSTAT_2, "Price index", value_column="Electricity")

    assert {p.dimensions["item"] for p in points} == {"CI_2"}
    assert candidates[0].hint == {"value_column": "Electricity"}


def test_a_value_hint_naming_no_jsonstat_category_lists_the_categories(tmp_path: Path) -> None:
    with pytest.raises(HintError, match="'Electricity'"):
        wrap(tmp_path, JSONSTAT_2, "Price index", value_column="Gas")


# --- candidates and scoring ------------------------------------------------------------------------

TARIFFS = [
    {
        "Timestamp": f"2022-12-28T{h:02d}:00:00+00:00",
        "SupplierId": 0,
        "TariffUsage": 0.1 * h,
        "TariffReturn": 0.05 * h,
    }
    for h in range(4)
]


def test_candidates_are_ranked_each_with_a_reason_a_label_and_the_hint_that_picks_it(tmp_path: Path) -> None:
    candidates, _ = wrap(tmp_path, TARIFFS, "Electricity tariff for usage")

    assert [c.hint for c in candidates[:2]] == [
        {"value_column": "TariffUsage"},
        {"value_column": "TariffReturn"},
    ]
    assert candidates[0].score > candidates[1].score
    assert "'TariffUsage' by 'Timestamp'" in candidates[0].label
    assert all(c.reason for c in candidates)


def test_the_inference_names_the_runner_up_and_how_to_pick_it(tmp_path: Path) -> None:
    request = IndicatorRequest(name="Electricity tariff for usage")

    draft = heuristic.generate(profile_of(tmp_path, TARIFFS), request)

    assert draft.inference is not None
    assert draft.inference.alternatives[0].hint == {"value_column": "TariffReturn"}
    assert 0.5 < draft.inference.confidence <= 1.0


def test_a_key_the_request_names_exactly_beats_one_that_contains_it_and_negations_come_last() -> None:
    scorer = KeyScorer(
        IndicatorRequest(name="Wind generation"), ["Wind", "Wind Offshore", "Wind excl offshore"]
    )

    ranked = sorted(["Wind excl offshore", "Wind Offshore", "Wind"], key=scorer.score, reverse=True)

    assert ranked == ["Wind", "Wind Offshore", "Wind excl offshore"]


def test_a_negation_counts_against_a_key_even_when_the_request_negates_something_else() -> None:
    keys = ["Wind (Not in Total)", "Wind"]
    scorer = KeyScorer(
        IndicatorRequest(name="Wind generation", description="all regions, not Shetland"), keys
    )

    assert scorer.score("Wind") > scorer.score("Wind (Not in Total)")
    assert scorer.negations("Wind (Not in Total)") == {"total"}


def test_an_exclusion_counts_against_a_key_only_when_the_request_does_not_ask_for_it() -> None:
    keys = ["price_incl_vat", "price_excl_vat"]
    with_vat = KeyScorer(IndicatorRequest(name="Electricity price including VAT"), keys)
    without_vat = KeyScorer(IndicatorRequest(name="Electricity price excluding VAT (excl. VAT)"), keys)

    assert with_vat.score("price_incl_vat") > with_vat.score("price_excl_vat")
    assert without_vat.score("price_excl_vat") >= without_vat.score("price_incl_vat")


# --- hints -----------------------------------------------------------------------------------------


def test_a_value_hint_picks_the_key_the_user_names(tmp_path: Path) -> None:
    candidates, points = wrap(tmp_path, TARIFFS, "Electricity tariff for usage", value_column="TariffReturn")

    assert [p.value for p in points] == [0.0, 0.05, 0.1, 0.05 * 3]
    assert {c.hint["value_column"] for c in candidates} == {"TariffReturn"}


def test_a_value_hint_naming_no_key_lists_the_numeric_keys(tmp_path: Path) -> None:
    with pytest.raises(HintError, match=r"'TariffReturn'.*'TariffUsage'"):
        wrap(tmp_path, TARIFFS, "Electricity tariff", value_column="Tariff")


def test_a_time_hint_naming_no_key_lists_the_keys(tmp_path: Path) -> None:
    with pytest.raises(HintError, match=r"no time key 'When'.*'Timestamp'"):
        wrap(tmp_path, TARIFFS, "Electricity tariff", time_column="When")


GEOS = {
    "values": [
        {
            "datetime": f"2021-10-31T0{h}:00:00+01:00",
            "geo_name": geo,
            "geo_id": code,
            "value": 100.0 + h + code % 10,
        }
        for h in range(3)
        for geo, code in (("North", 8741), ("Islands", 8742))
    ]
}


def test_a_where_hint_keeps_the_records_of_the_series_the_user_names(tmp_path: Path) -> None:
    candidates, points = wrap(tmp_path, GEOS, "Price", where={"geo_name": "Islands"})

    assert [(p.value, p.dimensions["geo_name"]) for p in points] == [
        (102.0, "Islands"),
        (103.0, "Islands"),
        (104.0, "Islands"),
    ]
    assert "where={'geo_name': 'Islands'}" in candidates[0].code


def test_a_where_hint_with_a_value_no_record_holds_lists_the_values(tmp_path: Path) -> None:
    with pytest.raises(HintError, match=r"'Islands', 'North'"):
        wrap(tmp_path, GEOS, "Price", where={"geo_name": "Mainland"})


def test_a_where_hint_with_a_key_no_record_has_lists_the_keys(tmp_path: Path) -> None:
    with pytest.raises(HintError, match=r"no key 'region'.*'geo_name'"):
        wrap(tmp_path, GEOS, "Price", where={"region": "North"})


def entry(date: str, value: float) -> dict[str, Any]:
    """One observation of a time series API that lists it by year, quarter and month."""
    return {"date": date, "value": str(value), "label": date, "updateDate": "2024-01-17T00:00:00.000Z"}


FREQUENCIES = {
    "years": [entry("2015", 1.0), entry("2016", 2.0), entry("2017", 3.0)],
    "quarters": [entry("2015 Q1", 1.1), entry("2015 Q2", 1.2), entry("2015 Q3", 1.3)],
    "months": [entry("2015 JAN", 1.01), entry("2015 FEB", 1.02), entry("2015 MAR", 1.03)],
}


@pytest.mark.parametrize(("frequency", "first"), [("monthly", 1.01), ("quarterly", 1.1), ("annual", 1.0)])
def test_of_sibling_lists_at_different_frequencies_the_one_asked_for_is_read_alone(
    tmp_path: Path, frequency: str, first: float
) -> None:
    _, points = wrap(tmp_path, FREQUENCIES, f"Consumer price index, {frequency}")

    assert len(points) == 3
    assert points[0].value == first
    assert points[0].dimensions == {}


def test_a_code_beside_the_name_that_tells_series_apart_is_kept_as_a_dimension_too(tmp_path: Path) -> None:
    _, points = wrap(tmp_path, GEOS, "Price")

    assert {(p.dimensions["geo_name"], p.dimensions["geo_id"]) for p in points} == {
        ("North", "8741"),
        ("Islands", "8742"),
    }


def test_a_year_and_a_month_code_in_two_keys_make_a_monthly_series_without_the_annual_figure(
    tmp_path: Path,
) -> None:
    observations = [
        ("2023", "M13", "Annual", 304.7),
        ("2023", "M12", "December", 306.7),
        ("2023", "M11", "November", 307.0),
    ]
    document = {
        "Results": {
            "series": [
                {
                    "seriesID": "CUUR0000SA0",
                    "data": [
                        {"year": y, "period": m, "periodName": n, "value": str(v), "footnotes": [{}]}
                        for y, m, n, v in [*observations, ("2022", "M12", "December", 296.8)]
                    ],
                }
            ]
        }
    }

    _, points = wrap(tmp_path, document, "Consumer price index, all items")

    assert [(p.timestamp, p.value) for p in points] == [
        (wall(2023, 12, 1), 306.7),
        (wall(2023, 11, 1), 307.0),
        (wall(2022, 12, 1), 296.8),
    ]


def test_epoch_seconds_named_unix_seconds_are_the_time_of_parallel_arrays(tmp_path: Path) -> None:
    document = {"unix_seconds": [1704067200, 1704070800], "price": [90.1, 85.2], "unit": "EUR / MWh"}

    _, points = wrap(tmp_path, document, "Day-ahead price")

    assert [(p.timestamp, p.value) for p in points] == [
        (utc(2024, 1, 1, 0), 90.1),
        (utc(2024, 1, 1, 1), 85.2),
    ]


def test_positional_rows_inside_named_series_keep_the_series_name(tmp_path: Path) -> None:
    document = {
        "series": [
            {"name": "wind", "data": [[1704067200000, 1.0], [1704070800000, 2.0]]},
            {"name": "solar", "data": [[1704067200000, 3.0], [1704070800000, 4.0]]},
        ]
    }

    _, points = wrap(tmp_path, document, "Wind generation")

    assert [(p.timestamp, p.value) for p in points if p.dimensions["name"] == "wind"] == [
        (utc(2024, 1, 1, 0), 1.0),
        (utc(2024, 1, 1, 1), 2.0),
    ]


def test_named_series_whose_values_run_beside_one_time_array_are_told_apart_by_name(tmp_path: Path) -> None:
    document = {
        "unix_seconds": [1704067200, 1704068100],
        "production_types": [
            {"name": "Wind onshore", "data": [1.0, 2.0]},
            {"name": "Solar", "data": [0.0, None]},
        ],
    }

    candidates, points = wrap(tmp_path, document, "Wind onshore generation")

    assert [(p.dimensions["name"], p.timestamp, p.value) for p in points] == [
        ("Wind onshore", utc(2024, 1, 1, 0, 0), 1.0),
        ("Wind onshore", utc(2024, 1, 1, 0, 15), 2.0),
        ("Solar", utc(2024, 1, 1, 0, 0), 0.0),
    ]
    assert "series_points" in candidates[0].code


def test_a_time_hint_picks_the_time_array_of_parallel_arrays(tmp_path: Path) -> None:
    document = {
        "time": ["2024-01-01T00:00", "2024-01-01T01:00"],
        "time_local": ["2024-01-01T09:00", "2024-01-01T10:00"],
        "load": [5.0, 6.0],
    }

    _, points = wrap(tmp_path, document, "Load", time_column="time_local")

    assert [p.timestamp.hour for p in points] == [9, 10]


def test_positional_rows_under_a_header_row_are_records_named_by_it(tmp_path: Path) -> None:
    document = {
        "range": "Sheet1!A1:C3",
        "values": [
            ["Date", "Solar (MW)", "Wind (MW)"],
            ["2024-01-01", "1.5", "7.5"],
            ["2024-01-02", "2.5", "8.5"],
        ],
    }

    candidates, points = wrap(tmp_path, document, "Wind generation")

    assert [(p.timestamp, p.value) for p in points] == [(utc(2024, 1, 1), 7.5), (utc(2024, 1, 2), 8.5)]
    assert candidates[0].hint == {"value_column": "Wind (MW)"}


def test_an_age_band_beside_a_year_is_a_dimension_not_a_time_of_day(tmp_path: Path) -> None:
    document = [
        {"year": str(year), "age": band, "population": 100 * year + size}
        for year in (2020, 2021)
        for band, size in (("0-14", 1), ("15-64", 2))
    ]

    _, points = wrap(tmp_path, document, "Population")

    assert sorted((p.dimensions["age"], p.timestamp.year, p.timestamp.hour) for p in points) == [
        ("0-14", 2020, 0),
        ("0-14", 2021, 0),
        ("15-64", 2020, 0),
        ("15-64", 2021, 0),
    ]


def test_records_without_a_time_do_not_make_their_labels_dimensions(tmp_path: Path) -> None:
    document = [
        {"date": "2024-01-01", "kind": "reading", "value": 1.0},
        {"date": "2024-01-02", "kind": "reading", "value": 2.0},
        {"date": "2024-01-03", "kind": "reading", "value": 3.0},
        {"date": "", "kind": "total", "value": 6.0},
        {"date": "", "kind": "mean", "value": 2.0},
    ]

    _, points = wrap(tmp_path, document, "Value")

    assert [p.dimensions for p in points] == [{}, {}, {}]


def test_records_without_a_time_take_the_date_of_the_object_around_them(tmp_path: Path) -> None:
    document = {
        "deliveryDate": "2024-01-01",
        "area": "NO1",
        "prices": [{"hour": 0, "price": 1.5}, {"hour": 1, "price": 2.5}],
    }

    candidates, points = wrap(tmp_path, document, "Day-ahead price")

    assert [(p.timestamp, p.value) for p in points] == [
        (wall(2024, 1, 1, 0), 1.5),
        (wall(2024, 1, 1, 1), 2.5),
    ]
    assert "envelope=True" in candidates[0].code


def test_points_by_position_from_a_period_start_at_its_resolution(tmp_path: Path) -> None:
    def series(mrid: str, start: str, base: int) -> dict[str, Any]:
        points = [{"position": str(i), "quantity": str(base + i)} for i in range(1, 4)]
        return {
            "mRID": mrid,
            "Period": {"timeInterval": {"start": start}, "resolution": "PT15M", "Point": points},
        }

    document = {"TimeSeries": [series("1", "2024-01-01T23:00Z", 100), series("2", "2024-01-01T23:00Z", 200)]}

    _, points = wrap(tmp_path, document, "Load")

    first = [(p.timestamp, p.value) for p in points if p.dimensions["mRID"] == "1"]
    assert first == [
        (utc(2024, 1, 1, 23, 0), 101),
        (utc(2024, 1, 1, 23, 15), 102),
        (utc(2024, 1, 1, 23, 30), 103),
    ]


def test_a_key_the_request_quotes_beats_one_sharing_fragments_of_its_words() -> None:
    request = IndicatorRequest(
        name="Regulated price", description="tariff 2.0TD, 'PCB' = Peninsula, not Ceuta"
    )
    scorer = KeyScorer(request, ["PCB", "CYM", "COF2TD", "PMHPCB"])

    assert scorer.quoted("PCB")
    assert scorer.score("PCB") > scorer.score("COF2TD") + 2.0


def test_values_between_1_and_12_beside_a_repeated_year_are_not_read_as_months(tmp_path: Path) -> None:
    document = [
        {"country": country, "date": str(year), "value": value + year - 2018}
        for country, value in (("Germany", 8.0), ("France", 4.5))
        for year in (2018, 2019, 2020)
    ]

    _, points = wrap(tmp_path, document, "CO2 emissions per capita")

    germany = [(p.timestamp, p.value) for p in points if p.dimensions["country"] == "Germany"]
    assert germany == [(wall(2018, 1, 1), 8.0), (wall(2019, 1, 1), 9.0), (wall(2020, 1, 1), 10.0)]
