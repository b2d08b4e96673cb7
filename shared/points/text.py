"""Points written as text (JSON lines, CSV and table cells) straight from their columns, a chunk at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from shared.points.columns import PointColumns, moment_of
from shared.points.point import Point, PointSequence, format_timestamp

# Points made into text at once: a million points written chunk by chunk never hold all their texts.
TEXT_CHUNK = 10_000


def point_columns(points: Sequence[Point]) -> PointColumns:
    """The points as columns: a PointSequence's own, others' built once."""
    return points.columns if isinstance(points, PointSequence) else PointSequence.from_points(points).columns


def column_chunks(columns: PointColumns, *, size: int = TEXT_CHUNK) -> Iterator[PointColumns]:
    """The columns `size` points at a time, in order."""
    for start in range(0, len(columns), size):
        yield columns.take(slice(start, start + size))


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
    import numpy as np

    present = np.unique(columns.series_codes()).tolist() if len(columns) else []
    return sorted({name for code in present for name in columns.series[code]})


def cell_widths(columns: PointColumns, names: Sequence[str]) -> list[int]:
    """The length of the longest cell of each column of `cell_rows` (at least 1 per column with points)."""
    import numpy as np

    if not len(columns):
        return [0] * (2 + len(names))
    present = [columns.series[code] for code in np.unique(columns.series_codes()).tolist()]
    return [
        max(map(len, timestamp_texts(columns))),
        max(map(len, value_cells(columns))),
        *(max(len(series.get(name, "")) for series in present) for name in names),
    ]


def cell_rows(columns: PointColumns, names: Sequence[str]) -> list[list[str]]:
    """The points as table rows: timestamp, value and each named dimension ('' where a series has none)."""
    by_series = [[series.get(name, "") for name in names] for series in columns.series]
    codes = columns.series_codes().tolist()
    return [
        [stamp, value, *by_series[code]]
        for stamp, value, code in zip(timestamp_texts(columns), value_cells(columns), codes, strict=True)
    ]
