"""Trusted helpers that wrapper parse code may import: reading tables, numbers, periods and points.

Generated parse code stays short and readable because the fiddly parts (encodings, preambles, decimal
commas, flags, period formats) live here, tested once. Everything here is deterministic and touches
neither files nor the network: it works on the bytes the trusted fetcher handed over.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta, timezone
from operator import itemgetter
from typing import TYPE_CHECKING, Any, overload

from shared.common.errors import HintError

if TYPE_CHECKING:
    import numpy as np

# fmt: off
# The contract with stored parse code: what it may import (the policy refuses other names), what the Gemini
# prompt lists and what docs/architecture.md describes. Removing or changing a name breaks stored wrappers.
__all__ = [
    "MISSING_MARKERS", "MONTHS", "PERIOD_FORMATS", "SENTINELS", "Cell", "Grid", "LineGrid", "PointColumns",
    "PointDict", "ToolkitError", "clean_header", "column_index", "column_points", "column_range",
    "decimal_votes", "decode_text", "detect_decimal", "detect_period_format", "detect_sentinels",
    "find_row", "flatten_record", "get_path", "header_names", "is_jsonstat", "is_missing",
    "join_header_rows", "jsonstat_datasets", "jsonstat_points", "keep_where", "label_levels", "long_points",
    "mapping_records", "month_columns_points", "month_of_header", "month_rows_points", "month_starts",
    "parse_clock", "parse_month", "parse_number", "parse_period", "read_csv_grid", "read_csv_table",
    "read_json", "read_workbook", "record_points", "row_record", "row_title", "snapshot_points",
    "split_dimension_names", "table_blocks", "wide_points", "with_header",
]
# fmt: on

Cell = Any
Grid = list[list[Cell]]
PointDict = dict[str, Any]

# fmt: off
MISSING_MARKERS = frozenset(
    {"", ":", "..", "...", "-", "--", "—", "–", "x", "na", "n/a", "n.a.", "nan", "null", "none", "nd", "(na)",
     "not available", "(d)", "(z)", "w", "*", "#n/a", "#value!", "#ref!", "#div/0!"}
)
SENTINELS = (
    -9.0, -99.0, -99.9, -99.99, -999.0, -999.9, -999.99, -9999.0, -99999.0, 9999.0, 99999.0, 999999.0,
)
# fmt: on

_FLAG_SUFFIX = re.compile(
    r"^(?P<num>[-+]?[\d.,\s'\u00a0\u202f]*\d[\d.,]*)\s*(?P<flag>[a-zA-Z]{1,3}|\*{1,3}|\([a-zA-Z]\))$"
)
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# The commonest stamp (`2024-01-31T13:00:00Z`), read without the general ISO pattern; see parse_period.
_UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_EXCEL_EPOCH = datetime(1899, 12, 30)
# Cell types whose text (see clean_header) always holds a digit; not bool, whose text is True or False.
_DIGIT_TEXT_TYPES = frozenset({int, datetime, date, time, timedelta})
_FLAGGED_YEAR = re.compile(r"(\d{4})\s*(?:\*{1,3}|\([a-zA-Z]{1,3}\)|\[[^\]]{1,40}\]|[a-zA-Z]{1,2})")
_TIME_HINT = re.compile(
    r"year|jahr|ann[ée]e|a[ñn]o|anno|jaar|date|fecha|time|period|month|day|quarter|zeit|datum|mois|tid|"
    r"年|月|日|時|期|날짜|연도",
    re.IGNORECASE,
)

# fmt: off
MONTHS = {
    # English
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4, "may": 5,
    "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
    "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
    # German
    "januar": 1, "jänner": 1, "jän": 1, "februar": 2, "märz": 3, "mär": 3, "maerz": 3, "mai": 5, "juni": 6,
    "juli": 7, "okt": 10, "oktober": 10, "dez": 12, "dezember": 12,
    # French
    "janv": 1, "janvier": 1, "févr": 2, "fevr": 2, "février": 2, "fevrier": 2, "mars": 3, "avr": 4,
    "avril": 4, "juin": 6, "juil": 7, "juillet": 7, "août": 8, "aout": 8, "déc": 12, "décembre": 12,
    "decembre": 12, "octobre": 10, "septembre": 9, "novembre": 11,
}

PERIOD_FORMATS = (
    "native", "iso", "year", "year_month", "year_mmm", "year_quarter", "month_name_year", "day_month_year",
    "month_day_year", "excel_serial", "epoch_s", "epoch_ms",
)
# fmt: on


class ToolkitError(ValueError):
    """The data does not have the shape the parse code expected."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class PointColumns:
    """Points held as columns, as the table helpers return them: no dict per point until one is asked for.

    `timestamps` are UTC microseconds since 1970 (int64), `values` float64, `series` the distinct dimension
    dicts and `codes` (int32) the series of each point; without codes every point is in `series[0]`.
    Iterating yields point dicts, so code that loops over a helper's points works as with a generator.
    """

    def __init__(
        self,
        timestamps: np.ndarray,
        values: np.ndarray,
        *,
        series: list[dict[str, str]],
        codes: np.ndarray | None = None,
    ) -> None:
        if len(timestamps) != len(values) or (codes is not None and len(codes) != len(values)):
            raise ToolkitError("point columns must have the same length")
        if codes is None and len(series) != 1:
            raise ToolkitError("points without series codes need exactly one series")
        self.timestamps = timestamps
        self.values = values
        self.series = series
        self.codes = codes

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[PointDict]:
        codes = self.codes.tolist() if self.codes is not None else [0] * len(self.values)
        for stamp, value, code in zip(self.timestamps.tolist(), self.values.tolist(), codes, strict=True):
            moment = _EPOCH + timedelta(microseconds=stamp)
            yield {"timestamp": moment, "value": value, "dimensions": dict(self.series[code])}

    @classmethod
    def from_points(cls, points: Iterable[PointDict]) -> PointColumns:
        """Columns of point dicts with UTC datetime timestamps (the table helpers' points)."""
        import numpy as np

        stamps: list[int] = []
        values: list[float] = []
        codes: list[int] = []
        index: dict[tuple[tuple[str, str], ...], int] = {}
        series: list[dict[str, str]] = []
        for point in points:
            stamps.append((point["timestamp"] - _EPOCH) // _MICROSECOND)
            values.append(point["value"])
            dimensions = point["dimensions"]
            key = tuple(dimensions.items())
            code = index.get(key)
            if code is None:
                code = index[key] = len(series)
                series.append(dimensions)
            codes.append(code)
        return cls(
            np.array(stamps, dtype=np.int64),
            np.array(values, dtype=np.float64),
            series=series or [{}],
            codes=np.array(codes, dtype=np.int32) if len(series) > 1 else None,
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a table of many rows (none of them garbage) is built."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# --- text and tables -------------------------------------------------------------------------------


def decode_text(payload: bytes, encoding: str = "utf-8") -> str:
    """Decode bytes, dropping a byte-order mark."""
    text = payload.decode(encoding, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def read_csv_grid(payload: bytes, *, encoding: str = "utf-8", delimiter: str = ",") -> Grid:
    """Read delimited text into rows of strings."""
    return _csv_rows(decode_text(payload, encoding), delimiter)


class LineGrid(Sequence[list[str]]):
    """Rows of delimited text without quotes, each split when it is read (see `read_csv_table`).

    It reads like the list `read_csv_grid` makes (`grid[i]`, slices, `len`, iteration); the table helpers
    take whole columns of it at once instead of a list per row.
    """

    def __init__(self, text: str, delimiter: str) -> None:
        # The text's lines end with `\n` alone; the end of the last line is not a row.
        self.lines = text.split("\n")
        if self.lines[-1] == "":
            self.lines.pop()
        self.text = text
        self.delimiter = delimiter

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, index: int) -> list[str]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[str]]: ...

    def __getitem__(self, index: int | slice) -> list[str] | list[list[str]]:
        if isinstance(index, slice):
            return [self._split(line) for line in self.lines[index]]
        return self._split(self.lines[index])

    def __iter__(self) -> Iterator[list[str]]:
        return map(self._split, self.lines)

    def _split(self, line: str) -> list[str]:
        return line.split(self.delimiter) if line else []  # csv reads a blank line as an empty row

    def columns(self, start: int, positions: Sequence[int]) -> list[list[str]] | None:
        """The cells at `positions` of the rows from `start` on, or None unless all have the same width."""
        rows = len(self.lines) - start
        delimiter = self.delimiter
        fields = self.lines[start].count(delimiter) + 1 if rows > 0 else 0
        # One field a row would not tell a blank line (no cells) from an empty cell.
        if fields < 2 or max(positions, default=0) >= fields:
            return None
        text = self.text[sum(map(len, self.lines[:start])) + start :]
        text = text[:-1] if text.endswith("\n") else text  # the end of the last row
        # Each line end becomes a cell of its own: when every row has `fields` cells, those cells are exactly
        # every (fields + 1)th, and the rows' cells lie in between.
        cells = text.replace("\n", f"{delimiter}\n{delimiter}").split(delimiter)
        if len(cells) != rows * (fields + 1) - 1 or cells[fields :: fields + 1].count("\n") != rows - 1:
            return None
        return [cells[at :: fields + 1] for at in positions]


def read_csv_table(payload: bytes, *, encoding: str = "utf-8", delimiter: str = ",") -> Grid | LineGrid:
    """`read_csv_grid`, quicker on big files: text without quotes comes as a `LineGrid` of the same rows."""
    text = decode_text(payload, encoding)
    # csv reads such text line by line, splitting at each delimiter: `\r\n` ends a line like `\n`.
    plain = not any(char in text for char in ('"', "\x00")) and text.count("\r") == text.count("\r\n")
    if not plain or delimiter in ('"', "\r", "\n"):
        return _csv_rows(text, delimiter)
    grid = LineGrid(text.replace("\r\n", "\n") if "\r" in text else text, delimiter)
    if len(text) > csv.field_size_limit() and max(map(len, grid.lines)) > csv.field_size_limit():
        return _csv_rows(text, delimiter)  # csv refuses such a field: say so the same way
    return grid


def _csv_rows(text: str, delimiter: str) -> Grid:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    with _gc_paused():
        return list(reader)


def read_workbook(payload: bytes, *, sheets: Sequence[str] | None = None) -> dict[str, Grid]:
    """Read the named sheets (all when None) of an XLSX/XLS/ODS workbook into rows of Python values."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(payload))
    names = list(sheets) if sheets is not None else list(book.sheet_names)
    missing = [name for name in names if name not in book.sheet_names]
    if missing:
        raise ToolkitError(f"sheet(s) not in workbook: {missing}; it has {book.sheet_names}")
    with _gc_paused():
        return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in names}


def read_json(payload: bytes, *, encoding: str = "utf-8") -> Any:
    """Parse JSON bytes."""
    return json.loads(decode_text(payload, encoding))


def clean_header(cell: Cell) -> str:
    """Header text with its white space folded (multi-line Excel headers become one line)."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return " ".join(str(cell).split())


def header_names(row: Sequence[Cell]) -> list[str]:
    """Unique, cleaned column names of a header row (blank or repeated names get a position suffix)."""
    names: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(row):
        name = clean_header(cell) or f"column_{index + 1}"
        if name in seen:
            name = f"{name}_{index + 1}"
        seen.add(name)
        names.append(name)
    return names


def column_index(names: Sequence[str], wanted: str) -> int:
    """Position of a column by its cleaned name."""
    target = clean_header(wanted)
    for index, name in enumerate(names):
        if name == target:
            return index
    folded = target.casefold()
    for index, name in enumerate(names):
        if name.casefold() == folded:
            return index
    raise ToolkitError(f"column {wanted!r} not found; columns are {list(names)[:30]}")


def find_row(grid: Grid, contains: Sequence[str], *, limit: int = 500) -> int:
    """Index of the first row whose cells include every given header text (case-insensitive)."""
    wanted = {clean_header(name).casefold() for name in contains}
    for index, row in enumerate(grid[:limit]):
        cells = {clean_header(cell).casefold() for cell in row}
        if wanted <= cells:
            return index
    raise ToolkitError(f"no header row with columns {sorted(wanted)} in the first {limit} rows")


def _repeats_header(row: Sequence[Cell], names: Sequence[str]) -> bool:
    cleaned = [clean_header(cell) for cell in row]
    return sum(1 for a, b in zip(cleaned, names, strict=False) if a and a == b) >= max(2, len(names) // 2)


def _header_test(names: Sequence[str]) -> Callable[[Sequence[Cell]], bool]:
    """`_repeats_header(row, names)` as a function of the row, quick on the data rows a table is made of."""
    need = max(2, len(names) // 2)
    width = len(names)
    # A text cell that cleans to a name contains the name's first word, and a number or a date cleans to
    # text with a digit in it: most data rows fail one of these at once.
    heads = [name.split(" ", 1)[0] for name in names]
    digitless = [not any(char.isdigit() for char in name) for name in names]

    def repeats(row: Sequence[Cell]) -> bool:
        left = min(len(row), width)
        if left < need:
            return False
        found = 0
        for index in range(left):
            cell = row[index]
            left -= 1
            kind = type(cell)
            if kind is str:
                matched = heads[index] in cell and clean_header(cell) == names[index]
            elif digitless[index] and (kind in _DIGIT_TEXT_TYPES or (kind is float and math.isfinite(cell))):
                matched = False
            else:
                matched = clean_header(cell) == names[index]
            if matched:
                found += 1
                if found >= need:
                    return True
            elif found + left < need:
                return False
        return False

    return repeats


def _spans(grid: Grid, row: int, below: Sequence[int], width: int) -> bool:
    """True when most labels of a header row stand over blank cells whose columns the rows below name.

    Such a row holds group labels (often merged cells) that apply to every column up to the next label.
    """
    cells = [clean_header(grid[row][i]) if i < len(grid[row]) else "" for i in range(width)]
    named = {i for r in below for i, cell in enumerate(grid[r][:width]) if clean_header(cell)}
    filled = [i for i, cell in enumerate(cells) if cell]
    spanning = [i for i in filled if i + 1 < width and not cells[i + 1] and i + 1 in named]
    return bool(filled) and 2 * len(spanning) > len(filled)


def join_header_rows(grid: Grid, rows: Sequence[int]) -> list[str]:
    """One label per column from a header spread over several rows: group labels, then the names below.

    A row of group labels (see `_spans`) applies each label to the columns up to its next label; names
    split over rows (`United` / `States`, `North-` / `east`) are joined. No rows: `column_1`, `column_2`….
    """
    width = max((len(grid[r]) for r in rows), default=0) or max((len(r) for r in grid[:50]), default=0)
    if not rows:
        return [f"column_{i + 1}" for i in range(width)]
    parts: list[list[str]] = [[] for _ in range(width)]
    edges: set[int] = set()  # where a group above starts: a group below does not reach past it
    for number, row in enumerate(rows):
        cells = [clean_header(grid[row][i]) if i < len(grid[row]) else "" for i in range(width)]
        if _spans(grid, row, rows[number + 1 :], width):
            carried = ""
            for i, cell in enumerate(cells):
                carried = cell or ("" if i in edges else carried)
                cells[i] = carried
            edges |= {i for i, cell in enumerate(grid[row][:width]) if clean_header(cell)}
        for i, cell in enumerate(cells):
            if cell and (not parts[i] or parts[i][-1] != cell):
                parts[i].append(cell)
    labels = []
    for words in parts:
        label = ""
        for word in words:
            label = label + word if label.endswith("-") and word[:1].islower() else f"{label} {word}".strip()
        labels.append(label)
    return labels


def column_range(grid: Grid, first: int, end: int) -> Grid:
    """The columns `first` to `end - 1` of every row: one of several tables standing side by side."""
    return [list(row[first:end]) for row in grid]


def with_header(grid: Grid, rows: Sequence[int]) -> Grid:
    """The grid with the header spread over `rows` joined into its last row (see `join_header_rows`).

    With no rows (a table without a header), a row `column_1, column_2, …` is put on top.
    """
    labels = join_header_rows(grid, rows)
    if not rows:
        return [labels, *grid]
    joined = list(grid)
    joined[rows[-1]] = labels
    return joined


def row_title(row: Sequence[Cell]) -> str | None:
    """The text of a row whose only filled cell holds a label (a title or a footnote), else None."""
    filled = [clean_header(cell) for cell in row if not is_missing(cell)]
    return filled[0] if len(filled) == 1 and not _NUMBER.match(filled[0]) else None


def _title_above(grid: Grid, header_row: int) -> str | None:
    """The top line of the block of one-cell rows right above a header (blank rows before it skipped)."""
    title = None
    for row in reversed(grid[:header_row]):
        if not any(not is_missing(cell) for cell in row):
            if title is None:
                continue
            break
        text = row_title(row)
        if text is None:
            break
        title = text
    return title


def table_blocks(grid: Grid, header_row: int) -> list[tuple[str, int, int]]:
    """(title, first row, end row) of each table that repeats the header row (stacked tables), top to bottom.

    A table's title is the block of one-cell rows right above its header; a table without one is
    called `table N`.
    """
    repeats = _header_test(header_names(grid[header_row]))
    starts = [header_row] + [i for i in range(header_row + 1, len(grid)) if repeats(grid[i])]
    blocks = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(grid)
        blocks.append((_title_above(grid, start) or f"table {number + 1}", start + 1, end))
    return blocks


# --- numbers ---------------------------------------------------------------------------------------


def is_missing(cell: Cell) -> bool:
    """True for empty cells and the usual not-available markers."""
    if cell is None:
        return True
    if isinstance(cell, float):
        return math.isnan(cell)
    if isinstance(cell, str):
        return cell.strip().casefold() in MISSING_MARKERS
    return False


def parse_number(cell: Cell, *, decimal: str = ".", missing: Iterable[float] = ()) -> float | None:
    """Read a number from a cell: flags, thousands separators, decimal commas and sentinels handled."""
    if type(cell) is str and _NUMBER.match(cell) and (decimal == "." or "." not in cell):
        # A plain number (most cells): what the general path below makes of it, without the detour.
        value = float(cell)
    elif cell is None or isinstance(cell, bool):
        return None
    elif isinstance(cell, int | float):
        value = float(cell)
    elif isinstance(cell, str):
        text = cell.strip()
        if not text or text.casefold() in MISSING_MARKERS:
            return None
        parsed = _parse_number_text(text, decimal)
        if parsed is None:
            return None
        value = parsed
    else:
        return None
    if not math.isfinite(value):
        return None
    for sentinel in missing:
        if math.isclose(value, sentinel, rel_tol=0, abs_tol=1e-9):
            return None
    return value


def _parse_number_text(text: str, decimal: str) -> float | None:
    text = text.replace("\u2212", "-").strip("$€£¥ ")
    if _NUMBER.match(text) and (decimal == "." or "." not in text):
        return float(text)
    match = _FLAG_SUFFIX.match(text)
    if match:
        text = match.group("num").strip()
    text = text.rstrip("%").strip()
    text = text.replace("\u00a0", "").replace("\u202f", "").replace("'", "").replace(" ", "")
    text = text.replace(".", "").replace(",", ".") if decimal == "," else text.replace(",", "")
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]
    if not _NUMBER.match(text):
        return None
    return float(text)


_COMMA_DECIMAL = re.compile(r"\d{1,3}(\.\d{3})+,\d+|\d{1,3}(\.\d{3}){2,}|\d+,\d{1,2}|\d+,\d{4,}|0,\d+")
_POINT_DECIMAL = re.compile(r"\d{1,3}(,\d{3})+\.\d+|\d{1,3}(,\d{3}){2,}|\d+\.\d{1,2}|\d+\.\d{4,}|0?\.\d+")


def detect_decimal(values: Iterable[Cell]) -> str:
    """Guess whether numbers write decimals with a comma ("1,5", "1.234,5") or a point.

    Only telling values vote: "3.000" or "1,234" could be either (a thousands group or three
    decimals); without a telling value the answer is the point.
    """
    comma, point = decimal_votes(values)
    return "," if comma > point else "."


def decimal_votes(values: Iterable[Cell]) -> tuple[int, int]:
    """(values that only read right with a decimal comma, values that only read right with a point)."""
    comma = point = 0
    for cell in values:
        if not isinstance(cell, str):
            continue
        text = cell.replace("\u2212", "-").strip("$€£¥ ").lstrip("+-")
        match = _FLAG_SUFFIX.match(text)
        if match:
            text = match.group("num").strip()
        if _COMMA_DECIMAL.fullmatch(text):
            comma += 1
        elif _POINT_DECIMAL.fullmatch(text):
            point += 1
    return comma, point


def detect_sentinels(values: Iterable[float]) -> list[float]:
    """Sentinel codes (-99.99, -999, 9999…) that stand apart from the rest of a column."""
    numbers = [v for v in values if v is not None]
    found: list[float] = []
    for sentinel in SENTINELS:
        hits = sum(1 for v in numbers if math.isclose(v, sentinel, abs_tol=1e-9))
        if not hits:
            continue
        others = [v for v in numbers if not math.isclose(v, sentinel, abs_tol=1e-9)]
        if not others:
            continue
        low, high = min(others), max(others)
        if (sentinel < 0 <= low) or (sentinel > 0 and sentinel > 10 * max(abs(high), abs(low), 1)):
            found.append(sentinel)
    return found


# --- periods ---------------------------------------------------------------------------------------


def _year_ok(year: int) -> bool:
    return 1000 <= year <= 2200


def parse_period(cell: Cell, fmt: str, *, utc_offset_seconds: int | None = None) -> datetime | None:
    """Read the start of a period as a UTC datetime, in the given format (see PERIOD_FORMATS)."""
    if type(cell) is str and (fmt == "iso" or fmt == "native") and _UTC_STAMP.fullmatch(cell):
        # What _parse_iso makes of the commonest stamp, without its general pattern.
        try:
            return datetime.fromisoformat(cell).astimezone(UTC)
        except ValueError:
            return None
    if type(cell) is datetime and cell.tzinfo is None and not utc_offset_seconds:
        return cell.replace(tzinfo=UTC)  # a workbook's own date cell, as read below in any format
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    moment = _parse_period(cell, fmt)
    if moment is None:
        return None
    if moment.tzinfo is None:
        if utc_offset_seconds:
            moment = moment.replace(tzinfo=timezone(timedelta(seconds=utc_offset_seconds)))
        else:
            return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_period(cell: Cell, fmt: str) -> datetime | None:
    if isinstance(cell, datetime):
        return cell
    if isinstance(cell, date):
        return datetime(cell.year, cell.month, cell.day)
    if isinstance(cell, time):
        return None
    text = clean_header(cell)
    try:
        if fmt in ("native", "iso"):
            return _parse_iso(text)
        if fmt == "year":
            # A provisional or footnoted year ("2022*", "2021 (p)", "2020 [note 3]") is still that year.
            flagged = _FLAGGED_YEAR.fullmatch(text)
            if flagged:
                text = flagged.group(1)
            year = int(float(text))
            return datetime(year, 1, 1) if _year_ok(year) and float(text).is_integer() else None
        if fmt == "year_month":
            match = re.fullmatch(r"(\d{4})[-/.]?(\d{1,2})", text)
            return datetime(int(match.group(1)), int(match.group(2)), 1) if match else None
        if fmt == "year_mmm":
            match = re.fullmatch(r"(\d{4})\s*M(\d{1,2})", text, re.IGNORECASE)
            return datetime(int(match.group(1)), int(match.group(2)), 1) if match else None
        if fmt == "year_quarter":
            match = re.fullmatch(
                r"(\d{4})\s*[-/ ]?\s*Q([1-4])|Q([1-4])\s*[-/ ]?\s*(\d{4})", text, re.IGNORECASE
            )
            if not match:
                return None
            year = int(match.group(1) or match.group(4))
            quarter = int(match.group(2) or match.group(3))
            return datetime(year, 3 * quarter - 2, 1)
        if fmt == "month_name_year":
            return _parse_month_name(text)
        if fmt in ("day_month_year", "month_day_year"):
            match = re.fullmatch(
                r"(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", text
            )
            if not match:
                return None
            first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
            day, month = (first, second) if fmt == "day_month_year" else (second, first)
            hour, minute, sec = (int(match.group(i) or 0) for i in (4, 5, 6))
            return datetime(year, month, day, hour, minute, sec)
        if fmt == "excel_serial":
            return _EXCEL_EPOCH + timedelta(days=float(text))
        if fmt == "epoch_s":
            return datetime.fromtimestamp(float(text), tz=UTC)
        if fmt == "epoch_ms":
            return datetime.fromtimestamp(float(text) / 1000.0, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    raise ToolkitError(f"unknown period format {fmt!r}; use one of {PERIOD_FORMATS}")


_ISO_STAMP = re.compile(
    r"(\d{4})[-/](\d{2})[-/](\d{2})(?:[ T](\d{2})(?::(\d{2}))?(?::(\d{2}))?(\.\d+)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


def _parse_iso(text: str) -> datetime | None:
    """ISO 8601 and its common relatives: no seconds, a space for `T`, `/` in the date, `+01`, ` UTC`."""
    match = _ISO_STAMP.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    stamp = f"{year}-{month}-{day}T{hour or '00'}:{minute or '00'}:{second or '00'}{(fraction or '')[:7]}"
    if zone and zone.upper() in ("Z", "UTC", "GMT"):
        stamp += "+00:00"
    elif zone:
        digits = zone.replace(":", "")
        stamp += f"{digits[:3]}:{digits[3:5] or '00'}"
    return datetime.fromisoformat(stamp)


def _parse_month_name(text: str) -> datetime | None:
    words = re.findall(r"[^\W\d_]+|\d+", text.casefold())
    year = next((int(w) for w in words if w.isdigit() and len(w) == 4), None)
    month = next((MONTHS[w.rstrip(".")] for w in words if w.rstrip(".") in MONTHS), None)
    if year is None or month is None or len(words) > 3:
        return None
    return datetime(year, month, 1)


def parse_month(cell: Cell) -> int | None:
    """A month number from a cell holding 1..12 or a month name (`Mar`, `März`, `mars`), else None."""
    if isinstance(cell, bool) or cell is None:
        return None
    if isinstance(cell, int | float):
        return int(cell) if float(cell).is_integer() and 1 <= cell <= 12 else None
    text = clean_header(cell).casefold().rstrip(".")
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    return MONTHS.get(text)


def parse_clock(cell: Cell) -> time | None:
    """A time of day from `HH:MM`, `HH:MM:SS` or a time cell, else None."""
    if isinstance(cell, time):
        return cell
    if not isinstance(cell, str):
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", cell.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        return None
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def _plausible_epoch(value: float, scale: float) -> bool:
    return 946_684_800 <= value / scale <= 4_102_444_800  # 2000-01-01 .. 2100-01-01


def detect_period_format(values: Sequence[Cell], *, name: str = "") -> str | None:
    """The period format under which (nearly) every non-empty value parses, or None."""
    present = [v for v in values if not is_missing(v)][:500]
    if not present:
        return None
    if all(isinstance(v, datetime | date) for v in present):
        return "native"
    hinted = bool(_TIME_HINT.search(name))
    candidates = [
        "iso",
        "year_mmm",
        "year_quarter",
        "month_name_year",
        "year_month",
        "day_month_year",
        "month_day_year",
        "year",
    ]
    numeric = all(
        isinstance(v, int | float) or (isinstance(v, str) and _NUMBER.match(v.strip())) for v in present
    )
    if numeric:
        floats = [float(v) for v in present]
        if all(f.is_integer() and _year_ok(int(f)) for f in floats):
            return "year"
        if hinted and all(_plausible_epoch(f, 1000) for f in floats):
            return "epoch_ms"
        if hinted and all(_plausible_epoch(f, 1) for f in floats):
            return "epoch_s"
        if hinted and all(20_000 <= f <= 80_000 for f in floats):
            return "excel_serial"
        return None
    for fmt in candidates:
        parsed = [_parse_period(v, fmt) for v in present]
        good = sum(p is not None for p in parsed)
        if good >= max(1, int(0.95 * len(present))):
            if fmt == "day_month_year" and _ambiguous_day_month(present):
                continue
            return fmt
    return None


def _ambiguous_day_month(values: Sequence[Cell]) -> bool:
    """True when no value proves the day comes first (so month/day/year is the better reading)."""
    for value in values:
        match = re.match(r"(\d{1,2})[./-](\d{1,2})", str(value))
        if match and int(match.group(1)) > 12:
            return False
    return any(re.match(r"\d{1,2}/", str(v)) for v in values)


# --- points from tables ----------------------------------------------------------------------------


def _point(moment: datetime, value: float, dimensions: dict[str, str]) -> PointDict:
    return {"timestamp": moment, "value": value, "dimensions": dimensions}


def _dimension_text(cell: Cell) -> str:
    return clean_header(cell)


def _table_rows(
    grid: Grid, header_row: int, skip_rows: int, title_dimension: str | None
) -> Iterator[tuple[str | None, Sequence[Cell]]]:
    """(title of its table or None, row) for every row under the header, repeated header rows left out."""
    if not title_dimension:
        repeats = _header_test(header_names(grid[header_row]))
        for row in grid[header_row + 1 + skip_rows :]:
            if not repeats(row):
                yield None, row
        return
    for number, (title, first, end) in enumerate(table_blocks(grid, header_row)):
        for row in grid[first + (skip_rows if number == 0 else 0) : end]:
            # A one-cell label row inside a table starts a section (`Conifers`, `Broadleaves`) named by it.
            section = row_title(row)
            if section is not None:
                title = section
                continue
            yield title, row


def long_points(
    grid: Grid,
    *,
    header_row: int,
    time_column: str,
    time_format: str,
    value_column: str,
    dimension_columns: Sequence[str] = (),
    skip_rows: int = 0,
    decimal: str = ".",
    missing: Sequence[float] = (),
    utc_offset_seconds: int | None = None,
    constant_dimensions: dict[str, str] | None = None,
    title_dimension: str | None = None,
    month_column: str | None = None,
    clock_column: str | None = None,
) -> PointColumns:
    """Points of a long table: one row per period, a time column, a value column, dimension columns.

    Tables stacked below each other with the same header are read too; with `title_dimension`, the
    title above each table (see `table_blocks`) becomes that dimension. With `month_column`, the time
    column holds years and that column the month (1-12 or a month name) of each row; with
    `clock_column`, the time column holds dates and that column the time of day (`HH:MM`).
    The points come as columns (see `PointColumns`); iterating them yields point dicts.
    """
    names = header_names(grid[header_row])
    time_at = column_index(names, time_column)
    value_at = column_index(names, value_column)
    month_at = column_index(names, month_column) if month_column else None
    clock_at = column_index(names, clock_column) if clock_column else None
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    constant = dict(constant_dimensions or {})
    if title_dimension or month_at is not None or clock_at is not None:
        return PointColumns.from_points(
            _long_row_points(
                grid,
                header_row=header_row,
                skip_rows=skip_rows,
                time_at=time_at,
                value_at=value_at,
                month_at=month_at,
                clock_at=clock_at,
                dims_at=dims_at,
                constant=constant,
                time_format=time_format,
                decimal=decimal,
                missing=missing,
                utc_offset_seconds=utc_offset_seconds,
                title_dimension=title_dimension,
            )
        )
    # The common table, column by column: the same points as the row by row reading above, in the same order.
    import numpy as np

    start = header_row + 1 + skip_rows
    positions = [time_at, value_at, *(at for _, at in dims_at)]
    columns = grid.columns(start, positions) if isinstance(grid, LineGrid) else None
    table: Grid | None = None  # the rows, when they had to be made (a LineGrid's columns need none)
    if columns is not None:
        cells = dict(zip(positions, columns, strict=True))
    else:
        width = max(time_at, value_at)
        table = [row for row in grid[start:] if len(row) > width]
        # Every row reaches the time and value columns; a dimension column may be missing ("").
        cells = {at: [row[at] if at < len(row) else "" for row in table] for at in positions[2:]}
        cells.update({at: list(map(itemgetter(at), table)) for at in (time_at, value_at)})
    stamps, stamp_ok = _period_column(cells[time_at], time_format, utc_offset_seconds=utc_offset_seconds)
    values, value_ok = _number_column(cells[value_at], decimal=decimal, missing=missing)
    repeats = _header_repeats(
        table if table is not None else grid, start if table is None else 0, names, cells
    )
    keep = np.flatnonzero(stamp_ok & value_ok & ~repeats)
    if not dims_at:
        return PointColumns(stamps[keep], values[keep], series=[constant])
    index: dict[tuple[str, ...], int] = {}
    series: list[dict[str, str]] = []
    codes = np.empty(len(keep), dtype=np.int32)
    dimension_cells = [cells[at] for _, at in dims_at]
    for position, row_at in enumerate(keep.tolist()):
        key = tuple(_dimension_text(column[row_at]) for column in dimension_cells)
        code = index.get(key)
        if code is None:
            code = index[key] = len(series)
            series.append({**constant, **dict(zip((name for name, _ in dims_at), key, strict=True))})
        codes[position] = code
    return PointColumns(
        stamps[keep], values[keep], series=series or [constant], codes=codes if series else None
    )


def _long_row_points(
    grid: Grid,
    *,
    header_row: int,
    skip_rows: int,
    time_at: int,
    value_at: int,
    month_at: int | None,
    clock_at: int | None,
    dims_at: Sequence[tuple[str, int]],
    constant: dict[str, str],
    time_format: str,
    decimal: str,
    missing: Sequence[float],
    utc_offset_seconds: int | None,
    title_dimension: str | None,
) -> Iterator[PointDict]:
    """`long_points` row by row, for stacked tables and times split over two columns."""
    width = max(time_at, value_at, month_at or 0, clock_at or 0)
    for title, row in _table_rows(grid, header_row, skip_rows, title_dimension):
        if len(row) <= width:
            continue
        stamp = row[time_at]
        if clock_at is not None:
            clock = parse_clock(row[clock_at])
            day = parse_period(stamp, time_format)
            if clock is None or day is None:
                continue
            stamp = datetime.combine(day.date(), clock)
        moment = parse_period(stamp, time_format, utc_offset_seconds=utc_offset_seconds)
        value = parse_number(row[value_at], decimal=decimal, missing=missing)
        if moment is None or value is None:
            continue
        if month_at is not None:
            month = parse_month(row[month_at])
            if month is None:
                continue
            moment = moment.replace(month=month)
        yield _point(moment, value, _row_dimensions(row, constant, dims_at, title_dimension, title))


def _header_repeats(grid: Grid, start: int, names: Sequence[str], cells: dict[int, list[Cell]]) -> np.ndarray:
    """Which rows from `start` on repeat the header (see `_table_rows`), checking each only when one might.

    `cells` holds columns of those rows already taken out, by position.
    """
    import numpy as np

    need = max(2, len(names) // 2)
    # A repeated header matches `need` of its columns, so it matches one of the first len - need + 1: when no
    # cell of those columns can clean to its column's name, no row repeats the header.
    for at in range(len(names) - need + 1):
        column = cells.get(at)
        if column is None:
            column = [row[at] for row in grid[start:] if len(row) > at]
        if _may_name(column, names[at]):
            rows = grid[start:]
            return np.fromiter(map(_header_test(names), rows), dtype=bool, count=len(rows))
    return np.zeros(len(cells[next(iter(cells))]), dtype=bool)


def _may_name(cells: list[Cell], name: str) -> bool:
    """Whether one of the cells might clean to `name`."""
    present = set(map(type, cells))
    # A number's or a date's text always holds a digit: it cannot clean to a name without one.
    kinds = present if any(char.isdigit() for char in name) else present - _DIGIT_TEXT_TYPES
    if not kinds <= {str}:
        return True
    texts = cells if present == {str} else [cell for cell in cells if type(cell) is str]
    return name.split(" ", 1)[0] in "\n".join(texts)


_ISO_SHAPES = {
    10: "0000-00-00",
    16: "0000-00-00T00:00",
    19: "0000-00-00T00:00:00",
    20: "0000-00-00T00:00:00Z",
}


def _period_column(
    cells: Sequence[Cell], fmt: str, *, utc_offset_seconds: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`parse_period` of every cell as UTC microseconds since 1970 (int64), and where it read one (bool)."""
    import numpy as np

    stamps = np.zeros(len(cells), dtype=np.int64)
    read = np.zeros(len(cells), dtype=bool)
    offset = (utc_offset_seconds or 0) * 1_000_000
    kinds = set(map(type, cells))
    if fmt in ("iso", "native") and kinds == {str}:
        _iso_texts(cells, stamps, read, offset)
    elif kinds <= {datetime, date} and cells:
        _native_moments(cells, stamps, read, offset)
    rest = np.flatnonzero(~read).tolist()
    if rest:
        moments = [parse_period(cells[at], fmt, utc_offset_seconds=utc_offset_seconds) for at in rest]
        found = [(at, moment) for at, moment in zip(rest, moments, strict=True) if moment is not None]
        if found:
            positions = [at for at, _ in found]
            stamps[positions] = [(moment - _EPOCH) // _MICROSECOND for _, moment in found]
            read[positions] = True
    return stamps, read


def _iso_texts(cells: Sequence[str], stamps: np.ndarray, read: np.ndarray, offset: int) -> None:
    """Read the ISO shapes of `_ISO_SHAPES` in bulk; other cells and impossible dates are left unread."""
    import numpy as np

    widths = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells))
    for width, shape in _ISO_SHAPES.items():
        rows = np.flatnonzero(widths == width)
        if not rows.size:
            continue
        texts = cells if rows.size == len(cells) else [cells[at] for at in rows.tolist()]
        try:
            raw = "".join(texts).encode("ascii")
        except UnicodeEncodeError:
            continue  # digits of other scripts: parse_period reads them one by one
        chars = np.frombuffer(raw, dtype=np.uint8).reshape(rows.size, width)
        numeric = [at for at, expected in enumerate(shape) if expected == "0"]
        digits = chars[:, numeric] - np.uint8(ord("0"))  # a byte below "0" wraps round to a large number
        matched = (digits <= 9).all(axis=1)
        for at, expected in enumerate(shape):
            if at == 10:
                matched &= (chars[:, at] == ord("T")) | (chars[:, at] == ord(" "))
            elif expected != "0":
                matched &= chars[:, at] == ord(expected)

        # The digits in order: YYYY MM DD, then hh mm and ss where the shape has them.
        year, month, day = _number(digits, 0, 4), _number(digits, 4, 2), _number(digits, 6, 2)
        hour = _number(digits, 8, 2) if width > 10 else 0
        minute = _number(digits, 10, 2) if width > 10 else 0
        second = _number(digits, 12, 2) if width > 16 else 0
        # Years 2..9998 only: nearer the ends an offset can leave the datetime range (parse_period says how).
        matched &= (year >= 2) & (year <= 9998) & (month >= 1) & (month <= 12) & (day >= 1)
        matched &= (hour <= 23) & (minute <= 59) & (second <= 59)
        years = (np.where(matched, year, 1970) - 1970).astype("datetime64[Y]")
        month_start = years + (np.where(matched, month, 1) - 1).astype("timedelta64[M]")
        first_day = month_start.astype("datetime64[D]").astype(np.int64)
        next_first_day = (month_start + np.timedelta64(1, "M")).astype("datetime64[D]").astype(np.int64)
        month_days = next_first_day - first_day
        matched &= day <= month_days
        micros = ((first_day + day - 1) * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000
        if shape[-1] != "Z":
            micros -= offset  # a local time: the `Z` shape is UTC whatever the offset
        stamps[rows[matched]] = micros[matched]
        read[rows[matched]] = True


def _number(digits: np.ndarray, first: int, count: int) -> np.ndarray:
    """The number that `count` digit columns from `first` on spell, row by row."""
    import numpy as np

    total = digits[:, first].astype(np.int64)
    for at in range(first + 1, first + count):
        total = total * 10 + digits[:, at]
    return total


def _native_moments(cells: Sequence[Cell], stamps: np.ndarray, read: np.ndarray, offset: int) -> None:
    """Read workbook date and naive datetime cells in bulk (with an aware datetime among them, none)."""
    import numpy as np

    if any(cell.tzinfo is not None for cell in cells if type(cell) is datetime):
        return
    epoch, day, microsecond = _NAIVE_EPOCH, _EPOCH_DAY, _MICROSECOND
    micros = np.array(
        [
            (cell - epoch) // microsecond
            if type(cell) is datetime
            else (cell.toordinal() - day) * 86_400_000_000
            for cell in cells
        ],
        dtype=np.int64,
    )
    micros -= offset
    inside = (micros >= _MIN_MICROS) & (micros <= _MAX_MICROS)
    stamps[inside] = micros[inside]
    read[inside] = True


# Naive datetimes and dates are read as UTC: microseconds since this moment, or days since its day.
_NAIVE_EPOCH = datetime(1970, 1, 1)
_EPOCH_DAY = _NAIVE_EPOCH.toordinal()


_MIN_MICROS = (datetime(2, 1, 1, tzinfo=UTC) - _EPOCH) // _MICROSECOND
_MAX_MICROS = (datetime(9998, 12, 31, tzinfo=UTC) - _EPOCH) // _MICROSECOND


def _number_column(
    cells: Sequence[Cell], *, decimal: str = ".", missing: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """`parse_number` of every cell as float64, and where it read one (bool)."""
    import numpy as np

    kinds = set(map(type, cells))
    values = None
    # float() reads the plain numbers parse_number reads, and the same way, except `1_000`; what it reads
    # besides (nan, inf, 1e999) is not finite and dropped below, as parse_number drops it.
    plain = kinds == {str} and decimal == "." and "_" not in "".join(cells)
    if cells and (kinds <= {int, float} or plain):
        try:
            values = np.array(cells, dtype=np.float64)
        except (ValueError, OverflowError):
            values = None
    if values is None:
        numbers = [parse_number(cell, decimal=decimal) for cell in cells]
        values = np.array([math.nan if number is None else number for number in numbers], dtype=np.float64)
    read = np.isfinite(values)
    for sentinel in missing:
        read &= ~(np.abs(values - sentinel) <= 1e-9)
    return values, read


def _row_dimensions(
    row: Sequence[Cell],
    constant: dict[str, str],
    dims_at: Sequence[tuple[str, int]],
    title_dimension: str | None,
    title: str | None,
) -> dict[str, str]:
    dims = dict(constant)
    if title_dimension and title is not None:
        dims[title_dimension] = title
    dims.update({name: _dimension_text(row[i]) if i < len(row) else "" for name, i in dims_at})
    return dims


def snapshot_points(
    grid: Grid,
    *,
    period: datetime,
    header_row: int,
    value_column: str,
    dimension_columns: Sequence[str] = (),
    skip_rows: int = 0,
    decimal: str = ".",
    missing: Sequence[float] = (),
    constant_dimensions: dict[str, str] | None = None,
    title_dimension: str | None = None,
) -> Iterator[PointDict]:
    """Points of a table that holds one period (a sheet per year): every row is a series at `period`."""
    names = header_names(grid[header_row])
    value_at = column_index(names, value_column)
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    constant = dict(constant_dimensions or {})
    moment = period if period.tzinfo else period.replace(tzinfo=UTC)
    for title, row in _table_rows(grid, header_row, skip_rows, title_dimension):
        if len(row) <= value_at:
            continue
        value = parse_number(row[value_at], decimal=decimal, missing=missing)
        if value is None:
            continue
        yield _point(moment, value, _row_dimensions(row, constant, dims_at, title_dimension, title))


def wide_points(
    grid: Grid,
    *,
    header_row: int,
    period_format: str,
    dimension_columns: Sequence[str] = (),
    split_column: str | None = None,
    skip_rows: int = 0,
    decimal: str = ".",
    missing: Sequence[float] = (),
    constant_dimensions: dict[str, str] | None = None,
    title_dimension: str | None = None,
) -> Iterator[PointDict]:
    """Points of a wide table: periods are column headers, each row is a series named by its dimensions.

    `split_column` names a column whose header and cells pack several dimensions joined by commas, as
    in Eurostat's `unit,geo\\time` column. `title_dimension` works as in `long_points`.
    """
    names = header_names(grid[header_row])
    periods = [(i, parse_period(name, period_format)) for i, name in enumerate(names)]
    periods = [(i, moment) for i, moment in periods if moment is not None]
    if not periods:
        raise ToolkitError(f"no column header reads as a period in format {period_format!r}")
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    split_at = column_index(names, split_column) if split_column else None
    split_names = split_dimension_names(split_column) if split_column else []
    constant = dict(constant_dimensions or {})
    for title, row in _table_rows(grid, header_row, skip_rows, title_dimension):
        if not any(not is_missing(cell) for cell in row):
            continue
        dims = _row_dimensions(row, constant, dims_at, title_dimension, title)
        if split_at is not None and split_at < len(row):
            parts = [part.strip() for part in str(row[split_at]).split(",")]
            if len(parts) == len(split_names):
                dims.update(zip(split_names, parts, strict=True))
            else:
                dims[split_names[0] if split_names else "series"] = str(row[split_at]).strip()
        for index, moment in periods:
            if index >= len(row):
                continue
            value = parse_number(row[index], decimal=decimal, missing=missing)
            if value is not None and moment is not None:
                yield _point(moment, value, dict(dims))


def month_of_header(name: Cell) -> int | None:
    """The month a column header names (`Jan`, `February`, `Mär`, `juil.`), else None (numbers are not)."""
    text = clean_header(name).casefold().rstrip(".")
    return MONTHS.get(text)


def month_columns_points(
    grid: Grid,
    *,
    header_row: int,
    year_column: str,
    dimension_columns: Sequence[str] = (),
    skip_rows: int = 0,
    decimal: str = ".",
    missing: Sequence[float] = (),
    constant_dimensions: dict[str, str] | None = None,
    title_dimension: str | None = None,
) -> Iterator[PointDict]:
    """Points of a table with a row per year and a column per month (`Year, Jan, Feb, …, Dec, Annual`).

    Columns that are not months (an annual total or mean) are left out.
    """
    names = header_names(grid[header_row])
    year_at = column_index(names, year_column)
    months = [(i, month) for i, name in enumerate(names) if i != year_at and (month := month_of_header(name))]
    if not months:
        raise ToolkitError(f"no column header names a month; columns are {list(names)[:30]}")
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    constant = dict(constant_dimensions or {})
    for title, row in _table_rows(grid, header_row, skip_rows, title_dimension):
        if len(row) <= year_at:
            continue
        year = parse_period(row[year_at], "year")
        if year is None:
            continue
        dims = _row_dimensions(row, constant, dims_at, title_dimension, title)
        for index, month in months:
            value = parse_number(row[index], decimal=decimal, missing=missing) if index < len(row) else None
            if value is not None:
                yield _point(year.replace(month=month), value, dict(dims))


def month_rows_points(
    grid: Grid,
    *,
    header_row: int,
    month_column: str,
    dimension_columns: Sequence[str] = (),
    skip_rows: int = 0,
    decimal: str = ".",
    missing: Sequence[float] = (),
    constant_dimensions: dict[str, str] | None = None,
    title_dimension: str | None = None,
) -> Iterator[PointDict]:
    """Points of a matrix with a row per month and a column per year (`Month, 2019, 2020, …`).

    Rows whose label is not a month (an annual total or mean) and columns whose header is not a year
    are left out: they are aggregates, not periods.
    """
    names = header_names(grid[header_row])
    month_at = column_index(names, month_column)
    years = [
        (i, moment)
        for i, name in enumerate(names)
        if i != month_at and (moment := parse_period(name, "year"))
    ]
    if not years:
        raise ToolkitError(f"no column header reads as a year; columns are {list(names)[:30]}")
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    constant = dict(constant_dimensions or {})
    for title, row in _table_rows(grid, header_row, skip_rows, title_dimension):
        month = parse_month(row[month_at]) if month_at < len(row) else None
        if month is None:
            continue
        dims = _row_dimensions(row, constant, dims_at, title_dimension, title)
        for index, year in years:
            value = parse_number(row[index], decimal=decimal, missing=missing) if index < len(row) else None
            if value is not None:
                yield _point(year.replace(month=month), value, dict(dims))


_FOOTNOTE_MARK = re.compile(r"\s+\d{1,2}(?:,\d{1,2})*$")


def label_levels(grid: Grid, *, header_row: int, column: str, footnotes: bool = False) -> Grid:
    """The grid with a label column's indentation read as a hierarchy: a column per level above a row.

    National statistics often nest row labels by indenting them (`Motor Gasoline` > `  Unleaded Regular`
    > `    Conventional`), so one label occurs under several parents. Each row gets its ancestors in
    columns `<column> level 1`, `<column> level 2`…; one-cell rows count as parents too. With
    `footnotes`, a trailing footnote number (`Conventional 3`, `Total 9,10`) is cut from every label.
    """
    names = header_names(grid[header_row])
    at = column_index(names, column)
    body = grid[header_row + 1 :]
    indents = sorted({_indent(row[at]) for row in body if at < len(row) and clean_header(row[at])})
    depth = max(0, len(indents) - 1)
    levels = [f"{names[at]} level {k}" for k in range(1, depth + 1)]
    result: Grid = [list(row) for row in grid[:header_row]]
    result.append([*grid[header_row], *levels])
    stack: dict[int, str] = {}
    for row in body:
        cell = row[at] if at < len(row) else None
        label = clean_header(cell)
        if footnotes:
            label = _FOOTNOTE_MARK.sub("", label)
        if label:
            level = indents.index(_indent(cell))
            stack = {k: v for k, v in stack.items() if k < level}
            stack[level] = label
            ancestors = [stack.get(k, "") for k in range(level)]
        else:
            ancestors = [stack[k] for k in sorted(stack)]
        padded = [*ancestors, *[""] * (depth - len(ancestors))][:depth]
        cells = [*row[: len(names)], *[None] * (len(names) - len(row))]
        if label:
            cells[at] = label
        result.append([*cells, *padded])
    return result


def _indent(cell: Cell) -> int:
    text = str(cell) if cell is not None else ""
    return len(text) - len(text.lstrip())


def month_starts(grid: Grid, *, header_row: int, column: str) -> Grid:
    """The grid with the dates of one column moved to the first of their month.

    Monthly values are often dated on a fixed day (the 15th, the month's end); a period starts on its
    first day. Cells that are not dates are left as they are.
    """
    at = column_index(header_names(grid[header_row]), column)
    moved: Grid = list(grid[: header_row + 1])
    for row in grid[header_row + 1 :]:
        cell = row[at] if at < len(row) else None
        if isinstance(cell, datetime | date) and not isinstance(cell, str):
            row = [*row[:at], datetime(cell.year, cell.month, 1), *row[at + 1 :]]
        moved.append(row)
    return moved


def split_dimension_names(header: str) -> list[str]:
    """Dimension names packed in a header such as `airpol,src_crf,unit,geo\\time`."""
    head = re.split(r"[\\/]", header, maxsplit=1)[0]
    return [part.strip() for part in head.split(",") if part.strip()]


# --- points from JSON ------------------------------------------------------------------------------


def get_path(document: Any, path: str) -> Any:
    """Follow a dotted path (`response.data`, `1`, `hourly.time`) through dicts and lists."""
    current = document
    if path in ("", "$"):
        return current
    for part in path.split("."):
        if isinstance(current, list) and part.lstrip("-").isdigit():
            current = current[int(part)]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise ToolkitError(f"path {path!r} not found at {part!r}")
    return current


def flatten_record(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: {"price": {"value": 1}} becomes {"price.value": 1}."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_record(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def row_record(row: Sequence[Any]) -> dict[str, Any]:
    """A positional row (`[1704067200000, 42.5]`) as a record keyed by position: `{"0": …, "1": …}`."""
    return {str(index): value for index, value in enumerate(row)}


def mapping_records(mapping: dict[str, Any], *, key_name: str = "period") -> list[dict[str, Any]]:
    """Records of an object keyed by period.

    `{"2024-01-02": {"close": 1.5}}` becomes `[{"period": "2024-01-02", "close": 1.5}]` and
    `{"2019": 4.2}` becomes `[{"period": "2019", "value": 4.2}]`.
    """
    records: list[dict[str, Any]] = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            records.append({key_name: key, **value})
        else:
            records.append({key_name: key, "value": value})
    return records


def record_points(
    records: Iterable[dict[str, Any]],
    *,
    time_key: str,
    time_format: str,
    value_key: str,
    dimension_keys: Sequence[str] = (),
    decimal: str = ".",
    missing: Sequence[float] = (),
    utc_offset_seconds: int | None = None,
    constant_dimensions: dict[str, str] | None = None,
) -> Iterator[PointDict]:
    """Points of a list of JSON records; keys may be dotted paths into nested objects.

    Positional rows (`[time, value]` lists) are read as records keyed `"0"`, `"1"`, ….
    """
    constant = dict(constant_dimensions or {})
    for record in records:
        if isinstance(record, list | tuple):
            flat = row_record(record)
        elif isinstance(record, dict):
            flat = flatten_record(record)
        else:
            continue
        moment = parse_period(flat.get(time_key), time_format, utc_offset_seconds=utc_offset_seconds)
        value = parse_number(flat.get(value_key), decimal=decimal, missing=missing)
        if moment is None or value is None:
            continue
        dims = {**constant, **{key: _dimension_text(flat.get(key)) for key in dimension_keys}}
        yield _point(moment, value, dims)


def column_points(
    times: Sequence[Cell],
    values: Sequence[Cell],
    *,
    time_format: str,
    missing: Sequence[float] = (),
    utc_offset_seconds: int | None = None,
    dimensions: dict[str, str] | None = None,
) -> Iterator[PointDict]:
    """Points of parallel arrays: `times[i]` belongs to `values[i]`."""
    if len(times) != len(values):
        raise ToolkitError(f"time array has {len(times)} entries but value array has {len(values)}")
    for stamp, raw in zip(times, values, strict=True):
        moment = parse_period(stamp, time_format, utc_offset_seconds=utc_offset_seconds)
        value = parse_number(raw, missing=missing)
        if moment is not None and value is not None:
            yield _point(moment, value, dict(dimensions or {}))


def jsonstat_points(document: Any, *, time_dimension: str | None = None) -> Iterator[PointDict]:
    """Points of a JSON-stat dataset (version 2.0, or 1.x `{"name": {"dimension": …}}` bundles)."""
    for name, dataset in jsonstat_datasets(document):
        ids: list[str] = list(dataset.get("id") or dataset["dimension"].get("id") or [])
        sizes: list[int] = list(dataset.get("size") or dataset["dimension"].get("size") or [])
        dimensions = dataset["dimension"]
        codes: list[list[str]] = []
        labels: list[dict[str, str]] = []
        for dim_id in ids:
            category = dimensions[dim_id].get("category", {})
            index = category.get("index")
            if isinstance(index, dict):
                ordered = sorted(index, key=index.__getitem__)
            elif isinstance(index, list):
                ordered = list(index)
            else:
                ordered = list(category.get("label", {}))
            codes.append(ordered)
            labels.append(category.get("label", {}))
        time_id = time_dimension or _jsonstat_time_dimension(dataset, ids)
        time_pos = ids.index(time_id)
        time_fmt = detect_period_format(codes[time_pos], name=time_id) or "iso"
        raw_values = dataset.get("value")
        if isinstance(raw_values, dict):
            cells = {int(k): v for k, v in raw_values.items()}
        else:
            cells = dict(enumerate(raw_values or []))
        for flat_index, raw in sorted(cells.items()):
            value = parse_number(raw)
            if value is None:
                continue
            position = _unravel(flat_index, sizes)
            moment = parse_period(codes[time_pos][position[time_pos]], time_fmt)
            if moment is None:
                continue
            dims = {"dataset": name} if name else {}
            for axis, dim_id in enumerate(ids):
                if axis == time_pos or (sizes[axis] == 1 and len(ids) > 2):
                    continue
                code = codes[axis][position[axis]]
                dims[dim_id] = code
                label = labels[axis].get(code)
                if label and label != code:
                    dims[f"{dim_id}_label"] = label
            yield _point(moment, value, dims)


def is_jsonstat(document: Any) -> bool:
    """True for a JSON-stat dataset or bundle."""
    return bool(list(jsonstat_datasets(document)))


def jsonstat_datasets(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, dataset) pairs of a JSON-stat document."""
    if not isinstance(document, dict):
        return
    if document.get("class") == "dataset" and "dimension" in document and "value" in document:
        yield "", document
        return
    if document.get("class") == "collection":
        for item in (document.get("link") or {}).get("item", []):
            if isinstance(item, dict) and item.get("class") == "dataset":
                yield str(item.get("label", "")), item
        return
    for key, value in document.items():
        if isinstance(value, dict) and "dimension" in value and "value" in value:
            yield key, value


def _jsonstat_time_dimension(dataset: dict[str, Any], ids: Sequence[str]) -> str:
    role = dataset.get("role") or dataset["dimension"].get("role") or {}
    if role.get("time"):
        return str(role["time"][0])
    for dim_id in ids:
        if re.fullmatch(r"time|time_period|year|period|date|tid|jahr|zeit|month", dim_id, re.IGNORECASE):
            return dim_id
    raise ToolkitError(f"no time dimension among {list(ids)}")


def _unravel(flat_index: int, sizes: Sequence[int]) -> list[int]:
    position = [0] * len(sizes)
    for axis in range(len(sizes) - 1, -1, -1):
        position[axis] = flat_index % sizes[axis]
        flat_index //= sizes[axis]
    return position


# --- selecting series ----------------------------------------------------------------------------


def keep_where(points: Iterable[PointDict], where: dict[str, str]) -> PointColumns | list[PointDict]:
    """The points whose dimensions have the values in `where` (names and values compared case-blind).

    Raises HintError naming the dimensions, or a dimension's values, that the points do have.
    """
    if isinstance(points, PointColumns):
        series = points.series
    else:
        points = list(points)
        series = list({tuple(sorted(p["dimensions"].items())): p["dimensions"] for p in points}.values())
    kept = _series_where(series, where)
    if isinstance(points, PointColumns):
        import numpy as np

        if points.codes is None:
            return points
        keep = np.isin(points.codes, np.array(sorted(kept), dtype=np.int32))
        return PointColumns(
            points.timestamps[keep], points.values[keep], series=points.series, codes=points.codes[keep]
        )
    wanted = [series[index] for index in kept]
    return [p for p in points if p["dimensions"] in wanted]


def _series_where(series: Sequence[dict[str, str]], where: dict[str, str]) -> set[int]:
    """Indexes of the series whose dimensions match `where`; HintError when a name or value is unknown."""
    kept = set(range(len(series)))
    for name, wanted in where.items():
        names = sorted({key for dimensions in series for key in dimensions})
        key = next((n for n in names if _fold(n) == _fold(name)), None)
        if key is None:
            have = ", ".join(repr(n) for n in names) or "none (a single series)"
            raise HintError(f"where {name}=…: the points have no dimension {name!r}; dimensions: {have}")
        matching = {index for index in kept if _fold(series[index].get(key, "")) == _fold(wanted)}
        if not matching:
            values = sorted({series[index].get(key, "") for index in kept} - {""})
            more = f" and {len(values) - 20} more" if len(values) > 20 else ""
            shown = ", ".join(repr(v) for v in values[:20]) + more
            raise HintError(
                f"where {name}={wanted}: dimension {key!r} has no value {wanted!r}; values: {shown}"
            )
        kept = matching
    return kept


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()
