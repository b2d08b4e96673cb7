"""Trusted helpers that wrapper parse code may import: reading tables, numbers, periods and points.

Generated parse code stays short and readable because the fiddly parts (encodings, preambles, decimal
commas, flags, period formats) live here, tested once. Everything here is deterministic and touches
neither files nor the network: it works on the bytes the trusted fetcher handed over.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from operator import itemgetter
from typing import TYPE_CHECKING, Any, overload

from shared.common.errors import HintError
from shared.common.json_text import load_json
from shared.points.columns import (
    EPOCH,
    MICROSECOND,
    NAIVE,
    NAIVE_EPOCH,
    PointColumns,
    PointDict,
    gc_paused,
    micros_of,
)

if TYPE_CHECKING:
    import numpy as np

# fmt: off
# The contract with stored parse code: what it may import (the policy refuses other names), what the Gemini
# prompt lists and what docs/architecture.md describes. Removing or changing a name breaks stored wrappers.
__all__ = [
    "CLOCK_FORMATS", "MISSING_MARKERS", "MONTHS", "NAIVE", "PERIOD_FORMATS", "SENTINELS", "Cell", "Grid",
    "JsonStatCube", "LineGrid", "PointColumns", "PointDict", "ToolkitError", "align_header", "clean_header",
    "clock_offset", "column_index", "column_points", "column_range", "day_order", "decimal_votes",
    "decode_text", "detect_clock_format", "detect_decimal", "detect_period_format", "detect_sentinels",
    "financial_year_start", "find_row", "flatten_record", "get_path", "header_names", "header_records",
    "is_daily", "is_dotnet_date", "is_jsonstat", "is_missing", "is_preliminary", "join_header_rows",
    "jsonstat_cube",
    "jsonstat_datasets", "jsonstat_points", "keep_where", "label_levels", "long_points", "mapping_records",
    "month_columns_points", "month_of_header", "month_rows_points", "nested_blocks", "parse_clock",
    "parse_dotnet_date", "parse_duration", "parse_month", "parse_number", "parse_period", "read_csv_grid",
    "read_csv_table", "read_json", "read_workbook", "record_moment", "record_month", "record_points",
    "row_record", "row_title", "series_points", "snapshot_points", "split_dimension_names", "table_blocks",
    "title_date", "undecorated", "walk_records", "wide_points", "with_header",
]
# fmt: on


Cell = Any
Grid = list[list[Cell]]

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
_TIME_HINT = re.compile(
    r"year|jahr|ann[ée]e|a[ñn]o|anno|jaar|date|fecha|time|period|month|day|quarter|zeit|datum|mois|tid|"
    r"\brok\b|\bdata\b|\bdia\b|\bmes\b|\bmês\b|mese|giorno|maand|kwarta|quartal|trimest|miesi|dzie|okres|"
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
    # Spanish
    "ene": 1, "enero": 1, "febrero": 2, "marzo": 3, "abr": 4, "abril": 4, "mayo": 5, "junio": 6, "julio": 7,
    "ago": 8, "agosto": 8, "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "dic": 12,
    "diciembre": 12,
    # Italian
    "gen": 1, "gennaio": 1, "febbraio": 2, "aprile": 4, "mag": 5, "maggio": 5, "giu": 6, "giugno": 6,
    "lug": 7, "luglio": 7, "set": 9, "settembre": 9, "ott": 10, "ottobre": 10, "dicembre": 12,
    # Dutch
    "januari": 1, "februari": 2, "maart": 3, "mrt": 3, "mei": 5, "augustus": 8,
    # Portuguese
    "janeiro": 1, "fev": 2, "fevereiro": 2, "março": 3, "marco": 3, "maio": 5, "junho": 6, "julho": 7,
    "setembro": 9, "out": 10, "outubro": 10, "novembro": 11, "dezembro": 12,
    # Polish, in the nominative and in the genitive of dates (`5 stycznia 2020`)
    "sty": 1, "styczeń": 1, "stycznia": 1, "lut": 2, "luty": 2, "lutego": 2, "marzec": 3, "marca": 3,
    "kwi": 4, "kwiecień": 4, "kwietnia": 4, "maj": 5, "maja": 5, "cze": 6, "czerwiec": 6, "czerwca": 6,
    "lip": 7, "lipiec": 7, "lipca": 7, "sie": 8, "sierpień": 8, "sierpnia": 8, "wrz": 9, "wrzesień": 9,
    "września": 9, "paź": 10, "październik": 10, "października": 10, "lis": 11, "listopad": 11,
    "listopada": 11, "gru": 12, "grudzień": 12, "grudnia": 12,
}

PERIOD_FORMATS = (
    "native", "iso", "year", "year_month", "year_mmm", "year_quarter", "month_name_year", "day_month_year",
    "month_day_year", "financial_year", "year_range", "month_range", "excel_serial", "epoch_s", "epoch_ms",
)
# fmt: on


class ToolkitError(ValueError):
    """The data does not have the shape the parse code expected."""


# Wall clocks (naive dates) count days from this day.
_EPOCH_DAY = NAIVE_EPOCH.toordinal()


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

    def __init__(self, text: str, delimiter: str, *, raw: bytes | None = None) -> None:
        self.text = text
        self.delimiter = delimiter
        # The text as ASCII bytes, when it is ASCII: a byte offset is then a character offset (see `fields`).
        self.raw = raw
        # The text's lines end with `\n` alone; the end of the last line is not a row.
        self._count = text.count("\n") + (0 if not text or text.endswith("\n") else 1)
        # The lines are split when first needed: the header and a table's columns need only the first ones.
        self._lines: list[str] | None = None
        self._head = text.split("\n", _HEAD_LINES)[: min(_HEAD_LINES, self._count)]

    @property
    def lines(self) -> list[str]:
        """Every line, without its line end."""
        if self._lines is None:
            self._lines = self.text.split("\n")[: self._count]
        return self._lines

    def _lines_of(self, index: slice) -> list[str]:
        """The lines of a slice, split from the head of the text when they lie in it."""
        start, stop, step = index.start or 0, index.stop, index.step or 1
        if (
            self._lines is None
            and step == 1
            and start >= 0
            and stop is not None
            and 0 <= stop <= len(self._head)
        ):
            return self._head[start:stop]
        return self.lines[index]

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> list[str]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[str]]: ...

    def __getitem__(self, index: int | slice) -> list[str] | list[list[str]]:
        if isinstance(index, slice):
            return [self._split(line) for line in self._lines_of(index)]
        if 0 <= index < len(self._head):
            return self._split(self._head[index])
        return self._split(self.lines[index])

    def __iter__(self) -> Iterator[list[str]]:
        return map(self._split, self.lines)

    def _split(self, line: str) -> list[str]:
        return line.split(self.delimiter) if line else []  # csv reads a blank line as an empty row

    def _width(self, row: int) -> int:
        """How many cells row `row` has."""
        return self._lines_of(slice(row, row + 1))[0].count(self.delimiter) + 1

    def _offset(self, start: int) -> int:
        """Where line `start` begins in the text."""
        return sum(map(len, self._lines_of(slice(0, start)))) + start

    def longest_line(self) -> int:
        """The length of the longest line."""
        if self.raw is None:
            return max(map(len, self.lines), default=0)
        import numpy as np

        ends = np.flatnonzero(np.frombuffer(self.raw, dtype=np.uint8) == _LINE_END)
        bounds = np.concatenate(([-1], ends, [len(self.raw)]))
        return int((np.diff(bounds) - 1).max())

    def columns(self, start: int, positions: Sequence[int]) -> list[list[str]] | None:
        """The cells at `positions` of the rows from `start` on, or None unless all have the same width."""
        rows = len(self) - start
        delimiter = self.delimiter
        fields = self._width(start) if rows > 0 else 0
        # One field a row would not tell a blank line (no cells) from an empty cell.
        if fields < 2 or max(positions, default=0) >= fields:
            return None
        text = self.text[self._offset(start) :]
        text = text[:-1] if text.endswith("\n") else text  # the end of the last row
        # Each line end becomes a cell of its own: when every row has `fields` cells, those cells are exactly
        # every (fields + 1)th, and the rows' cells lie in between.
        cells = text.replace("\n", f"{delimiter}\n{delimiter}").split(delimiter)
        if len(cells) != rows * (fields + 1) - 1 or cells[fields :: fields + 1].count("\n") != rows - 1:
            return None
        return [cells[at :: fields + 1] for at in positions]

    def fields(self, start: int) -> _Fields | None:
        """Where each cell of the rows from `start` on lies in the ASCII bytes, or None unless all have the
        same width of two cells or more (or the text is not ASCII)."""
        import numpy as np

        rows = len(self) - start
        if self.raw is None or rows <= 0 or len(self.delimiter) != 1:
            return None
        width = self._width(start)
        if width < 2:
            return None
        offset = self._offset(start)
        data = np.frombuffer(self.raw, dtype=np.uint8)[offset:]
        found = np.flatnonzero((data == ord(self.delimiter)) | (data == _LINE_END))
        if not data.size or data[-1] != _LINE_END:
            found = np.append(found, data.size)  # the end of the last row
        if found.size != rows * width:
            return None
        ends = found.reshape(rows, width)
        # Every row's last cell ends at a line end and no other cell does: no row is wider or narrower.
        line_end = data[np.minimum(ends, data.size - 1)] == _LINE_END
        line_end[-1, -1] = True
        if not line_end[:, -1].all() or line_end[:, :-1].any():
            return None
        starts = np.empty_like(ends)
        starts.flat[0] = 0
        starts.flat[1:] = ends.flat[:-1] + 1
        return _Fields(self.raw, offset, starts, ends)


_LINE_END = ord("\n")
# Lines split apart at once: enough for finding a header row (find_row looks at 500).
_HEAD_LINES = 1024


class _Fields:
    """The cells of a table of ASCII text as byte ranges: `starts` and `ends` by row and column."""

    def __init__(self, raw: bytes, offset: int, starts: np.ndarray, ends: np.ndarray) -> None:
        import numpy as np

        self.raw, self.offset, self.starts, self.ends = raw, offset, starts, ends
        self.data = np.frombuffer(raw, dtype=np.uint8)[offset:]

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def width(self) -> int:
        """Cells a row."""
        return int(self.starts.shape[1])

    def holds(self, word: str) -> bool:
        """Whether `word` may occur in a cell (it is in their bytes, or is not ASCII and so cannot be)."""
        return word.isascii() and self.raw.find(word.encode(), self.offset) >= 0

    def texts(self, column: int, rows: np.ndarray | None = None) -> list[str]:
        """The cells of a column (of the given rows only) as text."""
        import numpy as np

        starts, ends = self.starts[:, column], self.ends[:, column]
        if rows is not None:
            starts, ends = starts[rows], ends[rows]
        if not starts.size:
            return []
        # One gather of every cell and its separator, the separators made line ends, one split.
        lengths = ends - starts + 1
        first = np.cumsum(lengths) - lengths
        at = np.repeat(starts - first, lengths) + np.arange(int(lengths.sum()))
        # The last cell's separator may be the end of the text: any byte will do, it becomes a line end.
        picked = self.data[np.minimum(at, self.data.size - 1)]
        picked[first + lengths - 1] = _LINE_END
        return picked.tobytes().decode("ascii").split("\n")[:-1]

    def chars(self, column: int, rows: np.ndarray, width: int) -> np.ndarray:
        """The bytes of a column's cells at `rows`, all `width` long, as a rows × width array."""
        import numpy as np

        starts = self.starts[rows, column]
        # Byte by byte: an index array of rows × width would be eight times the bytes it picks.
        picked = np.empty((width, len(starts)), dtype=np.uint8)
        for at in range(width):
            picked[at] = self.data[starts + at]
        return picked.T


