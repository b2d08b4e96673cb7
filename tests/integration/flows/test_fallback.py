"""Validation down the ranking stops at failures no other reading could avoid: limits and violations."""

from __future__ import annotations

from shared.common.settings import Settings
from shared.domain.wrapper import FetchSpec, IndicatorRequest, SourceFormat, Variant, WrapperDraft
from shared.flows.fallback import validate_ranked

GOOD = '''from datetime import datetime, timezone


def parse(payload, context):
    """One point."""
    return [{"timestamp": datetime(2020, 1, 1, tzinfo=timezone.utc), "value": 1.0, "dimensions": {}}]
'''
SPINS = '''def parse(payload, context):
    """Never ends."""
    while True:
        pass
'''
REPEATS = '''from datetime import datetime, timezone


def parse(payload, context):
    """The same point twice."""
    point = {"timestamp": datetime(2020, 1, 1, tzinfo=timezone.utc), "value": 1.0, "dimensions": {}}
    return [point, dict(point)]
'''


def draft(best: str) -> WrapperDraft:
    return WrapperDraft(
        fetch_spec=FetchSpec(location="a.csv", format=SourceFormat.CSV),
        parse_code=best,
        generator="heuristic",
        variants=[Variant(label="runner-up", score=0.5, reason="second", parse_code=GOOD)],
    )


def test_a_reading_that_fails_on_its_points_gives_way_to_the_runner_up() -> None:
    outcome = validate_ranked(
        draft(REPEATS), [b"x"], request=IndicatorRequest(name="x"), settings=Settings(), progress=print
    )

    assert outcome.report.ok and outcome.draft.parse_code == GOOD
    assert [r.reason.split(":")[0] for r in outcome.rejections] == ["points/duplicate_points"]


def test_a_timeout_is_not_retried_with_another_reading() -> None:
    settings = Settings(sandbox_wall_seconds=2, sandbox_cpu_seconds=2)

    outcome = validate_ranked(
        draft(SPINS), [b"x"], request=IndicatorRequest(name="x"), settings=settings, progress=print
    )

    assert not outcome.report.ok and outcome.draft.parse_code == SPINS
    assert len(outcome.rejections) == 1
    assert outcome.rejections[0].reason.startswith("sandbox/run_failed: ")
