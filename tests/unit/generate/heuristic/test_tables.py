"""Table analysis end to end on small typed sources: parse code generated, then run."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from shared.common.errors import HintError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, LayoutHints
from shared.generate import heuristic
from shared.generate.heuristic.tables import table_wrapper
from shared.source.profile import SourceProfile, build_profile
from shared.source.read import read_source

SETTINGS = Settings()


def profile_of(tmp_path: Path, name: str, content: bytes) -> SourceProfile:
    path = tmp_path / name
    path.write_bytes(content)
    return build_profile(read_source(str(path), settings=SETTINGS))


def run(code: str, content: bytes) -> list[dict[str, object]]:
    namespace: dict[str, object] = {}
    exec(compile(code, "<wrapper>", "exec"), namespace)
    return list(namespace["parse"](content, {}))  # type: ignore[operator]


def workbook(sheets: dict[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_csv_without_header_keeps_its_first_row_as_data(tmp_path: Path) -> None:
    content = b"1990-01-01,22.86\n1990-02-01,22.11\n1990-03-01,20.39\n"
    profile = profile_of(tmp_path, "oil.csv", content)
    draft = heuristic.generate(profile, IndicatorRequest(name="Oil price"))
    points = run(draft.parse_code, content)
    assert (points[0]["timestamp"], points[0]["value"]) == (datetime(1990, 1, 1), 22.86)
    assert len(points) == 3
    assert "no header row" in draft.rationale


GROUPED_SHEET: list[list[object]] = [
    ["Sales by customer type", None, None, None, None],
    ["Year", "Total", None, "Residential", None],
    [None, "Sales (MWh)", "Customers", "Sales (MWh)", "Customers"],
    [2019, 100.0, 10.0, 40.0, 4.0],
    [2020, 110.0, 11.0, 42.0, 5.0],
    ["1) Sales exclude resale.", None, None, None, None],
]


def test_a_group_header_over_repeated_names_picks_the_group_the_request_names(tmp_path: Path) -> None:
    content = workbook({"Sales": GROUPED_SHEET})
    profile = profile_of(tmp_path, "sales.xlsx", content)
    request = IndicatorRequest(name="Residential electricity sales", unit="MWh")
    candidates = table_wrapper(profile, request)
    assert candidates[0].label == "value column 'Residential Sales (MWh)'"
    assert candidates[0].hint["value_column"] == "Residential Sales (MWh)"
    assert [p["value"] for p in run(candidates[0].code, content)] == [40.0, 42.0]
    assert len(candidates) > 1
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)


def test_hints_pick_the_sheet_and_value_column_and_unknown_names_are_refused(tmp_path: Path) -> None:
    content = workbook({"Sales": GROUPED_SHEET, "Other": [["Year", "Price"], [2019, 1.0], [2020, 2.0]]})
    profile = profile_of(tmp_path, "sales.xlsx", content)
    hinted = IndicatorRequest(
        name="Residential electricity sales",
        hints=LayoutHints(sheet="Sales", value_column="Total Customers"),
    )
    best = table_wrapper(profile, hinted)[0]
    assert [p["value"] for p in run(best.code, content)] == [10.0, 11.0]
    with pytest.raises(HintError, match="Sales"):
        table_wrapper(profile, IndicatorRequest(name="x", hints=LayoutHints(sheet="Nope")))
    with pytest.raises(HintError, match="Residential Sales"):
        table_wrapper(profile, IndicatorRequest(name="x", hints=LayoutHints(value_column="Nope")))
    with pytest.raises(HintError, match="Year"):
        table_wrapper(profile, IndicatorRequest(name="x", hints=LayoutHints(time_column="Nope")))


def test_header_rows_hint_reads_the_header_from_those_rows(tmp_path: Path) -> None:
    content = workbook({"Sales": GROUPED_SHEET})
    profile = profile_of(tmp_path, "sales.xlsx", content)
    request = IndicatorRequest(name="Total customers", hints=LayoutHints(header_rows=[1, 2]))
    best = table_wrapper(profile, request)[0]
    assert "HEADER_ROWS = [1, 2]" in best.code
    assert [p["value"] for p in run(best.code, content)] == [10.0, 11.0]


def test_a_sheet_of_another_frequency_than_requested_loses_and_warns(tmp_path: Path) -> None:
    monthly = [["Month", "Sales"], *[[f"2020-{m:02d}", float(m)] for m in range(1, 13)]]
    annual = [["Year", "Sales"], [2019, 50.0], [2020, 78.0]]
    content = workbook({"Month": monthly, "Annual": annual})
    profile = profile_of(tmp_path, "sales.xlsx", content)
    best = table_wrapper(profile, IndicatorRequest(name="Sales (annual)"))[0]
    assert best.hint["sheet"] == "Annual"
    only_monthly = profile_of(tmp_path, "month.xlsx", workbook({"Month": monthly}))
    draft = heuristic.generate(only_monthly, IndicatorRequest(name="Sales (quarterly)"))
    assert draft.inference is not None
    assert draft.inference.warnings == ["the request asks for quarterly values; Month holds monthly ones"]


def test_the_value_column_of_a_long_table_wins_over_a_constant_code_and_dots_count_as_missing(
    tmp_path: Path,
) -> None:
    rows = [
        f"91111;{year};NE-{series};{'.' if year < 2005 else f'{year - 1990},5'}"
        for year in range(1991, 2021)
        for series in ("A", "B")
    ]
    content = ("statistics_code;time;indicator_code;value\n" + "\n".join(rows) + "\n").encode()
    profile = profile_of(tmp_path, "flat.csv", content)
    best = table_wrapper(profile, IndicatorRequest(name="Share of renewable electricity"))[0]
    assert best.hint["value_column"] == "value"
    points = run(best.code, content)
    assert {p["dimensions"]["indicator_code"] for p in points} == {"NE-A", "NE-B"}  # type: ignore[index]
    assert len(points) == 32


def test_the_title_above_a_table_tells_sheets_with_the_same_columns_apart(tmp_path: Path) -> None:
    def sheet(title: str, first: float) -> list[list[object]]:
        return [[title, None], ["Year", "UK"], [2019, first], [2020, first + 1]]

    content = workbook(
        {
            "Table_1": sheet("Table 1: Plant health notices served", 300.0),
            "Table_2": sheet("Table 2: New planting of woodland", 5.0),
        }
    )
    profile = profile_of(tmp_path, "forests.xlsx", content)
    candidates = table_wrapper(profile, IndicatorRequest(name="UK new planting of woodland"))
    assert candidates[0].hint["sheet"] == "Table_2"
    assert candidates[0].reason.startswith("sheet 'Table_2': value column 'UK'")


MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def test_months_down_and_years_across_read_as_a_matrix_without_the_total_row(tmp_path: Path) -> None:
    lines = ["Month,2020,2021", *(f"{m},{i + 1},{i + 101}" for i, m in enumerate(MONTHS)), "Total,78,1278"]
    content = ("\n".join(lines) + "\n").encode()
    profile = profile_of(tmp_path, "matrix.csv", content)
    draft = heuristic.generate(profile, IndicatorRequest(name="Gas demand"))
    points = run(draft.parse_code, content)
    assert len(points) == 24
    stamps = {(p["timestamp"], p["value"]) for p in points}
    assert (datetime(2020, 3, 1), 3.0) in stamps
    assert (datetime(2021, 12, 1), 112.0) in stamps
    assert "a row per month" in draft.rationale


def test_years_down_and_months_across_leave_the_annual_column_out(tmp_path: Path) -> None:
    lines = [
        "Year," + ",".join(MONTHS) + ",Annual",
        "2020," + ",".join(str(i) for i in range(1, 13)) + ",78",
    ]
    content = ("\n".join(lines) + "\n").encode()
    profile = profile_of(tmp_path, "months.csv", content)
    points = run(heuristic.generate(profile, IndicatorRequest(name="Gas demand")).parse_code, content)
    assert [p["value"] for p in points] == [float(i) for i in range(1, 13)]


def test_a_time_column_hint_picks_the_end_over_the_start(tmp_path: Path) -> None:
    content = b"start,end,load\n2020-01-01,2020-01-02,5\n2020-01-02,2020-01-03,6\n2020-01-03,2020-01-04,7\n"
    profile = profile_of(tmp_path, "load.csv", content)
    default = run(table_wrapper(profile, IndicatorRequest(name="Load"))[0].code, content)
    assert default[0]["timestamp"] == datetime(2020, 1, 1)
    hinted = IndicatorRequest(name="Load", hints=LayoutHints(time_column="end"))
    points = run(table_wrapper(profile, hinted)[0].code, content)
    assert points[0]["timestamp"] == datetime(2020, 1, 2)
    with pytest.raises(HintError, match="no dates"):
        table_wrapper(profile, IndicatorRequest(name="Load", hints=LayoutHints(time_column="load")))


def test_tables_side_by_side_are_read_apart_and_the_one_the_request_names_wins(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["Conifer area", None, None, "Broadleaf area", None],
        ["Year", "UK", None, "Year", "UK"],
        [2019, 1.0, None, 2019, 10.0],
        [2020, 2.0, None, 2020, 20.0],
    ]
    content = workbook({"Areas": rows})
    profile = profile_of(tmp_path, "areas.xlsx", content)
    candidates = table_wrapper(profile, IndicatorRequest(name="Broadleaf area, UK"))
    assert "COLUMNS = [3, 5]" in candidates[0].code
    assert "columns 3..4 (Broadleaf area)" in candidates[0].label
    assert [p["value"] for p in run(candidates[0].code, content)] == [10.0, 20.0]
    assert len(candidates) == 2


def test_row_labels_nested_by_indentation_keep_their_parents_and_lose_footnote_numbers(
    tmp_path: Path,
) -> None:
    nb = "\u00a0"
    rows: list[list[object]] = [
        ["Product", 1994, 1995, 1996],
        [f"Sales to Resellers{nb}2", 0.6, 0.63, 0.7],
        [f"{nb * 2}Motor Gasoline", None, None, None],
        [f"{nb * 4}Regular", 0.57, 0.6, 0.69],
        [f"{nb * 6}Conventional{nb}3", 0.56, 0.58, 0.67],
        [f"{nb * 4}Premium", 0.69, 0.72, 0.8],
        [f"{nb * 6}Conventional{nb}3", 0.68, 0.69, 0.77],
        [f"Sales to End Users{nb}2", None, None, None],
        [f"{nb * 2}Motor Gasoline", None, None, None],
        [f"{nb * 4}Regular", 0.69, 0.72, 0.8],
        [f"{nb * 6}Conventional{nb}3", 0.685, 0.714, 0.801],
    ]
    content = workbook({"Prices": rows})
    profile = profile_of(tmp_path, "prices.xlsx", content)
    points = run(table_wrapper(profile, IndicatorRequest(name="Regular gasoline price"))[0].code, content)
    end_users = [
        p["value"]
        for p in points
        if p["dimensions"]
        == {
            "Product level 1": "Sales to End Users",
            "Product level 2": "Motor Gasoline",
            "Product level 3": "Regular",
            "Product": "Conventional",
        }
    ]
    assert end_users == [0.685, 0.714, 0.801]
    keys = [(p["timestamp"], tuple(sorted(p["dimensions"].items()))) for p in points]  # type: ignore[union-attr]
    assert len(keys) == len(set(keys))


def test_annual_rows_among_monthly_rows_stay_out_of_the_series(tmp_path: Path) -> None:
    names = ["January", "February", "March", "April", "May", "June", "July", "August"]
    lines = ["Month,Sales"]
    for year in (2019, 2020):
        lines += [f"{m} {year},{i + 1}" for i, m in enumerate(names)]
        lines.append(f"{year},36")
    content = ("\n".join(lines) + "\n").encode()
    profile = profile_of(tmp_path, "sales.csv", content)
    points = run(table_wrapper(profile, IndicatorRequest(name="Sales"))[0].code, content)
    assert len(points) == 16
    assert 36.0 not in {p["value"] for p in points}


def test_a_value_column_hint_naming_a_row_of_a_wide_table_keeps_that_row(tmp_path: Path) -> None:
    content = b"Country,2019,2020,2021\nDE,1,2,3\nFR,4,5,6\n"
    profile = profile_of(tmp_path, "wide.csv", content)
    request = IndicatorRequest(name="Emissions", hints=LayoutHints(value_column="fr"))
    draft = heuristic.generate(profile, request)
    assert draft.inference is not None and draft.inference.chosen == "row 'FR'"
    assert [p["value"] for p in run(draft.parse_code, content)] == [4.0, 5.0, 6.0]


def test_a_side_note_with_one_period_is_no_candidate(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["Year", "Price", None, None, None],
        [2019, 100.0, None, "Date", "Rate"],
        [2020, 102.0, None, datetime(2022, 6, 1), 2022.0],
        [2021, 105.0, None, None, None],
    ]
    content = workbook({"Prices": rows})
    profile = profile_of(tmp_path, "prices.xlsx", content)
    candidates = table_wrapper(profile, IndicatorRequest(name="Price"))
    assert all("columns 3..4" not in c.label for c in candidates)
    assert [p["value"] for p in run(candidates[0].code, content)] == [100.0, 102.0, 105.0]


# A one-day report saved as text: the day only in the title cell, hours ending 1-24, header cells padded
# differently from the data cells, and a second table with its own header below the first.
ONE_DAY_REPORT = (
    "03/05/21\t\t\tHourly output of the plants (MW)\t\t\t\t\t\n"
    "\tHour\t\tRIVER\tLAKE\t\tTIDE\t\t\t\n"
    + "".join(f"\t{h}\t\t{100 + h}\t\t{200 + h}\t\t{300 + h}\t\n" for h in range(1, 25))
    + "\t\t\t\t\t\t\t\t\t\n"
    "\t\t\tHourly imports (MW)\t\t\t\t\t\t\n"
    "\tHour\t\tNORTH\tSOUTH\t\t\t\t\t\n"
    + "".join(f"\t{h}\t\t{900 + h}\t\t{800 + h}\t\t\t\n" for h in range(1, 25))
).encode()


def test_a_one_day_report_is_dated_from_its_title_with_hours_ending_and_realigned_labels(
    tmp_path: Path,
) -> None:
    profile = profile_of(tmp_path, "report.tsv", ONE_DAY_REPORT)
    draft = heuristic.generate(profile, IndicatorRequest(name="Lake output, hourly"))
    points = run(draft.parse_code, ONE_DAY_REPORT)
    assert len(points) == 24  # the imports table below is not read
    # Hour 1 ends at 01:00, so it starts at midnight; slashes read month first with nothing to say otherwise.
    assert (points[0]["timestamp"], points[0]["value"]) == (datetime(2021, 3, 5, 0), 201.0)
    assert (points[-1]["timestamp"], points[-1]["value"]) == (datetime(2021, 3, 5, 23), 224.0)
    assert "reads either way, taken month first" in draft.rationale
    assert "laid in order over the columns the data fills" in draft.rationale


def test_a_day_the_request_names_decides_between_day_first_and_month_first(tmp_path: Path) -> None:
    profile = profile_of(tmp_path, "report.tsv", ONE_DAY_REPORT)
    request = IndicatorRequest(name="Lake output, hourly (3 May 2021)")
    draft = heuristic.generate(profile, request)
    points = run(draft.parse_code, ONE_DAY_REPORT)
    assert points[0]["timestamp"] == datetime(2021, 5, 3, 0)
    assert "the day the request names" in draft.rationale


def test_stacked_tables_titled_on_two_levels_become_dimensions_with_half_year_periods(tmp_path: Path) -> None:
    from tests.unit.test_wrapper_toolkit import NESTED_SHEET

    content = workbook({"Levels": NESTED_SHEET})
    profile = profile_of(tmp_path, "levels.xlsx", content)
    draft = heuristic.generate(profile, IndicatorRequest(name="Total paid in advance by large users"))
    points = run(draft.parse_code, content)
    wanted = [p for p in points if p["dimensions"].get("block") == "Large users"]  # type: ignore[union-attr]
    assert len(points) == 16
    assert {p["dimensions"]["title 1"] for p in wanted} == {"Paid monthly", "Paid in advance"}  # type: ignore[index]
    assert "told apart by their titles" in draft.rationale


def test_a_preliminary_column_beside_years_written_as_numbers_is_left_out_with_a_warning(
    tmp_path: Path,
) -> None:
    rows: list[list[object]] = [["Product", 2018, 2019, 2020, "2021 P"], ["Petrol", 1.1, 1.2, 1.3, 1.4]]
    content = workbook({"Prices": rows})
    draft = heuristic.generate(
        profile_of(tmp_path, "prices.xlsx", content), IndicatorRequest(name="Petrol price")
    )
    points = run(draft.parse_code, content)
    assert [p["timestamp"].year for p in points] == [2018, 2019, 2020]  # type: ignore[attr-defined]
    assert "left out ['2021 P']" in draft.rationale


def test_flagged_periods_among_periods_written_as_text_are_kept(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["Product", "2018", "2019", "2020", "2021 [p]"],
        ["Petrol", 1.1, 1.2, 1.3, 1.4],
    ]
    content = workbook({"Prices": rows})
    draft = heuristic.generate(
        profile_of(tmp_path, "prices.xlsx", content), IndicatorRequest(name="Petrol price")
    )
    points = run(draft.parse_code, content)
    assert [p["timestamp"].year for p in points] == [2018, 2019, 2020, 2021]  # type: ignore[attr-defined]
