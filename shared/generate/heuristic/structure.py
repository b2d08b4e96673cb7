"""Table structure: every row and column of a grid classified, and the blocks (tables) they form.

Rules in the manner of Pytheas and Strudel, without learning: a row is read from what its cells hold
(numbers, dates, labels, blanks) and where it stands (above the first data row, between two runs of
data, after the last). Each decision is a rule a person can check in `--explain`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.common.errors import HintError
from shared.generate.heuristic.matching import TIME_WORDS, tokens
from shared.wrapper_toolkit import (
    _DATE_CELL,
    Grid,
    _spans,
    clean_header,
    detect_period_format,
    is_missing,
    join_header_rows,
    month_of_header,
    parse_number,
    parse_period,
)

ROW_KINDS = ("blank", "title", "header", "group", "units", "data", "aggregate", "note")
COLUMN_KINDS = ("blank", "label", "time", "data", "flag", "aggregate")
AGGREGATE_WORDS = frozenset({"total", "sum", "all", "gesamt", "insgesamt", "summe", "totaal", "totale"})
# Blank rows a header may have between its lines (web tables saved as workbooks space them out).
MAX_SPACERS = 3
MAX_HEADER_LINES = 8
# Longer text above a header is a note or a title, not a label of a column group.
MAX_LABEL = 40
_NOTE_START = re.compile(r"^\s*(\(?\d{1,2}\)|\(?[a-z]\)|\*|†|‡|note|notes|source|sources|footnote|\[)", re.I)
_UNITS = re.compile(r"^[(\[].*[)\]]$")
_FLAG = re.compile(r"^\[[^\]]{0,12}\]$|^\([a-z]{1,3}\)$", re.I)


@dataclass
class RowFacts:
    """What the cells of one row hold."""

    filled: list[int]
    numbers: int
    texts: list[str]
    years: bool  # three or more year numbers rising left to right: periods as column headers

    @property
    def width(self) -> int:
        return len(self.filled)


@dataclass
class Block:
    """One table of a grid: its header lines, its data rows and the title of each of its sections."""

    title: str
    header_rows: list[int]
    data_rows: list[int]
    names: list[str]
    sections: dict[int, str] = field(default_factory=dict)  # data row → title of its section
    aggregate_rows: list[int] = field(default_factory=list)
    headerless: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The block as plain data for `--explain`."""
        return {
            "title": self.title,
            "header_rows": self.header_rows,
            "data_rows": _ranges(self.data_rows),
            "aggregate_rows": self.aggregate_rows,
            "columns": self.names,
            "sections": sorted(set(self.sections.values())),
            "headerless": self.headerless,
        }


@dataclass
class Structure:
    """The classes of every row and of the columns of the main block, and the blocks."""

    row_classes: list[str]
    column_classes: list[str]
    blocks: list[Block]
    reasons: list[str] = field(default_factory=list)
    column_groups: list[tuple[int, int]] = field(default_factory=list)  # tables side by side
    annual_rows: list[int] = field(default_factory=list)  # aggregates that are a year among months

    @property
    def main(self) -> Block | None:
        """The block with the most data rows (the first of equals)."""
        return max(self.blocks, key=lambda b: len(b.data_rows), default=None)


def _is_number(cell: Any) -> bool:
    return _cell_number(cell)[0]


def _year_number(cell: Any) -> int | None:
    return _cell_number(cell)[1]


def _cell_number(cell: Any) -> tuple[bool, int | None]:
    """(_is_number, _year_number) of a cell, reading it once."""
    if isinstance(cell, bool):
        return False, None
    if isinstance(cell, int | float):
        return True, _year_of(float(cell))
    if hasattr(cell, "year") and not isinstance(cell, str):
        return True, None
    value = parse_number(cell)
    return value is not None, _year_of(value) if isinstance(cell, str) else None


def _year_of(value: float | None) -> int | None:
    if value is None or not float(value).is_integer() or not 1000 <= value <= 2200:
        return None
    return int(value)


def _has_content(cell: Any) -> bool:
    """Neither missing nor blank once its white space is folded (`clean_header`), reading the cell once."""
    kind = type(cell)
    if kind is str:
        text = cell.strip()
        return bool(text) and not is_missing(text)
    if kind is float:
        return not math.isnan(cell)
    if kind is int or kind is datetime:
        return True  # never missing, never blank
    return not is_missing(cell) and bool(clean_header(cell))


