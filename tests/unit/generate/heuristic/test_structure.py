"""Row classes, blocks, multi-line headers and tables without a header."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from shared.common.errors import HintError
from shared.generate.heuristic.structure import (
    _has_content,
    analyze_structure,
    classify_rows,
    column_groups,
    find_blocks,
)
from shared.wrapper_toolkit import clean_header, is_missing, row_title

# A national-statistics sheet: title, a group row over two names, units, data, an annual total, a footnote.
GROUPED: list[list[Any]] = [
    ["Table 4: Gas supply (GWh)", "", ""],
    ["", "", ""],
    ["", "Upstream", ""],
    ["Month", "Imports", "Net imports"],
    ["", "(GWh)", "(GWh)"],
    ["January 2020", 10.0, 4.0],
    ["February 2020", 11.0, 5.0],
    ["Total 2020", 21.0, 9.0],
    ["1) Provisional figures.", "", ""],
]


def test_rows_are_classed_title_group_header_units_data_aggregate_note() -> None:
    assert classify_rows(GROUPED) == [
        "title",
        "blank",
        "group",
        "header",
        "units",
        "data",
        "data",
        "aggregate",
        "note",
    ]


def test_a_group_row_is_joined_with_the_names_below_it() -> None:
    structure = analyze_structure(GROUPED)
    block = structure.main
    assert block is not None
    assert block.header_rows == [2, 3]
    assert block.names == ["Month", "Upstream Imports", "Upstream Net imports"]
    assert block.title == "Table 4: Gas supply (GWh)"
    assert block.aggregate_rows == [7]


def test_names_split_over_two_lines_with_a_blank_spacer_become_one_label() -> None:
    grid: list[list[Any]] = [
        ["", "Median", "", "Average", ""],
        ["", "", "", "", ""],
        ["Year", "United", "North-", "United", "North-"],
        ["", "States", "east", "States", "east"],
        [1990, 1.0, 2.0, 3.0, 4.0],
        [1991, 1.5, 2.5, 3.5, 4.5],
    ]
    block = analyze_structure(grid).main
    assert block is not None
    assert block.header_rows == [0, 2, 3]
    assert block.names == [
        "Year",
        "Median United States",
        "Median North-east",
        "Average United States",
        "Average North-east",
    ]


def test_a_table_without_header_is_said_so_and_its_columns_numbered() -> None:
    grid: list[list[Any]] = [["1990-01-01", "22.86"], ["1990-02-01", "22.11"], ["1990-03-01", "20.39"]]
    structure = analyze_structure(grid)
    block = structure.main
    assert block is not None and block.headerless
    assert block.names == ["column_1", "column_2"]
    assert block.data_rows == [0, 1, 2]
    assert "no header row" in structure.reasons[0]


def test_stacked_sections_with_the_same_row_labels_are_titled_not_duplicates() -> None:
    grid: list[list[Any]] = [
        ["Year", "UK"],
        ["Conifers", ""],
        ["2017/18", 1.0],
        ["2018/19", 2.0],
        ["Broadleaves", ""],
        ["2017/18", 3.0],
        ["2018/19", 4.0],
    ]
    blocks = find_blocks(grid, kinds=classify_rows(grid))
    assert len(blocks) == 1
    assert blocks[0].sections == {2: "Conifers", 3: "Conifers", 5: "Broadleaves", 6: "Broadleaves"}


def test_a_second_header_starts_a_second_block() -> None:
    grid: list[list[Any]] = [
        ["Table 1: Coal", ""],
        ["Country", "2019", "2020"],
        ["DE", 1, 2],
        ["", "", ""],
        ["Table 2: Gas", ""],
        ["Country", "2019", "2020"],
        ["DE", 5, 6],
    ]
    blocks = analyze_structure(grid).blocks
    assert [(b.title, b.header_rows, b.data_rows) for b in blocks] == [
        ("Table 1: Coal", [1], [2]),
        ("Table 2: Gas", [5], [6]),
    ]


def test_years_across_a_row_make_it_a_time_header_and_columns_are_classed() -> None:
    grid: list[list[Any]] = [
        ["Country", 2019, 2020, 2021, "Flag"],
        ["DE", 1.0, 2.0, 3.0, "[R]"],
        ["FR", 4.0, 5.0, 6.0, "[R]"],
    ]
    structure = analyze_structure(grid)
    assert structure.row_classes == ["header", "data", "data"]
    assert structure.column_classes == ["label", "time", "time", "time", "flag"]


def test_header_rows_given_by_the_user_win_and_must_lie_in_the_grid() -> None:
    structure = analyze_structure(GROUPED, header_rows=[3])
    assert structure.main is not None and structure.main.header_rows == [3]
    with pytest.raises(HintError, match="outside the grid"):
        analyze_structure(GROUPED, header_rows=[40])


def test_a_group_label_stops_where_the_group_above_it_starts_a_new_one() -> None:
    grid: list[list[Any]] = [
        ["", "Median", "", "", "Average", "", ""],
        ["", "", "", "Region", "", "", "Region"],
        ["Year", "US", "East", "West", "US", "East", "West"],
        [1990, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    ]
    block = analyze_structure(grid).main
    assert block is not None
    assert block.names[3:5] == ["Median Region West", "Average US"]


def test_sentences_of_notes_above_a_header_are_not_joined_into_its_labels() -> None:
    grid: list[list[Any]] = [
        ["", "", "The ocean sink is estimated from the average of several models.", ""],
        ["", "", "", "Cite as: Friedlingstein et al. 2019 (see Summary tab)."],
        ["", "", "", ""],
        ["", "Year", "fossil fuel", "ocean sink"],
        [1, 1959, 2.4, 0.75],
        [2, 1960, 2.6, 0.80],
    ]
    block = analyze_structure(grid).main
    assert block is not None
    assert block.header_rows == [3]
    assert block.names == ["", "Year", "fossil fuel", "ocean sink"]


def test_tables_side_by_side_are_column_groups_split_by_blank_columns() -> None:

    grid: list[list[Any]] = [
        ["Table 1: a long title running across both tables", "", "", "", ""],
        ["Year", "UK", "", "Year", "UK"],
        [2019, 1.0, "", 2019, 10.0],
    ]
    assert column_groups(grid) == [(0, 2), (3, 5)]
    assert column_groups([["Year", "UK"], [2019, 1.0]]) == []


def test_a_year_row_without_values_among_data_is_data_not_a_section_title() -> None:
    grid: list[list[Any]] = [["Year", "Sales"], [1970, 1.0], [1971, ""], [1972, 3.0]]
    structure = analyze_structure(grid)
    assert structure.row_classes == ["header", "data", "data", "data"]
    assert structure.main is not None and structure.main.sections == {}


def test_an_annual_figure_among_monthly_rows_is_an_aggregate() -> None:
    months = ["January", "February", "March", "April", "May", "June"]
    grid: list[list[Any]] = [["Month", "Sales"]]
    grid += [[f"{m} 2020", float(i)] for i, m in enumerate(months)]
    grid += [["2020", 15.0], ["July 2020", 6.0]]
    classes = classify_rows(grid)
    assert classes[7] == "aggregate"
    assert classes[8] == "data"


def test_month_names_across_a_header_are_time_columns_and_an_annual_column_an_aggregate() -> None:
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    grid: list[list[Any]] = [
        ["Year", *months, "Annual"],
        [2020, *range(1, 7), 21.0],
        [2021, *range(2, 8), 27.0],
    ]
    assert analyze_structure(grid).column_classes == ["time", *["time"] * 6, "aggregate"]


def test_a_title_cell_beside_a_table_is_no_table_of_its_own() -> None:
    grid: list[list[Any]] = [
        ["01/02/21", "", "", "Title of the report"],
        ["", "Hour", "", "A", "B"],
        ["", 1, "", 10, 20],
        ["", 2, "", 11, 21],
        ["", 3, "", 12, 22],
    ]
    assert column_groups(grid) == []


def test_a_last_column_set_off_by_one_spacer_column_belongs_to_its_table() -> None:
    grid: list[list[Any]] = [
        ["Label", "2020", "2021", "", "2022", "", "Label", "2020", "2021", "", "2022"],
        ["a", 1, 2, "", 3, "", "a", 4, 5, "", 6],
        ["b", 1, 2, "", 3, "", "b", 4, 5, "", 6],
    ]
    assert column_groups(grid) == [(0, 5), (6, 11)]


# Cells of every kind a reader hands over, blank and missing ones among them.
CELLS: list[Any] = [
    None,
    "",
    "   ",
    "\n\t",
    "n/a",
    " NA ",
    "..",
    "x",
    "Total",
    " two  words ",
    "1,234",
    0,
    7,
    -3,
    0.0,
    2.5,
    float("nan"),
    float("inf"),
    True,
    False,
    datetime(2024, 1, 31, 12, 30),
    date(2024, 1, 31),
    Decimal("1.5"),
]


@pytest.mark.parametrize("cell", CELLS, ids=repr)
def test_a_cell_has_content_exactly_when_it_is_not_missing_and_not_blank(cell: Any) -> None:
    assert _has_content(cell) is (not is_missing(cell) and bool(clean_header(cell)))


@pytest.mark.parametrize(
    "row",
    [[], [None], ["Title"], ["", "Title", None], ["Title", 3.0], ["12"], [None, "n/a", " Note "], [1.0, 2.0]],
    ids=repr,
)
def test_row_title_is_the_only_filled_cell_unless_it_reads_as_a_number(row: list[Any]) -> None:
    filled = [clean_header(cell) for cell in row if not is_missing(cell)]
    expected = filled[0] if len(filled) == 1 and not filled[0].replace(".", "").isdigit() else None
    assert row_title(row) == expected
