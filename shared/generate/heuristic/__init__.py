"""The heuristic generator: infers a source's layout from its profile and writes readable parse code.

No network and no key: it finds the header row, tells long from wide tables and sheet-per-period
workbooks, picks the time column and period format, the dimension columns, and the value column (or
JSON array) that best matches the indicator request, then emits parse code that calls the toolkit
with every decision spelled out as a literal.
"""

from __future__ import annotations

from shared.domain.wrapper import FetchSpec, IndicatorRequest, SourceFormat, WrapperDraft
from shared.generate.heuristic.matching import rank_series
from shared.generate.heuristic.records import json_wrapper
from shared.generate.heuristic.tables import table_wrapper
from shared.source.profile import SourceProfile

__all__ = ["GENERATOR_NAME", "generate", "rank_series"]

GENERATOR_NAME = "heuristic"


def generate(profile: SourceProfile, request: IndicatorRequest) -> WrapperDraft:
    """Infer the layout of the profiled source and return a wrapper for it."""
    spec = FetchSpec(location=profile.location, format=profile.format, encoding=profile.encoding)
    if profile.format == SourceFormat.JSON:
        code, rationale = json_wrapper(profile, request)
    else:
        code, rationale = table_wrapper(profile, request)
    return WrapperDraft(fetch_spec=spec, parse_code=code, generator=GENERATOR_NAME, rationale=rationale)
