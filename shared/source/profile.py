"""A compact profile of a source: what generators see of it (tables' first rows, a JSON outline)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from shared.common.errors import HintError, SourceError
from shared.domain.wrapper import LayoutHints, SourceFormat
from shared.source.paging import FetchInference, infer_fetch
from shared.source.read import SourceData
from shared.wrapper_toolkit import Grid, decode_text, read_json, read_workbook

DELIMITERS = (",", ";", "\t", "|")
# detect_delimiter reads 200 lines: this much text holds them unless lines are very long.
DELIMITER_SAMPLE_CHARS = 1 << 20
# The text the first rows of a CSV are read from at first (more when they do not fit).
HEAD_CHARS = 1 << 20
# The text a whole CSV's rows are counted in at a time.
TEXT_BLOCK_CHARS = 1 << 20
# Worksheets whose XML is bigger than this are cut to their first rows before the profile reads them.
SHEET_HEAD_BYTES = 1 << 21


class TableProfile(BaseModel):
    """One table of a source (the CSV, or one sheet) with its first rows as read."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = ""
    n_rows: int
    n_cols: int
    rows: list[list[Any]] = Field(repr=False)


class SourceProfile(BaseModel):
    """What is known about a source before any wrapper exists."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    location: str
    format: SourceFormat
    size_bytes: int
    encoding: str | None = None
    delimiter: str | None = None
    tables: list[TableProfile] = Field(default_factory=list)
    document: Any = Field(default=None, repr=False, exclude=True)
    outline: str = ""
    fetch: FetchInference | None = Field(
        default=None, description="pagination and time window of an http(s) source, inferred"
    )

    def render(self, *, max_rows: int = 40, max_chars: int = 6000) -> str:
        """A text rendering of the profile for a language model (data, not instructions)."""
        lines = [
            f"format: {self.format.value}",
            f"size_bytes: {self.size_bytes}",
            f"encoding: {self.encoding}",
        ]
        if self.delimiter:
            lines.append(f"delimiter: {self.delimiter!r}")
        for table in self.tables:
            title = f"sheet {table.name!r}" if table.name else "table"
            lines.append(
                f"--- {title}: {table.n_rows} rows x {table.n_cols} columns; first rows (0-based index):"
            )
            for index, row in enumerate(table.rows[:max_rows]):
                cells = [_render_cell(cell) for cell in row[:30]]
                lines.append(f"{index}: {cells}")
        if self.fetch is not None:
            lines.append(f"pagination (inferred): {self.fetch.pagination_note}")
            lines.append(f"time window (inferred): {self.fetch.window_note}")
        if self.outline:
            lines.append("--- JSON outline (path: type, example):")
            lines.append(self.outline[:max_chars])
        return "\n".join(lines)


def _render_cell(cell: Any) -> str:
    if isinstance(cell, datetime | date):
        return f"<{type(cell).__name__} {cell.isoformat()}>"
    text = str(cell)
    return text if len(text) <= 60 else text[:57] + "..."


def build_profile(
    source: SourceData, *, max_rows: int = 3000, hints: LayoutHints | None = None
) -> SourceProfile:
    """Read the source with the toolkit readers and keep its first rows or its JSON structure.

    A `sheet` hint keeps only that sheet's table, so every generator sees the sheet the user named.
    """
    profile = SourceProfile(
        location=source.location,
        format=source.format,
        size_bytes=len(source.content),
        encoding=source.encoding,
    )
    try:
        if source.format == SourceFormat.CSV:
            encoding = source.encoding or "utf-8"

            def open_text() -> TextIO:
                return _text_stream(source.content, encoding)

            # The first lines decide the layout: a big file is not read whole (the wrapper reads it).
            profile.delimiter = detect_delimiter(open_text().read(DELIMITER_SAMPLE_CHARS))
            profile.tables = [_csv_table(open_text, profile.delimiter, max_rows)]
        elif source.format == SourceFormat.XLSX:
            content, heights = workbook_head(source.content, max_rows=max_rows)
            book = read_workbook(content)
            profile.tables = [
                _table(name, grid, max_rows, n_rows=heights.get(name)) for name, grid in book.items()
            ]
        else:
            profile.document = read_json(source.content, encoding=source.encoding or "utf-8")
            profile.outline = outline_json(profile.document)
    except (ValueError, csv.Error, json.JSONDecodeError) as exc:
        raise SourceError(f"cannot read {source.location} as {source.format.value}: {exc}") from exc
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        if source.format == SourceFormat.XLSX:
            raise SourceError(f"cannot read {source.location} as a workbook: {exc}") from exc
        raise
    if hints is not None and hints.sheet is not None:
        profile.tables = [select_sheet(profile, hints.sheet)]
    if urlsplit(source.location).scheme.lower() in ("http", "https") and source.format != SourceFormat.XLSX:
        profile.fetch = infer_fetch(profile.document, url=source.location, link_header=source.link)
    return profile


def select_sheet(profile: SourceProfile, sheet: str) -> TableProfile:
    """The table of sheet `sheet` (exactly, else ignoring case and spacing); HintError lists the sheets."""
    if profile.format != SourceFormat.XLSX:
        raise HintError(f"sheet {sheet!r}: a {profile.format.value} source has no sheets")
    exact = [table for table in profile.tables if table.name == sheet]
    loose = [table for table in profile.tables if _fold(table.name) == _fold(sheet)]
    for found in (exact, loose):
        if len(found) == 1:
            return found[0]
    names = ", ".join(repr(table.name) for table in profile.tables)
    raise HintError(f"sheet {sheet!r} is not in the workbook; sheets: {names}")


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def _text_stream(content: bytes, encoding: str) -> TextIO:
    """The text `decode_text` makes of the content, as a stream: a big file is never held whole as text."""
    stream = io.TextIOWrapper(io.BytesIO(content), encoding=encoding, errors="replace", newline="")
    try:
        if stream.read(1) != "\ufeff":
            stream.seek(0)
        return stream
    except UnicodeError:
        # A decoder that will not start a stream (UTF-16 without a byte order mark) reads the text whole.
        return io.StringIO(decode_text(content, encoding), newline="")


def _csv_table(open_text: Callable[[], TextIO], delimiter: str, max_rows: int) -> TableProfile:
    """The first rows of delimited text as read_csv_grid reads them, and how many rows there are in all."""
    size = HEAD_CHARS
    while True:
        head = open_text().read(size)
        # A row after the last kept one was read whole or in part, so the kept ones were not cut off.
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
        rows = list(itertools.islice(reader, max_rows + 1))
        if len(rows) > max_rows or len(head) < size:
            rows = rows[:max_rows]
            break
        size *= 4
    total = len(rows) if len(rows) < max_rows else _row_count(open_text, delimiter)
    width = max((len(row) for row in rows), default=0)
    return TableProfile(name="", n_rows=total, n_cols=width, rows=rows)


def _row_count(open_text: Callable[[], TextIO], delimiter: str) -> int:
    """The rows csv.reader reads in the whole text: one a line when no quote or carriage return is in it."""
    text = open_text()
    lines, last = 0, ""
    while block := text.read(TEXT_BLOCK_CHARS):
        if '"' in block or "\r" in block:
            return sum(1 for _ in csv.reader(open_text(), delimiter=delimiter))
        lines += block.count("\n")
        last = block[-1]
    return lines + (last != "\n")


def _table(name: str, grid: Grid, max_rows: int, *, n_rows: int | None = None) -> TableProfile:
    width = max((len(row) for row in grid[:max_rows]), default=0)
    total = len(grid) if n_rows is None else n_rows
    return TableProfile(name=name, n_rows=total, n_cols=width, rows=grid[:max_rows])


def workbook_head(content: bytes, *, max_rows: int) -> tuple[bytes, dict[str, int]]:
    """An XLSX workbook with each big worksheet cut after its first `max_rows` rows, and the rows each had.

    The profile needs only the first rows; parsing a whole big sheet costs more than the rest of the profile.
    Sheets under SHEET_HEAD_BYTES, and workbooks other than XLSX, are returned as they are.
    """
    if not content.startswith(b"PK"):
        return content, {}
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        big = [
            member
            for member in archive.infolist()
            if member.filename.startswith("xl/worksheets/") and member.file_size > SHEET_HEAD_BYTES
        ]
        if not big:
            return content, {}
        names = _sheet_parts(archive)
        heights: dict[str, int] = {}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as head:
            for member in archive.infolist():
                data = archive.read(member)
                if member in big:
                    data, height = _sheet_head(data, max_rows)
                    if member.filename in names and height is not None:
                        heights[names[member.filename]] = height
                head.writestr(member.filename, data)
    return buffer.getvalue(), heights


def biggest_sheet(content: bytes, *, hint: str | None = None) -> list[str]:
    """The sheet of an XLSX workbook whose XML is biggest, when it is over SHEET_HEAD_BYTES; else none.

    With a `sheet` hint, only the sheet it names: the one the parse code reads, worth reading ahead.
    """
    if not content.startswith(b"PK"):
        return []
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = _sheet_parts(archive)
            sizes = [
                (member.file_size, names[member.filename])
                for member in archive.infolist()
                if member.filename in names and member.file_size > SHEET_HEAD_BYTES
            ]
    except Exception:  # a workbook calamine may still read (or refuse): nothing is read ahead
        return []
    if not sizes:
        return []
    name = max(sizes, key=lambda size: size[0])[1]
    return [name] if hint is None or _fold(hint) == _fold(name) else []


def _sheet_parts(archive: zipfile.ZipFile) -> dict[str, str]:
    """Sheet names by the worksheet part that holds each (`xl/worksheets/sheet1.xml`)."""
    from defusedxml import ElementTree

    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    relation = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    targets = {}
    for rel in ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels")):
        target = rel.get("Target", "")
        targets[rel.get("Id")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    parts = {}
    for sheet in ElementTree.fromstring(archive.read("xl/workbook.xml")).iter(f"{main}sheet"):
        part = targets.get(sheet.get(relation))
        if part is not None:
            parts[part] = sheet.get("name", "")
    return parts


_ROW_NUMBER = re.compile(rb"<row\b[^>]*?\br=\"(\d+)\"")


def _sheet_head(xml: bytes, max_rows: int) -> tuple[bytes, int | None]:
    """A worksheet's XML cut after its first `max_rows` rows, and the number of its last row."""
    end = 0
    for _ in range(max_rows):
        found = xml.find(b"</row>", end)
        if found < 0:
            return xml, None
        end = found + len(b"</row>")
    last = xml.rfind(b"<row ")
    match = _ROW_NUMBER.match(xml, last) if last >= 0 else None
    return xml[:end] + b"</sheetData></worksheet>", int(match.group(1)) if match else None


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the most lines into the same number of fields (more than one)."""
    lines = [line for line in text.splitlines()[:200] if line.strip()]
    best, best_score = ",", -1.0
    for delimiter in DELIMITERS:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        wide = [count for count in counts if count > 1]
        if not wide:
            continue
        mode, frequency = Counter(wide).most_common(1)[0]
        score = frequency * (1 + min(mode, 50) / 50)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def outline_json(document: Any, *, max_lines: int = 120) -> str:
    """Paths, types and an example of each distinct path in a JSON document (lists sampled)."""
    lines: list[str] = []
    seen: set[str] = set()

    def walk(node: Any, path: str, depth: int) -> None:
        if len(lines) >= max_lines or depth > 8:
            return
        key = path
        if isinstance(node, dict):
            if key not in seen:
                seen.add(key)
                lines.append(f"{path or '$'}: object with {len(node)} keys")
            for name, child in list(node.items())[:60]:
                walk(child, f"{path}.{name}" if path else str(name), depth + 1)
        elif isinstance(node, list):
            if key not in seen:
                seen.add(key)
                lines.append(f"{path or '$'}: array of {len(node)}")
            for index, child in enumerate(node[:3]):
                walk(child, f"{path}[{index}]" if path else f"[{index}]", depth + 1)
        else:
            generic = path
            if generic not in seen:
                seen.add(generic)
                lines.append(f"{path}: {type(node).__name__} = {json.dumps(node)[:60]}")

    walk(document, "", 0)
    return "\n".join(lines)
