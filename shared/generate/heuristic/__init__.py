"""The heuristic generator: infers a source's layout from its profile and writes readable parse code.

No network and no key: it finds the header row, tells long from wide tables and sheet-per-period
workbooks, picks the time column and period format, the dimension columns, and the value column (or
JSON array) that best matches the indicator request, then emits parse code that calls the toolkit
with every decision spelled out as a literal.
"""

from __future__ import annotations

from shared.common.errors import HintError
from shared.domain.wrapper import (
    Alternative,
    FetchSpec,
    IndicatorRequest,
    Inference,
    LayoutHints,
    SourceFormat,
    Variant,
    WrapperDraft,
    margin_confidence,
)
from shared.generate.heuristic.matching import rank_series
from shared.generate.heuristic.plans import Candidate
from shared.generate.heuristic.records import json_wrapper
from shared.generate.heuristic.tables import table_wrapper
from shared.generate.selection import restrict_code
from shared.source.profile import SourceProfile

__all__ = ["GENERATOR_NAME", "generate", "rank_series"]

GENERATOR_NAME = "heuristic"


def generate(profile: SourceProfile, request: IndicatorRequest) -> WrapperDraft:
    """Infer the layout of the profiled source and return a wrapper for it."""
    spec = FetchSpec(location=profile.location, format=profile.format, encoding=profile.encoding)
    if profile.fetch is not None:
        spec.pagination = profile.fetch.pagination
        spec.water_mark = profile.fetch.water_mark
    candidates = (
        json_wrapper(profile, request)
        if profile.format == SourceFormat.JSON
        else table_wrapper(profile, request)
    )
    candidates = honour_hints(candidates, request.hints)
    best, others = candidates[0], candidates[1:]
    where = request.hints.where
    inference = infer(candidates)
    if profile.fetch is not None:
        inference.pagination = profile.fetch.pagination_note
        inference.window = profile.fetch.window_note
    return WrapperDraft(
        fetch_spec=spec,
        parse_code=restrict_code(best.code, where),
        generator=GENERATOR_NAME,
        rationale=best.rationale,
        inference=inference,
        variants=[
            Variant(
                label=c.label,
                score=c.score,
                reason=c.reason,
                parse_code=restrict_code(c.code, where),
                rationale=c.rationale,
                hint=c.hint,
            )
            for c in others
        ],
    )


def honour_hints(candidates: list[Candidate], hints: LayoutHints) -> list[Candidate]:
    """The candidates that use the time and value columns the hints name; HintError when none does.

    A hint must never be dropped silently: a reading that ignores it is no answer to the user's request.
    """
    wanted = {name: value for name in ("time_column", "value_column") if (value := getattr(hints, name))}
    if not wanted:
        return candidates
    kept = [c for c in candidates if all(_agrees(c, name, value) for name, value in wanted.items())]
    if not kept:
        given = ", ".join(f"{name} {value!r}" for name, value in wanted.items())
        found = "; ".join(c.label or c.reason for c in candidates)
        raise HintError(f"no reading of the source uses {given}; the readings found: {found}")
    return kept


def _agrees(candidate: Candidate, name: str, wanted: str) -> bool:
    if name in candidate.hint:
        return _fold(candidate.hint[name]) == _fold(wanted)
    return repr(wanted) in candidate.code  # the renderer writes every decision as a literal


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def infer(candidates: list[Candidate]) -> Inference:
    """Confidence in the best candidate from its margin over the runner-up, and the alternatives."""
    best, others = candidates[0], candidates[1:]
    if not others:
        return Inference(confidence=1.0, chosen=best.label, warnings=best.warnings)
    return Inference(
        confidence=margin_confidence(best.score, others[0].score),
        chosen=best.label,
        warnings=best.warnings,
        alternatives=[
            Alternative(label=c.label, score=round(c.score, 3), reason=c.reason, hint=c.hint) for c in others
        ],
    )
