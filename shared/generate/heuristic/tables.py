"""The heuristic generator: infers a source's layout from its profile and writes readable parse code.

No network and no key: it finds the header row, tells long from wide tables and sheet-per-period
workbooks, picks the time column and period format, the dimension columns, and the value column (or
JSON array) that best matches the indicator request, then emits parse code that calls the toolkit
with every decision spelled out as a literal.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.common.errors import NoSeriesFoundError
from shared.domain.wrapper import FetchSpec, IndicatorRequest, SourceFormat, WrapperDraft
from shared.points.point import PointColumns, series_key
from shared.source.profile import SourceProfile, TableProfile
from shared.wrapper_toolkit import (
    Grid,
    clean_header,
    decimal_votes,
    detect_period_format,
    detect_sentinels,
    flatten_record,
    header_names,
    is_jsonstat,
    is_missing,
    mapping_records,
    month_of_header,
    parse_clock,
    parse_month,
    parse_number,
    parse_period,
    row_record,
    row_title,
    table_blocks,
)

GENERATOR_NAME = "heuristic"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    "a an and the of in on for from by to at with as per is are be or its it this that "
    "data series value values incl excl including excluding api"
)
SYNONYMS = {
    "mean": "average",
    "avg": "average",
    "temp": "temperature",
    "ghg": "greenhouse",
    "min": "minimum",
    "max": "maximum",
}
TIME_WORDS = _words(
    "year yr years jahr annee année date datum time zeit period periode période month monat mois day tag "
    "jour quarter quartal week timestamp datetime start end from to begin until zeitraum stichtag fecha año "
    "ano mes anno mese giorno periodo jaar maand dag år månad "
    # Japanese, Chinese and Korean headers are single words: year, fiscal year, date, time, period, month…
    "年 年度 年月 年月日 日付 日時 時刻 時間 期間 西暦 月 日 日期 时间 年份 月份 날짜 연도 일자 기간"
)
NOTE_WORDS = _words("note notes comment comments footnote footnotes flag flags remark remarks status")
ID_WORDS = _words("id code index decimal rank page fips lat latitude lon longitude elevation")
START_WORDS = _words("start from begin beginning since von anfang beginn ab début debut inicio desde")
END_WORDS = _words("end to until till stop bis ende fin hasta")
MONTH_WORDS = _words("month monat mois mes mese maand månad mo 月 월")
PERIOD_HEADER_FORMATS = ("year", "year_month", "year_mmm", "year_quarter", "month_name_year", "iso")


def tokens(text: str) -> list[str]:
    """Lower-case words of a label, split at case, digit and punctuation boundaries, lightly stemmed."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", text)
    words = re.findall(r"[^\W_]+|%", spaced.casefold())
    result = []
    for word in words:
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        word = SYNONYMS.get(word, word)
        if word not in STOPWORDS:
            result.append(word)
    return result


class RequestMatcher:
    """Scores labels (columns, arrays, sheets) against the words of an indicator request."""

    def __init__(self, request: IndicatorRequest, labels: Sequence[str]) -> None:
        self.request_tokens = set(tokens(request.text()))
        self.unit_tokens = set(tokens(request.unit))
        self.about_total = "total" in self.request_tokens
        counts = Counter(tok for label in labels for tok in set(tokens(label)))
        self.idf = {tok: 1.0 + math.log((1 + len(labels)) / (1 + n)) for tok, n in counts.items()}

    def score(self, label: str, *, unit: str = "") -> float:
        """Matched request words (rarer words weigh more), a bonus for totals, a cost for other words."""
        label_tokens = tokens(label)
        matched = [tok for tok in set(label_tokens) if tok in self.request_tokens]
        unmatched = [tok for tok in label_tokens if tok not in self.request_tokens]
        value = sum(self.idf.get(tok, 1.0) for tok in matched) - 0.1 * len(unmatched)
        if self.about_total and "total" in label_tokens:
            value += 1.0
        if unit and self.unit_tokens and set(tokens(unit)) & self.unit_tokens:
            value += 0.5
        return value


@dataclass
class ColumnStats:
    """What the data rows of one column look like."""

    name: str
    index: int
    fill: float
    numeric: float
    period_format: str | None
    distinct: int
    unit: str = ""
    time_hint: bool = False  # a time by position (first element of `[time, value]` rows), not by name
    clock: bool = False  # every value is a time of day (`HH:MM`)

    @property
    def words(self) -> set[str]:
        return set(tokens(self.name))


