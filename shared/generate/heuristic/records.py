"""Layout analysis of JSON documents: records (nested too), parallel arrays, period mappings, JSON-stat."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from shared.common.errors import HintError, NoSeriesFoundError
from shared.domain.wrapper import IndicatorRequest
from shared.generate.heuristic.matching import (
    END_WORDS,
    HOUR_WORDS,
    ID_WORDS,
    MONTH_WORDS,
    NOTE_WORDS,
    START_WORDS,
    TIME_WORDS,
    RequestMatcher,
    tokens,
)
from shared.generate.heuristic.plans import Candidate, JsonPlan
from shared.generate.heuristic.render import render_json
from shared.source.profile import SourceProfile
from shared.wrapper_toolkit import (
    clean_header,
    clock_offset,
    decimal_votes,
    detect_clock_format,
    detect_period_format,
    get_path,
    header_records,
    is_daily,
    is_dotnet_date,
    is_jsonstat,
    is_missing,
    jsonstat_cube,
    jsonstat_datasets,
    mapping_records,
    parse_duration,
    parse_number,
    parse_period,
    record_moment,
    record_month,
    walk_records,
)

MAX_CANDIDATES = 6
SAMPLE = 500
GENERIC_VALUE_KEYS = frozenset({"value", "obs_value", "val", "amount"})
# Words that make a key the opposite or a part of what it names ("PriceExclVat", "not_in_total").
NEGATION_WORDS = frozenset(
    {"not", "non", "excl", "excluding", "exclusive", "without", "ex", "except", "minus"}
)
# Formats that name a day, so a separate key may give the time of day.
DAY_FORMATS = frozenset({"iso", "native", "day_month_year", "month_day_year", "excel_serial"})
PERIOD_WORDS = frozenset({"period", "quarter", "quartal", "trimestre", "periodo", "periode"})
POSITION_WORDS = frozenset({"position", "pos", "interval", "period", "step"})
LINK_WORDS = frozenset({"in", "of", "the", "a", "an", "to", "for", "from", "incl", "including"})
EPOCH_WORDS = frozenset({"unix", "epoch", "seconds", "millis", "milliseconds", "ms", "ts"})


@dataclass
class KeyStats:
    """What the values of one key look like across the records."""

    name: str
    index: int
    fill: float
    numeric: float
    period_format: str | None
    distinct: int
    own: bool  # the record's own key, not one inherited from an enclosing record
    time_hint: bool = False

    @property
    def words(self) -> set[str]:
        return set(tokens(self.name))


@dataclass
class RecordSet:
    """The records of one list of the document, as the parse code will read them."""

    path: str
    shape: str  # records | rows | table | mapping
    records: list[dict[str, Any]]
    own_keys: set[str]
    key_name: str = "period"
    complete: bool = True  # the sample holds every record
    envelope: bool = False  # the records carry the fields of the objects around their list


def raw_words(text: str) -> list[str]:
    """Lower-case words of a label split at case and punctuation, nothing dropped or stemmed."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])", " ", text)
    return re.findall(r"[^\W_]+", spaced.casefold())


class KeyScorer:
    """Scores keys against the request like a person reads them: the request's words, not their opposite."""

    def __init__(self, request: IndicatorRequest, keys: Sequence[str]) -> None:
        self.matcher = RequestMatcher(request, keys)
        self.request_sequence = raw_words(request.text())
        self.request_text = request.text().casefold().replace("’", "‘").replace("”", "“")

    def score(self, key: str, *, unit: str = "") -> float:
        """Matched words, plus when the key is only request words, minus a negation the request lacks."""
        value = self.matcher.score(key, unit=unit)
        if key.split(".")[-1].casefold() in GENERIC_VALUE_KEYS:
            value += 1.0
        words = set(tokens(key))
        # A bare number ("2" of "PX2A" and "2.0A") says little about what a key holds.
        value -= sum(
            0.7 * self.matcher.idf.get(w, 1.0) for w in words & self.matcher.request_tokens if w.isdigit()
        )
        if words and words <= self.matcher.request_tokens:
            value += 0.5  # "Wind" for a request about wind beats "Wind Offshore"
        if self.quoted(key):
            value += 3.0  # the request quotes the key: it names it ("'NRT' = net real-time price")
        elif self.verbatim(key):
            value += 1.0  # the request uses the key's words as they stand ("wind" for "Wind")
        if self.negations(key):
            value -= 2.0
        return value

    def quoted(self, key: str) -> bool:
        """True when the request writes the key (its last part) in quotes or backticks."""
        leaf = key.rsplit(".", 1)[-1].casefold()
        return any(f"{q}{leaf}{q}" in self.request_text for q in ("'", '"', "`", "‘", "“"))

    def verbatim(self, key: str) -> bool:
        """True when the key's words stand in the request side by side, as the request's own words."""
        words = raw_words(key.rsplit(".", 1)[-1])
        size = len(words)
        sequence = self.request_sequence
        return bool(words) and any(sequence[i : i + size] == words for i in range(len(sequence) - size + 1))

    def negations(self, key: str) -> set[str]:
        """What the key negates ("not in total": total) that the request does not negate itself."""
        return negated(raw_words(key)) - negated(self.request_sequence)