def read_csv_table(payload: bytes, *, encoding: str = "utf-8", delimiter: str = ",") -> Grid | LineGrid:
    """`read_csv_grid`, quicker on big files: text without quotes comes as a `LineGrid` of the same rows."""
    text = decode_text(payload, encoding)
    # csv reads such text line by line, splitting at each delimiter: `\r\n` ends a line like `\n`.
    plain = not any(char in text for char in ('"', "\x00")) and (
        "\r" not in text or text.count("\r") == text.count("\r\n")
    )
    if not plain or delimiter in ('"', "\r", "\n"):
        return _csv_rows(text, delimiter)
    # Bytes and text agree only when the text is ASCII and the encoding spells it in ASCII.
    raw = payload if "\r" not in text and text.isascii() and text.encode("ascii") == payload else None
    grid = LineGrid(text.replace("\r\n", "\n") if "\r" in text else text, delimiter, raw=raw)
    if len(text) > csv.field_size_limit() and grid.longest_line() > csv.field_size_limit():
        return _csv_rows(text, delimiter)  # csv refuses such a field: say so the same way
    return grid


def _csv_rows(text: str, delimiter: str) -> Grid:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    with gc_paused():
        return list(reader)


def read_workbook(payload: bytes, *, sheets: Sequence[str] | None = None) -> dict[str, Grid]:
    """Read the named sheets (all when None) of an XLSX/XLS/ODS workbook into rows of Python values."""
    from python_calamine import CalamineWorkbook

    book = None
    primed = _take_primed(payload)
    if primed is not None:
        sheet_names, grids = primed.names, primed.grids
    else:
        book = CalamineWorkbook.from_filelike(io.BytesIO(payload))
        sheet_names, grids = book.sheet_names, {}
    names = list(sheets) if sheets is not None else list(sheet_names)
    missing = [name for name in names if name not in sheet_names]
    if missing:
        raise ToolkitError(f"sheet(s) not in workbook: {missing}; it has {sheet_names}")
    read: dict[str, Grid] = {}
    with gc_paused():
        for name in names:
            grid = grids.pop(name, None)
            if grid is None:
                book = book or CalamineWorkbook.from_filelike(io.BytesIO(payload))
                grid = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            read[name] = grid
    return read


@dataclass(frozen=True)
class _PrimedBook:
    """Sheets of one workbook payload read ahead (see `_prime_workbook`): its sheet names and some grids."""

    payload: bytes
    names: list[str]
    grids: dict[str, Grid]


# At most one workbook read ahead, handed to the first read_workbook of that very payload object.
_PRIMED: list[_PrimedBook] = []


def _take_primed(payload: bytes) -> _PrimedBook | None:
    if _PRIMED and _PRIMED[0].payload is payload:
        return _PRIMED.pop()
    return None


def _prime_workbook(payload: bytes, sheets: Sequence[str]) -> None:
    """Read sheets of a workbook ahead of the parse code, as its read_workbook of `payload` would read them.

    The sandbox child calls it while the parse code is still being written. When a sheet cannot be read,
    nothing is kept: the parse code's own read meets the same fault.
    """
    from python_calamine import CalamineWorkbook

    _PRIMED.clear()
    grids: dict[str, Grid] = {}
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(payload))
        with gc_paused():
            for name in dict.fromkeys(sheets):
                if name in book.sheet_names:
                    grids[name] = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception:  # calamine's own error types, or memory: left to the parse code's read to report
        return
    _PRIMED.append(_PrimedBook(payload, list(book.sheet_names), grids))


def read_json(payload: bytes, *, encoding: str = "utf-8") -> Any:
    """Parse JSON bytes; a document nested deeper than the service reads is a ValueError (JsonDepthError)."""
    return load_json(decode_text(payload, encoding))


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


def align_header(grid: Grid, header_row: int, *, sample: int = 50) -> Grid:
    """The grid with the header's labels moved onto the columns its data fills, when the two stand apart.

    Reports saved as text pad header and data cells with different runs of empty cells. When the header
    names as many columns as the rows below it fill, some named column is empty in every one of those
    rows and some unnamed one is filled in most, the labels are laid in order over the filled columns.
    Any other grid is returned as it is.
    """
    header: list[Cell] = list(grid[header_row])
    named = [at for at, cell in enumerate(header) if clean_header(cell)]
    rows: list[Sequence[Cell]] = []
    for row in grid[header_row + 1 : header_row + 1 + sample]:
        if _blank(row):
            break  # a blank row ends the table
        rows.append(row)
    if len(rows) < 2:
        return grid
    counts = [0] * max(len(line) for line in rows)
    for line in rows:
        for at, cell in enumerate(line):
            counts[at] += not is_missing(cell) and bool(clean_header(cell))
    filled = [at for at, count in enumerate(counts) if 2 * count >= len(rows)]
    empty_named = any(at >= len(counts) or counts[at] == 0 for at in named)
    unnamed_filled = any(at not in named for at in filled)
    if len(filled) != len(named) or not (empty_named and unnamed_filled):
        return grid
    labels: list[Cell] = [""] * max(len(header), filled[-1] + 1)
    for at, label_at in zip(filled, named, strict=True):
        labels[at] = header[label_at]
    aligned = list(grid)
    aligned[header_row] = labels
    return aligned


def title_date(grid: Grid, header_row: int, *, time_format: str) -> str:
    """The date (ISO, `YYYY-MM-DD`) written in a cell above the header row, read in `time_format`.

    A daily report whose rows hold only the hour names its day in its title; the first cell above the
    header that reads as a date in that format is the day.
    """
    for row in grid[:header_row]:
        for cell in row:
            if is_missing(cell) or (isinstance(cell, str) and not _DATE_CELL.fullmatch(cell.strip())):
                continue
            moment = parse_period(cell, time_format)
            if moment is not None:
                return moment.date().isoformat()
    raise ToolkitError(f"no cell above row {header_row} holds a date in the format {time_format!r}")


_DATE_CELL = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def row_title(row: Sequence[Cell]) -> str | None:
    """The text of a row whose only filled cell holds a label (a title or a footnote), else None."""
    title = None
    for cell in row:
        if is_missing(cell):
            continue
        if title is not None:
            return None  # a second filled cell: most rows of a table stop here
        title = clean_header(cell)
    return title if title is not None and not _NUMBER.match(title) else None


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
    starts = _header_starts(grid, header_row)
    blocks = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(grid)
        blocks.append((_title_above(grid, start) or f"table {number + 1}", start + 1, end))
    return blocks


