"""Validation down a generator's ranking: the best interpretation first, then each runner-up in turn."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from shared.common.errors import HintError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, WrapperDraft
from shared.points.point import Point
from shared.validate.validation import HINT_MISMATCH, ValidationReport, validate_wrapper

# Each try is a sandboxed run over the whole source: past a few, a lower-ranked reading is a guess.
MAX_CANDIDATES = 4
# Sandbox stops that say nothing about the reading: another reading of the same source would hit them too.
SANDBOX_LIMITS = ("Timeout:", "OutputLimit:", "Killed:")


class Rejection(BaseModel):
    """A candidate that failed validation, and why."""

    label: str
    reason: str
    report: ValidationReport

    def line(self) -> str:
        """The rejection as one line for a warning or a log."""
        return f"rejected {self.label or 'the generated code'}: {self.reason}"


class Outcome(BaseModel):
    """The first candidate that validated (or the best one, failed), with the ones rejected before it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    draft: WrapperDraft
    report: ValidationReport
    points: SkipValidation[Sequence[Point]] = Field(repr=False)
    rejections: list[Rejection] = Field(default_factory=list)

    def feedback(self) -> str:
        """Why each candidate was rejected, for the attempt record or a generator."""
        if len(self.rejections) == 1:
            return self.rejections[0].report.feedback()
        return "\n".join(f"{r.line()}\n{r.report.feedback()}" for r in self.rejections)


def _reading_failed(report: ValidationReport) -> bool:
    """Whether the failure is the reading's, so another reading may pass; limits and violations are not."""
    return not any(
        issue.code == "sandbox_violation"
        or (issue.stage == "sandbox" and issue.message.startswith(SANDBOX_LIMITS))
        for issue in report.errors
    )


def first_reason(report: ValidationReport) -> str:
    """The first error of a failed report as `stage/code: message`."""
    first = report.errors[0] if report.errors else None
    return f"{first.stage}/{first.code}: {first.message}" if first else "validation failed"


def validate_ranked(
    draft: WrapperDraft,
    payloads: list[bytes],
    *,
    request: IndicatorRequest,
    settings: Settings,
    progress: Callable[[str], None],
    instants: bool = False,
) -> Outcome:
    """Validate the draft, then its runners-up in rank order until one passes (`instants`: see
    validate_wrapper).

    A failed outcome carries the best candidate's report. When every candidate stopped on a `where` hint
    that names what the points lack, that is the user's mistake, not the generator's: HintError.
    """
    rejections: list[Rejection] = []
    candidate = draft
    tries = min(MAX_CANDIDATES, 1 + len(draft.variants))
    for index in range(tries):
        if index:
            candidate = draft.runner_up(index - 1, rejected=[r.line() for r in rejections])
            progress(f"trying the runner-up {candidate.inference.chosen if candidate.inference else index}")
        report, points = validate_wrapper(
            candidate, payloads, request=request, settings=settings, instants=instants
        )
        if report.ok:
            return Outcome(draft=candidate, report=report, points=points, rejections=rejections)
        label = candidate.inference.chosen if candidate.inference else ""
        rejection = Rejection(label=label, reason=first_reason(report), report=report)
        rejections.append(rejection)
        if tries > 1:
            progress(rejection.line())
        if not _reading_failed(report):
            break
    hint_errors = [r for r in rejections if any(i.code == HINT_MISMATCH for i in r.report.errors)]
    if len(hint_errors) == len(rejections):
        issue = next(i for i in hint_errors[0].report.errors if i.code == HINT_MISMATCH)
        raise HintError(issue.message.removeprefix("HintError: "))
    return Outcome(draft=draft, report=rejections[0].report, points=[], rejections=rejections)
