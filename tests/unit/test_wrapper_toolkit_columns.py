"""The toolkit's columnar reading: the same points as reading row by row, without a dict per point."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from shared import wrapper_toolkit
from shared.points.columns import ColumnsError, micros_of
from shared.wrapper_toolkit import (
    _HEAD_LINES,
    LineGrid,
    PointColumns,
    _Fields,
    _may_name,
    _number_column,
    _number_fields,
    _period_column,
    _period_fields,
    column_index,
    header_names,
    long_points,
    parse_number,
    parse_period,
    read_csv_grid,
    read_csv_table,
)

ISO_CELLS = [
    "2024-01-31T13:00:00Z",
    "2024-01-31 13:00:00Z",
    "2024-01-31t13:00:00z",
    "2024-02-30T00:00:00Z",  # no such day
    "2023-02-29",
    "2024-02-29",
    "2024-12-31T23:59:59",
    "2024-12-31T24:00:00",
    "2024-06-01 12:30",
    "2024-06-01T12:60",
    "2024/06/01",
    "2024-6-1",
    " 2024-06-01",
    "２０２４-06-01",
    "2024-06-01T12:00:00+02:00",
    "2024-06-01T12:00:00.5Z",
    "2024-13-01",
    "abcd-ef-gh",
    "",
    "2024",
]
NATIVE_CELLS: list[Any] = [
    datetime(2024, 1, 31, 13, 0, 0, 250),
    date(2024, 2, 29),
    date(1970, 1, 1),
    datetime(1969, 12, 31, 23, 59, 59, 999999),
]
# An aware datetime among workbook cells: the bulk read takes none of them, each is read as parse_period does.
AWARE_CELLS: list[Any] = [*NATIVE_CELLS, datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))]
# Near the ends of the datetime range an offset overflows, in parse_period as in the columns.
EXTREME_CELLS: list[Any] = [
    "0000-01-01",
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    datetime(1, 1, 1),
    datetime(9999, 12, 31),
]
NUMBER_CELLS = [
    "1.5",
    " 2 ",
    "-3e2",
    "+.5",
    "5.",
    "1_000",
    "nan",
    "-inf",
    "1e400",
    "",
    ":",
    "1,234.5",
    "11.6 b",
    "١٢",
    "x",
]


def micros(moment: datetime | None) -> int | None:
    """A UTC datetime as microseconds since 1970."""
    if moment is None:
        return None
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def moment(stamp: datetime | None) -> tuple[int, int] | None:
    """A datetime as PointColumns holds it: (microseconds since 1970, UTC offset in seconds or NAIVE)."""
    if stamp is None:
        return None
    return micros_of(stamp)


def row_by_row_long_points(
    grid: Sequence[list[Any]],
    *,
    header_row: int,
    time_column: str,
    value_column: str,
    dimension_columns: Sequence[str] = (),
    constant_dimensions: dict[str, str] | None = None,
    **options: Any,
) -> Iterator[dict[str, Any]]:
    """long_points read row by row, as for stacked tables: what reading it by columns must equal."""
    names = header_names(grid[header_row])
    return wrapper_toolkit._long_row_points(
        grid,
        header_row=header_row,
        skip_rows=options.pop("skip_rows", 0),
        time_at=column_index(names, time_column),
        value_at=column_index(names, value_column),
        month_at=None,
        clock_at=None,
        dims_at=[(name, column_index(names, name)) for name in dimension_columns],
        constant=dict(constant_dimensions or {}),
        time_format=options.pop("time_format"),
        decimal=options.pop("decimal", "."),
        missing=options.pop("missing", ()),
        utc_offset_seconds=options.pop("utc_offset_seconds", None),
        title_dimension=None,
    )


@pytest.mark.parametrize("offset", [None, 3600, -5400])
@pytest.mark.parametrize(
    ("cells", "fmt"),
    [
        (ISO_CELLS, "iso"),
        (ISO_CELLS, "native"),
        (NATIVE_CELLS, "native"),
        (NATIVE_CELLS, "year"),
        (AWARE_CELLS, "native"),
    ],
)
def test_period_column_reads_each_cell_as_parse_period_does(
    cells: list[Any], fmt: str, offset: int | None
) -> None:
    if offset is None:
        cells = cells + [cell for cell in EXTREME_CELLS if type(cell) in {type(c) for c in cells}]
    # Whole columns of one shape take the bulk path; the same cells in a mixed column are read one by one.
    for column in (cells, [cells[0]] * 3 + cells, cells * 2, [*cells, None, 2024]):
        stamps, read, offsets = _period_column(column, fmt, utc_offset_seconds=offset)
        expected = [moment(parse_period(cell, fmt, utc_offset_seconds=offset)) for cell in column]
        got = zip(stamps.tolist(), offsets.tolist(), read.tolist(), strict=True)
        assert [(s, o) if r else None for s, o, r in got] == expected


@pytest.mark.parametrize("decimal", [".", ","])
def test_number_column_reads_each_cell_as_parse_number_does(decimal: str) -> None:
    for column in (NUMBER_CELLS, ["1.5", "2.25", "1e3"], [1, 2.5, -0.0], ["1_0", "2"], [True, 1.0]):
        values, read = _number_column(column, decimal=decimal, missing=[-999.0])
        expected = [parse_number(cell, decimal=decimal, missing=[-999.0]) for cell in column]
        assert [float(v) if r else None for v, r in zip(values, read, strict=True)] == expected
    values, read = _number_column(["1.5", "-999", "-999.0000000001", "3"], missing=[-999.0])
    assert read.tolist() == [True, False, False, True]


# Plain decimals the bytes are read as, and their near misses, which are read one by one.
DECIMAL_CELLS = [
    "0",
    "-0",
    "-0.0",
    "007",
    "0.1",
    "2.675",
    "-.5",
    "+7.25",
    "123456789012345",
    "12345678.9012345",
    "0.000000000000001",
    "1234567890123456",
    "0.30000000000000004",
    ".",
    "-",
    "+",
    "1.2.3",
    "1-2",
    "12a",
    "1e5",
    "-999",
]


def fields_of(column: Sequence[str]) -> _Fields:
    """The cells as the second column of an ASCII CSV table, by their bytes."""
    grid = read_csv_table(("time,value\n" + "".join(f"t,{cell}\n" for cell in column)).encode())
    assert isinstance(grid, LineGrid)
    fields = grid.fields(1)
    assert fields is not None
    return fields


def plain_ascii(cells: Sequence[Any]) -> list[str]:
    """The cells a CSV field can hold as they are: ASCII text without a delimiter or a line end."""
    return [c for c in cells if isinstance(c, str) and c.isascii() and not set(c) & set(',"\n\r')]


def random_decimals(count: int, *, seed: int) -> list[str]:
    """Decimals of 1 to 17 digits, signed or not, with 0 to 8 decimals, as a source might write them."""
    rng = random.Random(seed)
    cells = []
    for _ in range(count):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 17)))
        point = rng.randint(0, min(8, len(digits)))
        number = f"{digits[: len(digits) - point]}.{digits[len(digits) - point :]}" if point else digits
        cells.append(rng.choice(["", "", "-", "+"]) + number)
    return cells


@pytest.mark.parametrize("missing", [(), (-999.0,)])
def test_number_fields_read_each_cell_as_number_column_does(missing: tuple[float, ...]) -> None:
    decimals = random_decimals(2000, seed=7)
    for column in (
        decimals,
        DECIMAL_CELLS,
        plain_ascii(NUMBER_CELLS),
        [*decimals[:50], "", "n/a"],
        ["1.5", "-3", "1_000"],
    ):
        values, read = _number_fields(fields_of(column), 1, missing=missing)
        expected_values, expected_read = _number_column(column, missing=missing)
        assert read.tolist() == expected_read.tolist()
        # Bit for bit: the same float, the same sign of a zero.
        assert values[read].tobytes() == expected_values[expected_read].tobytes()


def test_number_fields_with_a_decimal_comma_read_the_text() -> None:
    column = ["1,5".replace(",", "."), "2", "x"]
    values, read = _number_fields(fields_of(column), 1, decimal=",")
    expected_values, expected_read = _number_column(column, decimal=",")
    assert read.tolist() == expected_read.tolist() and values[read].tolist() == expected_values[read].tolist()


@pytest.mark.parametrize("offset", [None, 3600])
@pytest.mark.parametrize("fmt", ["iso", "native", "year"])
def test_period_fields_read_each_cell_as_period_column_does(fmt: str, offset: int | None) -> None:
    cells = plain_ascii(ISO_CELLS + EXTREME_CELLS)
    for column in (cells, cells * 3, ["2024-01-31T13:00:00Z"] * 5 + cells):
        got = _period_fields(fields_of(column), 1, fmt, utc_offset_seconds=offset)
        expected = _period_column(column, fmt, utc_offset_seconds=offset)
        assert [part.tolist() for part in got] == [part.tolist() for part in expected]


def test_line_grid_splits_lines_beyond_its_head_as_read_csv_grid_does() -> None:
    lines = [f"{i},{i * 2}" for i in range(_HEAD_LINES * 2 + 5)]
    for text in ("\n".join(lines) + "\n", "\n".join(lines)):
        table, grid = read_csv_table(text.encode()), read_csv_grid(text.encode())
        assert isinstance(table, LineGrid) and len(table) == len(grid)
        for index in (0, _HEAD_LINES - 1, _HEAD_LINES, len(grid) - 1, -1):
            assert table[index] == grid[index]
        for part in (slice(None, 500), slice(1000, 1100), slice(_HEAD_LINES - 2, None), slice(None, None, 7)):
            assert table[part] == grid[part]
        assert table.columns(_HEAD_LINES + 1, [1]) == [[row[1] for row in grid[_HEAD_LINES + 1 :]]]


def test_line_grid_gives_fields_only_for_ascii_rows_all_as_wide() -> None:
    grid = read_csv_table(b"title\na,b,c\n1,22,\n4,5,666")  # the last row without a line end
    assert isinstance(grid, LineGrid)
    fields = grid.fields(2)
    assert fields is not None and fields.width == 3 and len(fields) == 2
    assert [fields.texts(at) for at in range(3)] == [["1", "4"], ["22", "5"], ["", "666"]]
    assert fields.texts(2, np.array([1])) == ["666"]
    assert fields.chars(1, np.array([0]), 2).tobytes() == b"22"
    for refused in (
        b"a,b\n1,2\n3\n",
        b"a,b\n1,2\n\n3,4\n",
        b"a,b\n1,2,3\n4,5\n",
        b"a\n1\n",
        "a,b\n\u00e9,2\n".encode(),
    ):
        table = read_csv_table(refused)
        assert isinstance(table, LineGrid) and table.fields(1) is None


def test_long_points_from_the_bytes_equals_long_points_row_by_row_on_random_tables() -> None:
    rng = random.Random(11)
    stamps = [c for c in plain_ascii(ISO_CELLS) if c]
    values = [*random_decimals(50, seed=3), *plain_ascii(NUMBER_CELLS)]
    for _ in range(20):
        rows = [
            f"{rng.choice(stamps)},{rng.choice(values)},{rng.choice(['DE', 'FR', ''])}"
            for _ in range(rng.randint(1, 300))
        ]
        payload = ("when,value,area\n" + "\n".join(rows) + rng.choice(["", "\n"])).encode()
        options = {"header_row": 0, "time_column": "when", "time_format": "iso", "value_column": "value"}
        for dimensions in ([], ["area"]):
            table = read_csv_table(payload)
            assert isinstance(table, LineGrid) and table.fields(1) is not None
            expected = row_by_row_long_points(read_csv_grid(payload), dimension_columns=dimensions, **options)
            assert list(long_points(table, dimension_columns=dimensions, **options)) == list(expected)


TEXTS = [
    "a,b\n1,2\n3,4\n",
    "a,b\n1,2\n3,4",
    "a,b\r\n1,2\r\n3,4\r\n",
    "a,b\n1,2\n\n3,4\n",
    "a,b\n1,2,3\n4\n",
    "title\n\na,b\n1,2\n",
    'a,b\n"1,5",2\n',
    "a,b\r1,2\r",
    "a,b\n1,\x002\n",
    "",
    "\n",
    "a;b\n1;2\n",
]


@pytest.mark.parametrize("text", TEXTS)
def test_read_csv_table_reads_the_rows_read_csv_grid_reads(text: str) -> None:
    delimiter = ";" if ";" in text else ","
    table = read_csv_table(text.encode(), delimiter=delimiter)
    grid = read_csv_grid(text.encode(), delimiter=delimiter)
    assert list(table) == grid and len(table) == len(grid)
    assert [table[i] for i in range(len(grid))] == grid and table[1:] == grid[1:]
    assert isinstance(table, LineGrid) == ('"' not in text and "\x00" not in text and "a,b\r1" not in text)


def test_line_grid_gives_columns_only_when_every_row_is_as_wide() -> None:
    table = read_csv_table(b"title\na,b,c\n1,2,3\n4,5,6\n")
    assert isinstance(table, LineGrid)
    assert table.columns(2, [0, 2]) == [["1", "4"], ["3", "6"]]
    assert table.columns(2, [3]) is None
    for ragged in (
        b"a,b\n1,2\n3\n",
        b"a,b\n1,2\n3,4,5\n",
        b"a,b\n1,2\n\n3,4\n",
        b"a,b\n1,2,3\n4\n",
        b"a,b\n1,2\n3,4\n\n",
    ):
        grid = read_csv_table(ragged)
        assert isinstance(grid, LineGrid) and grid.columns(1, [0, 1]) is None


LONG_CASES: dict[str, tuple[list[list[Any]], dict[str, Any]]] = {
    "iso text": (
        [["when", "v"], *[[cell, str(index)] for index, cell in enumerate(ISO_CELLS)]],
        {"time_column": "when", "time_format": "iso", "value_column": "v"},
    ),
    "native cells with an offset": (
        [["Date", "Load"], *[[cell, index * 1.5] for index, cell in enumerate(NATIVE_CELLS)], ["n/a", 3.0]],
        {"time_column": "Date", "time_format": "native", "value_column": "Load", "utc_offset_seconds": 3600},
    ),
    "dimensions, repeated headers, short rows and missing values": (
        [
            ["Report"],
            ["Jahr", "Land", "Wert", "Quelle"],
            ["2019", "DE", "1.234,5", "a"],
            ["2020", "DE", "-99,99"],
            ["Jahr", "Land", "Wert", "Quelle"],
            ["2021", "DE", ":"],
            ["", "DE", "3,0"],
            ["2019", " F R ", "2,5"],
            ["2019"],
            ["2020", "FR", "4"],
        ],
        {
            "header_row": 1,
            "time_column": "Jahr",
            "time_format": "year",
            "value_column": "Wert",
            "dimension_columns": ["Land", "Quelle"],
            "decimal": ",",
            "missing": [-99.99],
            "constant_dimensions": {"unit": "t", "Land": "overridden"},
        },
    ),
    "a header row repeated with numbers in its names": (
        [["2019", "2020"], ["2019-01-01", "1"], ["2019", "2020"], ["2019-02-01", "2"]],
        {"time_column": "2019", "time_format": "iso", "value_column": "2020", "skip_rows": 0},
    ),
    "nothing readable": (
        [["t", "v"], ["x", "y"]],
        {"time_column": "t", "time_format": "iso", "value_column": "v"},
    ),
}


# Each table as a grid of cells and, when it holds only text, as the CSV text read_csv_table reads.
READINGS = [
    (case, reader)
    for case, (grid, _) in LONG_CASES.items()
    for reader in ("grid", "table")
    if reader == "grid" or all(isinstance(cell, str) for row in grid for cell in row)
]


@pytest.mark.parametrize(("case", "reader"), READINGS)
def test_long_points_by_columns_equals_long_points_row_by_row(case: str, reader: str) -> None:
    grid, options = LONG_CASES[case]
    options = {"header_row": 0, **options}
    if reader == "table":
        grid = read_csv_table("\n".join(",".join(row) for row in grid).encode())
    columns = long_points(grid, **options)
    assert isinstance(columns, PointColumns)
    assert list(columns) == list(row_by_row_long_points(grid, **options))


def test_long_points_by_columns_on_a_big_uniform_csv() -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    lines = ["timestamp,value,site"]
    lines += [
        f"{(start + timedelta(hours=i)).strftime('%Y-%m-%dT%H:%M:%SZ')},{i / 8},s{i % 3}"
        for i in range(30_000)
    ]
    payload = ("\n".join(lines) + "\n").encode()
    options = {"header_row": 0, "time_column": "timestamp", "time_format": "iso", "value_column": "value"}
    columns = long_points(read_csv_table(payload), dimension_columns=["site"], **options)
    assert len(columns) == 30_000 and columns.series == [{"site": "s0"}, {"site": "s1"}, {"site": "s2"}]
    assert list(columns) == list(
        row_by_row_long_points(read_csv_grid(payload), dimension_columns=["site"], **options)
    )
    assert columns.timestamps[1] - columns.timestamps[0] == 3_600_000_000


def test_point_columns_iterate_as_point_dicts_and_check_their_shape() -> None:
    columns = PointColumns(
        np.array([0, 86_400_000_000], dtype=np.int64),
        np.array([1.5, 2.5]),
        series=[{"geo": "DE"}, {"geo": "FR"}],
        codes=np.array([1, 0], dtype=np.int32),
    )
    assert list(columns) == [
        {"timestamp": datetime(1970, 1, 1, tzinfo=UTC), "value": 1.5, "dimensions": {"geo": "FR"}},
        {"timestamp": datetime(1970, 1, 2, tzinfo=UTC), "value": 2.5, "dimensions": {"geo": "DE"}},
    ]
    with pytest.raises(ColumnsError):
        PointColumns(np.zeros(2, dtype=np.int64), np.zeros(1), series=[{}])
    with pytest.raises(ColumnsError):
        PointColumns(np.zeros(1, dtype=np.int64), np.zeros(1), series=[{}, {"a": "b"}])


def test_join_header_rows_carries_group_labels_and_joins_split_names() -> None:
    from shared.wrapper_toolkit import join_header_rows, with_header

    grid = [
        ["", "Median", "", "Average", ""],
        ["Year", "United", "North-", "United", "North-"],
        ["", "States", "east", "States", "east"],
        [1990, 1, 2, 3, 4],
    ]
    assert join_header_rows(grid, [0, 1, 2]) == [
        "Year",
        "Median United States",
        "Median North-east",
        "Average United States",
        "Average North-east",
    ]
    assert with_header(grid, [0, 1, 2])[2] == join_header_rows(grid, [0, 1, 2])
    assert with_header([[1, 2]], []) == [["column_1", "column_2"], [1, 2]]


@pytest.mark.parametrize(
    ("cells", "name", "may"),
    [
        ([date(2024, 1, 1), datetime(2024, 1, 1, 1)], "timestamp", False),
        ([date(2024, 1, 1), datetime(2024, 1, 1, 1)], "", True),
        ([date(2024, 1, 1), "timestamp"], "timestamp", True),
        ([datetime(2024, 1, 1, 1)], "2024", True),
        (["a", "b"], "timestamp", False),
    ],
)
def test_may_name_says_whether_a_cell_might_clean_to_the_name(cells: list[Any], name: str, may: bool) -> None:
    assert _may_name(cells, name) is may
