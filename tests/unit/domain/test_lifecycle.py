"""The wrapper life cycle's named status sets, and the limit on stored reasons."""

from __future__ import annotations

from shared.domain.lifecycle import (
    IN_PREPARATION,
    MAY_REGENERATE,
    MAY_REVALIDATE,
    MAY_START,
    NOT_STOPPED,
    REASON_LIMIT,
    SCHEDULED,
    VALIDATED,
    WITHOUT_VALIDATED_CODE,
    clip_reason,
)
from shared.domain.models import WrapperStatus as S


def test_a_wrapper_in_preparation_or_stopped_cannot_be_regenerated() -> None:
    assert {S.PENDING, S.READY, S.FAILED, S.RUNNING, S.COMPLETED, S.ERROR} == MAY_REGENERATE
    assert not MAY_REGENERATE & IN_PREPARATION
    assert S.STOPPED not in MAY_REGENERATE and S.STOPPED not in NOT_STOPPED


def test_only_validated_code_runs_and_the_job_claims_only_scheduled_wrappers() -> None:
    assert {S.READY, S.RUNNING, S.COMPLETED, S.ERROR} == VALIDATED
    assert {S.READY, S.RUNNING} == SCHEDULED and SCHEDULED < VALIDATED
    assert not VALIDATED & WITHOUT_VALIDATED_CODE


def test_a_start_resumes_a_stopped_or_finished_wrapper_but_not_a_running_one() -> None:
    assert {S.READY, S.COMPLETED, S.ERROR, S.STOPPED} == MAY_START


def test_failed_code_may_be_validated_again_but_code_in_preparation_may_not() -> None:
    assert VALIDATED | {S.FAILED} == MAY_REVALIDATE
    assert not MAY_REVALIDATE & IN_PREPARATION


def test_a_reason_is_cut_to_the_limit_and_a_short_one_kept() -> None:
    assert clip_reason("x" * (REASON_LIMIT + 5)) == "x" * REASON_LIMIT
    assert clip_reason("no series found") == "no series found"
