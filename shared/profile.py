"""A compact profile of a source: what generators see of it (tables' first rows, a JSON outline)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import SourceError
from shared.source import SourceData
from shared.wrapper import SourceFormat
from shared.wrapper_toolkit import Grid, decode_text, read_csv_grid, read_json, read_workbook

DELIMITERS = (",", ";", "\t", "|")


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
        if self.outline:
            lines.append("--- JSON outline (path: type, example):")
            lines.append(self.outline[:max_chars])
        return "\n".join(lines)


def _render_cell(cell: Any) -> str:
    if isinstance(cell, datetime | date):
        return f"<{type(cell).__name__} {cell.isoformat()}>"
    text = str(cell)
    return text if len(text) <= 60 else text[:57] + "..."


def build_profile(source: SourceData, *, max_rows: int = 3000) -> SourceProfile:
    """Read the source with the toolkit readers and keep its first rows or its JSON structure."""
    profile = SourceProfile(
        location=source.location,
        format=source.format,
        size_bytes=len(source.content),
        encoding=source.encoding,
    )
    try:
        if source.format == SourceFormat.CSV:
            text = decode_text(source.content, source.encoding or "utf-8")
            profile.delimiter = detect_delimiter(text)
            grid = read_csv_grid(
                source.content, encoding=source.encoding or "utf-8", delimiter=profile.delimiter
            )
            profile.tables = [_table("", grid, max_rows)]
        elif source.format == SourceFormat.XLSX:
            book = read_workbook(source.content)
            profile.tables = [_table(name, grid, max_rows) for name, grid in book.items()]
        else:
            profile.document = read_json(source.content, encoding=source.encoding or "utf-8")
            profile.outline = outline_json(profile.document)
    except (ValueError, csv.Error, json.JSONDecodeError) as exc:
        raise SourceError(f"cannot read {source.location} as {source.format.value}: {exc}") from exc
    except Exception as exc:  # calamine raises its own error types for broken workbooks
        if source.format == SourceFormat.XLSX:
            raise SourceError(f"cannot read {source.location} as a workbook: {exc}") from exc
        raise
    return profile


def _table(name: str, grid: Grid, max_rows: int) -> TableProfile:
    width = max((len(row) for row in grid[:max_rows]), default=0)
    return TableProfile(name=name, n_rows=len(grid), n_cols=width, rows=grid[:max_rows])


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
