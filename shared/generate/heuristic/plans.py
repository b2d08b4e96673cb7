"""The layout decisions the analysis makes and the renderer spells out."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.generate.heuristic.matching import tokens


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

    # long | wide | months (years down, months across) | matrix (months down, years across) | snapshot
    layout: str
    sheet: str
    header_row: int
    anchors: list[str]
    header_rows: list[int] | None = None  # header lines joined into one (none: a table without a header)
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
    value_scores: list[tuple[str, float]] = field(default_factory=list)  # value columns, best first
    row_labels: dict[str, str] = field(default_factory=dict)  # a wide table's row labels → their column
    row_choice: tuple[str, str] | None = None  # (column, row label) a value column hint names
    warnings: list[str] = field(default_factory=list)
    title: str = ""  # the title above the table
    columns: tuple[int, int] | None = None  # (first, end) of a table standing beside others
    label_levels: tuple[str, bool] | None = None  # (label column nested by indentation, cut footnotes)
    aligned: bool = False  # header labels laid over the columns the data fills (see `align_header`)
    day_format: str | None = None  # the table's one day is in a cell above its header, in this format
    until_blank: bool = False  # another table follows below: this one ends at its first blank row
    nested_titles: bool = False  # stacked tables told apart by title lines on several levels
    final_only: bool = False  # preliminary periods beside final ones left out (see `is_preliminary`)


@dataclass
class JsonPlan:
    """The layout decisions for a JSON document."""

    layout: str  # records | columns | series | jsonstat
    paths: list[str] = field(default_factory=list)
    # records (objects) | rows (positional lists) | table (lists under a header row) | mapping (keyed objects)
    shape: str = "records"
    key_name: str = "period"
    time_key: str = ""
    time_format: str = "iso"
    value_key: str = ""
    dimension_keys: list[str] = field(default_factory=list)
    clock_key: str | None = None  # the time of day, when it sits apart from the date
    clock_format: str = "clock"
    month_key: str | None = None  # the month (or quarter), when the time key holds only the year
    date_only: bool = False  # a daily series: dated by the date as written, not the instant
    decimal: str = "."
    envelope: bool = False  # records take the fields of the objects around their list
    offset_key: str | None = None
    where: dict[str, str] = field(default_factory=dict)  # keep only records (or categories) like these
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    """One interpretation of a source as parse code, with its score and a one-line reason."""

    code: str
    rationale: str
    score: float
    reason: str
    label: str = ""
    hint: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