def _header_starts(grid: Grid, header_row: int) -> list[int]:
    """The header row and every row below that repeats it: where each stacked table starts."""
    repeats = _header_test(header_names(grid[header_row]))
    return [header_row] + [i for i in range(header_row + 1, len(grid)) if repeats(grid[i])]


def _blank(row: Sequence[Cell]) -> bool:
    """True for a row with no text in any cell."""
    return not any(not is_missing(cell) and clean_header(cell) for cell in row)


def nested_blocks(grid: Grid, header_row: int) -> list[tuple[dict[str, str], int, int]]:
    """(dimensions, first row, end row) of each table that repeats the header row, top to bottom.

    Stacked tables may be titled on several levels (a group title over the first of its tables, a table
    title over each): the one-cell rows above a table's header are its title path, and a table with fewer
    title lines keeps the outer levels of the table before it. The levels that differ between tables become
    the dimensions `title 1`, `title 2`, …, and the header's first cell, when it differs, the dimension
    `block`.
    """
    starts = _header_starts(grid, header_row)
    paths: list[list[str]] = []
    corners: list[str] = []
    path: list[str] = []
    for start in starts:
        lines: list[str] = []
        for above in range(start - 1, -1, -1):
            row = grid[above]
            if _blank(row):
                continue
            text = row_title(row)
            if text is None:
                break
            lines.insert(0, text)
        path = [*path[: max(0, len(path) - len(lines))], *lines] if lines else path
        paths.append(path)
        corners.append(clean_header(grid[start][0]) if len(grid[start]) else "")
    depth = max(len(p) for p in paths)
    padded = [[""] * (depth - len(p)) + p for p in paths]
    varying = [level for level in range(depth) if len({p[level] for p in padded}) > 1]
    blocks = []
    for number, start in enumerate(starts):
        dims = {f"title {k}": padded[number][level] for k, level in enumerate(varying, 1)}
        if len(set(corners)) > 1:
            dims["block"] = corners[number]
        end = starts[number + 1] if number + 1 < len(starts) else len(grid)
        blocks.append((dims, start + 1, end))
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
    """Read the start of a period in the given format (see PERIOD_FORMATS), keeping what it says of its clock.

    A stamp that states its offset (`Z`, `+02:00`, an epoch) comes back aware, in that offset; a stamp
    without one is a wall clock and comes back naive, never labelled UTC (`utc_offset_seconds` says which
    offset such wall clocks have, when the source tells). `financial_year@M` reads financial years that
    start in month M (see `_financial_year`).
    """
    if type(cell) is str and (fmt == "iso" or fmt == "native") and _UTC_STAMP.fullmatch(cell):
        # What _parse_iso makes of the commonest stamp, without its general pattern.
        try:
            return datetime.fromisoformat(cell).astimezone(UTC)
        except ValueError:
            return None
    if type(cell) is datetime and cell.tzinfo is None and not utc_offset_seconds:
        return cell  # a workbook's own date cell, as read below in any format
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    moment = _parse_period(cell, fmt)
    if moment is None:
        return None
    if moment.tzinfo is None:
        if utc_offset_seconds:
            return moment.replace(tzinfo=timezone(timedelta(seconds=utc_offset_seconds)))
        return moment
    return moment.astimezone(UTC) if moment.utcoffset() == _ZERO else moment


_ZERO = timedelta(0)
# What may follow a period label without changing the period: notes, flags and a few words.
_BRACKETED = re.compile(r"\s*(?:\[[^\[\]]{0,40}\]|\([^()]{0,24}\))\s*$")
_MARKS = re.compile(r"\s*[*†‡§#¹²³⁴⁵⁶⁷⁸⁹⁰]+\s*$")
_GLUED_FLAG = re.compile(r"(?<=\d)[a-z]{1,2}$", re.IGNORECASE)
_TRAILING_WORDS = frozenset(
    {"average", "avg", "mean", "annual", "total", "sum", "provisional", "prelim", "preliminary", "estimate",
     "estimated", "est", "forecast", "projected", "projection", "revised", "final", "p", "r", "e",
     "durchschnitt", "mittel", "moyenne", "promedio", "media", "gemiddelde", "średnia", "razem",
     "insgesamt", "gesamt"}
)  # fmt: skip


def undecorated(text: str) -> str:
    """A period label without its footnotes, flags and trailing words: `2023 [p]`, `2022r`, `1992 average`."""
    text = " ".join(text.split())
    while True:
        stripped = _BRACKETED.sub("", text)
        stripped = _MARKS.sub("", stripped)
        words = stripped.rsplit(" ", 1)
        if (
            len(words) == 2
            and words[1].casefold().rstrip(".:") in _TRAILING_WORDS
            and re.search(r"\d", words[0])
        ):
            stripped = words[0]
        if stripped == text:
            break
        text = stripped.strip(" ,;:-–")
    return _GLUED_FLAG.sub("", text) if re.fullmatch(r"\d{4}[a-z]{1,2}", text, re.IGNORECASE) else text


def is_preliminary(label: Cell) -> bool:
    """True for a period label flagged as preliminary or estimated: `2023 P`, `2022 [p]`, `2021 (est.)`."""
    tail = re.sub(r"^.*\d", "", " ".join(clean_header(label).split())).strip()
    return bool(tail) and _PRELIMINARY.fullmatch(tail) is not None


_PRELIMINARY = re.compile(
    r"[\[(]?\s*(?:p|e|prelim\w*|provisional|est\w*|forecast|projected|projection)\.?\s*[\])]?",
    re.IGNORECASE,
)
_QUARTER_WORDS = r"(?:quarter|qtr|quartal|quartile|trimestre|trim|kwarta[lł]|kwartaal|kw)\.?"
_QUARTER_MARK = re.compile(
    rf"q\s*([1-4])|([1-4])\s*(?:st|nd|rd|th|er|e|º|°|\.)?\s*{_QUARTER_WORDS}|{_QUARTER_WORDS}\s*([1-4])|([1-4])\s*q",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _parse_quarter(text: str) -> datetime | None:
    """A quarter: `2020 Q1`, `Q1 2020`, `1st quarter 2010`, `2010 1st quarter`, `Quarter 1 1995`."""
    years = _YEAR.findall(text)
    if len(years) != 1:
        return None
    rest = _YEAR.sub(" ", text, count=1)
    marks = list(_QUARTER_MARK.finditer(rest))
    if len(marks) != 1:
        return None
    leftover = (rest[: marks[0].start()] + rest[marks[0].end() :]).strip(" -/.,:")
    if leftover:
        return None
    quarter = int(next(group for group in marks[0].groups() if group))
    year = int(years[0])
    return datetime(year, 3 * quarter - 2, 1) if _year_ok(year) else None


_FINANCIAL = re.compile(r"(?:fy\s*)?(\d{4})\s*[/\-–]\s*(\d{2}|\d{4})", re.IGNORECASE)
_FY_NAMED = re.compile(r"fy\s*'?(\d{4}|\d{2})", re.IGNORECASE)


def _financial_year(text: str, start_month: int) -> datetime | None:
    """A financial year: `2019/20`, `2019-20`, `2019/2020` and `FY2019/20` start in their first year;
    `FY2020` is the year that ends in 2020 (so with a January start, 2020 itself).

    `start_month` is the month the file's financial year starts in (April for a year ending 31 March);
    1 (the default, when the file does not say) puts each on January 1 of the year it starts in.
    """
    match = _FINANCIAL.fullmatch(text)
    if match:
        first, second = int(match.group(1)), int(match.group(2))
        following = first + 1 if len(match.group(2)) == 4 else (first + 1) % 100
        if second != following or not _year_ok(first):
            return None
        return datetime(first, start_month, 1)
    match = _FY_NAMED.fullmatch(text)
    if not match:
        return None
    named = int(match.group(1)) if len(match.group(1)) == 4 else 2000 + int(match.group(1))
    start = named if start_month == 1 else named - 1
    return datetime(start, start_month, 1) if _year_ok(start) else None


def _year_range(text: str) -> datetime | None:
    """`2010-2015` and `2010–15`: the start of the first year (periods are dated by their start)."""
    match = re.fullmatch(r"(\d{4})\s*[-–—/]\s*(\d{4}|\d{2})", text)
    if not match:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    if len(match.group(2)) == 2:
        last += first - first % 100
    return datetime(first, 1, 1) if _year_ok(first) and first < last <= first + 100 else None


def _month_range(text: str) -> datetime | None:
    """`Apr 2020 - Sep 2020`, `Oct 2021 – Mar 2022`: the first day of the first month (periods start)."""
    parts = re.split(r"\s+(?:-|–|—|to|bis|au|a)\s+", text, maxsplit=1)
    if len(parts) != 2:
        return None
    first, last = _parse_month_name(parts[0]), _parse_month_name(parts[1])
    return first if first is not None and last is not None and first < last else None


_DAY_MONTH = re.compile(
    r"(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})"
    r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([ap]\.?m\.?)?)?",
    re.IGNORECASE,
)


