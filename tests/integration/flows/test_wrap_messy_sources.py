"""The heuristic generator on small messy sources, through the real pipeline (code, sandbox, points)."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest

from shared.common.errors import NoSeriesFoundError, SourceError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest
from shared.flows.wrap import WrapResult, wrap_source
from shared.generate import heuristic
from shared.points.point import Point
from shared.source.profile import build_profile
from shared.source.read import read_source

SETTINGS = Settings()


def wrap(
    tmp_path: Path, name: str, content: bytes, request: str, *, description: str = "", unit: str = ""
) -> WrapResult:
    """Write the source to a file, read it as the service does, and wrap it with the heuristic generator."""
    path = tmp_path / name
    path.write_bytes(content)
    source = read_source(str(path), settings=SETTINGS)
    indicator = IndicatorRequest(name=request, description=description, unit=unit)
    result = wrap_source(source, indicator, generator="heuristic", settings=SETTINGS)
    again = heuristic.generate(build_profile(source), indicator)
    assert again.parse_code == result.draft.parse_code, "generating twice must yield identical code"
    return result


def utc(*parts: int) -> datetime:
    """A UTC datetime."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def series(points: list[Point], **dimensions: str) -> list[Point]:
    """The points whose dimensions include the given values, in time order."""
    chosen = [p for p in points if all(p.dimensions.get(k) == v for k, v in dimensions.items())]
    return sorted(chosen, key=lambda p: p.timestamp)


def assert_no_duplicates(points: list[Point]) -> None:
    """Every (timestamp, dimensions) pair occurs once."""
    keys = [(p.timestamp, tuple(sorted(p.dimensions.items()))) for p in points]
    assert len(keys) == len(set(keys))


