"""Trusted helpers that wrapper parse code may import: reading tables, numbers, periods and points.

Generated parse code stays short and readable because the fiddly parts (encodings, preambles, decimal
commas, flags, period formats) live here, tested once. Everything here is deterministic and touches
neither files nor the network: it works on the bytes the trusted fetcher handed over.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

Cell = Any
Grid = list[list[Cell]]
PointDict = dict[str, Any]

MISSING_MARKERS = frozenset(
    {"", ":", "..", "...", "-", "--", "—", "–", "x", "na", "n/a", "n.a.", "nan", "null", "none", "nd", "(na)",
     "not available", "(d)", "(z)", "w", "*", "#n/a", "#value!", "#ref!", "#div/0!"}
)
SENTINELS = (-9.0, -99.0, -99.9, -99.99, -999.0, -999.9, -999.99, -9999.0, -99999.0, 9999.0, 99999.0, 999999.0)

_FLAG_SUFFIX = re.compile(r"^(?P<num>[-+]?[\d.,\s'\u00a0\u202f]*\d[\d.,]*)\s*(?P<flag>[a-zA-Z]{1,3}|\*{1,3}|\([a-zA-Z]\))$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_EXCEL_EPOCH = datetime(1899, 12, 30)

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


class ToolkitError(ValueError):
    """The data does not have the shape the parse code expected."""


# --- text and tables -------------------------------------------------------------------------------


def decode_text(payload: bytes, encoding: str = "utf-8") -> str:
    """Decode bytes, dropping a byte-order mark."""
    text = payload.decode(encoding, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


def read_csv_grid(payload: bytes, *, encoding: str = "utf-8", delimiter: str = ",") -> Grid:
    """Read delimited text into rows of strings."""
    reader = csv.reader(io.StringIO(decode_text(payload, encoding), newline=""), delimiter=delimiter)
    return [row for row in reader]


def read_workbook(payload: bytes, *, sheets: Sequence[str] | None = None) -> dict[str, Grid]:
    """Read the named sheets (all when None) of an XLSX/XLS/ODS workbook into rows of Python values."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_filelike(io.BytesIO(payload))
    names = list(sheets) if sheets is not None else list(book.sheet_names)
    missing = [name for name in names if name not in book.sheet_names]
    if missing:
        raise ToolkitError(f"sheet(s) not in workbook: {missing}; it has {book.sheet_names}")
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


def _title_of(row: Sequence[Cell]) -> str | None:
    filled = [clean_header(cell) for cell in row if not is_missing(cell)]
    return filled[0] if len(filled) == 1 and not _NUMBER.match(filled[0]) else None


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
    if cell is None or isinstance(cell, bool):
        return None
    if isinstance(cell, int | float):
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
    text = text.replace("\u2212", "-")
    if _NUMBER.match(text) and (decimal == "." or "." not in text):
        return float(text)
    match = _FLAG_SUFFIX.match(text)
    if match:
        text = match.group("num").strip()
    text = text.rstrip("%").strip()
    text = text.replace("\u00a0", "").replace("\u202f", "").replace("'", "").replace(" ", "")
    if decimal == ",":
        text = text.replace(".", "").replace(",", ".")
    else:
        text = text.replace(",", "")
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]
    if not _NUMBER.match(text):
        return None
    return float(text)


def detect_decimal(values: Iterable[Cell]) -> str:
    """Guess whether a column writes decimals with a comma ("1,5", "1.234,5") or a point."""
    comma = point = 0
    for cell in values:
        if not isinstance(cell, str):
            continue
        text = cell.strip()
        if re.fullmatch(r"[-+]?\d{1,3}(\.\d{3})+,\d+|[-+]?\d+,\d{1,2}|[-+]?\d+,\d{4,}", text):
            comma += 1
        elif re.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?|[-+]?\d*\.\d+", text):
            point += 1
    return "," if comma > point else "."


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


def _parse_period(cell: Cell, fmt: str) -> datetime | None:  # noqa: C901
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
            year = int(float(text))
            return datetime(year, 1, 1) if _year_ok(year) and float(text).is_integer() else None
        if fmt == "year_month":
            match = re.fullmatch(r"(\d{4})[-/.]?(\d{1,2})", text)
            return datetime(int(match.group(1)), int(match.group(2)), 1) if match else None
        if fmt == "year_mmm":
            match = re.fullmatch(r"(\d{4})\s*M(\d{1,2})", text, re.IGNORECASE)
            return datetime(int(match.group(1)), int(match.group(2)), 1) if match else None
        if fmt == "year_quarter":
            match = re.fullmatch(r"(\d{4})\s*[-/ ]?\s*Q([1-4])|Q([1-4])\s*[-/ ]?\s*(\d{4})", text, re.IGNORECASE)
            if not match:
                return None
            year = int(match.group(1) or match.group(4))
            quarter = int(match.group(2) or match.group(3))
            return datetime(year, 3 * quarter - 2, 1)
        if fmt == "month_name_year":
            return _parse_month_name(text)
        if fmt in ("day_month_year", "month_day_year"):
            match = re.fullmatch(r"(\d{1,2})[./-](\d{1,2})[./-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?", text)
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