def _day_month(text: str, *, day_first: bool) -> datetime | None:
    """`31.12.2019`, `12/31/19 1:05 PM` with day and month in the given order; `69`..`99` are 19xx."""
    match = _DAY_MONTH.fullmatch(text)
    if not match:
        return None
    first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if len(match.group(3)) == 2:
        year += 1900 if year >= 69 else 2000
    day, month = (first, second) if day_first else (second, first)
    hour, minute, sec = (int(match.group(i) or 0) for i in (4, 5, 6))
    meridiem = (match.group(7) or "").casefold().replace(".", "")
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    return datetime(year, month, day, hour, minute, sec)


def _parse_period(cell: Cell, fmt: str) -> datetime | None:
    if isinstance(cell, datetime):
        return cell
    if isinstance(cell, date):
        return datetime(cell.year, cell.month, cell.day)
    if isinstance(cell, time):
        return None
    base, _, start = fmt.partition("@")
    text = clean_header(cell)
    try:
        if base in ("native", "iso"):
            return _parse_iso(text)
        if base in ("excel_serial", "epoch_s", "epoch_ms"):
            dotnet = _DOTNET_DATE.fullmatch(text) if base == "epoch_ms" else None
            number = float(dotnet.group(1) if dotnet else text)
            if base == "excel_serial":
                return _EXCEL_EPOCH + timedelta(days=number)
            return datetime.fromtimestamp(number / (1000.0 if base == "epoch_ms" else 1.0), tz=UTC)
        text = undecorated(text)
        if base == "year":
            japanese = re.fullmatch(r"(\d{4})\s*年", text)
            text = japanese.group(1) if japanese else text
            year = int(float(text))
            return datetime(year, 1, 1) if _year_ok(year) and float(text).is_integer() else None
        if base == "year_month":
            match = re.fullmatch(r"(\d{4})[-/.]?(\d{1,2})|(\d{4})\s*年\s*(\d{1,2})\s*月", text)
            if not match:
                return None
            return datetime(int(match.group(1) or match.group(3)), int(match.group(2) or match.group(4)), 1)
        if base == "year_mmm":
            match = re.fullmatch(r"(\d{4})\s*M(\d{1,2})", text, re.IGNORECASE)
            return datetime(int(match.group(1)), int(match.group(2)), 1) if match else None
        if base == "year_quarter":
            return _parse_quarter(text)
        if base == "month_name_year":
            return _parse_month_name(text)
        if base in ("day_month_year", "month_day_year"):
            return _day_month(text, day_first=base == "day_month_year")
        if base == "financial_year":
            month = int(start) if start else 1
            if not 1 <= month <= 12:
                raise ToolkitError(f"financial_year@{start}: the start month must be 1..12")
            return _financial_year(text, month)
        if base == "year_range":
            return _year_range(text)
        if base == "month_range":
            return _month_range(text)
    except (ValueError, OverflowError, OSError):
        return None
    raise ToolkitError(f"unknown period format {fmt!r}; use one of {PERIOD_FORMATS}")


# A Microsoft JSON date: milliseconds since 1970 UTC; the offset that may follow does not change them.
_DOTNET_DATE = re.compile(r"\\?/Date\((-?\d+)(?:[+-]\d{4})?\)\\?/")
_ISO_STAMP = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2})(?::(\d{2}))?(?::(\d{2}))?(\.\d+)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


def _parse_iso(text: str) -> datetime | None:
    """ISO 8601 and its common relatives: no seconds, a space for `T`, `/` in the date, `+01`, ` UTC`,
    fields without their leading zero (`2016/4/1 0:00`)."""
    match = _ISO_STAMP.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    fields = f"{year}-{int(month):02d}-{int(day):02d}T{int(hour or 0):02d}:{minute or '00'}:{second or '00'}"
    stamp = fields + (fraction or "")[:7]
    if zone and zone.upper() in ("Z", "UTC", "GMT"):
        stamp += "+00:00"
    elif zone:
        digits = zone.replace(":", "")
        stamp += f"{digits[:3]}:{digits[3:5] or '00'}"
    return datetime.fromisoformat(stamp)


def _parse_month_name(text: str) -> datetime | None:
    """A month name and a four-digit year: `Jan 2019`, `2019 January`, `janvier 2019`, `enero de 2019`."""
    words = re.findall(r"[^\W\d_]+\.?|\d+", text.casefold())
    words = [word for word in words if word not in ("de", "del", "di", "van", "of")]
    year = next((int(w) for w in words if w.isdigit() and len(w) == 4), None)
    month = next((MONTHS[w.rstrip(".")] for w in words if w.rstrip(".") in MONTHS), None)
    if year is None or month is None or len(words) > 2:
        return None
    return datetime(year, month, 1)


def parse_month(cell: Cell) -> int | None:
    """A month number from a cell holding 1..12 or a month name (`Mar`, `März`, `marzo`, `3月`), else None."""
    if isinstance(cell, bool) or cell is None:
        return None
    if isinstance(cell, int | float):
        return int(cell) if float(cell).is_integer() and 1 <= cell <= 12 else None
    text = clean_header(cell).casefold().rstrip(".")
    text = text[:-1] if text.endswith("月") else text
    if text.isdigit():
        return int(text) if 1 <= int(text) <= 12 else None
    return MONTHS.get(text)


def parse_clock(cell: Cell) -> time | None:
    """A time of day from `HH:MM`, `HH:MM:SS`, `H:MM AM`, an hour range `00-01` (its start) or a time cell."""
    if isinstance(cell, time):
        return cell
    if not isinstance(cell, str):
        return None
    span = re.fullmatch(r"(\d{1,2})(?::00)?\s*[-–]\s*(\d{1,2})(?::00)?", cell.strip())
    if span:
        start, end = int(span.group(1)), int(span.group(2))
        # An hour of the day: the next hour, or a repeated one when the clocks go back (`02-02`).
        return time(start) if start <= 23 and end in (start, start + 1, (start + 1) % 24) else None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([ap])\.?m\.?)?", cell.strip(), re.IGNORECASE)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59 or int(match.group(3) or 0) > 59:
        return None
    hour = int(match.group(1))
    if match.group(4):
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match.group(4).casefold() == "p" else 0)
    return time(hour, int(match.group(2)), int(match.group(3) or 0))


def _plausible_epoch(value: float, scale: float) -> bool:
    return 946_684_800 <= value / scale <= 4_102_444_800  # 2000-01-01 .. 2100-01-01


def detect_period_format(values: Sequence[Cell], *, name: str = "") -> str | None:
    """The period format under which (nearly) every non-empty value parses, or None.

    Day-first or month-first is decided over every value of the column (see `day_order`), not the first;
    financial years take their start month from the column name when it says (`Year (ending 31/3)`).
    """
    every = [v for v in values if not is_missing(v)]
    present = every[:500]
    if not present:
        return None
    if all(isinstance(v, datetime | date) for v in present):
        return "native"
    hinted = bool(_TIME_HINT.search(name))
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
    if all(isinstance(v, str) and _DOTNET_DATE.fullmatch(v.strip()) for v in present):
        return "epoch_ms"
    for fmt in (
        "iso",
        "year_mmm",
        "year_quarter",
        "month_name_year",
        "financial_year",
        "year_month",
        "dates",
    ):
        if fmt == "dates":
            order = day_order(every, name=name)
            if order is None:
                continue
            fmt = order
        if _reads(present, fmt):
            if fmt == "financial_year" and (month := financial_year_start(name)) != 1:
                return f"financial_year@{month}"
            return fmt
    for fmt in ("year_range", "month_range", "year"):
        if _reads(present, fmt):
            return fmt
    return None


def _reads(values: Sequence[Cell], fmt: str) -> bool:
    """Whether 95 % of the values (at least one) read in the format; gives up once too many do not."""
    if not values:
        return False
    allowed = len(values) - max(1, int(0.95 * len(values)))
    misses = 0
    for value in values:
        if _parse_period(value, fmt) is None:
            misses += 1
            if misses > allowed:
                return False
    return True


def day_order(values: Sequence[Cell], *, name: str = "") -> str | None:
    """`day_month_year` or `month_day_year` for a column of `d/m/y` dates, on the evidence of all its values.

    A first field above 12 proves day-first, a second above 12 month-first; when both occur the column is
    no date column (None). Without proof, dots and dashes mean day-first (no month-first writer uses them),
    and so does a column name in a language that writes the day first (`Dia`, `Fecha`, `Datum`); other
    slashes mean month-first.
    """
    day_first = month_first = slashes = dated = 0
    for value in values:
        match = _DAY_MONTH.match(str(value).strip())
        if not match:
            continue
        dated += 1
        first, second = int(match.group(1)), int(match.group(2))
        day_first += first > 12
        month_first += second > 12
        slashes += "/" in match.group(0)[:6]
    if not dated or (day_first and month_first):
        return None
    if day_first or month_first:
        return "day_month_year" if day_first else "month_day_year"
    return "month_day_year" if slashes > dated / 2 and not _DAY_FIRST_NAME.search(name) else "day_month_year"