def negated(words: list[str]) -> set[str]:
    """The words negations apply to ("excl. VAT": vat), or the negation itself when nothing follows it."""
    found = set()
    for index, word in enumerate(words):
        if word in NEGATION_WORDS:
            following = [w for w in words[index + 1 : index + 4] if w not in LINK_WORDS]
            found.add(following[0] if following else word)
    return found


def json_wrapper(profile: SourceProfile, request: IndicatorRequest) -> list[Candidate]:
    """Interpretations of the JSON document as parse code, the best first."""
    document = profile.document
    if is_jsonstat(document):
        return [_jsonstat_candidate(document, request)]
    sets = _record_sets(document)
    plans: list[JsonPlan] = []
    shapes: list[tuple[str, tuple[str, str], set[str]]] = []
    for record_set in sets:
        found = _records_plans(record_set, request)
        if not found and record_set.shape == "records":
            # Records without a time of their own may take it from the object around their list.
            found = _records_plans(_with_envelope(document, record_set), request)
        plans += found
        if found:
            keys = {key for record in record_set.records for key in record}
            shapes.append((record_set.path, (found[0].time_key, found[0].time_format), keys))
    plans = [_with_variants(plan, shapes) for plan in plans]
    plans += _columns_plans(document, request)
    plans = _hinted(plans, request, sets=sets)
    if not plans:
        raise NoSeriesFoundError(
            "no series found: no array of records or parallel arrays with times and numbers"
        )
    plans.sort(key=lambda p: (p.score, len(p.paths)), reverse=True)
    candidates: list[Candidate] = []
    for plan in plans:
        candidate = _candidate(plan, request)
        if all(candidate.code != c.code for c in candidates):
            candidates.append(candidate)
        if len(candidates) == MAX_CANDIDATES:
            break
    return candidates


def _candidate(plan: JsonPlan, request: IndicatorRequest) -> Candidate:
    rationale = "; ".join(plan.reasons)
    if plan.layout == "columns":
        label = f"array {plan.paths[1]!r} by {plan.paths[0]!r}"
        value = plan.paths[1].rsplit(".", 1)[-1]
    elif plan.layout == "series":
        label = f"every series at {plan.paths[1]!r} by {plan.paths[0]!r}"
        value = plan.paths[1].rsplit(".", 1)[-1]
    else:
        where = plan.paths[0] if len(plan.paths) == 1 else f"each of {plan.paths}"
        label = f"{plan.value_key!r} by {plan.time_key!r} in the records at {where or '$'}"
        value = plan.value_key
    return Candidate(
        code=render_json(plan, request),
        rationale=rationale,
        score=plan.score,
        reason=plan.reasons[0] if plan.reasons else rationale,
        label=label,
        hint={"value_column": value},
    )


# --- where the records are -------------------------------------------------------------------------


def _record_sets(document: Any) -> list[RecordSet]:
    paths: list[str] = []
    _walk_lists(document, "", depth=0, found=paths)
    sets = []
    for path in paths:
        records = _sample(walk_records(document, path))
        items = _sample(walk_records(document, path, inherit=False))
        own = {key for record in items for key in record}
        rows = all(set(record) <= {str(i) for i in range(10)} for record in records)
        shape = "rows" if rows else "records"
        complete = len(records) < SAMPLE
        if rows and "[]" not in path and _has_header(records):
            table = header_records(get_path(document, path)[: SAMPLE + 1])
            names = {key for record in table for key in record}
            sets.append(RecordSet(path=path, shape="table", records=table, own_keys=names, complete=complete))
        else:
            sets.append(RecordSet(path=path, shape=shape, records=records, own_keys=own, complete=complete))
    for path, mapping, kind in _keyed_objects(document, "", depth=0):
        key_name = _mapping_key_name(mapping, kind)
        records = mapping_records(mapping, key_name=key_name)
        own = {key for record in records for key in record}
        sets.append(
            RecordSet(
                path=path,
                shape="mapping",
                records=records[:SAMPLE],
                own_keys=own,
                key_name=key_name,
                complete=len(records) <= SAMPLE,
            )
        )
    return sets


def _with_envelope(document: Any, record_set: RecordSet) -> RecordSet:
    """The record set with the scalar fields of the objects its path passes through."""
    records = _sample(walk_records(document, record_set.path, envelope=True))
    return replace(record_set, records=records, envelope=True)


