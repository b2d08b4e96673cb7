"""The heuristic generator's decisions, checked on the code it writes and the points that code yields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.common.errors import NoSeriesFoundError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, SourceFormat
from shared.generate import heuristic
from shared.generate.heuristic import matching, tables
from shared.points.clock import settle_clocks
from shared.points.point import Point, PointSequence, check_points
from shared.source.profile import build_profile
from shared.source.read import SourceData, read_source

SETTINGS = Settings()


class Wrapped:
    """The generated code of a source and the points it yields when run in this process."""

    def __init__(self, code: str, points: list[Point]) -> None:
        self.code = code
        self.points = points


def generate(tmp_path: Path, name: str, content: bytes, request: str, *, unit: str = "") -> Wrapped:
    """Generate a wrapper for the source (twice, to check it is deterministic) and run its parse code here."""
    path = tmp_path / name
    path.write_bytes(content)
    source = read_source(str(path), settings=SETTINGS)
    indicator = IndicatorRequest(name=request, unit=unit)
    draft = heuristic.generate(build_profile(source), indicator)
    assert heuristic.generate(build_profile(source), indicator).parse_code == draft.parse_code
    namespace: dict[str, object] = {}
    exec(compile(draft.parse_code, "<wrapper>", "exec"), namespace)
    parse = namespace["parse"]
    parsed = [Point(**point) for point in parse(content, {})]  # type: ignore[operator]
    points = list(settle_clocks(parsed, zone=None)[0])  # as validation settles them
    _, issues = check_points(points)
    assert not issues, issues
    return Wrapped(draft.parse_code, points)


def wall(*parts: int) -> datetime:
    """A wall clock time without an offset."""
    return datetime(*parts)  # type: ignore[arg-type]


def utc(*parts: int) -> datetime:
    """A UTC datetime."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def values(points: list[Point]) -> list[tuple[datetime, float]]:
    """(timestamp, value) of each point."""
    return [(p.timestamp, p.value) for p in points]


# --- words and matching ----------------------------------------------------------------------------


def test_tokens_split_labels_apply_synonyms_and_drop_plurals_and_stopwords() -> None:
    """`MeanTemp (C)` and `average temperature` share their words; CJK headers are one word."""
    assert matching.tokens("MeanTemp (C)") == ["average", "temperature", "c"]
    assert matching.tokens("Emissions of the sectors") == ["emission", "sector"]
    assert matching.tokens("temperature_2m_min") == ["temperature", "2", "m", "minimum"]
    assert matching.tokens("年度") == ["年度"]


def test_request_matcher_prefers_the_total_when_the_request_asks_for_it() -> None:
    """`Total` outranks the parts for a request about a total."""
    request = IndicatorRequest(name="Total CO2 emissions")
    labels = ["Coal", "Oil", "Total"]
    matcher = matching.RequestMatcher(request, labels)
    assert max(labels, key=matcher.score) == "Total"


def test_find_header_row_skips_title_lines_and_comment_lines() -> None:
    """Titles are too narrow and `# …` lines are comments, even when they hold commas."""
    grid = [
        ["Title"],
        ["# note", " with", " commas", " in it"],
        ["year", "mean", "unc"],
        ["1959", "315.98", "0.12"],
    ]
    assert tables.find_header_row(grid) == 2


# --- tables ----------------------------------------------------------------------------------------


def test_noaa_year_and_month_columns_make_monthly_points(tmp_path: Path) -> None:
    """`year,month,decimal date,average…` under `#` comments: months, -99.99 missing, no extra dimension."""
    text = (
        "# --------------------------------------------------------------\n"
        "# USE OF NOAA GML DATA, please read: these data are made freely available\n"
        "#\n"
        "year,month,decimal date,average,deseasonalized,ndays,sdev,unc\n"
        "1958,3,1958.2027,315.71,314.44,-1,-9.99,-0.99\n"
        "1958,4,1958.2877,317.45,315.16,-1,-9.99,-0.99\n"
        "1958,5,1958.3699,-99.99,314.69,-1,-9.99,-0.99\n"
        "1959,1,1959.0411,315.62,315.46,-1,-9.99,-0.99\n"
    )
    wrapped = generate(tmp_path, "co2_mm.csv", text.encode(), "Monthly mean CO2 at Mauna Loa", unit="ppm")
    assert values(wrapped.points) == [
        (utc(1958, 3, 1), 315.71),
        (utc(1958, 4, 1), 317.45),
        (utc(1959, 1, 1), 315.62),
    ]
    assert wrapped.points[0].dimensions == {}
    assert "month_column='month'" in wrapped.code
    assert "value_column='average'" in wrapped.code
    assert "missing=[-99.99]" in wrapped.code


