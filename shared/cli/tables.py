"""Aligned text tables and short times for the service commands' output to people."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

Column = tuple[str, Callable[[dict[str, Any]], object]]

CELL_MAX = 48


def cell(value: object, *, limit: int = CELL_MAX) -> str:
    """One table cell: `-` for nothing, one line, cut to `limit` characters."""
    if value is None or value == "":
        return "-"
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_time(value: object) -> str:
    """An API timestamp to the minute, e.g. `2026-12-04 16:01Z` (dates stay dates)."""
    if not isinstance(value, str) or not value:
        return "-"
    if "T" not in value:
        return value
    day, clock = value.split("T", 1)
    zone = "Z" if clock.endswith("Z") else ""
    return f"{day} {clock[:5]}{zone}"


def write_table(rows: Iterable[dict[str, Any]], columns: Sequence[Column], out: TextIO) -> None:
    """Rows under a header, each column as wide as its widest cell."""
    header = [name for name, _ in columns]
    cells = [[cell(read(row)) for _, read in columns] for row in rows]
    widths = [max([len(header[i]), *(len(line[i]) for line in cells)]) for i in range(len(header))]
    for line in [header, *cells]:
        out.write(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip() + "\n"
        )


def write_fields(fields: Sequence[tuple[str, object]], out: TextIO) -> None:
    """`name: value` lines, names aligned, for one record."""
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        text = "-" if value is None or value == "" else str(value)
        out.write(f"{name + ':':<{width + 1}} {text}\n")
