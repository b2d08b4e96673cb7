"""Validation of a wrapper: static policy and ruff, a sandboxed run, and checks of the points."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, WrapperDraft
from shared.points.clock import ClockVerdict, settle_clocks
from shared.points.columns import EPOCH, MAX_MICROS, MAX_OFFSET, MIN_MICROS, NAIVE, PointColumns, gc_paused
from shared.points.point import (
    Point,
    PointIssue,
    PointSequence,
    PointsSummary,
    check_points,
    format_timestamp,
)
from shared.sandbox.run import ColumnFrame, RawPoint, SandboxLimits, SandboxResult, run_parse
from shared.validate.policy import check_policy, lint

Stage = Literal["policy", "lint", "sandbox", "points"]
_POINT_LIST = TypeAdapter(list[Point])
PREVIEW_POINTS = 5
# Rows validated as Points are folded into columns past this many, so a run of millions of rows never
# holds an object per point (the sandbox's points budget then bounds the caller's memory).
ROWS_AS_POINTS = 20_000
# The code of a run that stopped because a layout hint (a `where` filter) names what the points lack.
HINT_MISMATCH = "hint_mismatch"
ZONE_REQUIRED = (
    "the timestamps are local clock times without a UTC offset and the service stores UTC instants: "
    "name the source's timezone (source.options.timezone, an IANA zone such as Europe/Paris)"
)
# The timestamps the sandbox writes for datetimes (`Z`, an offset, or a wall clock); fields in range.
_STAMP = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{6})?"
    r"(?:Z|[+-](?:0[0-9]|1[0-9]|2[0-3]):[0-5][0-9])?"
)
_SANDBOX_STAMP = re.compile(_STAMP)
_SANDBOX_STAMPS = re.compile(f"(?:{_STAMP}\n)*{_STAMP}")


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
    timezone: str | None = Field(
        default=None, description="zone of the timestamps; None when wall clock times have no known zone"
    )

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
    instants: bool = False,
) -> tuple[ValidationReport, Sequence[Point]]:
    """Validate a draft on payloads; return the report and, when it passed, the points it produced.

    With `instants` (the service, which stores UTC instants) wall clock times whose zone is unknown are an
    error instead of a warning.
    """
    issues = check_code(draft.parse_code)
    if any(issue.severity == "error" for issue in issues):
        return ValidationReport(ok=False, issues=issues), []
    context = {
        "indicator": request.model_dump(),
        "source": {"location": draft.fetch_spec.location, "format": draft.fetch_spec.format.value},
        "high_water_mark": None,
        "low_water_mark": None,
    }
    # Points are validated as the sandbox streams them, while the child is still parsing, and checked once it
    # says it is done, while it exits.
    builder = PointBuilder()
    checked: list[CheckedPoints] = []

    def check_done() -> None:
        checked.clear()
        try:
            checked.append(check_built(builder, zone=request.hints.timezone))
        except Exception:  # checked again below, on this thread, where what the checks raise is raised
            return

    result = run_parse(
        draft.parse_code,
        payloads,
        context=context,
        limits=SandboxLimits.from_settings(settings),
        on_points=builder.add,
        on_done=check_done,
        warm_start=settings.sandbox_warm_start,
    )
    issues += sandbox_issues(result)
    if not result.ok:
        return ValidationReport(
            ok=False, issues=issues, confinement=result.confinement, sandbox_seconds=result.seconds
        ), []
    # Points that came after a `done` (the child may say so falsely) are checked with the others here.
    done = checked[0] if checked and checked[0].batches == builder.batches else None
    done = done or check_built(builder, zone=request.hints.timezone)
    points, clock = done.points, done.clock
    issues += done.issues
    issues += [
        ValidationIssue(stage="points", code="clock", message=warning, severity="warning")
        for warning in clock.warnings
    ]
    if instants and clock.wall_clocks:
        issues.append(ValidationIssue(stage="points", code="unknown_timezone", message=ZONE_REQUIRED))
    issues += [ValidationIssue(stage="points", code=p.code, message=p.message) for p in done.problems]
    report = ValidationReport(
        ok=not any(issue.severity == "error" for issue in issues),
        issues=issues,
        summary=done.summary,
        preview=[p.to_wire() for p in points[:PREVIEW_POINTS]],
        confinement=result.confinement,
        sandbox_seconds=result.seconds,
        timezone=clock.timezone,
    )
    return report, points if report.ok else []


@dataclass(frozen=True)
class CheckedPoints:
    """The checks of a builder's points as they stood after `batches` batches."""

    batches: int
    issues: list[ValidationIssue]
    points: PointSequence
    clock: ClockVerdict
    summary: PointsSummary
    problems: list[PointIssue]


