"""Points written as text (JSON lines, CSV and table cells) straight from their columns, a chunk at a time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from shared.points.columns import PointColumns, moment_of
from shared.points.point import Point, PointSequence, format_timestamp

# Points made into text at once: a million points written chunk by chunk never hold all their texts.
TEXT_CHUNK = 10_000


def point_columns(points: Sequence[Point]) -> PointColumns:
    """The points as columns: a PointSequence's own, others' built once."""
    return points.columns if isinstance(points, PointSequence) else PointSequence.from_points(points).columns


def timestamp_texts(columns: PointColumns) -> list[str]:
    """`format_timestamp` of every point's timestamp, made without a datetime per point for UTC."""
    stamps = columns.timestamps
    if columns.offsets is not None:
        # Stated offsets or wall clocks: rare, and written exactly as their datetimes are.
        return [
            format_timestamp(moment_of(stamp, offset))
            for stamp, offset in zip(stamps.tolist(), columns.offsets.tolist(), strict=True)
        ]
    import numpy as np

    seconds = stamps // 1_000_000  # floor: a moment before 1970 keeps a positive fraction, as datetimes do
    fractions = (stamps - seconds * 1_000_000).tolist()
    texts = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s").tolist()
    return [
        f"{text}.{fraction:06d}Z" if fraction else f"{text}Z"
        for text, fraction in zip(texts, fractions, strict=True)
    ]


def value_cells(columns: PointColumns) -> list[str]:
    """Each value as a cell: a whole number without `.0`, any other as Python writes the float."""
    return [str(int(value)) if value.is_integer() else repr(value) for value in columns.values.tolist()]


def json_lines(columns: PointColumns) -> str:
    """The points as JSON lines of `Point.to_wire`, each ending in a newline, as `json.dumps` writes them."""
    dimensions = [json.dumps(dict(series), ensure_ascii=False) for series in columns.series]
    stamps = timestamp_texts(columns)
    values = columns.values.tolist()
    codes = columns.series_codes().tolist()
    # A timestamp's text needs no JSON escape, and json.dumps writes a finite float as its repr.
    return "".join(
        f'{{"timestamp": "{stamp}", "value": {value!r}, "dimensions": {dimensions[code]}}}\n'
        for stamp, value, code in zip(stamps, values, codes, strict=True)
    )


def dimension_names(columns: PointColumns) -> list[str]:
    """The sorted names of the dimensions of the series that have points."""
    return sorted({name for code in columns.present_series() for name in columns.series[code]})


def cell_widths(columns: PointColumns, names: Sequence[str]) -> list[int]:
    """The length of the longest cell of each column of a table of the points (0 without points)."""
    if not len(columns):
        return [0] * (2 + len(names))
    if columns.offsets is None:
        # UTC with a four-digit year: `...T00:00:00Z`, or `...T00:00:00.000001Z` with a fraction.
        stamp_width = 27 if (columns.timestamps % 1_000_000).any() else 20
    else:
        stamp_width = max(map(len, timestamp_texts(columns)))
    present = [columns.series[code] for code in columns.present_series()]
    return [
        stamp_width,
        max(map(len, value_cells(columns))),
        *(max(len(series.get(name, "")) for series in present) for name in names),
    ]


def csv_lines(columns: PointColumns, names: Sequence[str]) -> str:
    """The points as CSV lines as `csv.writer` writes rows of timestamp, value and the named dimensions."""
    # Timestamps and numbers never need quotes; a series' dimension cells are written once, by csv itself
    # (after a first cell, so that no row is a lone empty cell, which csv writes as '""').
    tails = []
    for series in columns.series:
        line = io.StringIO()
        csv.writer(line).writerow(["-", *(series.get(name, "") for name in names)])
        tails.append(line.getvalue()[1:])
    codes = columns.series_codes().tolist()
    return "".join(
        f"{stamp},{value}{tails[code]}"
        for stamp, value, code in zip(timestamp_texts(columns), value_cells(columns), codes, strict=True)
    )


def table_lines(columns: PointColumns, names: Sequence[str], widths: Sequence[int]) -> str:
    """The points as lines of a table: cells padded to `widths`, two spaces apart, no trailing blanks."""
    stamp_width, value_width, *dimension_widths = widths
    # A series' dimension cells are the same on each of its lines: padded once per series.
    tails = [
        "".join(
            f"  {series.get(name, '').ljust(width)}"
            for name, width in zip(names, dimension_widths, strict=True)
        )
        for series in columns.series
    ]
    codes = columns.series_codes().tolist()
    return "".join(
        f"{(stamp.ljust(stamp_width) + '  ' + value.ljust(value_width) + tails[code]).rstrip()}\n"
        for stamp, value, code in zip(timestamp_texts(columns), value_cells(columns), codes, strict=True)
    )