def test_a_row_per_year_and_a_column_per_month_becomes_a_monthly_series(tmp_path: Path) -> None:
    """`Year, Jan … Dec, Annual`: twelve points per year, the annual column left out."""
    months = "Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec"
    rows = "".join(
        f"{year},{','.join(str(year - 2000 + m / 10) for m in range(12))},9.9\n" for year in (2019, 2020)
    )
    wrapped = generate(
        tmp_path, "anomaly.csv", f"Year,{months},Annual\n{rows}".encode(), "Temperature anomaly"
    )
    assert len(wrapped.points) == 24
    assert values(wrapped.points)[:2] == [(utc(2019, 1, 1), 19.0), (utc(2019, 2, 1), 19.1)]
    assert values(wrapped.points)[-1] == (utc(2020, 12, 1), 21.1)
    assert "month_columns_points(" in wrapped.code
    assert "year_column='Year'" in wrapped.code


def test_date_and_time_of_day_columns_combine_and_semicolon_files_use_the_decimal_comma(
    tmp_path: Path,
) -> None:
    """SMARD layout: `Datum;Anfang;Ende`; `12.345` in a `;` file is twelve thousand."""
    text = (
        "Datum;Anfang;Ende;Biomasse [MWh];Wind Onshore [MWh]\n"
        "01.01.2023;00:00;01:00;4.421;12.345\n"
        "01.01.2023;01:00;02:00;4.399;12.000\n"
        "01.01.2023;02:00;03:00;4.380;-\n"
    )
    wrapped = generate(tmp_path, "smard.csv", text.encode(), "Wind onshore generation", unit="MWh")
    assert values(wrapped.points) == [(wall(2023, 1, 1, 0), 12345.0), (wall(2023, 1, 1, 1), 12000.0)]
    assert wrapped.points[0].dimensions == {}
    assert "clock_column='Anfang'" in wrapped.code
    assert "decimal=','" in wrapped.code


def test_an_end_time_column_is_neither_the_time_nor_a_dimension(tmp_path: Path) -> None:
    """`Datum von;Datum bis`: the start is the time; a telling `1.234,5` elsewhere sets the decimal comma."""
    text = (
        "Datum von;Datum bis;Wasserkraft [MWh];Wind Offshore [MWh]\n"
        "01.01.2023 00:00;01.01.2023 01:00;1.234,5;3.000\n"
        "01.01.2023 01:00;01.01.2023 02:00;1.200,25;2.950\n"
    )
    wrapped = generate(tmp_path, "smard_new.csv", text.encode(), "Wind offshore", unit="MWh")
    assert values(wrapped.points) == [(wall(2023, 1, 1, 0), 3000.0), (wall(2023, 1, 1, 1), 2950.0)]
    assert wrapped.points[0].dimensions == {}
    assert "time_column='Datum von'" in wrapped.code


def test_footnotes_under_a_table_do_not_disturb_the_columns(tmp_path: Path) -> None:
    """One-cell lines after the data are notes, not rows."""
    text = "Year,Value\n2019,1\n2020,2\n2021,3\n\nSource: an agency, 2022\nNote: 2021 is provisional\n"
    wrapped = generate(tmp_path, "notes.csv", text.encode(), "Value")
    assert values(wrapped.points) == [(utc(2019, 1, 1), 1.0), (utc(2020, 1, 1), 2.0), (utc(2021, 1, 1), 3.0)]


def test_stacked_tables_without_titles_are_numbered(tmp_path: Path) -> None:
    """A repeated header with no title above it still starts a new series."""
    text = "Year,Value\n2019,1\n2020,2\n\nYear,Value\n2019,3\n2020,4\n"
    wrapped = generate(tmp_path, "stacked.csv", text.encode(), "Value")
    assert {p.dimensions["table"] for p in wrapped.points} == {"table 1", "table 2"}
    assert "title_dimension='table'" in wrapped.code