def _has_header(rows: list[dict[str, Any]]) -> bool:
    """True when the first positional row is all labels and the rows under it hold numbers there."""
    if len(rows) < 2:
        return False
    first, rest = rows[0], rows[1:]
    labels = [v for v in first.values() if isinstance(v, str) and v.strip() and parse_number(v) is None]
    if len(labels) != len(first) or len(set(labels)) != len(labels):
        return False
    return any(parse_number(v) is not None for row in rest[:20] for v in row.values())


def _sample(records: Any) -> list[dict[str, Any]]:
    sample = []
    for record in records:
        sample.append(record)
        if len(sample) == SAMPLE:
            break
    return sample


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk_lists(node: Any, path: str, *, depth: int, found: list[str]) -> None:
    """Paths of the lists in the document; lists inside every record of a list are walked with `[]`."""
    if depth > 6:
        return
    if isinstance(node, list):
        found.append(path)
        items = node[:50]
        if items and all(isinstance(item, dict) for item in items):
            nested = dict.fromkeys(k for item in items for k, v in item.items() if isinstance(v, dict | list))
            for key in nested:
                sample = next(item[key] for item in items if isinstance(item.get(key), dict | list))
                _walk_lists(sample, _join(f"{path}[]", key), depth=depth + 1, found=found)
        else:
            for index, child in enumerate(node[:3]):
                if isinstance(child, dict | list):
                    _walk_lists(child, _join(path, str(index)), depth=depth + 1, found=found)
    elif isinstance(node, dict):
        for key, child in node.items():
            if isinstance(child, dict | list) and "." not in str(key):
                _walk_lists(child, _join(path, str(key)), depth=depth + 1, found=found)


def _keyed_objects(node: Any, path: str, *, depth: int) -> list[tuple[str, dict[str, Any], str]]:
    """Objects (at any depth) that are records keyed by a period or a name, with what keys them.

    `{"2024-01-02": {"close": …}, …}` and `{"2019": 4.2, …}` are keyed by period;
    `{"DE": {"date": …, "value": …}, "FR": {…}}` by name: objects sharing their fields.
    """
    found: list[tuple[str, dict[str, Any], str]] = []
    if depth > 6 or not isinstance(node, dict):
        return found
    keys = list(node)
    values = list(node.values())
    records = all(isinstance(v, dict) for v in values)
    numbers = all(v is None or parse_number(v) is not None for v in values)
    if len(keys) >= 3 and (records or numbers) and detect_period_format(keys, name="period") is not None:
        return [(path, node, "period")]
    if len(values) >= 2 and all(isinstance(v, dict) for v in values):
        shared = set.intersection(
            *({k for k, v in value.items() if not isinstance(v, dict | list)} for value in values)
        )
        if len(shared) >= 2:
            found.append((path, node, "name"))
    for key, child in node.items():
        if isinstance(child, dict) and "." not in str(key):
            found += _keyed_objects(child, _join(path, str(key)), depth=depth + 1)
    return found


def _mapping_key_name(mapping: dict[str, Any], kind: str) -> str:
    """A key for what keys the mapping (its period or name) that no record of the mapping uses already."""
    used = {key for value in mapping.values() if isinstance(value, dict) for key in value}
    names = ("period", "period_key", "mapping_key") if kind == "period" else ("key", "name", "mapping_key")
    return next(name for name in names if name not in used)


# --- what the records hold -------------------------------------------------------------------------


def _decimal(records: list[dict[str, Any]]) -> str:
    """The decimal mark of numbers written as text: one document writes them all one way."""
    comma, point = decimal_votes(v for record in records for v in record.values() if isinstance(v, str))
    return "," if comma > point else "."


def _key_stats(record_set: RecordSet, decimal: str) -> list[KeyStats]:
    records = record_set.records
    keys = list(dict.fromkeys(key for record in records for key in record))
    rows = record_set.own_keys <= {str(i) for i in range(10)}
    stats = []
    for index, key in enumerate(keys):
        present = [
            v
            for record in records
            if not is_missing(v := record.get(key)) and not isinstance(v, list | dict | bool)
        ]
        numeric = sum(1 for v in present if parse_number(v, decimal=decimal) is not None)
        # In positional rows the first element is the time when it reads as one.
        time_hint = key == "0" and rows
        if present and is_dotnet_date(present):
            fmt: str | None = "dotnet_date"
        elif present:
            named = time_hint or bool(set(raw_words(key)) & EPOCH_WORDS)
            fmt = detect_period_format(present, name="time" if named else key.split(".")[-1])
        else:
            fmt = None
        stats.append(
            KeyStats(
                name=key,
                index=index,
                fill=len(present) / len(records),
                numeric=numeric / max(1, len(present)),
                period_format=fmt,
                distinct=len({str(v) for v in present}),
                own=key in record_set.own_keys,
                time_hint=time_hint,
            )
        )
    return stats


