"""The interface every wrapper generator implements; its records live in shared.domain.generation."""

from __future__ import annotations

from typing import Protocol

from shared.domain.generation import Exchange, Generation
from shared.domain.wrapper import IndicatorRequest
from shared.source.profile import SourceProfile

__all__ = ["Exchange", "Generation", "Generator", "HeuristicGenerator"]


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