def test_a_header_repeated_at_page_breaks_adds_no_table_dimension(tmp_path: Path) -> None:
    """When a dimension column already tells the rows apart, repeated headers are only skipped."""
    text = "Country,Year,Value\nDE,2019,1\nDE,2020,2\nCountry,Year,Value\nFR,2019,3\nFR,2020,4\n"
    wrapped = generate(tmp_path, "pages.csv", text.encode(), "Value")
    assert {tuple(p.dimensions.items()) for p in wrapped.points} == {
        (("Country", "DE"),),
        (("Country", "FR"),),
    }
    assert "title_dimension" not in wrapped.code


def test_stacked_wide_tables_take_their_titles_as_a_dimension(tmp_path: Path) -> None:
    """Two wide tables with the same countries under `Table 1: Coal` and `Table 2: Gas`."""
    text = (
        "Table 1: Coal\nCountry,2019,2020\nDE,1,2\nFR,3,4\n\n"
        "Table 2: Gas\nCountry,2019,2020\nDE,5,6\nFR,7,8\n"
    )
    wrapped = generate(tmp_path, "wide.csv", text.encode(), "Gas")
    gas_fr = [p for p in wrapped.points if p.dimensions == {"table": "Table 2: Gas", "Country": "FR"}]
    assert values(gas_fr) == [(utc(2019, 1, 1), 7.0), (utc(2020, 1, 1), 8.0)]
    assert len(wrapped.points) == 8


def test_csv_with_only_text_has_no_series(tmp_path: Path) -> None:
    """No numeric column, no wrapper."""
    path = tmp_path / "text.csv"
    path.write_bytes(b"Name,Comment\nalpha,first\nbeta,second\n")
    profile = build_profile(read_source(str(path), settings=SETTINGS))
    with pytest.raises(NoSeriesFoundError):
        heuristic.generate(profile, IndicatorRequest(name="Anything"))


# --- JSON ------------------------------------------------------------------------------------------


def test_positional_rows_pick_the_array_the_request_names_and_are_not_merged(tmp_path: Path) -> None:
    """`{"prices": [[ms, v]…], "market_caps": [[ms, v]…]}`: the prices, with no `series` dimension."""
    stamps = [1704067200000 + day * 86_400_000 for day in range(3)]
    document = {
        "prices": [[t, 42000.5 + i] for i, t in enumerate(stamps)],
        "market_caps": [[t, 8e11 + i] for i, t in enumerate(stamps)],
    }
    wrapped = generate(tmp_path, "coin.json", json.dumps(document).encode(), "Bitcoin price")
    assert values(wrapped.points) == [
        (utc(2024, 1, 1), 42000.5),
        (utc(2024, 1, 2), 42001.5),
        (utc(2024, 1, 3), 42002.5),
    ]
    assert wrapped.points[0].dimensions == {}
    assert "RECORD_PATHS = ['prices']" in wrapped.code
    assert "time_format='epoch_ms'" in wrapped.code


def test_an_object_keyed_by_date_is_read_as_records(tmp_path: Path) -> None:
    """`{"Time Series (Daily)": {"2024-01-02": {"4. close": "10.0"}, …}}`."""
    series = {f"2024-01-0{d}": {"1. open": str(d), "4. close": str(d + 0.5)} for d in (3, 2, 1)}
    document = {"Meta Data": {"1. Information": "Daily Prices"}, "Time Series (Daily)": series}
    wrapped = generate(tmp_path, "daily.json", json.dumps(document).encode(), "Close")
    assert sorted(values(wrapped.points)) == [
        (utc(2024, 1, 1), 1.5),
        (utc(2024, 1, 2), 2.5),
        (utc(2024, 1, 3), 3.5),
    ]
    assert "mapping_records(get_path(document, path), key_name='period')" in wrapped.code
    assert "value_key='4. close'" in wrapped.code


def test_an_object_of_years_to_numbers_is_a_series(tmp_path: Path) -> None:
    """`{"2019": 1.5, "2020": 1.6, "2021": 1.7}`."""
    wrapped = generate(tmp_path, "years.json", b'{"2019": 1.5, "2020": 1.6, "2021": 1.7}', "Value")
    assert values(wrapped.points) == [(utc(2019, 1, 1), 1.5), (utc(2020, 1, 1), 1.6), (utc(2021, 1, 1), 1.7)]


OPEN_METEO = {
    "utc_offset_seconds": 0,
    "daily": {
        "time": ["2024-01-01", "2024-01-02", "2024-01-03"],
        "temperature_2m_max": [5.0, 6.0, 7.0],
        "temperature_2m_min": [-1.0, -2.0, -3.0],
    },
    "hourly": {
        "time": ["2024-01-01T00:00", "2024-01-01T01:00", "2024-01-01T02:00"],
        "temperature_2m": [1, 2, 3],
    },
}