def _time_rank(key: KeyStats, n_records: int) -> float | None:
    """How much a key looks like the records' time: named like one, full dates, a start, distinct."""
    fmt = key.period_format
    if fmt is None or key.fill < 0.5:
        return None
    hinted = bool(key.words & TIME_WORDS) or key.time_hint
    if fmt in ("epoch_s", "epoch_ms") and set(raw_words(key.name)) & EPOCH_WORDS:
        hinted = True
    if fmt in ("year", "epoch_s", "epoch_ms", "excel_serial") and not hinted:
        return None
    rank = (2.0 if hinted else 0.0) + (1.0 if fmt in ("native", "iso", "dotnet_date") else 0.0)
    words = raw_words(key.name.split(".")[-1])
    edges = {words[0], words[-1]} if words else set()
    rank += 0.5 if edges & START_WORDS else 0.0
    rank -= 1.5 if edges & END_WORDS else 0.0
    if key.distinct == 1 and n_records > 1:
        rank -= 3.0  # an issue or update date repeated on every record dates none of them
    rank += 0.3 * min(1.0, key.distinct / max(1, n_records))
    rank += 1.0 if key.own else 0.0  # a date inherited from an enclosing record is its context
    return rank


def _time_key(stats: list[KeyStats], n_records: int, *, wanted: str | None) -> KeyStats | None:
    if wanted is not None:
        return next((s for s in stats if _is_key(s.name, wanted)), None)
    ranked = [(rank, -s.index, s) for s in stats if (rank := _time_rank(s, n_records)) is not None]
    return max(ranked, key=lambda item: (item[0], item[1]))[2] if ranked else None


def _is_key(name: str, wanted: str) -> bool:
    """A hint names a key by its full dotted name, its last part, or either in another case."""
    leaf = name.rsplit(".", 1)[-1]
    return wanted in (name, leaf) or wanted.casefold() in (name.casefold(), leaf.casefold())


def _value_keys(stats: list[KeyStats], exclude: set[str], *, wanted: str | None) -> list[KeyStats]:
    if wanted is not None:
        return [s for s in stats if _is_key(s.name, wanted) and s.name not in exclude and s.numeric >= 0.5]
    found = []
    for key in stats:
        if key.name in exclude or not key.own or key.fill < 0.5 or key.numeric < 0.8:
            continue
        if key.words and key.words <= TIME_WORDS | ID_WORDS:
            continue  # "@Day", "id", "year": where a value sits, not a measurement
        if raw_words(key.name)[-1:] in (["id"], ["code"]):
            continue  # "geo_id", "SupplierId": a number that names something
        if key.words & TIME_WORDS and key.period_format is not None:
            continue
        found.append(key)
    return found


def _clock_key(
    record_set: RecordSet, stats: list[KeyStats], *, time: KeyStats, fmt: str
) -> tuple[KeyStats, str] | None:
    """Beside a date that repeats, the key that gives each record its time of day (`hour: "00-01"`)."""
    records = record_set.records
    if time.distinct >= len(records) or fmt not in DAY_FORMATS:
        return None
    best: tuple[int, KeyStats, str] | None = None
    step = _step(records, stats)
    for key in stats:
        if key.name == time.name:
            continue
        values = [record.get(key.name) for record in records]
        clock_format = detect_clock_format(values, hours=bool(key.words & HOUR_WORDS))
        if clock_format is None and step and set(raw_words(key.name)) & POSITION_WORDS:
            clock_format = f"position:{step}"
            if not all(clock_offset(v, clock_format) is not None for v in values if not is_missing(v)):
                continue
        if clock_format is None:
            continue
        moments = {
            record_moment(
                r, time_key=time.name, time_format=fmt, clock_key=key.name, clock_format=clock_format
            )
            for r in records
        }
        if len(moments) > time.distinct and (best is None or len(moments) > best[0]):
            best = (len(moments), key, clock_format)
    return (best[1], best[2]) if best else None


def _step(records: list[dict[str, Any]], stats: list[KeyStats]) -> str | None:
    """The one ISO 8601 duration (`PT15M`) a key of every record gives as the resolution, if any."""
    for key in stats:
        values = {record.get(key.name) for record in records if isinstance(record.get(key.name), str)}
        if len(values) == 1 and key.fill == 1.0:
            value = next(iter(values))
            if parse_duration(value) is not None:
                return str(value)
    return None


