"""Columns that look like series but describe periods or series: vintages and identifier codes.

Small rules the table analysis calls on a long table once it knows its time column: a label column
whose values take turns along the time axis (consolidated data, then real-time data) marks a vintage of
the one series, not several series; an integer column that only repeats a label column's values as
numbers (a zone's numeric id beside its name) names series, it is not a measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.generate.heuristic.plans import ColumnStats
from shared.wrapper_toolkit import Grid, clean_header, is_missing, parse_number, parse_period


def vintage_columns(
    data: Grid, *, time_column: ColumnStats, time_format: str, candidates: Sequence[ColumnStats]
) -> list[ColumnStats]:
    """The label columns whose values each cover their own stretch of time, none overlapping another's.

    Such a column tells which release a row comes from, not which series: the rows of different values
    never share a time, so without it the series stays whole (and its frequency may change between the
    stretches, as consolidated half-hourly data followed by quarter-hourly real-time data do).
    """
    found = []
    for column in candidates:
        spans: dict[str, tuple[datetime, datetime]] = {}
        for row in data:
            if max(column.index, time_column.index) >= len(row) or is_missing(row[column.index]):
                continue
            moment = parse_period(row[time_column.index], time_format)
            if moment is None:
                continue
            moment = moment.replace(tzinfo=None)
            label = clean_header(row[column.index])
            first, last = spans.get(label, (moment, moment))
            spans[label] = (min(first, moment), max(last, moment))
        ordered = sorted(spans.values())
        if len(ordered) >= 2 and all(ordered[at][1] < ordered[at + 1][0] for at in range(len(ordered) - 1)):
            found.append(column)
    return found


def code_columns(
    data: Grid, *, candidates: Sequence[ColumnStats], labels: Sequence[ColumnStats], decimal: str
) -> list[ColumnStats]:
    """The integer columns that repeat a label column one to one: a code for each label, not values.

    A code takes few values (each on many rows), and each of its values goes with one label and each
    label with one value.
    """
    found = []
    for column in candidates:
        numbers = [
            parse_number(row[column.index], decimal=decimal) if column.index < len(row) else None
            for row in data
        ]
        codes = {number for number in numbers if number is not None}
        if len(codes) < 2 or 2 * len(codes) > len(data) or not all(code.is_integer() for code in codes):
            continue
        for label in labels:
            pairs = {
                (number, clean_header(row[label.index]))
                for number, row in zip(numbers, data, strict=True)
                if number is not None and label.index < len(row)
            }
            if len(pairs) == len(codes) == len({name for _, name in pairs}):
                found.append(column)
                break
    return found


_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip


def period_note(fmt: str | None) -> str | None:
    """The convention a period format dates by, for the rationale, when it is not plain."""
    base, _, start = (fmt or "").partition("@")
    if base == "financial_year":
        month = _MONTH_NAMES[int(start) - 1] if start else "January"
        said = "as the label says" if start else "the label says no start month"
        return (
            f"financial years dated on {month} 1 of the year they start in ({said}); "
            "FY<year> is the year that ends in <year>"
        )
    if base == "year_range":
        return "year ranges dated on January 1 of their first year"
    if base == "day_month_year":
        return "dates read day first, on the evidence of the whole column"
    if base == "month_day_year":
        return "dates read month first, on the evidence of the whole column"
    return None