@dataclass
class TablePlan:
    """The layout decisions for one table (a CSV or a sheet)."""

    layout: str  # long | wide | months | snapshot
    sheet: str
    header_row: int
    anchors: list[str]
    skip_rows: int = 0
    time_column: str | None = None
    time_format: str | None = None
    period_format: str | None = None
    split_column: str | None = None
    value_column: str | None = None
    month_column: str | None = None
    clock_column: str | None = None
    title_dimension: str | None = None
    dimension_columns: list[str] = field(default_factory=list)
    decimal: str = "."
    missing: list[float] = field(default_factory=list)
    score: float = 0.0
    rows: int = 0
    reasons: list[str] = field(default_factory=list)


def generate(profile: SourceProfile, request: IndicatorRequest) -> WrapperDraft:
    """Infer the layout of the profiled source and return a wrapper for it."""
    spec = FetchSpec(location=profile.location, format=profile.format, encoding=profile.encoding)
    if profile.format == SourceFormat.JSON:
        code, rationale = _json_wrapper(profile, request)
    else:
        code, rationale = _table_wrapper(profile, request)
    return WrapperDraft(fetch_spec=spec, parse_code=code, generator=GENERATOR_NAME, rationale=rationale)


def rank_series(
    points: Sequence[Any], request: IndicatorRequest
) -> list[tuple[tuple[tuple[str, str], ...], float]]:
    """(series key, fit) of the points, the series whose dimension values best match the request first."""
    if isinstance(points, PointColumns):
        # The series in the order they first occur, without making a Point of each point.
        import numpy as np

        codes, first = np.unique(points.codes, return_index=True)
        ordered = codes[np.argsort(first)].tolist()
        keys = list(dict.fromkeys(series_key(points.series[code]) for code in ordered))
    else:
        keys = list(dict.fromkeys(series_key(p.dimensions) for p in points))
    if len(keys) <= 1:
        return [(key, 0.0) for key in keys]
    matcher = RequestMatcher(request, sorted({value for key in keys for _, value in key}))
    request_tokens = matcher.request_tokens

    def fit(key: tuple[tuple[str, str], ...]) -> float:
        total = 0.0
        for _, value in key:
            words = set(tokens(value))
            if words and words <= request_tokens:
                total += 1.0 + sum(matcher.idf.get(w, 1.0) for w in words)
        return total

    return sorted(((key, fit(key)) for key in keys), key=lambda item: item[1], reverse=True)


# --- tables ----------------------------------------------------------------------------------------


def find_header_row(grid: Grid, *, limit: int = 60) -> int:
    """The first row that is wide, carries labels, and is followed by rows with numbers."""
    sample = grid[:300]
    widest = max((_filled(row) for row in sample), default=0)
    for index, row in enumerate(grid[:limit]):
        if _filled(row) < max(2, 0.5 * widest) or _is_comment(row):
            continue
        labels = [c for c in row if isinstance(c, str) and c.strip() and parse_number(c) is None]
        periods = [c for c in row if parse_period(clean_header(c), "year") is not None]
        if not labels and len(periods) < 3:
            continue
        following = grid[index + 1 : index + 8]
        if any(any(_is_numberish(c) for c in r) for r in following):
            return index
    return 0


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
        numeric = sum(1 for v in present if parse_number(v, decimal=decimal) is not None) / max(
            1, len(present)
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


def _value_columns(stats: list[ColumnStats], exclude: set[str]) -> list[ColumnStats]:
    found = []
    for col in stats:
        if col.name in exclude or col.fill < 0.02 or col.numeric < 0.8:
            continue
        if col.words & TIME_WORDS and col.period_format is None and len(col.words) <= 2:
            continue  # e.g. "Decimal Date": a time in another form, not a measurement
        if col.words & ID_WORDS and not col.words - ID_WORDS:
            continue
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


def analyze_grid(
    grid: Grid, request: IndicatorRequest, *, sheet: str = "", delimiter: str | None = None
) -> TablePlan | None:
    """Layout decisions for one table, or None when it holds no numeric series."""
    if not grid:
        return None
    header = find_header_row(grid)
    names = header_names(grid[header])
    units = _units_row(grid, header) or {}
    skip = 1 if units else 0
    data, titles = _data_rows(grid, header, skip)
    if not data:
        return None
    decimal = _table_decimal(data, delimiter)
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
        )
    stats = _column_stats(names, data, units, decimal)
    time_col = _time_column(stats, len(data))
    if _month_headers(names) and time_col is not None and time_col.period_format == "year":
        return _month_columns_plan(
            names, data, titles, stats, time_col, header=header, skip=skip, sheet=sheet, decimal=decimal
        )
    month_col = _month_column(stats, data, time_col)
    clock_col = _clock_column(stats, len(data), time_col)
    exclude = {c.name for c in (time_col, month_col, clock_col) if c is not None}
    values = _value_columns(stats, exclude)
    if not values:
        return None
    matcher = RequestMatcher(request, [c.name + " " + c.unit for c in values])
    scored = sorted(
        ((matcher.score(c.name + " " + c.unit, unit=c.unit), -c.index, c) for c in values),
        key=lambda item: (item[0], item[1]),
        reverse=True,
    )
    best_score, _, value_col = scored[0]
    dims = _dimension_columns(stats, exclude | {value_col.name})
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
    others = [c.name for _, _, c in scored[1:6]]
    plan.reasons.append(f"value column {value_col.name!r} matches the request best (score {best_score:.2f})")
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