def row_facts(row: Sequence[Any]) -> RowFacts:
    """Filled positions, numbers, texts and whether the numbers read as rising years."""
    filled = [i for i, cell in enumerate(row) if _has_content(cell)]
    read = {i: _cell_number(row[i]) for i in filled}
    numbers = [i for i in filled if read[i][0]]
    texts = [clean_header(row[i]) for i in filled if not read[i][0]]
    years = [read[i][1] for i in numbers]
    enough = 2 if texts and filled and not read[filled[0]][0] else 3
    rising = (
        len(years) >= enough
        and len(years) == len(numbers)
        and all(y is not None for y in years)
        and all(a < b for a, b in itertools.pairwise(years))  # type: ignore[operator]
    )
    return RowFacts(filled=filled, numbers=len(numbers), texts=texts, years=rising)


def _first_kind(facts: RowFacts) -> str:
    """The class a row has on its own, before its neighbours are looked at."""
    if not facts.filled:
        return "blank"
    if facts.years:
        return "header"
    if facts.numbers and facts.width >= 2:
        return "data"
    if facts.width == 1:
        return "title"
    if all(_UNITS.match(text) for text in facts.texts):
        return "units"
    return "header"


def _aggregate(facts: RowFacts) -> bool:
    label = facts.texts[0] if facts.texts else ""
    return bool(set(tokens(label)) & AGGREGATE_WORDS)


def _note(facts: RowFacts, row: int, *, first: int, last: int) -> bool:
    """A one-cell row is a note below the data, or among it when it reads like one (`1) …`, long text)."""
    text = (facts.texts or [""])[0]
    return row > last or (row > first and (bool(_NOTE_START.match(text)) or len(text) > 80))


def classify_rows(grid: Grid, *, facts: list[RowFacts] | None = None) -> list[str]:
    """The class of every row: blank, title, header, group, units, data, aggregate or note."""
    facts = facts if facts is not None else [row_facts(row) for row in grid]
    kinds = [_first_kind(f) for f in facts]
    data_at = [i for i, kind in enumerate(kinds) if kind == "data"]
    if not data_at:
        return kinds
    first, last = data_at[0], data_at[-1]
    for i, kind in enumerate(kinds):
        if kind == "title" and first < i < last and facts[i].numbers:
            kinds[i] = (
                "data"  # a row whose label alone is filled (a year without values) is data, not a title
            )
        elif kind == "data" and _aggregate(facts[i]):
            kinds[i] = "aggregate"
        elif kind == "title" and _note(facts[i], i, first=first, last=last):
            kinds[i] = "note"
        elif kind == "header" and i > last:
            kinds[i] = "note"  # two-column footnotes below the data
    for i in _annual_among_monthly(grid, facts, kinds):
        kinds[i] = "aggregate"
    for block in find_blocks(grid, kinds=kinds):
        for row in block.header_rows[:-1]:
            if _spans_row(grid, row, block.header_rows):
                kinds[row] = "group"
    return kinds


def _annual_among_monthly(grid: Grid, facts: list[RowFacts], kinds: list[str]) -> list[int]:
    """Data rows labelled by a bare year among rows labelled by months: annual figures, not periods."""
    labels = {i: grid[i][facts[i].filled[0]] for i, kind in enumerate(kinds) if kind == "data"}
    years = [
        i for i, label in labels.items() if _year_number(label) is not None and not hasattr(label, "month")
    ]
    if not years:
        return []  # months are looked for only where a bare year stands among the labels
    annual = set(years)
    months = sum(
        1
        for i, label in labels.items()
        if i not in annual
        and (
            hasattr(label, "month")
            or any(
                parse_period(label, fmt) is not None for fmt in ("month_name_year", "year_month", "year_mmm")
            )
        )
    )
    return years if months >= 6 else []


def _spans_row(grid: Grid, row: int, header_rows: list[int]) -> bool:
    below = [r for r in header_rows if r > row]
    width = max(len(grid[r]) for r in header_rows)
    return _spans(grid, row, below, width)