# Time column names in languages whose writers put the day first (all but US English, in practice).
_DAY_FIRST_NAME = re.compile(
    r"\b(?:d[ií]a|fecha|datum|data|jour|tag|giorno|dzie[nń]|dato|päivä|päivämäärä|tarih|dátum|dag)\b",
    re.IGNORECASE,
)


_FISCAL_END = re.compile(
    r"\b(?:ending|ended|to|bis|au|al|fin)\s+(?:(\d{1,2})\s*[/.]\s*(\d{1,2})|(?:\d{1,2}\s+)?([^\W\d_]+))",
    re.IGNORECASE,
)
_FISCAL_SPAN = re.compile(r"([^\W\d_]+)\.?\s*(?:-|–|to|bis|à)\s*([^\W\d_]+)", re.IGNORECASE)


def financial_year_start(label: str) -> int:
    """The month a financial year starts in as a label says it (`Year (ending 31/3)`, `April to March`)."""
    for end in _FISCAL_END.finditer(label):
        month = int(end.group(2)) if end.group(2) else MONTHS.get(end.group(3).casefold().rstrip("."))
        if month is not None and 1 <= month <= 12:
            return month % 12 + 1
    for span in _FISCAL_SPAN.finditer(label):
        first = MONTHS.get(span.group(1).casefold())
        last = MONTHS.get(span.group(2).casefold())
        if first is not None and last is not None and last == (first + 10) % 12 + 1:
            return first
    return 1


# --- points from tables ----------------------------------------------------------------------------


def _point(moment: datetime, value: float, dimensions: dict[str, str]) -> PointDict:
    return {"timestamp": moment, "value": value, "dimensions": dimensions}


def _dimension_text(cell: Cell) -> str:
    return clean_header(cell)