def _data_rows(grid: Grid, header: int, skip: int) -> tuple[Grid, list[str]]:
    """The data rows under the header and the title of the table each belongs to.

    Repeated header rows (stacked tables), one-cell title and footnote rows, and the units row are left
    out, so that they do not blur what the columns hold.
    """
    data: Grid = []
    titles: list[str] = []
    for number, (title, first, end) in enumerate(table_blocks(grid, header)):
        rows = grid[first:end]
        if skip and rows and (number == 0 or not any(_is_numberish(c) for c in rows[0])):
            rows = rows[1:]
        for row in rows:
            if _filled(row) and row_title(row) is None:
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
    dim_names = [d.name for d in dims]
    plan = TablePlan(
        layout="wide",
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
    plan.reasons.append(f"{len(period_cols)} column headers are periods ({period_format}): wide layout")
    if split:
        plan.reasons.append(f"column {split.name!r} packs several dimensions")
    if title_dimension:
        plan.reasons.append(
            f"{len(set(titles))} stacked tables under one header: their titles form {title_dimension!r}"
        )
    return plan


def _table_wrapper(profile: SourceProfile, request: IndicatorRequest) -> tuple[str, str]:
    plans = []
    for table in profile.tables:
        plan = analyze_grid(table.rows, request, sheet=table.name, delimiter=profile.delimiter)
        if plan is not None:
            plans.append(plan)
    if not plans:
        raise NoSeriesFoundError("no series found: no table with a numeric column under a header")
    if profile.format == SourceFormat.CSV:
        plan = plans[0]
        return _render_table(plan, profile, request, reader="csv"), "; ".join(plan.reasons)
    period_sheets = _sheet_periods(profile.tables, plans)
    if period_sheets is not None:
        fmt, snapshot = period_sheets
        code = _render_sheet_per_period(snapshot, fmt, request)
        return code, f"one sheet per period ({fmt}); " + "; ".join(snapshot.reasons)
    sheet_matcher = RequestMatcher(request, [p.sheet for p in plans])
    best = max(
        plans,
        key=lambda p: (p.layout != "snapshot", p.score + 0.5 * sheet_matcher.score(p.sheet), p.rows),
    )
    best.reasons.insert(0, f"sheet {best.sheet!r} chosen among {[p.sheet for p in plans]}")
    return _render_table(best, profile, request, reader="xlsx"), "; ".join(best.reasons)


def _sheet_periods(tables: list[TableProfile], plans: list[TablePlan]) -> tuple[str, TablePlan] | None:
    """When two or more sheets are named like periods and hold no time column: (format, plan)."""
    for fmt in ("year", "year_month", "year_quarter", "month_name_year", "year_mmm"):
        named = [p for p in plans if parse_period(p.sheet, fmt) is not None]
        if len(named) >= 2 and all(p.layout == "snapshot" for p in named):
            value_columns = Counter(p.value_column for p in named)
            common = value_columns.most_common(1)[0][0]
            return fmt, next(p for p in named if p.value_column == common)
    return None


# --- JSON ------------------------------------------------------------------------------------------


@dataclass
class JsonPlan:
    """The layout decisions for a JSON document."""

    layout: str  # records | columns | jsonstat
    paths: list[str] = field(default_factory=list)
    shape: str = "records"  # records (objects) | rows (positional lists) | mapping (object keyed by period)
    key_name: str = "period"
    time_key: str = ""
    time_format: str = "iso"
    value_key: str = ""
    dimension_keys: list[str] = field(default_factory=list)
    offset_key: str | None = None
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)


