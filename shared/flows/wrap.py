"""Generate a wrapper for a source, validate it in the sandbox, regenerate on failure, fall back."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from shared.common.errors import GeminiError, NoSeriesFoundError, WrapperValidationError
from shared.common.settings import Settings
from shared.domain.wrapper import Exchange, FetchSpec, IndicatorRequest, Inference, SourceFormat, WrapperDraft
from shared.flows.fallback import first_reason, validate_ranked
from shared.generate.base import (
    FALLBACK_ERRORS,
    HEURISTIC,
    FallbackPolicy,
    Generator,
    make_generator,
)
from shared.generate.base import GENERATORS as GENERATORS  # re-exported: the CLI offers these names
from shared.points.point import Point
from shared.sandbox.run import discard_primed, prepare_sandbox, prime_sandbox
from shared.source.fetch_plan import fetch_pages
from shared.source.profile import SourceProfile, biggest_sheet, build_profile
from shared.source.read import SourceData
from shared.validate.validation import ValidationReport, validate_wrapper

Progress = Callable[[str], None]


class Attempt(BaseModel):
    """One validation of generated code: a round's best candidate or a runner-up tried after it failed."""

    number: int
    generator: str
    report: ValidationReport
    candidate: str = ""
    rejected: str | None = None


class WrapResult(BaseModel):
    """A validated wrapper, the points of its run on the source, and how it came to be."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    draft: WrapperDraft
    report: ValidationReport
    # A list, or columns read as Points on demand (shared.points.point.PointSequence): taken as they are.
    points: SkipValidation[Sequence[Point]] = Field(repr=False)
    attempts: list[Attempt]
    exchanges: list[Exchange] = Field(default_factory=list)
    fallback_reason: str | None = None
    pages: int = Field(default=1, description="pages of the source the points come from")
    pages_complete: bool = True
    pages_stop: str = ""


def _quiet(message: str) -> None:
    return None


def wrap_source(
    source: SourceData,
    request: IndicatorRequest,
    *,
    generator: str = HEURISTIC,
    settings: Settings,
    progress: Progress = _quiet,
) -> WrapResult:
    """Profile the source, generate and validate a wrapper on all of it, and return its points."""
    # The sandbox child starts while the source is profiled and the wrapper generated; a spare that is
    # ready reads a big workbook sheet meanwhile, on the other core.
    prepare_sandbox(settings)
    primed = None
    if source.format == SourceFormat.XLSX:
        sheets = biggest_sheet(source.content, hint=request.hints.sheet)
        primed = prime_sandbox(source.content, sheets=sheets, settings=settings)
    try:
        return _wrap_profiled(source, request, generator=generator, settings=settings, progress=progress)
    finally:
        discard_primed(primed)


def _wrap_profiled(
    source: SourceData,
    request: IndicatorRequest,
    *,
    generator: str,
    settings: Settings,
    progress: Progress,
) -> WrapResult:
    progress(f"profiling {source.format.value} source ({len(source.content)} bytes)")
    profile = build_profile(source, hints=request.hints)
    attempts: list[Attempt] = []
    exchanges: list[Exchange] = []
    policy = FallbackPolicy(settings)
    chosen, fallback_reason = policy.choose(generator)

    def attempt(name: str) -> WrapResult:
        return _generate_validated(
            make_generator(name, settings=settings),
            profile,
            source,
            request,
            settings=settings,
            attempts=attempts,
            exchanges=exchanges,
            progress=progress,
            limit=policy.attempts(name),
        )

    if chosen != HEURISTIC:
        try:
            result = attempt(chosen)
            return _every_page(
                _with_source_warnings(result, source), request, settings=settings, progress=progress
            )
        except FALLBACK_ERRORS as exc:
            if isinstance(exc, GeminiError):  # keep the failed attempt's prompts and responses for debugging
                exchanges.extend(exc.exchanges)
            fallback_reason = policy.reason(exc)
    if fallback_reason:
        progress(fallback_reason)
    result = attempt(HEURISTIC)
    result.fallback_reason = fallback_reason
    return _every_page(_with_source_warnings(result, source), request, settings=settings, progress=progress)


def _every_page(
    result: WrapResult, request: IndicatorRequest, *, settings: Settings, progress: Progress
) -> WrapResult:
    """The result over every page of a paged API: the validated code run on all pages the spec walks.

    The window is the URL's own (no water mark yet): `wrap` prints what the URL asks for, every page of it.
    """
    spec = result.draft.fetch_spec
    if spec.pagination.kind == "none":
        return result
    progress(f"reading every page ({spec.pagination.kind} pagination)")
    fetched = fetch_pages(spec.model_copy(update={"water_mark": None}), settings=settings)
    report, points = validate_wrapper(result.draft, fetched.payloads(), request=request, settings=settings)
    if not report.ok:
        raise WrapperValidationError(
            f"the wrapper validated on the first page but failed on all {len(fetched.pages)} pages: "
            f"{first_reason(report)}",
            report,
        )
    result.report, result.points = report, points
    result.pages, result.pages_complete, result.pages_stop = (
        len(fetched.pages),
        fetched.complete,
        fetched.stop_reason,
    )
    return result


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
    limit: int,
) -> WrapResult:
    feedback: str | None = None
    report: ValidationReport | None = None
    for number in range(1, limit + 1):
        progress(f"generating wrapper with {generator.name} (attempt {number}/{limit})")
        generation = generator.generate(profile, request, feedback=feedback, attempt=number)
        exchanges.extend(generation.exchanges)
        progress("validating in the sandbox")
        outcome = validate_ranked(
            generation.draft, [source.content], request=request, settings=settings, progress=progress
        )
        for rejection in outcome.rejections:
            attempts.append(
                Attempt(
                    number=len(attempts) + 1,
                    generator=generation.draft.generator,
                    report=rejection.report,
                    candidate=rejection.label,
                    rejected=rejection.reason,
                )
            )
        report = outcome.report
        if report.ok:
            chosen = outcome.draft.inference.chosen if outcome.draft.inference else ""
            attempts.append(
                Attempt(
                    number=len(attempts) + 1,
                    generator=outcome.draft.generator,
                    report=report,
                    candidate=chosen,
                )
            )
            return WrapResult(
                draft=outcome.draft,
                report=report,
                points=outcome.points,
                attempts=attempts,
                exchanges=exchanges,
            )
        feedback = outcome.feedback()
        progress(f"validation failed: {feedback.splitlines()[0] if feedback else 'unknown reason'}")
    assert report is not None
    first = report.errors[0] if report.errors else None
    reason = first_reason(report)
    if first is not None and first.code == "no_points":
        raise NoSeriesFoundError(f"no series found: {first.message}")
    raise WrapperValidationError(f"the wrapper failed validation after {limit} attempt(s): {reason}", report)


def wrap_code(
    source: SourceData,
    request: IndicatorRequest,
    code: str,
    *,
    settings: Settings,
    progress: Progress = _quiet,
) -> WrapResult:
    """Validate hand-written parse code through the same policy and sandbox, and return its points."""
    draft = WrapperDraft(
        fetch_spec=FetchSpec(location=source.location, format=source.format, encoding=source.encoding),
        parse_code=code,
        generator="manual",
        rationale="hand-written parse code",
    )
    progress("validating the hand-written code in the sandbox")
    report, points = validate_wrapper(draft, [source.content], request=request, settings=settings)
    attempts = [Attempt(number=1, generator="manual", report=report)]
    if not report.ok:
        raise WrapperValidationError(f"the parse code failed validation: {first_reason(report)}", report)
    return _with_source_warnings(
        WrapResult(draft=draft, report=report, points=points, attempts=attempts), source
    )