def _table_rows(
    grid: Grid, header_row: int, skip_rows: int, title_dimension: str | None, *, until_blank: bool = False
) -> Iterator[tuple[str | None, Sequence[Cell]]]:
    """(title of its table or None, row) for every row under the header, repeated header rows left out.

    With `until_blank`, the table ends at the first blank row after its data (another table follows).
    """
    if not title_dimension:
        repeats = _header_test(header_names(grid[header_row]))
        started = False
        for row in grid[header_row + 1 + skip_rows :]:
            blank = _blank(row)
            if until_blank and blank and started:
                return
            started = started or not blank
            if not repeats(row):
                yield None, row
        return
    for number, (title, first, end) in enumerate(table_blocks(grid, header_row)):
        for row in grid[first + (skip_rows if number == 0 else 0) : end]:
            # A one-cell label row inside a table starts a section (`Households`, `Industry`) named by it.
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
    day: str | None = None,
    until_blank: bool = False,
) -> PointColumns:
    """Points of a long table: one row per period, a time column, a value column, dimension columns.

    Tables stacked below each other with the same header are read too; with `title_dimension`, the
    title above each table (see `table_blocks`) becomes that dimension. With `month_column`, the time
    column holds years and that column the month (1-12 or a month name) of each row; with
    `clock_column`, the time column holds dates and that column the time of day (`HH:MM`). With `day`
    (an ISO date, see `title_date`), every row is of that day and the time column holds its time of day
    in `time_format`, one of CLOCK_FORMATS (`hour_ending`: hour 1 starts at midnight). With
    `until_blank`, the table ends at the first blank row below its data (another table follows it).
    The points come as columns (see `PointColumns`); iterating them yields point dicts.
    """
    names = header_names(grid[header_row])
    time_at = column_index(names, time_column)
    value_at = column_index(names, value_column)
    month_at = column_index(names, month_column) if month_column else None
    clock_at = column_index(names, clock_column) if clock_column else None
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    constant = dict(constant_dimensions or {})
    if title_dimension or month_at is not None or clock_at is not None or day is not None or until_blank:
        return PointColumns.from_points(
            _long_row_points(
                grid,
                day=day,
                until_blank=until_blank,
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
    fields = grid.fields(start) if isinstance(grid, LineGrid) else None
    if fields is not None and max(positions) < fields.width and not _may_repeat_header(fields, names):
        # ASCII text, every row as wide: the cells are read from the bytes, without a string for most.
        stamps, stamp_ok, offsets = _period_fields(
            fields, time_at, time_format, utc_offset_seconds=utc_offset_seconds
        )
        values, value_ok = _number_fields(fields, value_at, decimal=decimal, missing=missing)
        keep = np.flatnonzero(stamp_ok & value_ok)
        dimension_cells = [fields.texts(at) for _, at in dims_at]
    else:
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
        stamps, stamp_ok, offsets = _period_column(
            cells[time_at], time_format, utc_offset_seconds=utc_offset_seconds
        )
        values, value_ok = _number_column(cells[value_at], decimal=decimal, missing=missing)
        repeats = _header_repeats(
            table if table is not None else grid, start if table is None else 0, names, cells
        )
        keep = np.flatnonzero(stamp_ok & value_ok & ~repeats)
        dimension_cells = [cells[at] for _, at in dims_at]
    if not dims_at:
        return PointColumns(stamps[keep], values[keep], series=[constant], offsets=offsets[keep])
    index: dict[tuple[str, ...], int] = {}
    series: list[dict[str, str]] = []
    codes = np.empty(len(keep), dtype=np.int32)
    for position, row_at in enumerate(keep.tolist()):
        key = tuple(_dimension_text(column[row_at]) for column in dimension_cells)
        code = index.get(key)
        if code is None:
            code = index[key] = len(series)
            series.append({**constant, **dict(zip((name for name, _ in dims_at), key, strict=True))})
        codes[position] = code
    return PointColumns(
        stamps[keep],
        values[keep],
        series=series or [constant],
        codes=codes if series else None,
        offsets=offsets[keep],
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
    day: str | None = None,
    until_blank: bool = False,
) -> Iterator[PointDict]:
    """`long_points` row by row, for stacked tables, times split over two columns and one day's hours."""
    width = max(time_at, value_at, month_at or 0, clock_at or 0)
    first = datetime.fromisoformat(day) if day is not None else None
    for title, row in _table_rows(grid, header_row, skip_rows, title_dimension, until_blank=until_blank):
        if len(row) <= width:
            continue
        stamp = row[time_at]
        if first is not None:
            offset = clock_offset(stamp, time_format)
            value = parse_number(row[value_at], decimal=decimal, missing=missing)
            if offset is not None and value is not None:
                yield _point(
                    first + offset, value, _row_dimensions(row, constant, dims_at, title_dimension, title)
                )
            continue
        if clock_at is not None:
            clock = parse_clock(row[clock_at])
            dated = parse_period(stamp, time_format)
            if clock is None or dated is None:
                continue
            stamp = datetime.combine(dated.date(), clock)
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


def _may_repeat_header(fields: _Fields, names: Sequence[str]) -> bool:
    """Whether a row of the fields might repeat the header: see `_header_repeats`, here on the bytes."""
    need = max(2, len(names) // 2)
    return any(fields.holds(name.split(" ", 1)[0]) for name in names[: len(names) - need + 1])


def _may_name(cells: list[Cell], name: str) -> bool:
    """Whether one of the cells might clean to `name`."""
    present = set(map(type, cells))
    # A number's or a date's text always holds a digit: it cannot clean to a name without one.
    kinds = present if any(char.isdigit() for char in name) else present - _DIGIT_TEXT_TYPES
    if not kinds <= {str}:
        return True
    if str not in present:
        return not name.split(" ", 1)[0]  # an empty word is in any text, even none
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`parse_period` of every cell as PointColumns holds it: microseconds (int64), where it read one
    (bool), and the offset of each (int32 seconds, NAIVE for a wall clock)."""
    import numpy as np

    stamps = np.zeros(len(cells), dtype=np.int64)
    read = np.zeros(len(cells), dtype=bool)
    offsets = np.full(len(cells), utc_offset_seconds or NAIVE, dtype=np.int32)
    kinds = set(map(type, cells))
    if fmt in ("iso", "native") and kinds == {str}:
        _iso_texts(cells, stamps, read, offsets, utc_offset_seconds or 0)
    elif kinds <= {datetime, date} and cells:
        _native_moments(cells, stamps, read, utc_offset_seconds or 0)
    rest = np.flatnonzero(~read).tolist()
    if rest:
        texts = [cells[at] for at in rest]
        _period_rest(texts, rest, fmt, utc_offset_seconds=utc_offset_seconds, columns=(stamps, read, offsets))
    return stamps, read, offsets


def _period_fields(
    fields: _Fields, column: int, fmt: str, *, utc_offset_seconds: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_period_column` of a column of the fields, its ISO shapes read from the bytes."""
    import numpy as np

    count = len(fields)
    stamps = np.zeros(count, dtype=np.int64)
    read = np.zeros(count, dtype=bool)
    offsets = np.full(count, utc_offset_seconds or NAIVE, dtype=np.int32)
    if fmt in ("iso", "native"):
        widths = fields.ends[:, column] - fields.starts[:, column]
        for width, shape in _ISO_SHAPES.items():
            rows = np.flatnonzero(widths == width)
            if rows.size:
                chars = fields.chars(column, rows, width)
                _iso_chars(chars, rows, shape, stamps, read, offsets, utc_offset_seconds or 0)
    rest = np.flatnonzero(~read)
    if rest.size:
        texts = fields.texts(column, rest)
        _period_rest(
            texts, rest.tolist(), fmt, utc_offset_seconds=utc_offset_seconds, columns=(stamps, read, offsets)
        )
    return stamps, read, offsets


def _period_rest(
    cells: Sequence[Cell],
    rows: list[int],
    fmt: str,
    *,
    utc_offset_seconds: int | None,
    columns: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """`parse_period` of the cells one by one, into the columns (stamps, read, offsets) at `rows`."""
    stamps, read, offsets = columns
    moments = [parse_period(cell, fmt, utc_offset_seconds=utc_offset_seconds) for cell in cells]
    found = [(at, micros_of(moment)) for at, moment in zip(rows, moments, strict=True) if moment is not None]
    if found:
        positions = [at for at, _ in found]
        stamps[positions] = [stamp for _, (stamp, _) in found]
        offsets[positions] = [offset for _, (_, offset) in found]
        read[positions] = True


def _iso_texts(
    cells: Sequence[str], stamps: np.ndarray, read: np.ndarray, offsets: np.ndarray, local: int
) -> None:
    """Read the ISO shapes of `_ISO_SHAPES` in bulk; other cells and impossible dates are left unread.

    Wall clocks count as UTC+`local` seconds when it is not 0, else they stay wall clocks.
    """
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
        _iso_chars(chars, rows, shape, stamps, read, offsets, local)


def _iso_chars(
    chars: np.ndarray,
    rows: np.ndarray,
    shape: str,
    stamps: np.ndarray,
    read: np.ndarray,
    offsets: np.ndarray,
    local: int,
) -> None:
    """Read the cells at `rows`, as a rows × width array of ASCII bytes, that have the ISO `shape`."""
    import numpy as np

    width = len(shape)
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
        micros -= local * 1_000_000  # a local time: the `Z` shape is UTC whatever the offset
    else:
        offsets[rows[matched]] = 0
    stamps[rows[matched]] = micros[matched]
    read[rows[matched]] = True


def _number(digits: np.ndarray, first: int, count: int) -> np.ndarray:
    """The number that `count` digit columns from `first` on spell, row by row."""
    import numpy as np

    total = digits[:, first].astype(np.int64)
    for at in range(first + 1, first + count):
        total = total * 10 + digits[:, at]
    return total


def _native_moments(cells: Sequence[Cell], stamps: np.ndarray, read: np.ndarray, local: int) -> None:
    """Read workbook date and naive datetime cells in bulk (with an aware datetime among them, none).

    They are wall clocks, at UTC+`local` seconds when it is not 0.
    """
    import numpy as np

    epoch, day, microsecond = NAIVE_EPOCH, _EPOCH_DAY, MICROSECOND
    try:
        # An aware datetime becomes None, which the array refuses: cheaper than a pass to look for one first.
        micros = np.array(
            [
                (cell - epoch) // microsecond
                if type(cell) is datetime and cell.tzinfo is None
                else (cell.toordinal() - day) * 86_400_000_000
                if type(cell) is date
                else None
                for cell in cells
            ],
            dtype=np.int64,
        )
    except TypeError:
        return
    micros -= local * 1_000_000
    inside = (micros >= _MIN_MICROS) & (micros <= _MAX_MICROS)
    stamps[inside] = micros[inside]
    read[inside] = True


_MIN_MICROS = (datetime(2, 1, 1, tzinfo=UTC) - EPOCH) // MICROSECOND
_MAX_MICROS = (datetime(9998, 12, 31, tzinfo=UTC) - EPOCH) // MICROSECOND


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
    return values, _readable(values, missing)


def _number_fields(
    fields: _Fields, column: int, *, decimal: str = ".", missing: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """`_number_column` of a column of the fields, its plain decimals read from the bytes."""
    import numpy as np

    if decimal != ".":
        return _number_column(fields.texts(column), decimal=decimal, missing=missing)
    values = np.full(len(fields), math.nan)
    simple = np.zeros(len(fields), dtype=bool)
    widths = fields.ends[:, column] - fields.starts[:, column]
    for width in np.unique(widths).tolist():
        if 1 <= width <= _SIMPLE_DECIMAL_WIDTH:
            rows = np.flatnonzero(widths == width)
            numbers, ok = _simple_decimals(fields.chars(column, rows, width))
            values[rows[ok]] = numbers[ok]
            simple[rows[ok]] = True
    rest = np.flatnonzero(~simple)
    if rest.size:
        # As _number_column reads the whole column: float() when every cell is a plain number, else
        # parse_number, and the two agree on the simple decimals read above.
        values[rest], _ = _number_column(fields.texts(column, rest), decimal=decimal)
    return values, _readable(values, missing)


def _readable(values: np.ndarray, missing: Sequence[float]) -> np.ndarray:
    """Where the values are numbers: finite and none of the missing-value sentinels."""
    import numpy as np

    read = np.isfinite(values)
    for sentinel in missing:
        read &= ~(np.abs(values - sentinel) <= 1e-9)
    return read


# A sign, 15 digits and a point: a mantissa below 2**53 and a power of ten below 10**22, both exact as
# floats, so one division rounds to the float nearest the decimal, as float() reads it (Clinger's fast path).
_SIMPLE_DIGITS = 15
_SIMPLE_DECIMAL_WIDTH = _SIMPLE_DIGITS + 2
_POWERS_OF_TEN = tuple(float(10**power) for power in range(_SIMPLE_DIGITS + 1))


def _simple_decimals(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of `[-+]digits[.digits]` cells of up to 15 digits as float() reads them, and which are."""
    import numpy as np

    width = chars.shape[1]
    digit = chars - np.uint8(ord("0"))  # a byte below "0" wraps round to a large number
    is_digit = digit <= 9
    is_point = chars == ord(".")
    sign = chars[:, 0]
    points = np.count_nonzero(is_point, axis=1)
    digits = np.count_nonzero(is_digit, axis=1)
    signed = (sign == ord("-")) | (sign == ord("+"))
    # Every byte a digit or the point, but a sign in front; one point at most; 1 to 15 digits.
    ok = (digits + points + signed == width) & (points <= 1) & (digits >= 1) & (digits <= _SIMPLE_DIGITS)
    mantissa = np.zeros(len(chars), dtype=np.int64)
    for at in range(width):
        mantissa = np.where(is_digit[:, at], mantissa * 10 + digit[:, at], mantissa)
    # Every byte after the point is a digit.
    decimals = np.where(points == 1, width - 1 - is_point.argmax(axis=1), 0)
    numbers = mantissa.astype(np.float64) / np.asarray(_POWERS_OF_TEN)[np.where(ok, decimals, 0)]
    return np.where(sign == ord("-"), -numbers, numbers), ok


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
    moment = period
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
    nested_titles: bool = False,
    preliminary: bool = True,
) -> Iterator[PointDict]:
    """Points of a wide table: periods are column headers, each row is a series named by its dimensions.

    `split_column` names a column whose header and cells pack several dimensions joined by commas, as
    in Eurostat's `unit,geo\\time` column. `title_dimension` works as in `long_points`; with
    `nested_titles`, the tables stacked under repeats of the header are told apart as `nested_blocks` says.
    With `preliminary=False`, periods whose header marks them preliminary (`is_preliminary`) are left out.
    """
    names = header_names(grid[header_row])
    periods = [(i, parse_period(name, period_format)) for i, name in enumerate(names)]
    periods = [
        (i, moment)
        for i, moment in periods
        if moment is not None and (preliminary or not is_preliminary(names[i]))
    ]
    if not periods:
        raise ToolkitError(f"no column header reads as a period in format {period_format!r}")
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    split_at = column_index(names, split_column) if split_column else None
    split_names = split_dimension_names(split_column) if split_column else []
    constant = dict(constant_dimensions or {})
    # (dimensions of its stacked table, title, row) for every row under the header
    rows: Iterable[tuple[dict[str, str], str | None, Sequence[Cell]]] = (
        ({}, title, row) for title, row in _table_rows(grid, header_row, skip_rows, title_dimension)
    )
    if nested_titles:
        blocks = nested_blocks(grid, header_row)
        rows = ((found, None, row) for found, first, end in blocks for row in grid[first:end])
    for block, title, row in rows:
        if not any(not is_missing(cell) for cell in row):
            continue
        dims = _row_dimensions(row, constant, dims_at, title_dimension, title)
        dims.update(block)
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

    National statistics often nest row labels by indenting them (`Electricity` > `  Households`
    > `    Urban`), so one label occurs under several parents. Each row gets its ancestors in
    columns `<column> level 1`, `<column> level 2`…; one-cell rows count as parents too. With
    `footnotes`, a trailing footnote number (`Urban 3`, `Total 4,5`) is cut from every label.
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


def header_records(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows whose first row names the columns, as records: `[["date", "load"], ["2024-01-01", 5]]`."""
    if not rows:
        return []
    names = header_names(rows[0])
    return [dict(zip(names, row, strict=False)) for row in rows[1:] if isinstance(row, list | tuple)]


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


def walk_records(
    document: Any, path: str, *, inherit: bool = True, envelope: bool = False
) -> Iterator[dict[str, Any]]:
    """The flat records of the list a path names, where `name[]` steps into every item of a list.

    `days[].hours` yields the hours of every day; a record nested in others also carries the scalar
    fields of the records around it that it lacks itself (unless `inherit` is off), so an hour keeps
    its day's date. With `envelope` it also carries those of the objects the path passes through
    (`{"date": …, "prices": [{"hour": 0, …}]}`). An item that lacks the nested list holds no records.
    """
    parts = [] if path in ("", "$") else path.split(".")
    yield from _walk(
        document, parts, context={}, path=path, inherit=inherit, inside=False, envelope=envelope and inherit
    )


def _walk(
    node: Any,
    parts: list[str],
    *,
    context: dict[str, Any],
    path: str,
    inherit: bool,
    inside: bool,
    envelope: bool = False,
) -> Iterator[dict[str, Any]]:
    if not parts:
        if not isinstance(node, list):
            if inside:
                return
            raise ToolkitError(f"path {path!r} names a {type(node).__name__}, not a list of records")
        for item in node:
            if isinstance(item, dict):
                yield {**context, **flatten_record(item)}
            elif isinstance(item, list | tuple):
                yield {**context, **row_record(item)}
        return
    part, rest = parts[0], parts[1:]
    each = part.endswith("[]")
    name = part[:-2] if each else part
    if not name:
        child = node
    elif isinstance(node, list) and name.lstrip("-").isdigit() and -len(node) <= int(name) < len(node):
        child = node[int(name)]
    elif isinstance(node, dict) and name in node:
        child = node[name]
    elif inside:
        return
    else:
        raise ToolkitError(f"path {path!r} not found at {name!r}")
    if envelope and isinstance(node, dict):
        context = {**{k: v for k, v in node.items() if not isinstance(v, dict | list)}, **context}
    if not each:
        yield from _walk(
            child, rest, context=context, path=path, inherit=inherit, inside=inside, envelope=envelope
        )
        return
    if not isinstance(child, list):
        raise ToolkitError(f"path {path!r}: {name or '$'!r} is not a list")
    for item in child:
        if isinstance(item, dict):
            scalars = {k: v for k, v in flatten_record(item).items() if not isinstance(v, list)}
            inner = {**context, **scalars} if inherit else {}
            yield from _walk(
                item, rest, context=inner, path=path, inherit=inherit, inside=True, envelope=envelope
            )


CLOCK_FORMATS = ("clock", "range", "hour", "hour_ending", "position:<ISO 8601 duration>")
_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", re.IGNORECASE)


def parse_duration(cell: Cell) -> timedelta | None:
    """An ISO 8601 duration of days, hours, minutes or seconds (`PT15M`, `PT1H`, `P1D`), else None."""
    match = _DURATION.fullmatch(cell.strip()) if isinstance(cell, str) else None
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    return step if step > timedelta(0) else None


_CLOCK_RANGE = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*[-–]\s*(\d{1,2})(?::(\d{2}))?")


def clock_offset(cell: Cell, fmt: str) -> timedelta | None:
    """The time of day a cell gives, as an offset from midnight (see CLOCK_FORMATS).

    `clock` reads `HH:MM[:SS]`, `range` the start of `00-01` or `13:00 - 14:00`, `hour` an hour 0-23,
    `hour_ending` an hour 1-24 that ends its period (hour 1 starts at midnight), and `position:PT15M`
    the 1-based position of a step of that length from the start (position 3 starts 30 minutes in).
    """
    if is_missing(cell) or isinstance(cell, bool):
        return None
    if fmt.startswith("position:"):
        step = parse_duration(fmt.partition(":")[2])
        position = parse_number(cell)
        if step is None or position is None or not position.is_integer() or position < 1:
            return None
        return step * (int(position) - 1)
    if fmt == "clock":
        moment = parse_clock(cell)
        return (
            None
            if moment is None
            else timedelta(hours=moment.hour, minutes=moment.minute, seconds=moment.second)
        )
    if fmt == "range":
        match = _CLOCK_RANGE.fullmatch(str(cell).strip())
        if not match or int(match.group(1)) > 23 or int(match.group(2) or 0) > 59:
            return None
        return timedelta(hours=int(match.group(1)), minutes=int(match.group(2) or 0))
    if fmt in ("hour", "hour_ending"):
        number = parse_number(cell)
        if number is None or not number.is_integer():
            return None
        hour = int(number) - (1 if fmt == "hour_ending" else 0)
        return timedelta(hours=hour) if 0 <= hour <= 23 else None
    raise ToolkitError(f"unknown clock format {fmt!r}; use one of {CLOCK_FORMATS}")


def detect_clock_format(values: Sequence[Cell], *, hours: bool = False) -> str | None:
    """The clock format every non-empty value reads in; plain hour numbers only when `hours` is set."""
    present = [v for v in values if not is_missing(v)][:500]
    if not present:
        return None
    formats = ["clock", "range"]
    if hours:
        numbers = [parse_number(v) for v in present]
        ending = all(n is not None for n in numbers) and max(n or 0 for n in numbers) == 24
        formats.append("hour_ending" if ending else "hour")
    for fmt in formats:
        if all(clock_offset(v, fmt) is not None for v in present):
            if fmt == "range" and not all(_within_an_hour(v) for v in present):
                continue  # "0-14" is an age band, "10-12" a size class: not a time of day
            return fmt
    return None


def _within_an_hour(cell: Cell) -> bool:
    match = _CLOCK_RANGE.fullmatch(str(cell).strip())
    if match is None:
        return False
    start = int(match.group(1)) * 60 + int(match.group(2) or 0)
    end = int(match.group(3)) * 60 + int(match.group(4) or 0)
    return 0 < end - start <= 60 or (end == 0 and start >= 23 * 60)


_MONTH_CODE = re.compile(r"M(\d{1,2})|Q0?([1-4])", re.IGNORECASE)


def record_month(cell: Cell) -> int | None:
    """The month a key beside a year gives: 1-12, a month name, `M07`, or a quarter `Q3` (its first month).

    Anything else (`M13`, an annual average, or `Annual`) is None, so that record is not a month.
    """
    month = parse_month(cell)
    if month is not None:
        return month
    match = _MONTH_CODE.fullmatch(str(cell).strip()) if isinstance(cell, str) else None
    if match is None:
        return None
    if match.group(1):
        number = int(match.group(1))
        return number if 1 <= number <= 12 else None
    return 3 * int(match.group(2)) - 2


def is_daily(values: Sequence[Cell], fmt: str) -> bool:
    """True when every stamp shows the same time of day on a different date: a daily series.

    Its rows may carry the hour the (gas, market) day starts, or local midnight with an offset; the
    point belongs to the date as written, not to the instant in UTC.
    """
    present = [v for v in values if not is_missing(v)]
    if len(present) < 2 or fmt == "dotnet_date":
        return False
    try:
        moments = [_parse_period(v, fmt) for v in present]
    except ToolkitError:
        return False
    if any(m is None for m in moments):
        return False
    clocks = {(m.hour, m.minute, m.second) for m in moments if m is not None}
    dates = {m.date() for m in moments if m is not None}
    first = moments[0]
    if first is not None and first.utcoffset() == timedelta(0) and first.hour >= 12:
        # `2024-01-01T23:00:00Z` is a local midnight east of Greenwich: its day is the next date.
        return False
    return len(clocks) == 1 and len(dates) == len(present)


def record_moment(
    record: dict[str, Any],
    *,
    time_key: str,
    time_format: str,
    clock_key: str | None = None,
    clock_format: str = "clock",
    month_key: str | None = None,
    date_only: bool = False,
    utc_offset_seconds: int | None = None,
) -> datetime | None:
    """The UTC start of a record's period: its time key, plus the time of day its clock key gives.

    With a month key the time key holds the year and the month key its month (see record_month).
    """
    cell = record.get(time_key)
    if time_format == "dotnet_date":
        moment = parse_dotnet_date(cell)
    elif date_only:
        local = None if is_missing(cell) else _parse_period(cell, time_format)
        moment = None if local is None else datetime(local.year, local.month, local.day, tzinfo=UTC)
    else:
        moment = parse_period(cell, time_format, utc_offset_seconds=utc_offset_seconds)
    if moment is not None and month_key is not None:
        month = record_month(record.get(month_key))
        moment = None if month is None else moment.replace(month=month)
    if moment is None or clock_key is None:
        return moment
    offset = clock_offset(record.get(clock_key), clock_format)
    return None if offset is None else moment + offset


def record_points(
    records: Iterable[dict[str, Any]],
    *,
    time_key: str,
    time_format: str,
    value_key: str,
    dimension_keys: Sequence[str] = (),
    clock_key: str | None = None,
    clock_format: str = "clock",
    month_key: str | None = None,
    date_only: bool = False,
    decimal: str = ".",
    missing: Sequence[float] = (),
    utc_offset_seconds: int | None = None,
    constant_dimensions: dict[str, str] | None = None,
    where: dict[str, str] | None = None,
) -> Iterator[PointDict]:
    """Points of a list of JSON records; keys may be dotted paths into nested objects.

    Positional rows (`[time, value]` lists) are read as records keyed `"0"`, `"1"`, …; the time is the
    time key's period, plus the clock key's time of day when the date and the hour sit apart. `where`
    keeps only the records whose keys hold the given values.
    """
    constant = dict(constant_dimensions or {})
    wanted = dict(where or {})
    for record in records:
        if isinstance(record, list | tuple):
            flat = row_record(record)
        elif isinstance(record, dict):
            flat = flatten_record(record)
        else:
            continue
        if any(_dimension_text(flat.get(key)) != value for key, value in wanted.items()):
            continue
        moment = record_moment(
            flat,
            time_key=time_key,
            time_format=time_format,
            clock_key=clock_key,
            clock_format=clock_format,
            month_key=month_key,
            date_only=date_only,
            utc_offset_seconds=utc_offset_seconds,
        )
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
        if time_format == "dotnet_date":
            moment = parse_dotnet_date(stamp)
        else:
            moment = parse_period(stamp, time_format, utc_offset_seconds=utc_offset_seconds)
        value = parse_number(raw, missing=missing)
        if moment is not None and value is not None:
            yield _point(moment, value, dict(dimensions or {}))


def series_points(
    times: Sequence[Cell],
    series: Iterable[dict[str, Any]],
    *,
    values_key: str,
    name_keys: Sequence[str],
    time_format: str,
    utc_offset_seconds: int | None = None,
) -> Iterator[PointDict]:
    """Points of named series whose value arrays run beside one time array.

    `{"unix_seconds": [...], "production_types": [{"name": "Wind", "data": [...]}, ...]}` gives one
    series per item, told apart by its name keys.
    """
    for item in series:
        if not isinstance(item, dict) or not isinstance(item.get(values_key), list):
            continue
        dims = {key: _dimension_text(item.get(key)) for key in name_keys}
        yield from column_points(
            times,
            item[values_key],
            time_format=time_format,
            utc_offset_seconds=utc_offset_seconds,
            dimensions=dims,
        )


# --- Microsoft JSON dates --------------------------------------------------------------------------


def parse_dotnet_date(cell: Cell) -> datetime | None:
    """A Microsoft (.NET) JSON date, `/Date(1507114800000)/` or `/Date(1507114800000-0500)/`, in UTC.

    The number is milliseconds since 1970-01-01 UTC; an offset after it only says in which zone the
    instant was shown, so it does not move the instant.
    """
    if not isinstance(cell, str) or not _DOTNET_DATE.fullmatch(cell.strip()):
        return None
    return parse_period(cell.strip(), "epoch_ms")


def is_dotnet_date(values: Sequence[Cell]) -> bool:
    """True when every non-empty value is a Microsoft JSON date."""
    present = [v for v in values if not is_missing(v)]
    return bool(present) and all(parse_dotnet_date(v) is not None for v in present)


# --- JSON-stat -------------------------------------------------------------------------------------


def jsonstat_points(
    document: Any, *, time_dimension: str | None = None, where: dict[str, str] | None = None
) -> Iterator[PointDict]:
    """Points of JSON-stat: 2.0 datasets and collections, 1.x datasets and bundles of them.

    Category indexes may be lists or `{code: position}` objects, values a list or a sparse
    `{position: value}` object; the time axis is the dimension with the `time` role (else one named
    like a time), read from its codes or, when they are opaque (`X_0000123`), from its labels.
    `where` keeps one category (code or label) of a dimension (id or label).
    """
    for name, dataset in jsonstat_datasets(document):
        cube = jsonstat_cube(dataset)
        ids, sizes, codes, labels = cube.ids, cube.sizes, cube.codes, cube.labels
        time_id = time_dimension or _jsonstat_time_dimension(dataset, ids)
        time_pos = ids.index(time_id)
        times, time_fmt = _jsonstat_times(codes[time_pos], labels[time_pos], time_id=time_id)
        keep = _jsonstat_filter(cube, where or {})
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
            if any(position[axis] != wanted for axis, wanted in keep.items()):
                continue
            moment = parse_period(times[position[time_pos]], time_fmt)
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


@dataclass
class JsonStatCube:
    """The axes of a JSON-stat dataset: dimension ids, names, sizes, and each axis's codes and labels."""

    ids: list[str]
    names: list[str]
    sizes: list[int]
    codes: list[list[str]]
    labels: list[dict[str, str]]


def jsonstat_cube(dataset: dict[str, Any]) -> JsonStatCube:
    """The axes of a JSON-stat dataset (1.x keeps `id`, `size` and `role` inside `dimension`)."""
    dimensions = dataset["dimension"]
    ids: list[str] = [str(i) for i in dataset.get("id") or dimensions.get("id") or []]
    sizes: list[int] = [int(s) for s in dataset.get("size") or dimensions.get("size") or []]
    codes: list[list[str]] = []
    labels: list[dict[str, str]] = []
    for dim_id in ids:
        category = dimensions[dim_id].get("category", {})
        index = category.get("index")
        if isinstance(index, dict):
            ordered = sorted(index, key=index.__getitem__)
        elif isinstance(index, list):
            ordered = [str(code) for code in index]
        else:
            ordered = list(category.get("label", {}))
        codes.append(ordered)
        labels.append({str(k): str(v) for k, v in (category.get("label") or {}).items()})
    names = [str(dimensions[dim_id].get("label") or dim_id) for dim_id in ids]
    return JsonStatCube(ids=ids, names=names, sizes=sizes, codes=codes, labels=labels)


def _jsonstat_times(codes: list[str], labels: dict[str, str], *, time_id: str) -> tuple[list[str], str]:
    """The time axis as period texts and their format: the codes, or the labels when only they read."""
    fmt = detect_period_format(codes, name=time_id)
    if fmt is not None:
        return codes, fmt
    texts = [labels.get(code, code) for code in codes]
    fmt = detect_period_format(texts, name=time_id)
    if fmt is None:
        raise ToolkitError(f"time dimension {time_id!r} reads as no period format: {codes[:3]}")
    return texts, fmt


def _jsonstat_filter(cube: JsonStatCube, where: dict[str, str]) -> dict[int, int]:
    """Axis → position of the category each `where` entry keeps."""
    keep: dict[int, int] = {}
    for dimension, wanted in where.items():
        axis = next(
            (i for i, (d, n) in enumerate(zip(cube.ids, cube.names, strict=True)) if dimension in (d, n)),
            None,
        )
        if axis is None:
            raise ToolkitError(f"no dimension {dimension!r}; the dataset has {cube.ids}")
        position = next(
            (i for i, code in enumerate(cube.codes[axis]) if wanted in (code, cube.labels[axis].get(code))),
            None,
        )
        if position is None:
            raise ToolkitError(f"dimension {dimension!r} has no category {wanted!r}")
        keep[axis] = position
    return keep


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
            if isinstance(item, dict) and item.get("class") == "dataset" and "dimension" in item:
                yield str(item.get("label", "")), item
        return
    for key, value in document.items():
        if isinstance(value, dict) and isinstance(value.get("dimension"), dict) and "value" in value:
            yield key, value


_TIME_DIMENSION = re.compile(
    r"time|time_period|year|period|date|tid|jahr|zeit|month|quarter|periodo|periode|année|año|anno|jaar",
    re.IGNORECASE,
)


def _jsonstat_time_dimension(dataset: dict[str, Any], ids: Sequence[str]) -> str:
    role = dataset.get("role") or dataset["dimension"].get("role") or {}
    if role.get("time"):
        return str(role["time"][0])
    for dim_id in ids:
        if _TIME_DIMENSION.fullmatch(dim_id):
            return dim_id
    for dim_id in ids:
        if _TIME_DIMENSION.fullmatch(str(dataset["dimension"][dim_id].get("label") or "").strip()):
            return dim_id
    # Named in another language ("Vuosi", "Rok"): the one dimension whose categories read as periods.
    cube = jsonstat_cube(dataset)
    periodic = [
        dim_id
        for axis, dim_id in enumerate(ids)
        if cube.sizes[axis] > 1
        and (
            detect_period_format(cube.codes[axis], name="period") is not None
            or detect_period_format([cube.labels[axis].get(c, c) for c in cube.codes[axis]], name="period")
            is not None
        )
    ]
    if len(periodic) == 1:
        return periodic[0]
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
        offsets = None if points.offsets is None else points.offsets[keep]
        return PointColumns(
            points.timestamps[keep],
            points.values[keep],
            series=points.series,
            codes=points.codes[keep],
            offsets=offsets,
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