def _header_lines(grid: Grid, kinds: list[str], first_data: int, floor: int) -> list[int]:
    """The header lines above a run of data rows: the nearest header row and the lines that belong to it."""
    at = first_data - 1
    while at > floor and kinds[at] in ("units", "title", "blank") and first_data - at <= 4:
        at -= 1
    if at <= floor or kinds[at] != "header":
        return []
    lines = [at]
    spacers = 0
    probe = at - 1
    while probe > floor and len(lines) < MAX_HEADER_LINES:
        kind = kinds[probe]
        if kind == "blank":
            spacers += 1
            if spacers > MAX_SPACERS:
                break
            probe -= 1
            continue
        inner_title = kind == "title" and row_facts(grid[probe]).filled[0] > 0
        if not (kind in ("header", "group", "units") or inner_title) or not _belongs(grid, probe, lines):
            break
        lines.insert(0, probe)
        spacers = 0
        probe -= 1
    return lines


def _belongs(grid: Grid, row: int, lines: list[int]) -> bool:
    """True when a line above a header adds to its labels rather than being metadata above it."""
    # A line naming exactly the columns the header names is a second header (a source key row), long text
    # is a note, and a `key, value` pair in the first two columns over a named first column is metadata;
    # other lines are group labels or the upper halves of names split over lines.
    facts = row_facts(grid[row])
    upper = facts.filled
    if upper == row_facts(grid[lines[0]]).filled or any(len(text) > MAX_LABEL for text in facts.texts):
        return False  # a second header, or sentences of notes above the table
    if any(_DATE_CELL.fullmatch(text) for text in facts.texts):
        return False  # the day of a report names no column: its title line
    first_named = any(clean_header(grid[r][0]) for r in lines if grid[r])
    return not (upper == [0, 1] and first_named)


def find_blocks(
    grid: Grid, *, kinds: list[str] | None = None, header_rows: list[int] | None = None
) -> list[Block]:
    """The tables of a grid: runs of data rows under their header lines, sections titled by label rows."""
    # Runs of data separated only by blank and title rows share the header above the first run: they are
    # sections of one table (their titles tell rows with the same labels apart). A new header starts a new
    # block. `header_rows` given by a user replaces the header found for the first block.
    kinds = kinds or [_first_kind(row_facts(row)) for row in grid]
    blocks: list[Block] = []
    current: Block | None = None
    title = ""
    title_at = -1
    floor = -1
    run_started = False
    for i, kind in enumerate(kinds):
        if kind in ("data", "aggregate"):
            if not run_started:
                lines = _header_lines(grid, kinds, i, floor)
                if header_rows is not None and not blocks:
                    lines = list(header_rows)
                if current is None or lines:
                    current = Block(
                        title=_title_above(grid, kinds, lines[0] if lines else i, floor),
                        header_rows=lines,
                        data_rows=[],
                        names=join_header_rows(grid, lines),
                        headerless=not lines,
                    )
                    blocks.append(current)
                    if lines and title_at < lines[-1]:
                        title = ""
                run_started = True
            if current is None:
                continue
            current.data_rows.append(i)
            if kind == "aggregate":
                current.aggregate_rows.append(i)
            if title:
                current.sections[i] = title
        else:
            if run_started:
                floor = i - 1
            run_started = False
            if kind == "title":
                title = clean_header(next(c for c in grid[i] if _has_content(c)))
                title_at = i
    return [b for b in blocks if b.data_rows]


def _title_above(grid: Grid, kinds: list[str], top: int, floor: int) -> str:
    """The top line of the title rows nearest above a block's header (blank rows skipped), or ''."""
    title = ""
    for i in range(top - 1, floor, -1):
        if kinds[i] == "title":
            title = next(clean_header(c) for c in grid[i] if _has_content(c))
        elif kinds[i] not in ("blank", "units") or title:
            break
    return title


def classify_columns(grid: Grid, block: Block) -> list[str]:
    """The class of every column of a block: blank, label, time, data, flag or aggregate."""
    classes = []
    for index, name in enumerate(block.names):
        cells = [grid[r][index] for r in block.data_rows if index < len(grid[r])]
        present = [c for c in cells if _has_content(c)]
        if not present:
            classes.append("blank")
        elif _period_name(name) or _time_like(present, name):
            classes.append("time")
        elif all(isinstance(c, str) and _FLAG.match(c.strip()) for c in present):
            classes.append("flag")
        elif sum(_is_number(c) for c in present) >= 0.5 * len(present):
            dated = all(hasattr(c, "year") and not isinstance(c, str) for c in present)
            words = set(tokens(name))
            classes.append("time" if dated else "aggregate" if words & AGGREGATE_WORDS else "data")
        else:
            classes.append("label")
    if sum(1 for name in block.names if month_of_header(name)) >= 6:
        # Beside a column per month, a number column (Annual, Average) sums or averages them.
        classes = ["aggregate" if kind == "data" else kind for kind in classes]
    return classes


