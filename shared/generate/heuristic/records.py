"""Layout analysis of JSON documents: record arrays, parallel arrays, period mappings, JSON-stat."""

from __future__ import annotations

from typing import Any

from shared.common.errors import NoSeriesFoundError
from shared.domain.wrapper import IndicatorRequest
from shared.generate.heuristic.matching import TIME_WORDS, RequestMatcher, tokens
from shared.generate.heuristic.plans import Candidate, ColumnStats, JsonPlan
from shared.generate.heuristic.render import render_json
from shared.generate.heuristic.tables import (
    _clock_column,
    _dimension_columns,
    _is_numberish,
    _time_column,
    _unique_dimensions,
    _value_columns,
)
from shared.source.profile import SourceProfile
from shared.wrapper_toolkit import (
    decimal_votes,
    detect_period_format,
    flatten_record,
    is_jsonstat,
    is_missing,
    mapping_records,
    parse_clock,
    parse_number,
    row_record,
)


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


def json_wrapper(profile: SourceProfile, request: IndicatorRequest) -> list[Candidate]:
    """Interpretations of the JSON document as parse code, the best first."""
    document = profile.document
    if is_jsonstat(document):
        plan = JsonPlan(layout="jsonstat", reasons=["JSON-stat dataset"])
        return [_candidate(plan, request)]
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
    return [_candidate(best, request)]


def _candidate(plan: JsonPlan, request: IndicatorRequest) -> Candidate:
    rationale = "; ".join(plan.reasons)
    label = f"array {plan.paths[0]!r}" if plan.paths else plan.layout
    return Candidate(
        code=render_json(plan, request),
        rationale=rationale,
        score=plan.score,
        reason=plan.reasons[0] if plan.reasons else rationale,
        label=label,
    )


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
    # Numbers written as text decide the decimal mark, as in a table: `"121,84"` is 121.84.
    comma, point = decimal_votes(value for column in columns.values() for value in column)
    decimal = "," if comma > point else "."
    stats = []
    for index, key in enumerate(keys):
        present = [v for v in columns[key] if not is_missing(v) and not isinstance(v, list | bool)]
        numeric = sum(1 for v in present if parse_number(v, decimal=decimal) is not None) / max(
            1, len(present)
        )
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
                clock=bool(present) and all(parse_clock(v) is not None for v in present),
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
    clock_col = _clock_column(stats, len(records), time_col)  # dates in one key, the hour in another
    time_cols = [time_col] if clock_col is None else [time_col, clock_col]
    dims = _unique_dimensions(table, stats, time_cols, dims, {value_col.name})
    plan = JsonPlan(
        layout="records",
        paths=[path],
        shape=shape,
        time_key=time_col.name,
        time_format=time_col.period_format or "iso",
        value_key=value_col.name,
        dimension_keys=[d.name for d in dims],
        clock_key=clock_col.name if clock_col else None,
        decimal=decimal,
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
