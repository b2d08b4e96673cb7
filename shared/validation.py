"""Validation of a wrapper: static policy and ruff, a sandboxed run, and checks of the points."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from shared.points import Point, PointsSummary, check_points
from shared.policy import check_policy, lint
from shared.sandbox import SandboxLimits, SandboxResult, run_parse
from shared.settings import Settings
from shared.wrapper import IndicatorRequest, WrapperDraft

Stage = Literal["policy", "lint", "sandbox", "points"]
_POINT_LIST = TypeAdapter(list[Point])
PREVIEW_POINTS = 5


class ValidationIssue(BaseModel):
    """One finding, with the stage that found it, so a generator can act on it."""

    stage: Stage
    code: str
    message: str
    line: int | None = None
    severity: Literal["error", "warning"] = "error"


class ValidationReport(BaseModel):
    """The structured outcome of validating a wrapper."""

    ok: bool
    issues: list[ValidationIssue] = Field(default_factory=list)
    summary: PointsSummary | None = None
    preview: list[dict[str, Any]] = Field(default_factory=list)
    confinement: dict[str, Any] = Field(default_factory=dict)
    sandbox_seconds: float = 0.0

    @property
    def errors(self) -> list[ValidationIssue]:
        """Issues that make the wrapper unusable."""
        return [issue for issue in self.issues if issue.severity == "error"]

    def feedback(self) -> str:
        """The errors as lines a generator can fix."""
        lines = []
        for issue in self.errors:
            where = f" (line {issue.line})" if issue.line else ""
            lines.append(f"- [{issue.stage}/{issue.code}]{where} {issue.message}")
        if self.summary is not None and self.summary.count:
            lines.append(f"- output so far: {self.summary.model_dump_json()}")
        return "\n".join(lines)


def check_code(code: str) -> list[ValidationIssue]:
    """Static checks: the AST policy, then ruff."""
    issues = [ValidationIssue(stage="policy", **issue.model_dump()) for issue in check_policy(code)]
    if any(issue.code == "syntax" for issue in issues):
        return issues
    issues += [ValidationIssue(stage="lint", **issue.model_dump()) for issue in lint(code)]
    return issues


def validate_wrapper(
    draft: WrapperDraft,
    payloads: list[bytes],
    *,
    request: IndicatorRequest,
    settings: Settings,
) -> tuple[ValidationReport, list[Point]]:
    """Validate a draft on payloads; return the report and, when it passed, the points it produced."""
    issues = check_code(draft.parse_code)
    if any(issue.severity == "error" for issue in issues):
        return ValidationReport(ok=False, issues=issues), []
    context = {
        "indicator": request.model_dump(),
        "source": {"location": draft.fetch_spec.location, "format": draft.fetch_spec.format.value},
        "high_water_mark": None,
        "low_water_mark": None,
    }
    result = run_parse(
        draft.parse_code, payloads, context=context, limits=SandboxLimits.from_settings(settings)
    )
    issues += sandbox_issues(result)
    if not result.ok:
        return ValidationReport(
            ok=False, issues=issues, confinement=result.confinement, sandbox_seconds=result.seconds
        ), []
    points, point_issues = to_points(result.points)
    issues += point_issues
    summary, problems = check_points(points)
    issues += [ValidationIssue(stage="points", code=p.code, message=p.message) for p in problems]
    report = ValidationReport(
        ok=not any(issue.severity == "error" for issue in issues),
        issues=issues,
        summary=summary,
        preview=[p.to_wire() for p in points[:PREVIEW_POINTS]],
        confinement=result.confinement,
        sandbox_seconds=result.seconds,
    )
    return report, points if report.ok else []


def sandbox_issues(result: SandboxResult) -> list[ValidationIssue]:
    """Issues from a sandboxed run: its error, its violations, and confinement that was not available."""
    issues = []
    if not result.ok:
        code = (
            "sandbox_violation"
            if result.violations or result.error_type == "SandboxViolation"
            else "run_failed"
        )
        message = f"{result.error_type}: {result.error}"
        issues.append(ValidationIssue(stage="sandbox", code=code, message=message, line=result.error_line))
    for layer, state in result.confinement.items():
        if isinstance(state, str) and state.startswith("unavailable"):
            issues.append(
                ValidationIssue(
                    stage="sandbox", code=f"no_{layer}", message=f"{layer} {state}", severity="warning"
                )
            )
    return issues


def to_points(raw: list[list[Any]]) -> tuple[list[Point], list[ValidationIssue]]:
    """Validate raw [timestamp, value, dimensions] rows as points; report the first bad ones."""
    rows = [{"timestamp": r[0], "value": r[1], "dimensions": r[2]} for r in raw if len(r) == 3]
    try:
        return _POINT_LIST.validate_python(rows), []
    except ValidationError:
        pass
    points: list[Point] = []
    issues: list[ValidationIssue] = []
    for index, row in enumerate(rows):
        try:
            points.append(Point.model_validate(row))
        except ValidationError as exc:
            if len(issues) < 5:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                issues.append(
                    ValidationIssue(
                        stage="points", code="invalid_point", message=f"point {index} {row}: {detail}"
                    )
                )
    bad = len(rows) - len(points)
    if bad > len(issues):
        issues.append(
            ValidationIssue(stage="points", code="invalid_point", message=f"{bad} invalid points in all")
        )
    return points, issues