def _walk_lists(node: Any, path: str, depth: int, found: list[tuple[str, list[Any]]]) -> None:
    if depth > 6:
        return
    if isinstance(node, list):
        found.append((path, node))
        for index, child in enumerate(node[:3]):
            if isinstance(child, dict | list):
                _walk_lists(child, f"{path}.{index}" if path else str(index), depth + 1, found)
    elif isinstance(node, dict):
        for key, child in node.items():
            if isinstance(child, dict | list):
                _walk_lists(child, f"{path}.{key}" if path else str(key), depth + 1, found)


def _json_wrapper(profile: SourceProfile, request: IndicatorRequest) -> tuple[str, str]:
    document = profile.document
    if is_jsonstat(document):
        plan = JsonPlan(layout="jsonstat", reasons=["JSON-stat dataset"])
        return _render_json(plan, request), "; ".join(plan.reasons)
    lists: list[tuple[str, list[Any]]] = []
    _walk_lists(document, "", 0, lists)
    plans = [p for p in (_records_plan(path, items, request) for path, items in lists) if p is not None]
    for path, mapping in _period_mappings(document, "", 0):
        key_name = _mapping_key_name(mapping)
        keyed = _records_plan(path, mapping_records(mapping, key_name=key_name), request, shape="mapping")
        if keyed is not None:
            keyed.key_name = key_name
            plans.append(keyed)
    plans += _columns_plans(document, request)
    if not plans:
        raise NoSeriesFoundError(
            "no series found: no array of records or parallel arrays with times and numbers"
        )
    best = max(plans, key=lambda p: (p.score, len(p.paths)))
    if best.layout == "records" and best.shape == "records":
        best = _with_variants(best, plans)
    return _render_json(best, request), "; ".join(best.reasons)


def _records_plan(
    path: str, items: list[Any], request: IndicatorRequest, *, shape: str = "records"
) -> JsonPlan | None:
    rows = bool(items) and all(_is_row(item) for item in items[:500])
    if rows:
        shape = "rows"
        records = [row_record(item) for item in items[:500]]
    else:
        records = [flatten_record(item) for item in items[:500] if isinstance(item, dict)]
    if len(records) < 2 or len(records) < 0.8 * min(len(items), 500):
        return None
    keys = list(dict.fromkeys(key for record in records for key in record))
    columns = {key: [record.get(key) for record in records] for key in keys}
    stats = []
    for index, key in enumerate(keys):
        present = [v for v in columns[key] if not is_missing(v) and not isinstance(v, list | bool)]
        numeric = sum(1 for v in present if parse_number(v) is not None) / max(1, len(present))
        # In positional rows the first element is the time when it reads as one.
        time_hint = rows and index == 0
        hint_name = "time" if time_hint else key.split(".")[-1]
        stats.append(
            ColumnStats(
                name=key,
                index=index,
                fill=len(present) / len(records),
                numeric=numeric,
                period_format=detect_period_format(present, name=hint_name) if present else None,
                distinct=len({str(v) for v in present}),
                time_hint=time_hint,
            )
        )
    time_col = _time_column(stats, len(records))
    if time_col is None:
        return None
    values = [
        s
        for s in _value_columns(stats, {time_col.name})
        if not (s.words & TIME_WORDS and s.period_format is not None)
    ]
    if not values:
        return None
    matcher = RequestMatcher(request, [s.name for s in values])

    def value_score(col: ColumnStats) -> float:
        bonus = 1.0 if col.name.split(".")[-1].casefold() in ("value", "obs_value", "val", "amount") else 0.0
        return matcher.score(col.name) + bonus

    value_col = max(values, key=lambda s: (value_score(s), -s.index))
    dims = [d for d in _dimension_columns(stats, {time_col.name, value_col.name}) if d.words - TIME_WORDS]
    table = [[record.get(s.name) for s in stats] for record in records]
    dims = _unique_dimensions(table, stats, [time_col], dims, {value_col.name})
    plan = JsonPlan(
        layout="records",
        paths=[path],
        shape=shape,
        time_key=time_col.name,
        time_format=time_col.period_format or "iso",
        value_key=value_col.name,
        dimension_keys=[d.name for d in dims],
        score=value_score(value_col) + RequestMatcher(request, [path]).score(path) * 0.3,
    )
    what = {"records": "records", "rows": "positional rows", "mapping": "an object keyed by period"}[shape]
    plan.reasons.append(
        f"{what} at {path or '$'}: time {time_col.name!r} ({plan.time_format}), value {value_col.name!r}"
    )
    return plan