def _month_key(record_set: RecordSet, stats: list[KeyStats], *, time: KeyStats, fmt: str) -> KeyStats | None:
    """Beside a year that repeats, the key that gives each record its month (`"M07"`, `"July"`, 7)."""
    records = record_set.records
    if fmt != "year" or time.distinct >= len(records):
        return None
    best: tuple[int, KeyStats] | None = None
    for key in stats:
        if key.name == time.name or key.fill < 0.5:
            continue
        present = [r.get(key.name) for r in records if not is_missing(r.get(key.name))]
        named = bool(key.words & (MONTH_WORDS | PERIOD_WORDS))
        if not named and any(parse_number(v) is not None for v in present):
            continue  # bare numbers are months only under a key named like one: else they are values
        months = [record_month(v) for v in present]
        # An annual figure among the months ("M13", "Annual") is left out, not read as a month.
        if not months or sum(m is not None for m in months) < 0.5 * len(months):
            continue
        stamps = {(r.get(time.name), record_month(r.get(key.name))) for r in records}
        if len(stamps) > time.distinct and (best is None or len(stamps) > best[0]):
            best = (len(stamps), key)
    return best[1] if best else None


def _dimension_keys(
    records: list[dict[str, Any]], stats: list[KeyStats], *, moments: list[Any], exclude: set[str]
) -> list[str]:
    """Keys that tell apart records sharing a time, added until (time, dimensions) names each once."""
    dated = [(r, m) for r, m in zip(records, moments, strict=True) if m is not None]
    records, moments = [r for r, _ in dated], [m for _, m in dated]
    if len(set(moments)) == len(moments):
        return []
    spare = [
        s
        for s in stats
        if s.name not in exclude
        and s.fill >= 0.3
        # A number inherited from an enclosing record (its id) names the record, it measures nothing here.
        and (s.numeric < 0.5 or s.words & ID_WORDS or not s.own)
        and not s.words & NOTE_WORDS
    ]
    chosen: list[str] = []
    keys: list[tuple[Any, ...]] = [(m,) for m in moments]
    while spare and len(set(keys)) < len(keys):

        def split(key: KeyStats, current: list[tuple[Any, ...]] = keys) -> tuple[int, int, int, int, int]:
            tuples = {(*k, str(r.get(key.name))) for k, r in zip(current, records, strict=True)}
            # Among keys that split as well: not another date (an issue date), a name before a code.
            return (
                len(tuples),
                int(key.period_format is None),
                int(not key.words & ID_WORDS),
                int(key.numeric < 0.5),
                -key.distinct,
            )

        best = max(spare, key=split)
        if split(best)[0] == len(set(keys)):
            break
        chosen.append(best.name)
        spare.remove(best)
        keys = [(*k, str(r.get(best.name))) for k, r in zip(keys, records, strict=True)]
    # A code beside its name (`geo_id` beside `geo_name`) names the same series: keep both.
    companions = [
        s.name
        for s in spare
        if s.distinct > 1 and any(_one_to_one(records, first=s.name, second=c) for c in chosen)
    ]
    return chosen + companions


def _one_to_one(records: list[dict[str, Any]], *, first: str, second: str) -> bool:
    pairs = {(str(r.get(first)), str(r.get(second))) for r in records}
    return len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})


