"""What the heuristic sees in a source, for `wrap --explain`: row classes, blocks, time axis, candidates."""

from __future__ import annotations

from typing import Any

from shared.common.errors import NoSeriesFoundError
from shared.domain.wrapper import IndicatorRequest, SourceFormat
from shared.generate.heuristic.plans import Candidate, TablePlan
from shared.generate.heuristic.records import json_wrapper
from shared.generate.heuristic.structure import analyze_structure
from shared.generate.heuristic.tables import analyze_table, table_wrapper
from shared.source.profile import SourceProfile


def explain(profile: SourceProfile, request: IndicatorRequest) -> dict[str, Any]:
    """The structure of every table and the ranked candidates, as one JSON-ready document."""
    candidates, refusal = _candidates(profile, request)
    doc: dict[str, Any] = {
        "format": profile.format.value,
        "request": request.model_dump(exclude_defaults=True),
        "tables": [],
        "candidates": [_candidate(c) for c in candidates],
    }
    if refusal:
        doc["refusal"] = refusal
    if profile.format == SourceFormat.JSON:
        return doc
    wanted = request.hints.sheet
    for table in profile.tables:
        if wanted is not None and table.name.casefold() != wanted.casefold():
            continue
        doc["tables"].append(_table(table.name, table.rows, request, profile.delimiter, candidates))
    return doc


def _candidates(profile: SourceProfile, request: IndicatorRequest) -> tuple[list[Candidate], str]:
    try:
        if profile.format == SourceFormat.JSON:
            return json_wrapper(profile, request), ""
        return table_wrapper(profile, request), ""
    except NoSeriesFoundError as exc:
        return [], str(exc)


def _table(
    name: str,
    grid: list[list[Any]],
    request: IndicatorRequest,
    delimiter: str | None,
    candidates: list[Candidate],
) -> dict[str, Any]:
    structure = analyze_structure(grid, header_rows=request.hints.header_rows)
    main = structure.main
    plans = analyze_table(grid, request, sheet=name, delimiter=delimiter) if grid else []
    plan = plans[0] if plans else None
    return {
        "name": name,
        "header_rows": main.header_rows if main else [],
        "data_rows": main.data_rows if main else [],
        "row_classes": structure.row_classes,
        "column_classes": dict(zip(main.names, structure.column_classes, strict=False)) if main else {},
        "blocks": [block.to_dict() for block in structure.blocks],
        "side_by_side": [[first, end - 1] for first, end in structure.column_groups],
        "time_axis": _time_axis(plan),
        "notes": structure.reasons,
        "candidates": [_candidate(c) for c in candidates if c.hint.get("sheet", name) == name],
    }


def _time_axis(plan: TablePlan | None) -> dict[str, Any]:
    if plan is None:
        return {"orientation": "none"}
    if plan.layout == "wide":
        return {
            "orientation": "header row",
            "period_format": plan.period_format,
            "header_row": plan.header_row,
        }
    if plan.layout == "matrix":
        return {"orientation": "matrix", "month_column": plan.month_column, "years": "column headers"}
    if plan.layout == "months":
        return {"orientation": "matrix", "year_column": plan.time_column, "months": "column headers"}
    if plan.layout == "long":
        axis: dict[str, Any] = {
            "orientation": "column",
            "time_column": plan.time_column,
            "time_format": plan.time_format,
        }
        if plan.month_column:
            axis["month_column"] = plan.month_column
        if plan.clock_column:
            axis["clock_column"] = plan.clock_column
        return axis
    return {"orientation": "none"}


def _candidate(candidate: Candidate) -> dict[str, Any]:
    return {
        "label": candidate.label,
        "score": round(candidate.score, 3),
        "reason": candidate.reason,
        "hint": candidate.hint,
    }


def render_explain(doc: dict[str, Any]) -> str:
    """The explain document as text a person reads top to bottom."""
    lines = [f"format: {doc['format']}"]
    if doc.get("refusal"):
        lines.append(f"refusal: {doc['refusal']}")
    for table in doc["tables"]:
        lines.append("")
        lines.append(f"table {table['name']!r}")
        lines.append(f"  header rows: {table['header_rows']}")
        lines.append(f"  data rows: {_folded(table['data_rows'])}")
        lines.append(f"  row classes: {_runs(table['row_classes'])}")
        for number, block in enumerate(table["blocks"], 1):
            title = f" {block['title']!r}" if block["title"] else ""
            lines.append(
                f"  block {number}{title}: header {block['header_rows']}, data {block['data_rows']}"
                + (f", sections {block['sections']}" if block["sections"] else "")
                + (" (no header)" if block["headerless"] else "")
            )
            lines.append(f"    columns: {block['columns']}")
        lines.append(f"  time axis: {table['time_axis']}")
        lines.extend(f"  note: {note}" for note in table["notes"])
    lines.append("")
    lines.append("candidates (best first):")
    for number, candidate in enumerate(doc["candidates"], 1):
        hint = " ".join(f"--{key.replace('_', '-')} {value!r}" for key, value in candidate["hint"].items())
        lines.append(f"  {number}. {candidate['label']}  score {candidate['score']}  [{hint}]")
        lines.append(f"     {candidate['reason']}")
    return "\n".join(lines) + "\n"


def _folded(rows: list[int]) -> str:
    parts, start = [], None
    for i, row in enumerate(rows):
        if start is None:
            start = row
        if i + 1 == len(rows) or rows[i + 1] != row + 1:
            parts.append(f"{start}" if start == row else f"{start}-{row}")
            start = None
    return ", ".join(parts) or "none"


def _runs(classes: list[str]) -> str:
    """Row classes as runs: `0 title, 1 blank, 2-3 header, 4-50 data`."""
    parts, start = [], 0
    for i, kind in enumerate(classes):
        if i + 1 == len(classes) or classes[i + 1] != kind:
            parts.append(f"{start}{'' if start == i else f'-{i}'} {kind}")
            start = i + 1
    return ", ".join(parts)