def _is_row(item: Any) -> bool:
    """A short list of scalars, as in `[[1704067200000, 42.5], …]`."""
    return (
        isinstance(item, list) and 2 <= len(item) <= 10 and not any(isinstance(v, dict | list) for v in item)
    )


def _period_mappings(node: Any, path: str, depth: int) -> list[tuple[str, dict[str, Any]]]:
    """Objects (at any depth) whose keys are periods, e.g. `{"2024-01-02": {"close": …}, …}`."""
    found: list[tuple[str, dict[str, Any]]] = []
    if depth > 6 or not isinstance(node, dict):
        return found
    keys = list(node)
    if len(keys) >= 3 and detect_period_format(keys, name="period") is not None:
        values = list(node.values())
        if all(isinstance(v, dict) for v in values) or all(v is None or _is_numberish(v) for v in values):
            found.append((path, node))
            return found
    for key, child in node.items():
        if isinstance(child, dict):
            found += _period_mappings(child, f"{path}.{key}" if path else str(key), depth + 1)
    return found


def _mapping_key_name(mapping: dict[str, Any]) -> str:
    """A key for the period that no record of the mapping uses already."""
    used = {key for value in mapping.values() if isinstance(value, dict) for key in value}
    return next(name for name in ("period", "period_key", "mapping_key") if name not in used)


def _with_variants(best: JsonPlan, plans: list[JsonPlan]) -> JsonPlan:
    """Sibling arrays with the same record shape (e.g. price variants) become one dimension."""
    parent = best.paths[0].rsplit(".", 1)[0] if "." in best.paths[0] else ""
    siblings = [
        p.paths[0]
        for p in plans
        if p.layout == "records"
        and p.time_key == best.time_key
        and p.value_key == best.value_key
        and (p.paths[0].rsplit(".", 1)[0] if "." in p.paths[0] else "") == parent
        and not p.paths[0].split(".")[-1].isdigit()
    ]
    if len(siblings) > 1:
        best.paths = siblings
        best.reasons.append(f"arrays {siblings} share one record shape: dimension 'series'")
    return best


def _columns_plans(document: Any, request: IndicatorRequest) -> list[JsonPlan]:
    """Plans for objects holding a time array and parallel value arrays (Open-Meteo's `hourly`)."""
    plans: list[JsonPlan] = []
    groups: list[tuple[str, dict[str, Any]]] = []

    def collect(node: Any, path: str, depth: int) -> None:
        if isinstance(node, dict) and depth <= 5:
            groups.append((path, node))
            for key, child in node.items():
                collect(child, f"{path}.{key}" if path else key, depth + 1)

    collect(document, "", 0)
    for path, group in groups:
        arrays = {k: v for k, v in group.items() if isinstance(v, list) and len(v) >= 2}
        if len(arrays) < 2:
            continue
        times = [
            (k, fmt)
            for k, v in arrays.items()
            if (fmt := detect_period_format(v, name=k)) is not None
            and (set(tokens(k)) & TIME_WORDS or fmt == "iso")
        ]
        if not times:
            continue
        time_key, fmt = times[0]
        length = len(arrays[time_key])
        candidates = [
            k
            for k, v in arrays.items()
            if k != time_key
            and len(v) == length
            and sum(parse_number(x) is not None for x in v) >= 0.5 * len(v)
        ]
        if not candidates:
            continue
        units = _sibling_units(document, path)
        matcher = RequestMatcher(request, candidates)
        best = max(candidates, key=lambda k: matcher.score(k, unit=units.get(k, "")))
        prefix = f"{path}." if path else ""
        # The group's name counts too: "daily" and "hourly" groups hold the same variables.
        group_score = RequestMatcher(request, [path]).score(path) * 0.3 if path else 0.0
        plan = JsonPlan(
            layout="columns",
            paths=[f"{prefix}{time_key}", f"{prefix}{best}"],
            time_format=fmt,
            offset_key=_offset_key(document),
            score=matcher.score(best, unit=units.get(best, "")) + 0.5 + group_score,
        )
        plan.reasons.append(
            f"parallel arrays under {path or '$'}: time {time_key!r}, value {best!r} of {candidates}"
        )
        plans.append(plan)
    return plans


