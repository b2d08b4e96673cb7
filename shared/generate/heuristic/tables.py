"""Layout analysis of delimited tables and sheets: header, units, time column, long or wide."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from shared.common.errors import HintError, NoSeriesFoundError
from shared.domain.wrapper import IndicatorRequest, SourceFormat
from shared.generate.heuristic.matching import (
    ADJECTIVES,
    END_WORDS,
    FORMAT_FREQUENCIES,
    HOUR_WORDS,
    ID_WORDS,
    MONTH_WORDS,
    NOTE_WORDS,
    PERIOD_HEADER_FORMATS,
    START_WORDS,
    TIME_WORDS,
    VALUE_NAMES,
    RequestMatcher,
    frequency_of,
    requested_frequency,
)
from shared.generate.heuristic.periods import code_columns, period_note, vintage_columns
from shared.generate.heuristic.plans import Candidate, ColumnStats, TablePlan
from shared.generate.heuristic.render import render_sheet_per_period, render_table
from shared.generate.heuristic.structure import Block, Structure, analyze_structure, column_groups
from shared.generate.selection import restrict_code
from shared.source.profile import SourceProfile, TableProfile
from shared.wrapper_toolkit import (
    _DATE_CELL,
    _FOOTNOTE_MARK,
    Grid,
    align_header,
    clean_header,
    column_range,
    decimal_votes,
    detect_clock_format,
    detect_period_format,
    detect_sentinels,
    header_names,
    is_missing,
    is_preliminary,
    month_of_header,
    nested_blocks,
    parse_clock,
    parse_month,
    parse_number,
    parse_period,
    row_title,
    table_blocks,
    title_date,
    with_header,
)


def find_header_row(grid: Grid, *, limit: int = 60) -> int:
    """The first row that is wide, carries labels, and is followed by rows with numbers."""
    sample = grid[:300]
    widest = max((_filled(row) for row in sample), default=0)
    for index, row in enumerate(grid[:limit]):
        if _filled(row) < max(2, 0.5 * widest) or _is_comment(row) or _dated_title(row):
            continue
        labels = [c for c in row if isinstance(c, str) and c.strip() and parse_number(c) is None]
        periods = [c for c in row if parse_period(clean_header(c), "year") is not None]
        if not labels and len(periods) < 3:
            continue
        following = grid[index + 1 : index + 8]
        if any(any(_is_numberish(c) for c in r) for r in following):
            return index
    return 0


def _dated_title(row: Sequence[Any]) -> bool:
    """True for a row of a date and a title (a report's first line): it names no columns."""
    cells = [str(c).strip() for c in row if not is_missing(c) and str(c).strip()]
    return len(cells) == 2 and any(_DATE_CELL.fullmatch(c) for c in cells)


def _is_comment(row: Sequence[Any]) -> bool:
    """True for a `# …` comment line (NOAA and many instrument exports start with them)."""
    first = next((cell for cell in row if not is_missing(cell)), None)
    return isinstance(first, str) and first.lstrip().startswith("#")


def _filled(row: Sequence[Any]) -> int:
    return sum(1 for cell in row if not is_missing(cell))


def _is_numberish(cell: Any) -> bool:
    return (
        (not isinstance(cell, bool) and isinstance(cell, int | float))
        or parse_number(cell) is not None
        or (hasattr(cell, "year") and not isinstance(cell, str))
    )


def _units_row(grid: Grid, header: int) -> dict[int, str] | None:
    """A row of unit labels right under the header (e.g. `(Million Metric Tons)`), if there is one."""
    if header + 2 >= len(grid):
        return None
    row, after = grid[header + 1], grid[header + 2]
    texts = {i: clean_header(c) for i, c in enumerate(row) if isinstance(c, str) and c.strip()}
    if not texts or any(_is_numberish(c) for c in row if not is_missing(c)):
        return None
    if not any(_is_numberish(c) for c in after):
        return None
    return texts


def _table_decimal(data: Grid, delimiter: str | None) -> str:
    """The decimal mark of a table: one file writes all its numbers one way, so every column votes.

    Without a telling number, a `;`-delimited file is taken to use the comma: that is why it is not
    comma-delimited.
    """
    comma, point = decimal_votes(cell for row in data[:500] for cell in row)
    if comma == point == 0:
        return "," if delimiter == ";" else "."
    return "," if comma > point else "."


def _column_stats(names: list[str], data: Grid, units: dict[int, str], decimal: str) -> list[ColumnStats]:
    stats = []
    for index, name in enumerate(names):
        values = [row[index] if index < len(row) else None for row in data]
        present = [v for v in values if not is_missing(v)]
        fill = len(present) / max(1, len(values))
        # Marks with no letter or digit (`.`, `/`, `…`) stand for a missing number in national statistics.
        counted = [v for v in present if not isinstance(v, str) or any(ch.isalnum() for ch in v)]
        numeric = sum(1 for v in counted if parse_number(v, decimal=decimal) is not None) / max(
            1, len(counted)
        )
        stats.append(
            ColumnStats(
                name=name,
                index=index,
                fill=fill,
                numeric=numeric,
                period_format=detect_period_format(present, name=name) if present else None,
                distinct=len({str(v) for v in present}),
                unit=units.get(index, ""),
                clock=bool(present) and all(parse_clock(v) is not None for v in present),
            )
        )
    return stats


def _time_column(stats: list[ColumnStats], n_rows: int) -> ColumnStats | None:
    """The column holding periods: name hints first, then full dates, start before end."""
    candidates = []
    for col in stats:
        fmt = col.period_format
        if fmt is None or col.fill < 0.5:
            continue
        hinted = bool(col.words & TIME_WORDS) or col.time_hint
        if fmt == "year" and not hinted:
            continue
        if fmt in ("epoch_s", "epoch_ms", "excel_serial") and not hinted:
            continue
        rank = 0.0
        rank += 2.0 if hinted else 0.0
        rank += 1.0 if fmt in ("native", "iso") else 0.0
        # Whole words only: "Total" must not read as "to", nor "Tokyo time" as an end.
        words = re.findall(r"[^\W_]+", col.name.casefold())
        edges = {words[0], words[-1]} if words else set()
        if edges & START_WORDS:
            rank += 0.5
        if edges & END_WORDS:
            rank -= 1.5
        rank += 0.3 * min(1.0, col.distinct / max(1, n_rows))
        candidates.append((rank, -col.index, col))
    if not candidates:
        return None
    return max(candidates, key=lambda item: (item[0], item[1]))[2]


def _value_columns(stats: list[ColumnStats], exclude: set[str], *, rows: int = 0) -> list[ColumnStats]:
    found = []
    for col in stats:
        if col.name in exclude or col.fill < 0.02 or col.numeric < 0.8:
            continue
        if col.words & TIME_WORDS and col.period_format is None and len(col.words) <= 2:
            continue  # e.g. "Decimal Date": a time in another form, not a measurement
        if col.words & ID_WORDS and not col.words - ID_WORDS:
            continue
        if col.distinct == 1 and col.fill > 0.5 and rows > 20:
            continue  # one number on every row identifies the table, it measures nothing
        found.append(col)
    return found


def _dimension_columns(stats: list[ColumnStats], exclude: set[str]) -> list[ColumnStats]:
    return [
        col
        for col in stats
        if col.name not in exclude
        and col.numeric < 0.5
        and col.fill >= 0.3
        and col.period_format is None  # another time (an end, a revision date) is not a dimension
        and not col.clock
        and not col.words & NOTE_WORDS
        and not col.name.startswith("column_")
    ]


def analyze_table(
    grid: Grid, request: IndicatorRequest, *, sheet: str = "", delimiter: str | None = None
) -> list[TablePlan]:
    """Plans for a table, or for each of the tables standing side by side in it."""
    groups = column_groups(grid) if grid else []
    if not groups:
        plan = analyze_grid(grid, request, sheet=sheet, delimiter=delimiter)
        return [plan] if plan is not None else []
    plans = []
    for first, end in groups:
        plan = analyze_grid(column_range(grid, first, end), request, sheet=sheet, delimiter=delimiter)
        if plan is not None:
            plan.columns = (first, end)
            plan.reasons.append(f"one of {len(groups)} tables side by side: columns {first}..{end - 1}")
            plans.append(plan)
    return plans


def analyze_grid(
    grid: Grid, request: IndicatorRequest, *, sheet: str = "", delimiter: str | None = None
) -> TablePlan | None:
    """Layout decisions for one table, or None when it holds no numeric series."""
    if not grid:
        return None
    grid, header, header_rows, keep, title, until_blank = _header_of(grid, request.hints.header_rows)
    aligned = align_header(grid, header)
    plan = _plan_table(aligned, request, header=header, keep=keep, sheet=sheet, delimiter=delimiter)
    if plan is not None:
        plan.title = title
        plan.until_blank = until_blank
        if aligned is not grid:
            plan.aligned = True
            plan.reasons.append(
                "header labels laid in order over the columns the data fills (they stand apart)"
            )
        if until_blank:
            plan.reasons.append("another table follows below: this one ends at its first blank row")
    if plan is not None and header_rows is not None:
        plan.header_rows = header_rows
        plan.reasons.append(
            f"header over rows {header_rows} joined into one label per column"
            if header_rows
            else "no header row: columns named column_1, column_2, …"
        )
    return plan


def _plan_table(
    grid: Grid,
    request: IndicatorRequest,
    *,
    header: int,
    keep: set[int] | None,
    sheet: str,
    delimiter: str | None,
) -> TablePlan | None:
    names = header_names(grid[header])
    _check_column_hints(names, request)
    units = _units_row(grid, header) or {}
    skip = 1 if units else 0
    data, titles = _data_rows(grid, header, skip, keep=keep)
    if not data:
        return None
    decimal = request.hints.decimal or _table_decimal(data, delimiter)
    periods = _period_headers(names)
    if periods is not None:
        return _wide_plan(
            names,
            data,
            titles,
            units,
            header=header,
            skip=skip,
            period_format=periods,
            sheet=sheet,
            decimal=decimal,
            body=grid[header + 1 :],
            grid=grid,
        )
    stats = _column_stats(names, data, units, decimal)
    time_col = _hinted_time_column(stats, request.hints.time_column) or _time_column(stats, len(data))
    if _month_headers(names) and time_col is not None and time_col.period_format == "year":
        return _month_columns_plan(
            names, data, titles, stats, time_col, header=header, skip=skip, sheet=sheet, decimal=decimal
        )
    day = None
    if time_col is None or time_col.period_format is None:
        day = _title_day(grid, header, stats, data, hinted=time_col, request_dates=request_days(request))
        time_col = day[0] if day is not None else time_col
    month_col = _month_column(stats, data, time_col)
    clock_col = _clock_column(stats, len(data), time_col)
    exclude = {c.name for c in (time_col, month_col, clock_col) if c is not None}
    values = _value_columns(stats, exclude, rows=len(data))
    if time_col is not None and time_col.distinct < 2 and month_col is None and clock_col is None:
        return None  # one period down a column is a note beside a table, not a time series
    if time_col is not None:
        # periods.py: an integer code of a label column names series, it is no value.
        labels = _dimension_columns(stats, exclude)
        codes = code_columns(data, candidates=values, labels=labels, decimal=decimal)
        values = [c for c in values if c not in codes]
    if not values:
        return None
    matcher = RequestMatcher(request, [c.name + " " + c.unit for c in values])
    scored = sorted(
        (
            (matcher.score(c.name + " " + c.unit, unit=c.unit) + _generic_value(c), -c.index, c)
            for c in values
        ),
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    best_score, _, value_col = scored[0]
    dims = _dimension_columns(stats, exclude | {value_col.name})
    if time_col is not None and time_col.period_format:
        # periods.py: a label whose values take turns along the time axis marks releases, not series.
        fmt = time_col.period_format
        vintages = vintage_columns(data, time_column=time_col, time_format=fmt, candidates=dims)
        dims = [d for d in dims if d not in vintages]
    time_cols = [c for c in (time_col, month_col, clock_col) if c is not None]
    title_dimension = _title_dimension(data, titles, dims, time_cols, names)
    if title_dimension is None:
        dims = _unique_dimensions(data, stats, time_cols, dims, exclude | {value_col.name})
    present = [row[value_col.index] for row in data if value_col.index < len(row)]
    numbers = [parse_number(v, decimal=decimal) for v in present]
    missing = detect_sentinels([n for n in numbers if n is not None])
    plan = TablePlan(
        layout="long" if time_col else "snapshot",
        sheet=sheet,
        header_row=header,
        anchors=_anchors(value_col.name, time_col.name if time_col else None, [d.name for d in dims]),
        skip_rows=skip,
        time_column=time_col.name if time_col else None,
        time_format=time_col.period_format if time_col else None,
        month_column=month_col.name if month_col else None,
        clock_column=clock_col.name if clock_col else None,
        value_column=value_col.name,
        dimension_columns=[d.name for d in dims],
        title_dimension=title_dimension,
        decimal=decimal,
        missing=missing,
        score=best_score,
        rows=len(data),
    )
    if day is not None:
        _, plan.time_format, plan.day_format, day_note = day
        plan.reasons.append(day_note)
        if "either" in day_note:
            plan.warnings.append(day_note)
    plan.value_scores = [(c.name, score) for score, _, c in scored]
    others = [c.name for _, _, c in scored[1:6]]
    plan.reasons.append(f"value column {value_col.name!r} matches the request best (score {best_score:.2f})")
    if note := period_note(plan.time_format):  # periods.py: the dating convention of the time column
        plan.reasons.append(note)
    if others:
        plan.reasons.append(f"other numeric columns: {others}")
    if clock_col:
        plan.reasons.append(f"dates in {time_col.name!r} and times of day in {clock_col.name!r}")  # type: ignore[union-attr]
    if month_col:
        plan.reasons.append(f"years in {time_col.name!r} and months in {month_col.name!r}")  # type: ignore[union-attr]
    if title_dimension:
        plan.reasons.append(
            f"{len(set(titles))} stacked tables under one header: their titles form {title_dimension!r}"
        )
    if missing:
        plan.reasons.append(f"sentinel values treated as missing: {missing}")
    return plan


def _header_of(
    grid: Grid, hint: list[int] | None
) -> tuple[Grid, int, list[int] | None, set[int] | None, str, bool]:
    """(grid, header row, lines to join, data rows, title, ends at a blank row) as the structure finds."""
    # A header over several lines, or none at all, is joined into one row (see `with_header`); the plain
    # one-line header is found as before, which also finds headers of tables the structure reads as data.
    structure = analyze_structure(grid, header_rows=hint)
    block = structure.main
    keep = {i for i, kind in enumerate(structure.row_classes) if kind in ("data", "aggregate")}
    keep -= set(structure.annual_rows)  # a year among months would blur the time column's format
    title = _block_title(structure, block) if block is not None else ""
    until_blank = block is not None and _followed_by_other_table(structure, block)
    if until_blank:
        keep &= set(block.data_rows)  # type: ignore[union-attr]
    if hint is None and (block is None or (len(block.header_rows) == 1 and not block.headerless)):
        header = find_header_row(grid)
        agrees = block is not None and block.header_rows == [header]
        return grid, header, None, keep if agrees else None, title, until_blank and agrees
    if hint is None and block is not None and block.headerless and _content_above(grid, block.data_rows[0]):
        return grid, find_header_row(grid), None, None, title, False
    lines = hint if hint is not None else block.header_rows  # type: ignore[union-attr]
    if not lines:
        keep = {i + 1 for i in keep}  # below the row of names put on top
        until_blank = False
    return with_header(grid, lines), (lines[-1] if lines else 0), lines, keep, title, until_blank


def _block_title(structure: Structure, block: Block) -> str:
    """A block's title, or that of a stacked table with the same period or column names that has one."""
    if block.title:
        return block.title
    return next((b.title for b in structure.blocks if b.title and b.names[1:] == block.names[1:]), "")


def _followed_by_other_table(structure: Structure, block: Block) -> bool:
    """True when a table with other column names follows a block whose data rows have no gap."""
    # The first name may differ between tables stacked under one header: it labels the block.
    rows = block.data_rows
    if not rows or rows[-1] - rows[0] + 1 != len(rows):
        return False  # sections spaced by blank rows: the table does not end at a blank row
    return any(
        other.header_rows and other.data_rows[0] > rows[-1] and other.names[1:] != block.names[1:]
        for other in structure.blocks
    )


def _content_above(grid: Grid, row: int) -> bool:
    """True when anything but blank rows stands above a row: a table with no header starts the grid."""
    return any(_filled(r) for r in grid[:row])


def _check_column_hints(names: list[str], request: IndicatorRequest) -> None:
    """A time column hint must name a column; the message lists the real ones."""
    wanted = request.hints.time_column
    if wanted and clean_header(wanted).casefold() not in {n.casefold() for n in names}:
        raise HintError(f"time column {wanted!r} not found; columns are {names[:40]}")


def _generic_value(col: ColumnStats) -> float:
    """A bonus for a column named just `value` (`Wert`, `OBS_VALUE`): where a long table keeps its numbers."""
    return 1.0 if clean_header(col.name).casefold().replace("_", " ") in VALUE_NAMES else 0.0


def _hinted_time_column(stats: list[ColumnStats], wanted: str | None) -> ColumnStats | None:
    """The column a time column hint names, read with the period format its cells have."""
    if not wanted:
        return None
    folded = clean_header(wanted).casefold()
    col = next(c for c in stats if c.name.casefold() == folded)  # _check_column_hints made sure it is there
    if col.period_format is None:
        raise HintError(f"time column {col.name!r} holds no dates or periods this tool reads")
    return col


def _title_day(
    grid: Grid,
    header: int,
    stats: list[ColumnStats],
    data: Grid,
    *,
    hinted: ColumnStats | None,
    request_dates: set[str],
) -> tuple[ColumnStats, str, str, str] | None:
    """(hour column, its clock format, date format, reason) for a one-day report dated above its header."""
    dates = [
        cell
        for row in grid[:header]
        for cell in row
        if (isinstance(cell, str) and _DATE_CELL.fullmatch(cell.strip()))
        or (hasattr(cell, "year") and not isinstance(cell, str))
    ]
    fmt = detect_period_format(dates) if dates else None
    if fmt not in ("iso", "native", "day_month_year", "month_day_year"):
        return None
    column, clock = None, None
    for col in [hinted] if hinted is not None else stats:
        if col.fill < 0.5 or col.distinct < 2 or not (col.words & HOUR_WORDS or hinted is not None):
            continue
        present = [row[col.index] for row in data if col.index < len(row) and not is_missing(row[col.index])]
        clock = detect_clock_format(present, hours=True)
        if clock is not None:
            column = col
            break
    if column is None or clock is None:
        return None
    fields = [int(n) for n in re.findall(r"\d+", str(dates[0]))[:2]]
    either = fmt in ("day_month_year", "month_day_year") and max(fields) <= 12 and fields[0] != fields[1]
    named = ""
    if either:
        readings = {f: title_date(grid, header, time_format=f) for f in ("day_month_year", "month_day_year")}
        told = [f for f, day in readings.items() if day in request_dates]
        if len(told) == 1:
            fmt, named = told[0], " (the day the request names)"
    day = title_date(grid, header, time_format=fmt)
    note = (
        f"one day's table: the day {day}{named} from the title above it, "
        f"times of day in {column.name!r} ({clock})"
    )
    if either and not named:
        first = "month" if fmt == "month_day_year" else "day"
        note += f"; the date {dates[0]!r} reads either way, taken {first} first"
    return column, clock, fmt, note


_NAMED_DAY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([^\W\d_]{3,})\.?,?\s+(\d{4})\b")
_NAMED_MONTH_DAY = re.compile(r"\b([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def request_days(request: IndicatorRequest) -> set[str]:
    """The days (ISO) the request's name and description name: `3 May 2021`, `May 3, 2021`, `2021-05-03`."""
    text = f"{request.name} {request.description}"
    found = set()
    for day, month, year in [
        *_NAMED_DAY.findall(text),
        *((d, m, y) for m, d, y in _NAMED_MONTH_DAY.findall(text)),
    ]:
        number = parse_month(month)
        if number is not None and 1 <= int(day) <= 31:
            found.add(f"{year}-{number:02d}-{int(day):02d}")
    found.update(f"{y}-{m}-{d}" for y, m, d in _ISO_DAY.findall(text))
    return found


def _month_column(stats: list[ColumnStats], data: Grid, time_col: ColumnStats | None) -> ColumnStats | None:
    """Beside a column of years, the column that holds each row's month (1-12 or month names)."""
    if time_col is None or time_col.period_format != "year":
        return None
    for col in stats:
        if col is time_col or not col.words & MONTH_WORDS or col.fill < 0.5:
            continue
        present = [row[col.index] for row in data if col.index < len(row) and not is_missing(row[col.index])]
        if (
            present
            and all(parse_month(v) is not None for v in present)
            and len({str(v) for v in present}) > 1
        ):
            return col
    return None


def _clock_column(stats: list[ColumnStats], n_rows: int, time_col: ColumnStats | None) -> ColumnStats | None:
    """Beside a column of repeating dates, the column with each row's time of day (the start, not the end)."""
    if time_col is None or time_col.period_format not in (
        "iso",
        "native",
        "day_month_year",
        "month_day_year",
    ):
        return None
    if time_col.distinct >= n_rows:
        return None
    for col in stats:
        if col.clock and col.fill >= 0.5 and col.distinct > 1 and not col.words & END_WORDS:
            return col
    return None


def _month_headers(names: list[str]) -> bool:
    """True when six or more column headers are distinct month names (a row per year, a column per month)."""
    return len({month for name in names if (month := month_of_header(name))}) >= 6


def _month_columns_plan(
    names: list[str],
    data: Grid,
    titles: list[str],
    stats: list[ColumnStats],
    year_col: ColumnStats,
    *,
    header: int,
    skip: int,
    sheet: str,
    decimal: str,
) -> TablePlan | None:
    month_at = [i for i, name in enumerate(names) if month_of_header(name)]
    label_stats = [c for c in stats if c.index not in month_at and c is not year_col]
    dims = _dimension_columns(label_stats, set())
    title_dimension = _title_dimension(data, titles, dims, [year_col], names)
    cells = [row[i] for row in data for i in month_at if i < len(row) and not is_missing(row[i])]
    numbers = [n for n in (parse_number(c, decimal=decimal) for c in cells) if n is not None]
    if not numbers:
        return None
    dim_names = [d.name for d in dims]
    plan = TablePlan(
        layout="months",
        sheet=sheet,
        header_row=header,
        anchors=[year_col.name, names[month_at[0]], *dim_names[:2]],
        skip_rows=skip,
        time_column=year_col.name,
        time_format="year",
        dimension_columns=dim_names,
        title_dimension=title_dimension,
        decimal=decimal,
        missing=detect_sentinels(numbers),
        rows=len(data),
    )
    plan.reasons.append(
        f"a row per year ({year_col.name!r}) and a column per month: {len(month_at)} month columns"
    )
    return plan


def _data_rows(grid: Grid, header: int, skip: int, *, keep: set[int] | None = None) -> tuple[Grid, list[str]]:
    """The data rows under the header and the title of the table each belongs to.

    Repeated header rows (stacked tables), one-cell title and footnote rows, and the units row are left
    out, so that they do not blur what the columns hold.
    """
    data: Grid = []
    titles: list[str] = []
    for number, (title, first, end) in enumerate(table_blocks(grid, header)):
        rows = list(enumerate(grid[first:end], first))
        if skip and rows and (number == 0 or not any(_is_numberish(c) for c in rows[0][1])):
            rows = rows[1:]
        for at, row in rows:
            if not _filled(row) or (keep is not None and at not in keep and row_title(row) is None):
                continue
            section = row_title(row)
            if section is not None:
                title = section  # as `_table_rows` in the toolkit reads sections
                continue
            data.append(row)
            titles.append(title)
    return data, titles


def _title_dimension(
    data: Grid, titles: list[str], dims: list[ColumnStats], time_cols: list[ColumnStats], names: list[str]
) -> str | None:
    """The dimension for the titles of stacked tables, when only the titles tell their rows apart."""
    if len(set(titles)) < 2 or _keys_unique(data, dims + time_cols):
        return None
    if not _keys_unique(data, dims + time_cols, titles):
        return None
    return next(name for name in ("table", "table_title", "stacked_table") if name not in names)


def _keys_unique(data: Grid, columns: list[ColumnStats], titles: list[str] | None = None) -> bool:
    """True when the cells of the columns (and the table titles) name every data row once."""
    keys = [
        tuple(clean_header(row[c.index]) if c.index < len(row) else "" for c in columns)
        + ((titles[i],) if titles else ())
        for i, row in enumerate(data)
    ]
    return len(set(keys)) == len(keys)


def _anchors(value: str, time: str | None, dims: list[str]) -> list[str]:
    return [name for name in (time, value, *dims[:2]) if name]


def _unique_dimensions(
    data: Grid,
    stats: list[ColumnStats],
    time_cols: list[ColumnStats],
    dims: list[ColumnStats],
    exclude: set[str],
) -> list[ColumnStats]:
    """Add columns until (time, dimensions) names every row once, when that is possible."""
    chosen = list(dims)
    if _keys_unique(data, chosen + time_cols):
        return chosen
    spare = [
        c
        for c in stats
        if c not in chosen
        and c.name not in exclude
        and c.fill >= 0.3
        and (c.numeric < 0.5 or c.words & ID_WORDS)
        and not c.words & TIME_WORDS
        and c not in time_cols
    ]
    for col in spare:
        chosen.append(col)
        if _keys_unique(data, chosen + time_cols):
            return chosen
    return list(dims)


def _period_headers(names: list[str]) -> str | None:
    """The period format most column headers share, when three headers (or two of three) are periods."""
    best: tuple[int, str] | None = None
    labels = [name for name in names if not name.startswith("column_")]
    for fmt in PERIOD_HEADER_FORMATS:
        hits = sum(1 for name in names if parse_period(name, fmt) is not None)
        enough = hits >= 3 or (hits == 2 and 3 * hits >= 2 * len(labels))
        if enough and (best is None or hits > best[0]):
            best = (hits, fmt)
    return best[1] if best else None


def _wide_plan(
    names: list[str],
    data: Grid,
    titles: list[str],
    units: dict[int, str],
    *,
    header: int,
    skip: int,
    period_format: str,
    sheet: str,
    decimal: str,
    body: Grid,
    grid: Grid,
) -> TablePlan | None:
    label_names = [name for name in names if parse_period(name, period_format) is None]
    stats = [s for s in _column_stats(names, data, units, decimal) if s.name in label_names]
    split = next((s for s in stats if "\\" in s.name or ("," in s.name and s.numeric < 0.5)), None)
    dims = _dimension_columns(stats, {split.name} if split else set())
    title_dimension = _title_dimension(data, titles, dims + ([split] if split else []), [], names)
    period_cols = [i for i, name in enumerate(names) if parse_period(name, period_format) is not None]
    cells = [row[i] for row in data for i in period_cols if i < len(row) and not is_missing(row[i])]
    if not cells:
        return None
    numbers = [parse_number(c, decimal=decimal) for c in cells]
    if sum(n is not None for n in numbers) < 0.5 * len(cells):
        return None
    # Tables stacked without a title of their own are `table N` to `table_blocks`; their title lines on
    # every level (an outer title over several tables, the header's first cell) name them instead.
    untitled = any(re.fullmatch(r"table \d+", title) for title in titles)
    nested = _nested_titles(grid, header, data, dims) if title_dimension is None or untitled else None
    if nested is not None:
        title_dimension = None
    levels = _indented_column(dims, body=body)
    if levels is not None:
        column, depth, _ = levels
        title_dimension = None  # the hierarchy names the sections
        dims = [d for d in dims if d is not column]
    month_col = _month_label_column(dims, data) if period_format == "year" else None
    if month_col is not None:
        dims = [d for d in dims if d is not month_col]
    dim_names = [d.name for d in dims]
    if levels is not None:
        dim_names = [*(f"{column.name} level {k}" for k in range(1, depth + 1)), column.name, *dim_names]
    plan = TablePlan(
        layout="matrix" if month_col else "wide",
        month_column=month_col.name if month_col else None,
        sheet=sheet,
        header_row=header,
        anchors=[names[period_cols[0]], *([split.name] if split else []), *dim_names[:2]],
        skip_rows=skip,
        period_format=period_format,
        split_column=split.name if split else None,
        dimension_columns=dim_names,
        title_dimension=title_dimension,
        decimal=decimal,
        missing=detect_sentinels([n for n in numbers if n is not None]),
        score=0.0,
        rows=len(data),
    )
    labelled = dims + ([levels[0]] if levels is not None else [])
    cut = levels is not None and levels[2]
    plan.row_labels = {
        (_FOOTNOTE_MARK.sub("", text) if cut else text): d.name
        for row in data
        for d in labelled
        if d.index < len(row) and (text := clean_header(row[d.index]))
    }
    if levels is not None:
        plan.label_levels = (levels[0].name, levels[2])
        plan.anchors = [names[period_cols[0]], levels[0].name]
        plan.reasons.append(
            f"labels in {levels[0].name!r} are indented {levels[1] + 1} levels deep: rows keep their parents"
            + (" (footnote numbers cut from the labels)" if levels[2] else "")
        )
    if month_col is not None:
        plan.anchors = [names[period_cols[0]], month_col.name]
        plan.reasons.append(
            f"a row per month ({month_col.name!r}) and a column per year: {len(period_cols)} year columns; "
            "rows that are not months (totals, averages) left out"
        )
    else:
        plan.reasons.append(f"{len(period_cols)} column headers are periods ({period_format}): wide layout")
    if note := period_note(period_format):  # periods.py: the dating convention of the headers
        plan.reasons.append(note)
    if split:
        plan.reasons.append(f"column {split.name!r} packs several dimensions")
    if title_dimension:
        plan.reasons.append(
            f"{len(set(titles))} stacked tables under one header: their titles form {title_dimension!r}"
        )
    if nested is not None and levels is None:
        plan.nested_titles = True
        plan.reasons.append(nested)
    if preliminary := _preliminary_beside_final(grid[header], period_cols):
        plan.final_only = True
        note = f"left out {preliminary}: marked preliminary, beside final periods written as numbers"
        plan.reasons.append(note)
        plan.warnings.append(note)
    return plan


def _preliminary_beside_final(header: Sequence[Any], period_cols: list[int]) -> list[str]:
    """Labels of period columns flagged preliminary (`2023 P`) where the other periods are typed numbers."""
    cells = [header[i] for i in period_cols if i < len(header)]
    typed = sum(1 for cell in cells if isinstance(cell, int | float) and not isinstance(cell, bool))
    flagged = [clean_header(cell) for cell in cells if isinstance(cell, str) and is_preliminary(cell)]
    return flagged if flagged and typed >= 3 and typed + len(flagged) == len(cells) else []


def _nested_titles(grid: Grid, header: int, data: Grid, dims: list[ColumnStats]) -> str | None:
    """Why stacked tables are told apart by title lines on several levels, or None when they need not be."""
    if _keys_unique(data, dims):
        return None
    blocks = nested_blocks(grid, header)
    keys = {tuple(sorted(found.items())) for found, _, _ in blocks}
    if len(blocks) < 2 or not blocks[0][0] or len(keys) < len(blocks):
        return None
    names = sorted(blocks[0][0])
    count = len(blocks)
    return (
        f"{count} stacked tables under one header, told apart by their titles ({len(names)} levels: {names})"
    )


def _indented_column(dims: list[ColumnStats], *, body: Grid) -> tuple[ColumnStats, int, bool] | None:
    """(column, levels above the deepest label, footnote marks) of a label column nested by indentation."""
    # `body` is every row below the header, one-cell parent rows included, as `label_levels` reads them.
    for col in dims[:1]:
        labels = [row[col.index] for row in body if col.index < len(row) and clean_header(row[col.index])]
        steps = [len(str(c)) - len(str(c).lstrip()) for c in labels]
        indents = set(steps)
        if len(indents) < 2 or steps[0] != min(indents):
            return None  # a hierarchy starts at its top level
        texts = [clean_header(c) for c in labels]
        marked = [t for t in texts if _FOOTNOTE_MARK.search(t)]
        # Trailing numbers are footnotes when several labels carry them and cutting them merges no labels.
        cut = [_FOOTNOTE_MARK.sub("", t) for t in texts]
        footnotes = len(marked) >= 3 and len(set(cut)) == len(set(texts))
        return col, len(indents) - 1, footnotes
    return None


def _month_label_column(dims: list[ColumnStats], data: Grid) -> ColumnStats | None:
    """Among a wide table's label columns, the one whose cells name six or more distinct months."""
    for col in dims:
        months = {parse_month(row[col.index]) for row in data if col.index < len(row)} - {None}
        if len(months) >= 6:
            return col
    return None


# Readings offered per source: validation tries them in turn, explain lists them.
MAX_CANDIDATES = 8


def table_wrapper(profile: SourceProfile, request: IndicatorRequest) -> list[Candidate]:
    """Interpretations of the profiled tables as parse code, the best first."""
    # Every table (sheet) gives a plan; each plan's best value columns are candidates, scored by how
    # well the column and the sheet name match the request. Hints narrow the choice and name wrong
    # names with the real ones.
    hints = request.hints
    tables = profile.tables
    if hints.sheet is not None:
        tables = [t for t in tables if t.name.casefold() == hints.sheet.casefold()]
        if not tables:
            raise HintError(f"sheet {hints.sheet!r} not found; sheets are {[t.name for t in profile.tables]}")
    plans = []
    for table in tables:
        plans.extend(analyze_table(table.rows, request, sheet=table.name, delimiter=profile.delimiter))
    if not plans:
        raise NoSeriesFoundError("no series found: no table with a numeric column under a header")
    reader = "csv" if profile.format == SourceFormat.CSV else "xlsx"
    if reader == "xlsx" and hints.sheet is None and hints.value_column is None:
        period_sheets = _sheet_periods(tables, plans)
        if period_sheets is not None:
            fmt, snapshot = period_sheets
            code = render_sheet_per_period(snapshot, fmt, request)
            return [
                _candidate(snapshot, code, f"one sheet per period ({fmt}); " + "; ".join(snapshot.reasons))
            ]
    if hints.value_column is not None:
        plans = _hinted(plans, hints.value_column)
    sheet_matcher = RequestMatcher(request, [f"{p.sheet} {p.title}" for p in plans])
    wanted = requested_frequency(request)
    ranked = []
    for plan in plans:
        # The sheet's name and the title above its table say what the table is about.
        sheet_score = 0.5 * sheet_matcher.score(f"{plan.sheet} {plan.title}") if reader == "xlsx" else 0.0
        found = _plan_frequency(plan)
        if wanted and found and found != wanted:
            sheet_score -= 3.0
            plan.warnings.append(
                f"the request asks for {ADJECTIVES[wanted]} values; "
                f"{plan.sheet or 'the table'} holds {ADJECTIVES[found]} ones"
            )
        usable = plan.layout != "snapshot"
        for variant in _variants(plan):
            key = (usable, variant.score + sheet_score, plan.rows)
            ranked.append((key, variant))
    ranked.sort(key=lambda item: item[0], reverse=True)
    candidates: list[Candidate] = []
    failures: list[NoSeriesFoundError] = []
    for (_, score, _), plan in ranked:
        try:
            code = render_table(plan, profile, request, reader=reader)
        except NoSeriesFoundError as exc:
            failures.append(exc)  # a table without a time axis is no reading of a time series
            continue
        if plan.row_choice is not None:
            # A row label named by a hint: the other rows' series are left out of the points.
            dimension, row = plan.row_choice
            code = restrict_code(code, {dimension: row})
            plan.reasons.insert(0, f"row {row!r} of {dimension!r}, as the value column hint names")
        rationale = "; ".join(plan.reasons)
        if reader == "xlsx" and len(plans) > 1:
            plan.reasons[0] = f"sheet {plan.sheet!r}: {plan.reasons[0]}"
            rationale = f"sheet {plan.sheet!r} chosen among {[p.sheet for p in plans]}; {rationale}"
        candidates.append(_candidate(plan, code, rationale, score=score, sheets=len(plans)))
        if len(candidates) == MAX_CANDIDATES:
            break
    if not candidates:
        raise failures[0]
    return candidates


def _plan_frequency(plan: TablePlan) -> str | None:
    """The frequency of a plan's periods: from its time format, else from its sheet's name."""
    fmt = plan.time_format if plan.layout == "long" else plan.period_format
    if plan.layout in ("months", "matrix"):
        return "month"
    return FORMAT_FREQUENCIES.get(fmt or "") or frequency_of(plan.sheet)


def _variants(plan: TablePlan) -> list[TablePlan]:
    """The plan with each of its best value columns (long tables), best first; other layouts as they are."""
    if plan.layout != "long" or not plan.value_scores:
        return [plan]
    variants = []
    for name, score in plan.value_scores[:4]:
        variant = replace(plan, value_column=name, score=score, reasons=list(plan.reasons))
        variant.anchors = [n for n in plan.anchors if n != plan.value_column] + [name]
        if name != plan.value_column:
            variant.reasons[0] = f"value column {name!r} (score {score:.2f})"
        variants.append(variant)
    return variants


def _hinted(plans: list[TablePlan], wanted: str) -> list[TablePlan]:
    """The plans that have the value column a hint names, with it chosen; else a HintError listing names."""
    folded = clean_header(wanted).casefold()
    kept = []
    for plan in plans:
        match = next((n for n, _ in plan.value_scores if n.casefold() == folded), None)
        if match is not None:
            top = max((s for _, s in plan.value_scores), default=0.0)
            plan.value_scores = [(match, top + 1.0)]
            kept.append(plan)
        elif row := next((r for r in plan.row_labels if r.casefold() == folded), None):
            plan.row_choice = (plan.row_labels[row], row)
            kept.append(plan)
    if not kept:
        names = sorted(
            {n for p in plans for n, _ in p.value_scores} | {r for p in plans for r in p.row_labels}
        )
        raise HintError(f"value column or row label {wanted!r} not found; there are {names[:60]}")
    return kept


def _candidate(
    plan: TablePlan, code: str, rationale: str, *, score: float | None = None, sheets: int = 0
) -> Candidate:
    label = f"value column {plan.value_column!r}" if plan.value_column else ""
    hint = {"value_column": plan.value_column} if plan.value_column else {}
    if plan.row_choice is not None:
        label, hint = f"row {plan.row_choice[1]!r}", {"value_column": plan.row_choice[1]}
    if plan.sheet:
        hint = {"sheet": plan.sheet, **hint}
        if sheets > 1:
            label = f"sheet {plan.sheet!r}" + (f", {label}" if label else "")
    if plan.columns is not None:
        label += f" of the table in columns {plan.columns[0]}..{plan.columns[1] - 1}"
        if plan.title:
            label += f" ({plan.title})"
    return Candidate(
        code=code,
        rationale=rationale,
        score=plan.score if score is None else score,
        reason=plan.reasons[0] if plan.reasons else rationale,
        label=label or f"sheet {plan.sheet!r}",
        hint=hint,
        warnings=list(plan.warnings),
    )


def _sheet_periods(tables: list[TableProfile], plans: list[TablePlan]) -> tuple[str, TablePlan] | None:
    """When two or more sheets are named like periods and hold no time column: (format, plan)."""
    for fmt in ("year", "year_month", "year_quarter", "month_name_year", "year_mmm"):
        named = [p for p in plans if parse_period(p.sheet, fmt) is not None]
        if len(named) >= 2 and all(p.layout == "snapshot" for p in named):
            value_columns = Counter(p.value_column for p in named)
            common = value_columns.most_common(1)[0][0]
            return fmt, next(p for p in named if p.value_column == common)
    return None