@pytest.mark.parametrize(
    ("request_name", "array", "first"),
    [
        ("Daily minimum temperature", "daily.temperature_2m_min", (utc(2024, 1, 1), -1.0)),
        ("Daily max temperature", "daily.temperature_2m_max", (utc(2024, 1, 1), 5.0)),
        ("Hourly temperature", "hourly.temperature_2m", (wall(2024, 1, 1, 0), 1.0)),
    ],
)
def test_parallel_arrays_are_chosen_by_their_group_and_name(
    tmp_path: Path, request_name: str, array: str, first: tuple[datetime, float]
) -> None:
    """Open-Meteo's `daily` and `hourly` groups hold the same variable: the request's words pick one."""
    wrapped = generate(tmp_path, "om.json", json.dumps(OPEN_METEO).encode(), request_name)
    assert values(wrapped.points)[0] == first
    assert repr(array) in wrapped.code


def test_records_with_start_and_end_take_the_start_as_time(tmp_path: Path) -> None:
    """EnergyZero style: `start` is the period, `end` is neither time nor dimension."""
    records = [
        {
            "start": f"2024-01-01T0{h}:00:00Z",
            "end": f"2024-01-01T0{h + 1}:00:00Z",
            "price": {"value": f"0.{h + 1}"},
        }
        for h in range(3)
    ]
    wrapped = generate(tmp_path, "prices.json", json.dumps({"base": records}).encode(), "Electricity price")
    assert values(wrapped.points) == [
        (utc(2024, 1, 1, 0), 0.1),
        (utc(2024, 1, 1, 1), 0.2),
        (utc(2024, 1, 1, 2), 0.3),
    ]
    assert wrapped.points[0].dimensions == {}
    assert "time_key='start'" in wrapped.code
    assert "value_key='price.value'" in wrapped.code


def test_rank_series_ranks_point_columns_as_it_ranks_their_points() -> None:
    request = IndicatorRequest(name="Electricity demand in Germany")
    moments = [datetime(2020 + year, 1, 1, tzinfo=UTC) for year in range(3)]
    points = [
        Point(timestamp=moment, value=1.0, dimensions={"geo": geo, "unit": "GWh"})
        for geo in ("France", "Germany", "Spain")
        for moment in moments
    ]
    shuffled = points[3:6] + points[:3] + points[6:]
    ranked = heuristic.rank_series(PointSequence.from_points(shuffled), request)
    assert ranked == heuristic.rank_series(shuffled, request)
    assert ranked[0][0] == (("geo", "Germany"), ("unit", "GWh")) and ranked[0][1] > 0


def test_an_api_draft_carries_the_inferred_pagination_and_window_and_says_so() -> None:
    records = [{"date": "2021", "value": 1.5}, {"date": "2022", "value": 1.75}]
    meta = {"page": 1, "pages": 3, "per_page": "2", "total": 6}
    api = SourceData(
        location="https://api.example.org/v2/indicator?format=json&per_page=2&startDate=2020&endDate=2024",
        content=json.dumps([meta, records]).encode(),
        format=SourceFormat.JSON,
        encoding="utf-8",
    )
    draft = heuristic.generate(build_profile(api), IndicatorRequest(name="Emissions"))
    spec = draft.fetch_spec
    assert (spec.pagination.kind, spec.pagination.pages_path, spec.pagination.size) == (
        "page_number",
        "0.pages",
        2,
    )
    assert spec.water_mark is not None
    assert (spec.water_mark.start_param, spec.water_mark.end_param, spec.water_mark.format) == (
        "startDate",
        "endDate",
        "%Y",
    )
    assert draft.inference is not None
    assert draft.inference.pagination == "page number `page` with `0.pages` pages in the metadata"

    plain = SourceData(
        location="https://api.example.org/v2/indicator?format=json",
        content=json.dumps({"data": records}).encode(),
        format=SourceFormat.JSON,
        encoding="utf-8",
    )
    bare = heuristic.generate(build_profile(plain), IndicatorRequest(name="Emissions"))
    assert bare.fetch_spec.water_mark is None and bare.fetch_spec.pagination.kind == "none"
    assert bare.inference is not None and bare.inference.window is not None
    assert bare.inference.window.startswith("full refresh")