def _sibling_units(document: Any, path: str) -> dict[str, str]:
    if not isinstance(document, dict) or "." in path:
        return {}
    units = document.get(f"{path}_units")
    return {k: str(v) for k, v in units.items()} if isinstance(units, dict) else {}


def _offset_key(document: Any) -> str | None:
    if isinstance(document, dict):
        for key in ("utc_offset_seconds", "utcOffsetSeconds", "utc_offset"):
            if isinstance(document.get(key), int | float):
                return key
    return None


# --- rendering -------------------------------------------------------------------------------------


def _header(request: IndicatorRequest, summary: str) -> str:
    title = request.name.replace('"""', "'")
    return f'"""Wrapper for {title!r}: {summary}.\n\nGenerated by the heuristic generator.\n"""\n\n'


def _literal(value: Any) -> str:
    return repr(value)


def _render_table(plan: TablePlan, profile: SourceProfile, request: IndicatorRequest, *, reader: str) -> str:
    if reader == "csv":
        imports = "read_csv_table"
        read = (
            f"    grid = read_csv_table(payload, encoding={_literal(profile.encoding or 'utf-8')}, "
            f"delimiter={_literal(profile.delimiter or ',')})\n"
        )
    else:
        imports = "read_workbook"
        read = "    grid = read_workbook(payload, sheets=[SHEET])[SHEET]\n"
    constants = [f"HEADER = {_literal(plan.anchors)}  # columns that identify the header row"]
    if reader != "csv":
        constants.insert(0, f"SHEET = {_literal(plan.sheet)}")
    if plan.layout == "wide":
        call = (
            "    return wide_points(\n"
            "        grid,\n"
            "        header_row=find_row(grid, HEADER),\n"
            f"        skip_rows={plan.skip_rows},\n"
            f"        period_format={_literal(plan.period_format)},\n"
            f"        dimension_columns={_literal(plan.dimension_columns)},\n"
            f"        split_column={_literal(plan.split_column)},\n"
            f"        decimal={_literal(plan.decimal)},\n"
            f"        missing={_literal(plan.missing)},\n" + _title_argument(plan) + "    )\n"
        )
        function = "wide_points"
        summary = f"wide table, periods ({plan.period_format}) as column headers"
    elif plan.layout == "long":
        call = (
            "    return long_points(\n"
            "        grid,\n"
            "        header_row=find_row(grid, HEADER),\n"
            f"        skip_rows={plan.skip_rows},\n"
            f"        time_column={_literal(plan.time_column)},\n"
            f"        time_format={_literal(plan.time_format)},\n"
            f"        value_column={_literal(plan.value_column)},\n"
            f"        dimension_columns={_literal(plan.dimension_columns)},\n"
            f"        decimal={_literal(plan.decimal)},\n"
            f"        missing={_literal(plan.missing)},\n"
            + _title_argument(plan)
            + (f"        month_column={_literal(plan.month_column)},\n" if plan.month_column else "")
            + (f"        clock_column={_literal(plan.clock_column)},\n" if plan.clock_column else "")
            + "    )\n"
        )
        function = "long_points"
        summary = f"long table, time in {plan.time_column!r}, values in {plan.value_column!r}"
    elif plan.layout == "months":
        call = (
            "    return month_columns_points(\n"
            "        grid,\n"
            "        header_row=find_row(grid, HEADER),\n"
            f"        skip_rows={plan.skip_rows},\n"
            f"        year_column={_literal(plan.time_column)},\n"
            f"        dimension_columns={_literal(plan.dimension_columns)},\n"
            f"        decimal={_literal(plan.decimal)},\n"
            f"        missing={_literal(plan.missing)},\n" + _title_argument(plan) + "    )\n"
        )
        function = "month_columns_points"
        summary = f"a row per year in {plan.time_column!r}, a column per month"
    else:
        raise NoSeriesFoundError(f"no series found: no time column in {plan.sheet or 'the table'}")
    return (
        _header(request, summary)
        + f"from shared.wrapper_toolkit import find_row, {function}, {imports}\n\n"
        + "\n".join(constants)
        + "\n\n\ndef parse(payload, context):\n"
        + f'    """Read the {reader.upper()} payload and return its points."""\n'
        + read
        + call
    )