def _parse_iso(text: str) -> datetime | None:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{2}(:\d{2}){0,2}(\.\d+)?([+-]\d{2}:?\d{2})?", value) or re.fullmatch(
        r"\d{4}-\d{2}-\d{2}", value
    ):
        if re.search(r"[ T]\d{2}$", value):
            value += ":00"
        return datetime.fromisoformat(value)
    if re.fullmatch(r"\d{4}/\d{2}/\d{2}", value):
        return datetime.strptime(value, "%Y/%m/%d")
    return None


def _parse_month_name(text: str) -> datetime | None:
    words = re.findall(r"[^\W\d_]+|\d+", text.casefold())
    year = next((int(w) for w in words if w.isdigit() and len(w) == 4), None)
    month = next((MONTHS[w.rstrip(".")] for w in words if w.rstrip(".") in MONTHS), None)
    if year is None or month is None or len(words) > 3:
        return None
    return datetime(year, month, 1)


def _plausible_epoch(value: float, scale: float) -> bool:
    return 946_684_800 <= value / scale <= 4_102_444_800  # 2000-01-01 .. 2100-01-01


def detect_period_format(values: Sequence[Cell], *, name: str = "") -> str | None:
    """The period format under which (nearly) every non-empty value parses, or None."""
    present = [v for v in values if not is_missing(v)][:500]
    if not present:
        return None
    if all(isinstance(v, datetime | date) for v in present):
        return "native"
    hinted = bool(re.search(r"year|jahr|ann[ée]e|date|time|period|month|day|quarter|zeit|datum|mois|tid", name, re.I))
    candidates = ["iso", "year_mmm", "year_quarter", "month_name_year", "year_month", "day_month_year",
                  "month_day_year", "year"]
    numeric = all(isinstance(v, int | float) or (isinstance(v, str) and _NUMBER.match(v.strip())) for v in present)
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
) -> Iterator[PointDict]:
    """Points of a long table: one row per period, a time column, a value column, dimension columns.

    Tables stacked below each other with the same header are read too; with `title_dimension`, the
    one-cell title row above each table becomes that dimension.
    """
    names = header_names(grid[header_row])
    time_at = column_index(names, time_column)
    value_at = column_index(names, value_column)
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    constant = dict(constant_dimensions or {})
    if title_dimension:
        constant[title_dimension] = _stacked_title(grid, header_row)
    for row in grid[header_row + 1 + skip_rows :]:
        if title_dimension and (title := _title_of(row)) is not None:
            constant[title_dimension] = title
            continue
        if len(row) <= max(time_at, value_at) or _repeats_header(row, names):
            continue
        moment = parse_period(row[time_at], time_format, utc_offset_seconds=utc_offset_seconds)
        value = parse_number(row[value_at], decimal=decimal, missing=missing)
        if moment is None or value is None:
            continue
        dims = {**constant, **{name: _dimension_text(row[i]) if i < len(row) else "" for name, i in dims_at}}
        yield _point(moment, value, dims)


def _stacked_title(grid: Grid, header_row: int) -> str:
    for row in reversed(grid[:header_row]):
        title = _title_of(row)
        if title is not None:
            return title
    return ""


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
) -> Iterator[PointDict]:
    """Points of a table that holds one period (a sheet per year): every row is a series at `period`."""
    names = header_names(grid[header_row])
    value_at = column_index(names, value_column)
    dims_at = [(name, column_index(names, name)) for name in dimension_columns]
    constant = dict(constant_dimensions or {})
    moment = period if period.tzinfo else period.replace(tzinfo=UTC)
    for row in grid[header_row + 1 + skip_rows :]:
        if len(row) <= value_at or _repeats_header(row, names):
            continue
        value = parse_number(row[value_at], decimal=decimal, missing=missing)
        if value is None:
            continue
        dims = {**constant, **{name: _dimension_text(row[i]) if i < len(row) else "" for name, i in dims_at}}
        yield _point(moment, value, dims)


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
) -> Iterator[PointDict]:
    """Points of a wide table: periods are column headers, each row is a series named by its dimensions.

    `split_column` names a column whose header and cells pack several dimensions joined by commas, as
    in Eurostat's `unit,geo\\time` column.
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
    for row in grid[header_row + 1 + skip_rows :]:
        if not any(not is_missing(cell) for cell in row) or _repeats_header(row, names):
            continue
        dims = dict(constant)
        dims.update({name: _dimension_text(row[i]) if i < len(row) else "" for name, i in dims_at})
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
    """Points of a list of JSON records; keys may be dotted paths into nested objects."""
    constant = dict(constant_dimensions or {})
    for record in records:
        if not isinstance(record, dict):
            continue
        flat = flatten_record(record)
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
                ordered = sorted(index, key=lambda code, idx=index: idx[code])
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
                if axis == time_pos or sizes[axis] == 1 and len(ids) > 2:
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
