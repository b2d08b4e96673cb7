"""The interface every wrapper generator implements, and the records it returns for debugging."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from shared.domain.wrapper import Exchange, IndicatorRequest, WrapperDraft
from shared.source.profile import SourceProfile


class Generation(BaseModel):
    """A draft wrapper and every exchange that produced it."""

    draft: WrapperDraft
    exchanges: list[Exchange] = Field(default_factory=list)


class Generator(Protocol):
    """Writes a wrapper for a profiled source; `feedback` carries the last validation errors."""

    name: str

    def generate(
        self,
        profile: SourceProfile,
        request: IndicatorRequest,
        *,
        feedback: str | None = None,
        attempt: int = 1,
    ) -> Generation:
        """Return a draft wrapper for the source."""
        ...


class HeuristicGenerator:
    """Adapter of shared.generate.heuristic to the Generator interface."""

    name = "heuristic"

    def generate(
        self,
        profile: SourceProfile,
        request: IndicatorRequest,
        *,
        feedback: str | None = None,
        attempt: int = 1,
    ) -> Generation:
        """Infer the layout and write parse code (deterministic: feedback does not change it)."""
        from shared.generate import heuristic

        return Generation(draft=heuristic.generate(profile, request))