def _title_argument(plan: TablePlan) -> str:
    return f"        title_dimension={_literal(plan.title_dimension)},\n" if plan.title_dimension else ""


def _render_sheet_per_period(plan: TablePlan, fmt: str, request: IndicatorRequest) -> str:
    summary = f"one sheet per period ({fmt}), values in {plan.value_column!r}"
    return (
        _header(request, summary)
        + "from shared.wrapper_toolkit import find_row, parse_period, read_workbook, snapshot_points\n\n"
        + f"HEADER = {_literal(plan.anchors)}  # columns that identify the header row\n"
        + f"SHEET_PERIOD_FORMAT = {_literal(fmt)}\n\n\n"
        + "def parse(payload, context):\n"
        + '    """Read every sheet named like a period; each row of a sheet is a series at that period."""\n'
        + "    for sheet, grid in read_workbook(payload).items():\n"
        + "        period = parse_period(sheet, SHEET_PERIOD_FORMAT)\n"
        + "        if period is None:\n"
        + "            continue\n"
        + "        yield from snapshot_points(\n"
        + "            grid,\n"
        + "            period=period,\n"
        + "            header_row=find_row(grid, HEADER),\n"
        + f"            skip_rows={plan.skip_rows},\n"
        + f"            value_column={_literal(plan.value_column)},\n"
        + f"            dimension_columns={_literal(plan.dimension_columns)},\n"
        + f"            decimal={_literal(plan.decimal)},\n"
        + f"            missing={_literal(plan.missing)},\n"
        + "        )\n"
    )


def _render_json(plan: JsonPlan, request: IndicatorRequest) -> str:
    if plan.layout == "jsonstat":
        return (
            _header(request, "JSON-stat dataset")
            + "from shared.wrapper_toolkit import jsonstat_points, read_json\n\n\n"
            + "def parse(payload, context):\n"
            + '    """Expand the JSON-stat cube into points."""\n'
            + "    return jsonstat_points(read_json(payload))\n"
        )
    if plan.layout == "columns":
        offset = f"document.get({_literal(plan.offset_key)}) or 0" if plan.offset_key else "None"
        return (
            _header(request, f"parallel arrays {plan.paths[0]!r} and {plan.paths[1]!r}")
            + "from shared.wrapper_toolkit import column_points, get_path, read_json\n\n\n"
            + "def parse(payload, context):\n"
            + '    """Pair each time with the value at the same position."""\n'
            + "    document = read_json(payload)\n"
            + "    return column_points(\n"
            + f"        get_path(document, {_literal(plan.paths[0])}),\n"
            + f"        get_path(document, {_literal(plan.paths[1])}),\n"
            + f"        time_format={_literal(plan.time_format)},\n"
            + f"        utc_offset_seconds={offset},\n"
            + "    )\n"
        )
    variants = len(plan.paths) > 1
    dims = "{'series': path.rsplit('.', 1)[-1]}" if variants else "None"
    if plan.shape == "mapping":
        imports = "get_path, mapping_records, read_json, record_points"
        records = f"mapping_records(get_path(document, path), key_name={_literal(plan.key_name)})"
        doc = "Read the object keyed by period under each path as records"
    else:
        imports = "get_path, read_json, record_points"
        records = "get_path(document, path)"
        doc = "Read the records under each path"
    return (
        _header(request, f"{'positional rows' if plan.shape == 'rows' else 'records'} at {plan.paths}")
        + f"from shared.wrapper_toolkit import {imports}\n\n"
        + f"RECORD_PATHS = {_literal(plan.paths)}\n\n\n"
        + "def parse(payload, context):\n"
        + f'    """{doc}; their time, value and dimension keys are fixed below."""\n'
        + "    document = read_json(payload)\n"
        + "    for path in RECORD_PATHS:\n"
        + "        yield from record_points(\n"
        + f"            {records},\n"
        + f"            time_key={_literal(plan.time_key)},\n"
        + f"            time_format={_literal(plan.time_format)},\n"
        + f"            value_key={_literal(plan.value_key)},\n"
        + f"            dimension_keys={_literal(plan.dimension_keys)},\n"
        + f"            constant_dimensions={dims},\n"
        + "        )\n"
    )
