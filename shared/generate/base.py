"""The interface every wrapper generator implements, making one by name, and the one fallback policy.

The heuristic generator stands in for Gemini when no key is configured or when Gemini keeps failing;
`FallbackPolicy` decides it and words the reason, for the local wrap and the queue steps alike.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, Protocol

from shared.common.errors import GenerationError, NoSeriesFoundError, WrapperValidationError
from shared.common.settings import Settings
from shared.domain.wrapper import Exchange, Generation, IndicatorRequest
from shared.source.profile import SourceProfile

__all__ = [
    "FALLBACK_ERRORS",
    "GEMINI",
    "GENERATORS",
    "HEURISTIC",
    "Exchange",
    "FallbackPolicy",
    "Generation",
    "Generator",
    "GeneratorChoice",
    "HeuristicGenerator",
    "make_generator",
]

HEURISTIC = "heuristic"
GEMINI = "gemini"
GENERATORS = (HEURISTIC, GEMINI)
# What a model's failure to deliver looks like; after it the heuristic generator gets its try.
FALLBACK_ERRORS = (GenerationError, WrapperValidationError, NoSeriesFoundError)
NO_KEY_REASON = "no Gemini API key configured (RS_GEMINI_API_KEY); used the heuristic generator"

AfterFailedValidation = Literal["regenerate", "fall_back", "fail"]


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

    name = HEURISTIC

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


def make_generator(name: str, *, settings: Settings) -> Generator:
    """The generator called `name`."""
    if name == HEURISTIC:
        return HeuristicGenerator()
    if name == GEMINI:
        from shared.generate.gemini.client import GeminiGenerator

        return GeminiGenerator(settings=settings)
    raise GenerationError(f"unknown generator {name!r}; use one of {', '.join(GENERATORS)}")


class GeneratorChoice(NamedTuple):
    """The generator to use, and why it is not the one asked for (None when it is)."""

    name: str
    fallback_reason: str | None = None


class FallbackPolicy:
    """When the heuristic generator stands in for Gemini, and how the reason is worded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def choose(self, requested: str | None) -> GeneratorChoice:
        """The generator for `requested`; None asks for the best one configured (Gemini when it has a key)."""
        has_key = self.settings.gemini_api_key is not None
        if requested is None:
            return GeneratorChoice(GEMINI if has_key else HEURISTIC)
        if requested not in GENERATORS:
            raise GenerationError(f"unknown generator {requested!r}; use one of {', '.join(GENERATORS)}")
        if requested == GEMINI and not has_key:
            return GeneratorChoice(HEURISTIC, NO_KEY_REASON)
        return GeneratorChoice(requested)

    def attempts(self, name: str) -> int:
        """How many drafts `name` may write for a source: a model learns from errors, the heuristic not."""
        return 1 if name == HEURISTIC else self.settings.generation_max_attempts

    def falls_back(self, name: str, exc: Exception) -> bool:
        """Whether the heuristic generator gets its try after `name` failed with `exc`."""
        return name != HEURISTIC and isinstance(exc, FALLBACK_ERRORS)

    def reason(self, exc: Exception) -> str:
        """The note a result carries when the heuristic generator stood in after Gemini failed with `exc`."""
        return f"Gemini did not produce a valid wrapper ({exc}); used the heuristic generator"

    def after_failed_validation(
        self, generator: str | None, *, override: str | None, attempts: int
    ) -> AfterFailedValidation:
        """What follows a stored draft that failed validation after `attempts` generations.

        A model's draft is regenerated with the errors until its attempts are spent, then the heuristic
        generator gets one try; a heuristic (or hand-written) draft's failure is final.
        """
        by_model = (generator or "").startswith(GEMINI) and override is None
        if not by_model:
            return "fail"
        return "fall_back" if attempts >= self.settings.generation_max_attempts else "regenerate"
