"""Generate a wrapper for a source, validate it in the sandbox, regenerate on failure, fall back."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from shared.common.errors import GenerationError, NoSeriesFoundError, WrapperValidationError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, Inference, WrapperDraft
from shared.generate.base import Exchange, Generator, HeuristicGenerator
from shared.points.point import Point
from shared.source.profile import SourceProfile, build_profile
from shared.source.read import SourceData
from shared.validate.validation import ValidationReport, validate_wrapper

Progress = Callable[[str], None]
GENERATORS = ("heuristic", "gemini")


class Attempt(BaseModel):
    """One generate-and-validate round."""

    number: int
    generator: str
    report: ValidationReport


class WrapResult(BaseModel):
    """A validated wrapper, the points of its run on the source, and how it came to be."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    draft: WrapperDraft
    report: ValidationReport
    # A list, or columns read as Points on demand (shared.points.point.PointColumns): taken as they are.
    points: SkipValidation[Sequence[Point]] = Field(repr=False)
    attempts: list[Attempt]
    exchanges: list[Exchange] = Field(default_factory=list)
    fallback_reason: str | None = None


def _quiet(message: str) -> None:
    return None


def make_generator(name: str, *, settings: Settings) -> Generator:
    """The generator called `name`."""
    if name == "heuristic":
        return HeuristicGenerator()
    if name == "gemini":
        from shared.generate.gemini.client import GeminiGenerator

        return GeminiGenerator(settings=settings)
    raise GenerationError(f"unknown generator {name!r}; use one of {', '.join(GENERATORS)}")


def wrap_source(
    source: SourceData,
    request: IndicatorRequest,
    *,
    generator: str = "heuristic",
    settings: Settings,
    progress: Progress = _quiet,
) -> WrapResult:
    """Profile the source, generate and validate a wrapper on all of it, and return its points."""
    progress(f"profiling {source.format.value} source ({len(source.content)} bytes)")
    profile = build_profile(source)
    attempts: list[Attempt] = []
    exchanges: list[Exchange] = []
    fallback_reason = None
    if generator == "gemini":
        if settings.gemini_api_key is None:
            fallback_reason = "no Gemini API key configured (RS_GEMINI_API_KEY); used the heuristic generator"
        else:
            try:
                result = _generate_validated(
                    make_generator("gemini", settings=settings),
                    profile,
                    source,
                    request,
                    settings=settings,
                    attempts=attempts,
                    exchanges=exchanges,
                    progress=progress,
                )
                return _with_source_warnings(result, source)
            except (GenerationError, WrapperValidationError, NoSeriesFoundError) as exc:
                # Keep the failed attempt's prompts and responses for debugging (GeminiError carries them).
                exchanges.extend(getattr(exc, "exchanges", []))
                fallback_reason = (
                    f"Gemini did not produce a valid wrapper ({exc}); used the heuristic generator"
                )
        progress(fallback_reason)
    elif generator != "heuristic":
        raise GenerationError(f"unknown generator {generator!r}; use one of {', '.join(GENERATORS)}")
    result = _generate_validated(
        HeuristicGenerator(),
        profile,
        source,
        request,
        settings=settings,
        attempts=attempts,
        exchanges=exchanges,
        progress=progress,
        max_attempts=1,
    )
    result.fallback_reason = fallback_reason
    return _with_source_warnings(result, source)


def _with_source_warnings(result: WrapResult, source: SourceData) -> WrapResult:
    """The result, its inference saying the timestamps' zone and warning of what looked doubtful.

    Doubtful: a garbled decode of the source, wall clock times without a zone, business-day dating.
    """
    inference = result.draft.inference or Inference(confidence=1.0)
    inference.timezone = result.report.timezone
    clock = [issue.message for issue in result.report.issues if issue.code == "clock"]
    inference.warnings.extend([*source.warnings, *clock])
    result.draft.inference = inference
    return result


def _generate_validated(
    generator: Generator,
    profile: SourceProfile,
    source: SourceData,
    request: IndicatorRequest,
    *,
    settings: Settings,
    attempts: list[Attempt],
    exchanges: list[Exchange],
    progress: Progress,
    max_attempts: int | None = None,
) -> WrapResult:
    limit = max_attempts or settings.generation_max_attempts
    feedback: str | None = None
    report: ValidationReport | None = None
    for number in range(1, limit + 1):
        progress(f"generating wrapper with {generator.name} (attempt {number}/{limit})")
        generation = generator.generate(profile, request, feedback=feedback, attempt=number)
        exchanges.extend(generation.exchanges)
        progress("validating in the sandbox")
        report, points = validate_wrapper(
            generation.draft, [source.content], request=request, settings=settings
        )
        attempts.append(
            Attempt(number=len(attempts) + 1, generator=generation.draft.generator, report=report)
        )
        if report.ok:
            return WrapResult(
                draft=generation.draft, report=report, points=points, attempts=attempts, exchanges=exchanges
            )
        feedback = report.feedback()
        progress(f"validation failed: {feedback.splitlines()[0] if feedback else 'unknown reason'}")
    assert report is not None
    first = report.errors[0] if report.errors else None
    reason = f"{first.stage}/{first.code}: {first.message}" if first else "validation failed"
    if first is not None and first.code == "no_points":
        raise NoSeriesFoundError(f"no series found: {first.message}")
    raise WrapperValidationError(f"the wrapper failed validation after {limit} attempt(s): {reason}", report)