def _records_plans(record_set: RecordSet, request: IndicatorRequest) -> list[JsonPlan]:
    """One plan per plausible value key of a record set, with the time (and clock) and dimension keys."""
    hints = request.hints
    where = _record_filter(record_set, hints.where)
    if where is None:
        return []
    records = [r for r in record_set.records if all(clean_header(r.get(k)) == v for k, v in where.items())]
    if len(records) < 2:
        return []
    record_set = replace(record_set, records=records)
    decimal = _decimal(records)
    stats = _key_stats(record_set, decimal)
    time = _time_key(stats, len(records), wanted=hints.time_column)
    if time is None or time.period_format is None:
        return []
    reasons: list[str] = []
    fmt = time.period_format
    if fmt == "month_day_year" and decimal == ",":
        # Nothing in the dates tells day from month; a document with decimal commas writes days first.
        stamps = [r.get(time.name) for r in records if not is_missing(r.get(time.name))]
        if all(parse_period(v, "day_month_year") is not None for v in stamps):
            fmt = "day_month_year"
            reasons.append(f"{time.name!r} read day first: the numbers use decimal commas")
    month = _month_key(record_set, stats, time=time, fmt=fmt)
    clock = None if month else _clock_key(record_set, stats, time=time, fmt=fmt)
    time_values = [r.get(time.name) for r in records]
    date_only = clock is None and month is None and is_daily(time_values, fmt)
    moments = [
        record_moment(
            r,
            time_key=time.name,
            time_format=fmt,
            clock_key=clock[0].name if clock else None,
            clock_format=clock[1] if clock else "clock",
            month_key=month.name if month else None,
            date_only=date_only,
        )
        for r in records
    ]
    exclude = (
        {time.name} | ({clock[0].name} if clock else set()) | ({month.name} if month else set()) | set(where)
    )
    measures = _value_keys(stats, exclude, wanted=None)
    values = (
        measures if hints.value_column is None else _value_keys(stats, exclude, wanted=hints.value_column)
    )
    if not values:
        return []
    dims = _dimension_keys(
        records, stats, moments=moments, exclude=exclude | {v.name for v in measures + values}
    )
    # The keys a --where hint names stay dimensions, so the filter over the points finds them.
    dims = [*where, *dims]
    scorer = KeyScorer(request, [s.name for s in values])
    path_score = RequestMatcher(request, [record_set.path]).score(record_set.path) * 0.3
    path_score += _frequency_fit(
        request, record_set.path, fmt="year_month" if month else fmt, date_only=date_only
    )
    what = {
        "records": "records",
        "rows": "positional rows",
        "table": "rows under a header row",
        "mapping": "an object keyed by period",
    }
    plans = []
    for value in values:
        constant = value.distinct == 1 and len(records) > 2
        plan = JsonPlan(
            layout="records",
            paths=[record_set.path],
            shape=record_set.shape,
            key_name=record_set.key_name,
            time_key=time.name,
            time_format=fmt,
            value_key=value.name,
            dimension_keys=dims,
            clock_key=clock[0].name if clock else None,
            clock_format=clock[1] if clock else "clock",
            month_key=month.name if month else None,
            date_only=date_only,
            decimal=decimal,
            envelope=record_set.envelope,
            where=where,
            score=scorer.score(value.name) + path_score - (0.5 if constant else 0.0),
        )
        plan.reasons.append(
            f"{what[record_set.shape]} at {record_set.path or '$'}: time {time.name!r} ({fmt}), "
            f"value {value.name!r}" + _why(scorer, value.name)
        )
        if clock:
            plan.reasons.append(f"dates in {time.name!r}, times of day in {clock[0].name!r} ({clock[1]})")
        if month:
            plan.reasons.append(f"years in {time.name!r}, months in {month.name!r}")
        if date_only:
            plan.reasons.append(
                f"{time.name!r} shows one time of day on each date: a daily series dated by date"
            )
        if dims:
            plan.reasons.append(f"records sharing a time are told apart by {dims}")
        plan.reasons += reasons
        plans.append(plan)
    return plans


# The frequency a request names, and the one a period format (or a list's name) stands for.
FREQUENCY_WORDS = {
    "annual": "year", "annually": "year", "yearly": "year", "year": "year", "years": "year",
    "quarterly": "quarter", "quarter": "quarter", "quarters": "quarter",
    "monthly": "month", "month": "month", "months": "month",
    "weekly": "week", "week": "week", "weeks": "week",
    "daily": "day", "day": "day", "days": "day",
    "hourly": "hour", "hour": "hour", "hours": "hour",
}  # fmt: skip
FORMAT_FREQUENCY = {
    "year": "year", "year_month": "month", "year_mmm": "month", "month_name_year": "month",
    "year_quarter": "quarter",
}  # fmt: skip
REQUEST_FREQUENCY = {"annual", "annually", "yearly", "quarterly", "monthly", "weekly", "daily", "hourly"}


def _frequency_fit(request: IndicatorRequest, path: str, *, fmt: str, date_only: bool) -> float:
    """A bonus when the records' frequency (by period format or by the list's name) is the one asked for."""
    asked = {FREQUENCY_WORDS[w] for w in raw_words(request.text()) if w in REQUEST_FREQUENCY}
    if len(asked) != 1:
        return 0.0
    named = {FREQUENCY_WORDS[w] for w in raw_words(path.rsplit(".", 1)[-1]) if w in FREQUENCY_WORDS}
    has = FORMAT_FREQUENCY.get(fmt) or ("day" if date_only else None)
    if asked & named or (has is not None and has in asked):
        return 1.0
    return -0.5 if has is not None or named else 0.0


def _record_filter(record_set: RecordSet, where: dict[str, str]) -> dict[str, str] | None:
    """The `where` hints as the record set's own keys, or None when it lacks one of them.

    A value that no record holds is an error when every record was seen: the user named a series that
    is not there.
    """
    keys = list(dict.fromkeys(key for record in record_set.records for key in record))
    resolved: dict[str, str] = {}
    for wanted, value in where.items():
        key = next((k for k in keys if _is_key(k, wanted)), None)
        if key is None:
            return None
        seen = sorted({clean_header(r.get(key)) for r in record_set.records if r.get(key) is not None})
        if record_set.complete and value not in seen:
            raise HintError(f"no record has {key!r} = {value!r}; its values are: {_listing(seen)}")
        resolved[key] = value
    return resolved


def _why(scorer: KeyScorer, key: str) -> str:
    negations = scorer.negations(key)
    matched = sorted(set(tokens(key)) & scorer.matcher.request_tokens)
    parts = [f"words {matched} of the request"] if matched else []
    if negations:
        parts.append(f"{sorted(negations)} negates it")
    return f" ({'; '.join(parts)})" if parts else ""