def check_built(builder: PointBuilder, *, zone: str | None) -> CheckedPoints:
    """The builder's points with their clocks settled, as columns, and what checking them found."""
    points, issues = builder.result()
    settled, clock = settle_clocks(points, zone=zone)
    # Columns all the way: a million Points would cost the caller hundreds of MB (and seconds to make).
    columns = settled if isinstance(settled, PointSequence) else PointSequence.from_points(settled)
    summary, problems = check_points(columns)
    return CheckedPoints(builder.batches, issues, columns, clock, summary, problems)


def sandbox_issues(result: SandboxResult) -> list[ValidationIssue]:
    """Issues from a sandboxed run: its error, its violations, and confinement that was not available."""
    issues = []
    if not result.ok:
        code = (
            "sandbox_violation"
            if result.violations or result.error_type == "SandboxViolation"
            else HINT_MISMATCH
            if result.error_type == "HintError"
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


def to_points(raw: list[RawPoint]) -> tuple[list[Point], list[ValidationIssue]]:
    """Validate raw [timestamp, value, dimensions] rows and frames as points; report the first bad ones."""
    builder = PointBuilder()
    builder.add(raw)
    points, issues = builder.result()
    return points if isinstance(points, list) else list(points), issues


class PointBuilder:
    """`to_points` fed batch by batch: the same points and issues as `to_points` of all the batches."""

    def __init__(self) -> None:
        self.parts: list[list[Point] | PointColumns] = []
        self.issues: list[ValidationIssue] = []
        self.rows = 0
        self.bad = 0
        self.batches = 0

    def add(self, raw: list[RawPoint]) -> None:
        """Validate the next raw rows and frames."""
        self.batches += 1
        rows: list[list[Any]] = []
        for item in raw:
            if isinstance(item, ColumnFrame):
                self._add_rows(rows)
                rows = []
                self._add_frame(item)
            else:
                rows.append(item)
        self._add_rows(rows)

    def _add_rows(self, raw: list[list[Any]]) -> None:
        complete = [r for r in raw if len(r) == 3]
        if not complete:
            return
        points = self.parts[-1] if self.parts else None
        if not isinstance(points, list):
            points = []
            self.parts.append(points)
        with gc_paused():
            try:
                points += _POINT_LIST.validate_python(
                    [
                        {"timestamp": stamp, "value": r[1], "dimensions": r[2]}
                        for stamp, r in zip(_timestamps([r[0] for r in complete]), complete, strict=True)
                    ]
                )
                self.rows += len(complete)
                self._fold(points)
                return
            except ValidationError:
                pass
        for r in complete:
            row = {"timestamp": r[0], "value": r[1], "dimensions": r[2]}
            try:
                points.append(Point.model_validate(row))
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                self._reject(f"point {self.rows} {row}: {detail}")
            self.rows += 1
        self._fold(points)

    def _fold(self, points: list[Point]) -> None:
        """Turn the last part's Points into columns once there are many."""
        if len(points) > ROWS_AS_POINTS:
            self.parts[-1] = PointSequence.from_points(points).columns

    def _add_frame(self, frame: ColumnFrame) -> None:
        """Check a frame as Point would check each of its points: the child may have forged any of it."""
        import numpy as np

        stamps = np.frombuffer(frame.timestamps, dtype="<i8")
        values = np.frombuffer(frame.values, dtype="<f8")
        codes = np.zeros(frame.count, dtype=np.int32)
        if frame.codes is not None:
            codes = np.frombuffer(frame.codes, dtype="<i4")
        offsets = None if frame.offsets is None else np.frombuffer(frame.offsets, dtype="<i4")
        if offsets is not None and not offsets.any():
            offsets = None  # all UTC, as columns without offsets are: 4 bytes a point not kept
        series = frame.series if isinstance(frame.series, list) else []
        readable = np.array([_dimensions_ok(dimensions) for dimensions in series] + [True], dtype=bool)
        known = (codes >= 0) & (codes < len(series))
        reasons = {
            "dimensions: no such series": ~known,
            # An unknown code looks at the extra True at the end: it is reported as unknown only.
            "dimensions: not a dict of strings": ~readable[np.where(known, codes, -1)],
            "value: value must be a finite number": ~np.isfinite(values),
            "timestamp: out of range": (stamps < MIN_MICROS) | (stamps > MAX_MICROS),
        }
        if offsets is not None:
            reasons["timestamp: no such UTC offset"] = (offsets != NAIVE) & (np.abs(offsets) > MAX_OFFSET)
        bad = np.zeros(frame.count, dtype=bool)
        for found in reasons.values():
            bad |= found
        failed = np.flatnonzero(bad)
        room = max(0, 5 - len(self.issues))
        for at in failed[:room].tolist():
            detail = "; ".join(reason for reason, found in reasons.items() if found[at])
            self._reject(
                f"point {self.rows + at} {_frame_row(stamps[at], values[at], codes[at], series)}: {detail}"
            )
        self.bad += len(failed) - min(room, len(failed))
        clean = [
            dimensions if ok else {} for dimensions, ok in zip(series, readable.tolist()[:-1], strict=True)
        ]
        if len(failed):
            keep = ~bad
            stamps, values, codes = stamps[keep], values[keep], codes[keep]
            offsets = None if offsets is None else offsets[keep]
        # Without bad points the columns stay views of the frame's buffer: no second copy of a big frame.
        self.parts.append(PointColumns(stamps, values, series=clean, codes=codes, offsets=offsets))
        self.rows += frame.count

    def _reject(self, message: str) -> None:
        self.bad += 1
        if len(self.issues) < 5:
            self.issues.append(ValidationIssue(stage="points", code="invalid_point", message=message))

    def result(self) -> tuple[Sequence[Point], list[ValidationIssue]]:
        """The valid points in order, issues for the first bad rows, and how many there were in all."""
        issues = list(self.issues)
        if self.bad > len(issues):
            message = f"{self.bad} invalid points in all"
            issues.append(ValidationIssue(stage="points", code="invalid_point", message=message))
        rows = [part for part in self.parts if isinstance(part, list)]
        if len(rows) == len(self.parts):
            return [point for part in rows for point in part], issues
        columns = [
            part if isinstance(part, PointColumns) else PointSequence.from_points(part).columns
            for part in self.parts
        ]
        # The parts (views of the frames' buffers) are let go as they are joined: the points are never all
        # held twice.
        self.parts = []
        whole = columns[0] if len(columns) == 1 else PointColumns.drain(columns)
        self.parts = [whole]
        return PointSequence(whole), issues


def _frame_row(stamp: Any, value: Any, code: Any, series: list[Any]) -> dict[str, Any]:
    """A point of a frame as the row it stands for, for a message."""
    moment: Any = int(stamp)
    if MIN_MICROS <= moment <= MAX_MICROS:
        moment = format_timestamp(EPOCH + timedelta(microseconds=moment))
    dimensions = series[int(code)] if 0 <= int(code) < len(series) else f"series {int(code)}"
    return {"timestamp": moment, "value": float(value), "dimensions": dimensions}


def _dimensions_ok(dimensions: Any) -> bool:
    """Whether a frame's series is what Point takes as dimensions: a dict of strings."""
    return isinstance(dimensions, dict) and all(
        isinstance(key, str) and isinstance(value, str) for key, value in dimensions.items()
    )


def _timestamps(stamps: list[Any]) -> list[Any]:
    """Timestamps as the sandbox writes them, parsed to the datetimes pydantic would make of them."""
    # fromisoformat reads this one shape several times faster than pydantic, and its UTC datetimes pass
    # Point's validation unchanged. When all are of that shape (the usual case) one match checks them all.
    if all(type(stamp) is str for stamp in stamps) and _SANDBOX_STAMPS.fullmatch("\n".join(stamps)):
        try:
            return list(map(datetime.fromisoformat, stamps))
        except ValueError:
            pass  # a date that does not exist: pydantic says which
    return [_timestamp(stamp) for stamp in stamps]


def _timestamp(value: Any) -> Any:
    """One timestamp as _timestamps reads it, or as it is (then pydantic reads or rejects it)."""
    if type(value) is str and _SANDBOX_STAMP.fullmatch(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return value
    return value