def _period_name(name: str) -> bool:
    """True for a column header that names a period: a year, a month, a quarter."""
    periods = ("year", "year_month", "year_quarter")
    return month_of_header(name) is not None or any(parse_period(name, fmt) is not None for fmt in periods)


def _time_like(cells: list[Any], name: str) -> bool:
    """True for a column of periods: dates, or years and other numbers only under a time word."""
    fmt = detect_period_format(cells[:200], name=name)
    if fmt is None:
        return False
    return fmt not in ("year", "excel_serial", "epoch_s", "epoch_ms") or bool(set(tokens(name)) & TIME_WORDS)


def column_groups(grid: Grid, *, sample: int = 300) -> list[tuple[int, int]]:
    """(first, end) column ranges of tables standing side by side, split by columns blank in every row."""
    # One-cell rows (titles, notes) may run across the gap and do not join the tables. A range needs two
    # columns filled in more than one row (a cell of a title line is no column) and a row with a number to
    # count as a table; one range (or none) means one table.
    width = max((len(row) for row in grid[:sample]), default=0)
    used = [False] * width
    rows = [0] * width
    numbers = [False] * width
    for row in grid[:sample]:
        facts = row_facts(row)
        if facts.width < 2:
            continue
        for at in facts.filled:
            used[at] = True
            rows[at] += 1
            numbers[at] = numbers[at] or _is_number(row[at])
    ranges: list[tuple[int, int]] = []
    start = None
    for at in range(width + 1):
        if at < width and used[at]:
            start = at if start is None else start
        elif start is not None:
            ranges.append((start, at))
            start = None
    tables: list[tuple[int, int]] = []
    for a, b in ranges:
        if sum(n > 1 for n in rows[a:b]) >= 2 and any(numbers[a:b]):
            tables.append((a, b))
        elif tables and a - tables[-1][1] == 1 and any(numbers[a:b]):
            tables[-1] = (tables[-1][0], b)  # a last column set off by one spacer column is the table's own
    return tables if len(tables) > 1 else []


def analyze_structure(grid: Grid, *, header_rows: list[int] | None = None) -> Structure:
    """Row classes, blocks and the column classes of the main block of a grid."""
    if header_rows is not None:
        bad = [r for r in header_rows if not 0 <= r < len(grid)]
        if bad:
            raise HintError(f"header rows {bad} are outside the grid (rows 0..{len(grid) - 1})")
    facts = [row_facts(row) for row in grid]
    kinds = classify_rows(grid, facts=facts)
    if header_rows is not None:
        for row in header_rows:
            kinds[row] = "header"
        first = max(header_rows, default=-1) + 1
        for row in range(first, len(grid)):
            if kinds[row] in ("header", "units") and row == first:
                kinds[row] = "data" if facts[row].numbers else kinds[row]
    blocks = find_blocks(grid, kinds=kinds, header_rows=header_rows)
    main = max(blocks, key=lambda b: len(b.data_rows), default=None)
    reasons = []
    if main is not None:
        if main.headerless:
            reasons.append(f"no header row: columns named column_1..column_{len(main.names)}")
        elif len(main.header_rows) > 1:
            reasons.append(f"header over rows {main.header_rows} joined into one label per column")
        if main.sections:
            reasons.append(f"sections {sorted(set(main.sections.values()))} under one header")
    columns = classify_columns(grid, main) if main is not None else []
    groups = column_groups(grid)
    if groups:
        reasons.append(f"{len(groups)} tables side by side in columns {[[a, b - 1] for a, b in groups]}")
    annual = _annual_among_monthly(grid, facts, [k if k != "aggregate" else "data" for k in kinds])
    if annual:
        reasons.append(f"rows {annual} hold annual figures among monthly ones: left out of the series")
    return Structure(
        row_classes=kinds,
        column_classes=columns,
        blocks=blocks,
        reasons=reasons,
        column_groups=groups,
        annual_rows=annual,
    )


def _ranges(rows: list[int]) -> list[list[int]]:
    """Consecutive row indexes folded into [first, last] pairs, to keep `--explain` short."""
    folded: list[list[int]] = []
    for row in rows:
        if folded and folded[-1][1] == row - 1:
            folded[-1][1] = row
        else:
            folded.append([row, row])
    return folded