def _with_variants(plan: JsonPlan, shapes: list[tuple[str, tuple[str, str], set[str]]]) -> JsonPlan:
    """Sibling arrays with the same record shape (e.g. price variants) become one dimension."""
    if plan.layout != "records" or plan.shape not in ("records", "mapping"):
        return plan

    def parent(path: str) -> str:
        return path.rsplit(".", 1)[0] if "." in path else ""

    siblings = [
        path
        for path, time, keys in shapes
        # Years beside months under one parent are two frequencies of one series, not variants.
        if time == (plan.time_key, plan.time_format)
        and plan.value_key in keys
        and parent(path) == parent(plan.paths[0])
        and not path.split(".")[-1].isdigit()
        and "[]" not in path
    ]
    if len(siblings) <= 1 or plan.paths[0] not in siblings:
        return plan
    variant = replace(plan, paths=siblings, reasons=list(plan.reasons))
    variant.reasons.append(f"arrays {siblings} share one record shape: dimension 'series'")
    return variant


# --- parallel arrays -------------------------------------------------------------------------------


def _columns_plans(document: Any, request: IndicatorRequest) -> list[JsonPlan]:
    """Plans for objects holding a time array and parallel value arrays (Open-Meteo's `hourly`)."""
    plans: list[JsonPlan] = []
    groups: list[tuple[str, dict[str, Any]]] = []

    def collect(node: Any, path: str, depth: int) -> None:
        if isinstance(node, dict) and depth <= 5:
            groups.append((path, node))
            for key, child in node.items():
                collect(child, _join(path, key), depth + 1)

    collect(document, "", 0)
    for path, group in groups:
        arrays = {k: v for k, v in group.items() if isinstance(v, list) and v}
        if len(arrays) < 2:
            continue
        wanted_time = request.hints.time_column
        times = [
            (k, fmt)
            for k, v in arrays.items()
            if len(v) >= 2
            and (wanted_time is None or _is_key(k, wanted_time))
            and (fmt := _array_time_format(k, v)) is not None
        ]
        if not times:
            continue
        time_key, fmt = times[0]
        length = len(arrays[time_key])
        wanted = request.hints.value_column
        candidates = [
            k
            for k, v in arrays.items()
            if k != time_key
            and len(v) == length
            and sum(parse_number(x) is not None for x in v) >= 0.5 * len(v)
            and (wanted is None or _is_key(k, wanted))
        ]
        plans += _series_plans(
            group,
            path,
            time_key=time_key,
            fmt=fmt,
            length=length,
            request=request,
            offset_key=_offset_key(document),
        )
        units = _sibling_units(document, path)
        scorer = KeyScorer(request, candidates)
        prefix = f"{path}." if path else ""
        # The group's name counts too: "daily" and "hourly" groups hold the same variables.
        group_score = RequestMatcher(request, [path]).score(path) * 0.3 if path else 0.0
        for key in candidates:
            plan = JsonPlan(
                layout="columns",
                paths=[f"{prefix}{time_key}", f"{prefix}{key}"],
                time_format=fmt,
                offset_key=_offset_key(document),
                score=scorer.score(key, unit=units.get(key, "")) + 0.5 + group_score,
            )
            plan.reasons.append(
                f"parallel arrays under {path or '$'}: time {time_key!r}, value {key!r}{_why(scorer, key)}"
            )
            plans.append(plan)
    return plans


def _series_plans(
    group: dict[str, Any],
    path: str,
    *,
    time_key: str,
    fmt: str,
    length: int,
    request: IndicatorRequest,
    offset_key: str | None,
) -> list[JsonPlan]:
    """Beside a time array, lists of named series whose value arrays have its length, one plan each."""
    plans = []
    for key, items in group.items():
        if not isinstance(items, list) or len(items) < 1 or not all(isinstance(i, dict) for i in items):
            continue
        arrays = [
            k
            for k, v in items[0].items()
            if isinstance(v, list)
            and all(isinstance(i.get(k), list) and len(i[k]) == length for i in items)
            and sum(parse_number(x) is not None for x in v) >= 0.5 * len(v)
        ]
        scalars = [k for k, v in items[0].items() if isinstance(v, str | int) and not isinstance(v, bool)]
        names = [k for k in scalars if len({clean_header(i.get(k)) for i in items}) == len(items)]
        if len(arrays) != 1 or not names:
            continue
        labels = [" ".join(clean_header(i.get(k)) for k in names) for i in items]
        wanted = request.hints.value_column
        if wanted is not None and not (_is_key(key, wanted) or wanted in labels):
            continue
        scorer = KeyScorer(request, labels)
        prefix = f"{path}." if path else ""
        best = max(labels, key=scorer.score)
        plan = JsonPlan(
            layout="series",
            paths=[f"{prefix}{time_key}", f"{prefix}{key}"],
            time_format=fmt,
            value_key=arrays[0],
            dimension_keys=names,
            offset_key=offset_key,
            score=scorer.score(best) + 0.5,
        )
        plan.reasons.append(
            f"{len(items)} series at {prefix}{key} named by {names}, their {arrays[0]!r} beside the times "
            f"{time_key!r}; {best!r} matches the request best"
        )
        plans.append(plan)
    return plans