def workbook_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    """An XLSX workbook with the given sheets, rows written as given (None leaves a cell empty)."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- CSV -------------------------------------------------------------------------------------------


def test_semicolon_csv_with_decimal_commas_and_title_preamble_reads_thousands_and_commas(
    tmp_path: Path,
) -> None:
    """A German-style export: title lines above the header, `;` delimiter, `1.234,5` numbers."""
    text = (
        "Energieverbrauch nach Jahr;;\n"
        "Quelle: Statistisches Amt;;\n"
        ";;\n"
        "Jahr;Verbrauch (TWh);Anteil erneuerbar (%)\n"
        "2018;1.234,5;37,8\n"
        "2019;1.200,1;40,1\n"
        "2020;1.150,0;45,3\n"
    )
    result = wrap(tmp_path, "verbrauch.csv", text.encode(), "Verbrauch", unit="TWh")
    points = result.points
    assert len(points) == 3
    assert (points[0].timestamp, points[0].value) == (utc(2018, 1, 1), 1234.5)
    assert (points[-1].timestamp, points[-1].value) == (utc(2020, 1, 1), 1150.0)
    assert points[0].dimensions == {}
    code = result.draft.parse_code
    assert "delimiter=';'" in code
    assert "decimal=','" in code
    assert "time_column='Jahr'" in code
    assert "value_column='Verbrauch (TWh)'" in code


def test_cp1252_csv_with_euro_and_accented_headers_keeps_the_characters(tmp_path: Path) -> None:
    """Windows-1252 bytes decode to `€` and `é` in column names and dimension values."""
    text = (
        "Année,Région,Prix moyen (€/MWh)\n"
        "2019,Île-de-France,45.5\n"
        "2020,Île-de-France,38.2\n"
        "2019,Bretagne,41.0\n"
        "2020,Bretagne,36.9\n"
    )
    result = wrap(tmp_path, "prix.csv", text.encode("cp1252"), "Prix moyen", unit="€/MWh")
    assert len(result.points) == 4
    paris = series(result.points, Région="Île-de-France")
    assert [(p.timestamp, p.value) for p in paris] == [(utc(2019, 1, 1), 45.5), (utc(2020, 1, 1), 38.2)]
    assert {p.dimensions["Région"] for p in result.points} == {"Île-de-France", "Bretagne"}
    code = result.draft.parse_code
    assert "encoding='cp1252'" in code
    assert "time_column='Année'" in code
    assert "value_column='Prix moyen (€/MWh)'" in code


def test_shift_jis_csv_with_japanese_year_header_uses_it_as_time_column(tmp_path: Path) -> None:
    """`年` (year) names the time column even though it is not an English word."""
    text = (
        "年,地域,値\n2019,東京,1.5\n2020,東京,1.7\n2021,東京,1.6\n"
        "2019,大阪,2.5\n2020,大阪,2.4\n2021,大阪,2.2\n"
    )
    result = wrap(tmp_path, "kion.csv", text.encode("shift_jis"), "Tokyo value")
    assert len(result.points) == 6
    tokyo = series(result.points, 地域="東京")
    assert (tokyo[0].timestamp, tokyo[0].value) == (utc(2019, 1, 1), 1.5)
    assert (tokyo[-1].timestamp, tokyo[-1].value) == (utc(2021, 1, 1), 1.6)
    assert tokyo[0].dimensions == {"地域": "東京"}
    code = result.draft.parse_code
    assert "encoding='shift_jis'" in code
    assert "time_column='年'" in code
    assert "time_format='year'" in code
    assert "value_column='値'" in code


def test_shift_jis_csv_with_japanese_date_header_reads_iso_dates(tmp_path: Path) -> None:
    """`日付` (date) holding ISO dates is the time column of a Shift_JIS file."""
    text = "日付,電力需要\n2024-01-01,100.5\n2024-01-02,98.25\n2024-01-03,101\n"
    result = wrap(tmp_path, "demand.csv", text.encode("shift_jis"), "電力需要")
    assert [(p.timestamp, p.value) for p in result.points] == [
        (utc(2024, 1, 1), 100.5),
        (utc(2024, 1, 2), 98.25),
        (utc(2024, 1, 3), 101.0),
    ]
    assert "time_column='日付'" in result.draft.parse_code


def test_wide_csv_with_bom_preamble_and_trailing_empty_column_yields_one_point_per_year_and_country(
    tmp_path: Path,
) -> None:
    """World Bank style: metadata lines, years as headers, a trailing comma on every line, gaps."""
    text = (
        '"Data Source","World Development Indicators",\n'
        "\n"
        '"Last Updated Date","2024-06-28",\n'
        "\n"
        '"Country Name","Country Code","Indicator Name","Indicator Code","2019","2020","2021",\n'
        '"Aruba","ABW","CO2 emissions (metric tons per capita)","EN.ATM.CO2E.PC","1.5","","2.1",\n'
        '"Germany","DEU","CO2 emissions (metric tons per capita)","EN.ATM.CO2E.PC","8.5","7.7","8.1",\n'
    )
    result = wrap(tmp_path, "API_EN.csv", b"\xef\xbb\xbf" + text.encode(), "CO2 emissions per capita")
    assert len(result.points) == 5
    germany = series(result.points, **{"Country Name": "Germany"})
    assert [(p.timestamp, p.value) for p in germany] == [
        (utc(2019, 1, 1), 8.5),
        (utc(2020, 1, 1), 7.7),
        (utc(2021, 1, 1), 8.1),
    ]
    assert germany[0].dimensions["Country Code"] == "DEU"
    assert not any(name.startswith("column_") for p in result.points for name in p.dimensions)
    aruba = series(result.points, **{"Country Name": "Aruba"})
    assert [p.timestamp.year for p in aruba] == [2019, 2021]
    code = result.draft.parse_code
    assert "encoding='utf-8-sig'" in code
    assert "wide_points(" in code
    assert "period_format='year'" in code


def test_eurostat_tsv_with_packed_dimension_column_flags_and_colons(tmp_path: Path) -> None:
    """`unit,geo\\time` packs two dimensions; `p`/`e` flags are dropped and `:` is missing."""
    text = (
        "unit,geo\\time\t2019 \t2020 \t2021 \n"
        "MIO_T,DE\t810.2 \t739.3 p\t:\n"
        "MIO_T,FR\t400.1 \t360.5 e\t370.0 \n"
    )
    result = wrap(tmp_path, "sdg_13_10.tsv", text.encode(), "Greenhouse gas emissions", unit="MIO_T")
    assert len(result.points) == 5
    germany = series(result.points, geo="DE")
    assert [(p.timestamp, p.value) for p in germany] == [(utc(2019, 1, 1), 810.2), (utc(2020, 1, 1), 739.3)]
    assert germany[0].dimensions == {"unit": "MIO_T", "geo": "DE"}
    france = series(result.points, geo="FR")
    assert (france[-1].timestamp, france[-1].value) == (utc(2021, 1, 1), 370.0)
    code = result.draft.parse_code
    assert "delimiter='\\t'" in code
    assert "split_column='unit,geo\\\\time'" in code


def test_owid_long_csv_with_entity_code_year_yields_series_per_entity(tmp_path: Path) -> None:
    """Our World in Data layout: Entity, Code (empty for regions), Year, one value column."""
    text = (
        "Entity,Code,Year,Renewables - % electricity\n"
        "Africa,,2019,20.1\n"
        "Africa,,2020,21.5\n"
        "Germany,DEU,2018,35.2\n"
        "Germany,DEU,2019,40.1\n"
        "Germany,DEU,2020,44.5\n"
    )
    result = wrap(
        tmp_path, "share-electricity-renewables.csv", text.encode(), "Share of electricity from renewables"
    )
    assert len(result.points) == 5
    germany = series(result.points, Entity="Germany")
    assert (germany[0].timestamp, germany[0].value) == (utc(2018, 1, 1), 35.2)
    assert (germany[-1].timestamp, germany[-1].value) == (utc(2020, 1, 1), 44.5)
    assert germany[0].dimensions["Entity"] == "Germany"
    assert "Year" not in germany[0].dimensions
    code = result.draft.parse_code
    assert "time_column='Year'" in code
    assert "value_column='Renewables - % electricity'" in code


def test_long_csv_with_several_value_columns_picks_the_total_the_request_asks_for(tmp_path: Path) -> None:
    """Coal, oil, gas and a total: a request for the total gets the total column."""
    text = (
        "Year,Coal,Oil,Gas,Cement,Total\n"
        "2019,14.1,12.3,7.5,1.6,35.5\n"
        "2020,13.9,11.0,7.4,1.6,33.9\n"
        "2021,14.6,11.8,7.7,1.7,35.8\n"
    )
    result = wrap(tmp_path, "fossil.csv", text.encode(), "Total fossil CO2 emissions", unit="GtCO2")
    assert [(p.timestamp, p.value) for p in result.points] == [
        (utc(2019, 1, 1), 35.5),
        (utc(2020, 1, 1), 33.9),
        (utc(2021, 1, 1), 35.8),
    ]
    assert "value_column='Total'" in result.draft.parse_code


def test_long_csv_picks_the_column_named_by_a_synonym_of_the_request(tmp_path: Path) -> None:
    """A request for the average temperature gets the `Mean Temp` column, not min or max."""
    text = (
        "Date,Min Temp (C),Mean Temp (C),Max Temp (C)\n"
        "2024-01-01,-2.0,1.5,5.0\n"
        "2024-01-02,-1.0,2.5,6.0\n"
        "2024-01-03,0.5,3.0,7.5\n"
    )
    result = wrap(tmp_path, "weather.csv", text.encode(), "Average temperature", unit="C")
    assert [p.value for p in result.points] == [1.5, 2.5, 3.0]
    assert result.points[0].timestamp == utc(2024, 1, 1)
    assert "value_column='Mean Temp (C)'" in result.draft.parse_code


def test_german_month_names_are_read_as_monthly_periods(tmp_path: Path) -> None:
    """`Jan 2019`, `Mär 2019`, `Mai 2019`, `Okt 2019`, `Dez 2019` are months."""
    text = "Monat;Stromverbrauch\nJan 2019;10,5\nMär 2019;11\nMai 2019;9,25\nOkt 2019;12\nDez 2019;13,5\n"
    result = wrap(tmp_path, "monate.csv", text.encode(), "Stromverbrauch")
    assert [(p.timestamp, p.value) for p in result.points] == [
        (utc(2019, 1, 1), 10.5),
        (utc(2019, 3, 1), 11.0),
        (utc(2019, 5, 1), 9.25),
        (utc(2019, 10, 1), 12.0),
        (utc(2019, 12, 1), 13.5),
    ]
    assert "time_format='month_name_year'" in result.draft.parse_code


@pytest.mark.parametrize(
    ("periods", "fmt", "starts"),
    [
        (
            ["2019M11", "2019M12", "2020M01"],
            "year_mmm",
            [utc(2019, 11, 1), utc(2019, 12, 1), utc(2020, 1, 1)],
        ),
        (
            ["2019Q3", "2019Q4", "2020Q1"],
            "year_quarter",
            [utc(2019, 7, 1), utc(2019, 10, 1), utc(2020, 1, 1)],
        ),
    ],
)
def test_eurostat_style_month_and_quarter_codes_start_at_the_first_day(
    tmp_path: Path, periods: list[str], fmt: str, starts: list[datetime]
) -> None:
    """`YYYYMmm` and `YYYYQn` period codes in a `TIME_PERIOD` column become period starts."""
    rows = "".join(f"DE,{period},{10 + i}.5\n" for i, period in enumerate(periods))
    result = wrap(tmp_path, "codes.csv", ("geo,TIME_PERIOD,OBS_VALUE\n" + rows).encode(), "Observed value")
    assert [p.timestamp for p in result.points] == starts
    assert [p.value for p in result.points] == [10.5, 11.5, 12.5]
    assert result.points[0].dimensions == {"geo": "DE"}
    assert f"time_format={fmt!r}" in result.draft.parse_code


def test_excel_serial_numbers_in_a_csv_date_column_become_dates(tmp_path: Path) -> None:
    """A `Date` column of serials (43466 = 2019-01-01) exported from Excel."""
    text = "Date,Load (MW)\n43466,1200\n43467,1250.5\n43468,1190\n"
    result = wrap(tmp_path, "load.csv", text.encode(), "Load", unit="MW")
    assert [(p.timestamp, p.value) for p in result.points] == [
        (utc(2019, 1, 1), 1200.0),
        (utc(2019, 1, 2), 1250.5),
        (utc(2019, 1, 3), 1190.0),
    ]
    assert "time_format='excel_serial'" in result.draft.parse_code


def test_csv_with_only_text_raises_no_series_found(tmp_path: Path) -> None:
    """A table without a numeric column holds no series."""
    text = "Name,Comment\nalpha,first\nbeta,second\ngamma,third\n"
    with pytest.raises(NoSeriesFoundError):
        wrap(tmp_path, "text.csv", text.encode(), "Anything")


def test_empty_file_raises_source_error(tmp_path: Path) -> None:
    """An empty file is refused before any generator runs."""
    with pytest.raises(SourceError):
        wrap(tmp_path, "empty.csv", b"", "Anything")


# --- XLSX ------------------------------------------------------------------------------------------


def test_xlsx_with_preamble_units_row_and_date_cells_picks_the_requested_column(tmp_path: Path) -> None:
    """Title rows, a header, a row of units under it, then real date cells."""
    content = workbook_bytes(
        {
            "Notes": [["This workbook holds monthly generation."], ["Source: a grid operator"]],
            "Monthly": [
                ["Monthly electricity generation"],
                ["Source: a grid operator"],
                [],
                ["Month", "Coal", "Wind", "Solar"],
                [None, "(GWh)", "(GWh)", "(GWh)"],
                [datetime(2023, 1, 1), 500.0, 900.5, 100.0],
                [datetime(2023, 2, 1), 450.0, 850.0, 150.0],
                [datetime(2023, 3, 1), 400.0, 800.25, 250.0],
            ],
        }
    )
    result = wrap(tmp_path, "generation.xlsx", content, "Wind generation", unit="GWh")
    assert [(p.timestamp, p.value) for p in result.points] == [
        (utc(2023, 1, 1), 900.5),
        (utc(2023, 2, 1), 850.0),
        (utc(2023, 3, 1), 800.25),
    ]
    assert result.points[0].dimensions == {}
    code = result.draft.parse_code
    assert "SHEET = 'Monthly'" in code
    assert "skip_rows=1" in code
    assert "time_format='native'" in code
    assert "value_column='Wind'" in code


def test_xlsx_with_one_sheet_per_year_and_a_cover_sheet_reads_every_year_sheet(tmp_path: Path) -> None:
    """Sheets `2019`…`2021` hold one year each; the cover sheet is text only."""
    sheets: dict[str, list[list[object]]] = {
        "Cover": [
            ["Gas consumption by local authority"],
            ["Published 2023"],
            ["Contents: one sheet per year"],
        ]
    }
    for year, base in ((2019, 100.0), (2020, 90.0), (2021, 95.0)):
        sheets[str(year)] = [
            [f"Gas consumption, {year}"],
            [],
            ["Local authority", "Code", "Consumption (GWh)"],
            ["Leeds", "E08000035", base],
            ["York", "E06000014", base / 10],
        ]
    result = wrap(tmp_path, "gas.xlsx", workbook_bytes(sheets), "Gas consumption", unit="GWh")
    assert len(result.points) == 6
    leeds = series(result.points, **{"Local authority": "Leeds"})
    assert [(p.timestamp, p.value) for p in leeds] == [
        (utc(2019, 1, 1), 100.0),
        (utc(2020, 1, 1), 90.0),
        (utc(2021, 1, 1), 95.0),
    ]
    assert leeds[0].dimensions == {"Local authority": "Leeds", "Code": "E08000035"}
    code = result.draft.parse_code
    assert "SHEET_PERIOD_FORMAT = 'year'" in code
    assert "value_column='Consumption (GWh)'" in code


def test_xlsx_with_two_stacked_tables_under_titles_keeps_them_apart(tmp_path: Path) -> None:
    """Two tables with the same header in one sheet, each under a title row: no duplicate points."""
    content = workbook_bytes(
        {
            "Data": [
                ["Emissions by fuel"],
                [],
                ["Coal"],
                ["Year", "Emissions (Mt)"],
                [2019, 10.0],
                [2020, 9.0],
                [2021, 8.5],
                [],
                ["Natural gas"],
                ["Year", "Emissions (Mt)"],
                [2019, 5.0],
                [2020, 5.5],
                [2021, 6.0],
            ]
        }
    )
    result = wrap(tmp_path, "stacked.xlsx", content, "Emissions", unit="Mt")
    assert_no_duplicates(result.points)
    assert len(result.points) == 6
    coal = series(result.points, table="Coal")
    gas = series(result.points, table="Natural gas")
    assert [(p.timestamp, p.value) for p in coal] == [
        (utc(2019, 1, 1), 10.0),
        (utc(2020, 1, 1), 9.0),
        (utc(2021, 1, 1), 8.5),
    ]
    assert [(p.timestamp, p.value) for p in gas] == [
        (utc(2019, 1, 1), 5.0),
        (utc(2020, 1, 1), 5.5),
        (utc(2021, 1, 1), 6.0),
    ]
    assert "title_dimension='table'" in result.draft.parse_code


# --- JSON ------------------------------------------------------------------------------------------


def test_json_records_with_epoch_milliseconds_become_utc_times(tmp_path: Path) -> None:
    """`timestamp` in milliseconds since 1970."""
    records = [{"timestamp": 1704067200000 + i * 3_600_000, "price": 0.1 + i / 100} for i in range(3)]
    result = wrap(tmp_path, "prices.json", json.dumps(records).encode(), "Price")
    assert [p.timestamp for p in result.points] == [
        utc(2024, 1, 1, 0),
        utc(2024, 1, 1, 1),
        utc(2024, 1, 1, 2),
    ]
    assert result.points[-1].value == pytest.approx(0.12)
    code = result.draft.parse_code
    assert "time_format='epoch_ms'" in code
    assert "value_key='price'" in code


def test_json_records_under_response_data_with_string_values(tmp_path: Path) -> None:
    """EIA-style API answer: records nested under `response.data`, values as strings, a region dimension."""
    data = [
        {"period": f"2023-{month:02d}", "region": region, "value": str(base + month), "units": "GWh"}
        for region, base in (("North", 100), ("South", 200))
        for month in (1, 2, 3)
    ]
    document = {"response": {"total": len(data), "data": data}, "request": {"command": "/v2/electricity"}}
    result = wrap(tmp_path, "eia.json", json.dumps(document).encode(), "Electricity generation", unit="GWh")
    assert len(result.points) == 6
    south = series(result.points, region="South")
    assert [(p.timestamp, p.value) for p in south] == [
        (utc(2023, 1, 1), 201.0),
        (utc(2023, 2, 1), 202.0),
        (utc(2023, 3, 1), 203.0),
    ]
    code = result.draft.parse_code
    assert "RECORD_PATHS = ['response.data']" in code
    assert "time_format='year_month'" in code


def test_world_bank_json_page_metadata_and_nested_country_objects(tmp_path: Path) -> None:
    """`[page metadata, records]` with `{"id", "value"}` objects and null values for missing years."""

    def record(country: str, iso: str, year: int, value: float | None) -> dict[str, object]:
        return {
            "indicator": {"id": "EN.ATM.CO2E.PC", "value": "CO2 emissions (metric tons per capita)"},
            "country": {"id": iso[:2], "value": country},
            "countryiso3code": iso,
            "date": str(year),
            "value": value,
            "unit": "",
            "obs_status": "",
            "decimal": 1,
        }

    records = [
        record("Germany", "DEU", 2021, 8.1),
        record("Germany", "DEU", 2020, 7.7),
        record("Germany", "DEU", 2019, None),
        record("France", "FRA", 2021, 4.6),
        record("France", "FRA", 2020, 4.2),
        record("France", "FRA", 2019, 4.5),
    ]
    document = [{"page": 1, "pages": 1, "per_page": 50, "total": 6}, records]
    result = wrap(tmp_path, "wb.json", json.dumps(document).encode(), "CO2 emissions per capita")
    assert len(result.points) == 5
    germany = series(result.points, **{"country.value": "Germany"})
    assert [(p.timestamp, p.value) for p in germany] == [(utc(2020, 1, 1), 7.7), (utc(2021, 1, 1), 8.1)]
    france = series(result.points, **{"country.value": "France"})
    assert (france[0].timestamp, france[0].value) == (utc(2019, 1, 1), 4.5)
    code = result.draft.parse_code
    assert "RECORD_PATHS = ['1']" in code
    assert "time_key='date'" in code
    assert "value_key='value'" in code


def test_open_meteo_parallel_arrays_with_utc_offset_are_converted_to_utc(tmp_path: Path) -> None:
    """Local times of a forecast with `utc_offset_seconds` 32400 (UTC+9) are shifted to UTC."""
    document = {
        "latitude": 35.0,
        "longitude": 135.75,
        "utc_offset_seconds": 32400,
        "timezone": "Asia/Tokyo",
        "hourly_units": {"time": "iso8601", "temperature_2m": "°C", "relative_humidity_2m": "%"},
        "hourly": {
            "time": ["2024-01-01T00:00", "2024-01-01T01:00", "2024-01-01T02:00", "2024-01-01T03:00"],
            "temperature_2m": [1.5, 1.0, None, 0.5],
            "relative_humidity_2m": [80, 82, 85, 88],
        },
    }
    result = wrap(tmp_path, "forecast.json", json.dumps(document).encode(), "Temperature", unit="°C")
    assert [(p.timestamp, p.value) for p in result.points] == [
        (utc(2023, 12, 31, 15), 1.5),
        (utc(2023, 12, 31, 16), 1.0),
        (utc(2023, 12, 31, 18), 0.5),
    ]
    code = result.draft.parse_code
    assert "'hourly.temperature_2m'" in code
    assert "document.get('utc_offset_seconds')" in code


def test_jsonstat_dataset_expands_into_points_per_category(tmp_path: Path) -> None:
    """A JSON-stat 2.0 cube with a time role: every cell becomes a point with its category codes."""
    document = {
        "version": "2.0",
        "class": "dataset",
        "label": "Emissions",
        "id": ["geo", "time"],
        "size": [2, 3],
        "role": {"time": ["time"]},
        "dimension": {
            "geo": {"category": {"index": {"DE": 0, "FR": 1}, "label": {"DE": "Germany", "FR": "France"}}},
            "time": {"category": {"index": {"2019": 0, "2020": 1, "2021": 2}}},
        },
        "value": [810.2, 739.3, None, 400.1, 360.5, 370.0],
    }
    result = wrap(tmp_path, "cube.json", json.dumps(document).encode(), "Emissions")
    assert len(result.points) == 5
    france = series(result.points, geo="FR")
    assert [(p.timestamp, p.value) for p in france] == [
        (utc(2019, 1, 1), 400.1),
        (utc(2020, 1, 1), 360.5),
        (utc(2021, 1, 1), 370.0),
    ]
    assert france[0].dimensions == {"geo": "FR", "geo_label": "France"}
    assert "jsonstat_points(" in result.draft.parse_code


def test_json_with_two_sibling_record_arrays_of_one_shape_adds_a_series_dimension(tmp_path: Path) -> None:
    """Two arrays with the same record shape (electricity and gas prices) are variants of one series."""

    def prices(base: float) -> list[dict[str, object]]:
        return [{"readingDate": f"2024-01-01T{h:02d}:00:00Z", "price": base + h / 10} for h in range(3)]

    document = {"data": {"electricity": prices(0.2), "gas": prices(1.0)}, "meta": {"currency": "EUR"}}
    result = wrap(tmp_path, "prices.json", json.dumps(document).encode(), "Energy price", unit="EUR")
    assert_no_duplicates(result.points)
    assert len(result.points) == 6
    gas = series(result.points, series="gas")
    assert [(p.timestamp, p.value) for p in gas] == [
        (utc(2024, 1, 1, 0), 1.0),
        (utc(2024, 1, 1, 1), 1.1),
        (utc(2024, 1, 1, 2), 1.2),
    ]
    assert {p.dimensions["series"] for p in result.points} == {"electricity", "gas"}
    assert "RECORD_PATHS = ['data.electricity', 'data.gas']" in result.draft.parse_code


def test_native_dates_survive_the_round_trip(tmp_path: Path) -> None:
    """Date-only cells (no time) in a workbook give midnight UTC."""
    content = workbook_bytes(
        {"Daily": [["Day", "Value"], [date(2024, 2, 28), 1.0], [date(2024, 2, 29), 2.0]]}
    )
    result = wrap(tmp_path, "daily.xlsx", content, "Value")
    assert [p.timestamp for p in result.points] == [utc(2024, 2, 28), utc(2024, 2, 29)]
