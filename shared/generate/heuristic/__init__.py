"""The heuristic generator: infers a source's layout from its profile and writes readable parse code.

No network and no key: it finds the header row, tells long from wide tables and sheet-per-period
workbooks, picks the time column and period format, the dimension columns, and the value column (or
JSON array) that best matches the indicator request, then emits parse code that calls the toolkit
with every decision spelled out as a literal.
"""

from __future__ import annotations

from shared.domain.wrapper import (
    Alternative,
    FetchSpec,
    IndicatorRequest,
    Inference,
    SourceFormat,
    WrapperDraft,
)
from shared.generate.heuristic.matching import rank_series
from shared.generate.heuristic.plans import Candidate
from shared.generate.heuristic.records import json_wrapper
from shared.generate.heuristic.tables import table_wrapper
from shared.source.profile import SourceProfile

__all__ = ["GENERATOR_NAME", "generate", "rank_series"]

GENERATOR_NAME = "heuristic"


def generate(profile: SourceProfile, request: IndicatorRequest) -> WrapperDraft:
    """Infer the layout of the profiled source and return a wrapper for it."""
    spec = FetchSpec(location=profile.location, format=profile.format, encoding=profile.encoding)
    candidates = (
        json_wrapper(profile, request)
        if profile.format == SourceFormat.JSON
        else table_wrapper(profile, request)
    )
    best = candidates[0]
    return WrapperDraft(
        fetch_spec=spec,
        parse_code=best.code,
        generator=GENERATOR_NAME,
        rationale=best.rationale,
        inference=infer(candidates),
    )


def infer(candidates: list[Candidate]) -> Inference:
    """Confidence in the best candidate from its margin over the runner-up, and the alternatives."""
    best, others = candidates[0], candidates[1:]
    if not others:
        return Inference(confidence=1.0, chosen=best.label, warnings=best.warnings)
    runner_up = others[0]
    spread = abs(best.score) + abs(runner_up.score)
    margin = (best.score - runner_up.score) / spread if spread else 0.0
    return Inference(
        confidence=round(max(0.0, min(1.0, 0.5 + margin / 2)), 3),
        chosen=best.label,
        warnings=best.warnings,
        alternatives=[
            Alternative(label=c.label, score=round(c.score, 3), reason=c.reason, hint=c.hint) for c in others
        ],
    )