def _array_time_format(key: str, values: list[Any]) -> str | None:
    if is_dotnet_date(values):
        return "dotnet_date"
    epoch = bool(set(raw_words(key)) & EPOCH_WORDS)
    fmt = detect_period_format(values, name="time" if epoch else key)
    return fmt if fmt is not None and (set(tokens(key)) & TIME_WORDS or epoch or fmt == "iso") else None


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


# --- hints -----------------------------------------------------------------------------------------


def _hinted(plans: list[JsonPlan], request: IndicatorRequest, *, sets: list[RecordSet]) -> list[JsonPlan]:
    """The plans that follow the request's hints; a hint naming no key of the document is an error."""
    hints = request.hints
    if hints.value_column is None and hints.time_column is None and not hints.where:
        return plans
    if plans:
        return plans
    keys = sorted({key for s in sets for record in s.records for key in record})
    missing = [k for k in hints.where if not any(_is_key(key, k) for key in keys)]
    if missing:
        raise HintError(
            f"no key {missing[0]!r} in the JSON to pick records by; its keys are: {_listing(keys)}"
        )
    numeric = [
        key for key in keys if any(parse_number(r.get(key)) is not None for s in sets for r in s.records[:50])
    ]
    if hints.time_column is not None and not any(_is_key(k, hints.time_column) for k in keys):
        raise HintError(f"no time key {hints.time_column!r} in the JSON; its keys are: {_listing(keys)}")
    if hints.value_column is not None:
        raise HintError(
            f"no value key {hints.value_column!r} with numbers in the JSON (or none beside a time); "
            f"its numeric keys are: {_listing(numeric)}"
        )
    raise HintError(
        f"time key {hints.time_column!r} holds no dates or periods; the keys are: {_listing(keys)}"
    )


def _listing(names: list[str], limit: int = 40) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") if names else "(none)"


# --- JSON-stat -------------------------------------------------------------------------------------


def _jsonstat_candidate(document: Any, request: IndicatorRequest) -> Candidate:
    hints = request.hints
    cubes = [(name, jsonstat_cube(dataset)) for name, dataset in jsonstat_datasets(document)]
    # A --where hint filters the points by their dimensions after parsing (keep_where), as for tables.
    where: dict[str, str] = {}
    time_dimension = None
    if hints.time_column is not None:
        dims = [(d, n) for _, cube in cubes for d, n in zip(cube.ids, cube.names, strict=True)]
        time_dimension = next((d for d, n in dims if hints.time_column in (d, n)), None)
        if time_dimension is None:
            raise HintError(
                f"no dimension {hints.time_column!r} in the JSON-stat data; its dimensions are: "
                f"{_listing(sorted({n for _, n in dims}))}"
            )
    if hints.value_column is not None:
        found = _jsonstat_category(cubes, hints.value_column)
        if found is None:
            labels = sorted(
                {
                    cube.labels[a].get(c, c)
                    for _, cube in cubes
                    for a in range(len(cube.ids))
                    for c in cube.codes[a]
                }
            )
            raise HintError(
                f"no category {hints.value_column!r} in the JSON-stat data; "
                f"its categories are: {_listing(labels)}"
            )
        where[found[0]] = found[1]
    plan = JsonPlan(layout="jsonstat", where=where, time_key=time_dimension or "")
    names = [name for name, _ in cubes if name]
    plan.reasons.append(
        f"JSON-stat {'datasets ' + str(names) if len(cubes) > 1 else 'dataset'}: one series per category"
        + (f", keeping {where}" if where else "")
    )
    return Candidate(
        code=render_json(plan, request),
        rationale="; ".join(plan.reasons),
        score=1.0,
        reason=plan.reasons[0],
        label="JSON-stat cube" + (f" where {where}" if where else ""),
        hint={
            k: v for k, v in (("time_column", hints.time_column), ("value_column", hints.value_column)) if v
        },
    )


def _jsonstat_category(cubes: list[tuple[str, Any]], wanted: str) -> tuple[str, str] | None:
    """(dimension id, category code) of the category whose code or label is the hint."""
    for _, cube in cubes:
        for axis, dim_id in enumerate(cube.ids):
            for code in cube.codes[axis]:
                if wanted in (code, cube.labels[axis].get(code)):
                    return dim_id, code
    return None
