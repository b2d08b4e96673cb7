"""The one fallback policy: which generator runs, how often, and when the heuristic stands in for Gemini."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.common.errors import (
    GeminiError,
    GenerationError,
    NoSeriesFoundError,
    SourceError,
    WrapperValidationError,
)
from shared.common.settings import Settings
from shared.generate.base import (
    GEMINI,
    HEURISTIC,
    FallbackPolicy,
    GeneratorChoice,
    HeuristicGenerator,
    make_generator,
)


def policy(*, key: str | None = None, max_attempts: int = 3) -> FallbackPolicy:
    api_key = SecretStr(key) if key else None
    return FallbackPolicy(Settings(gemini_api_key=api_key, generation_max_attempts=max_attempts))


def test_the_best_configured_generator_is_gemini_with_a_key_and_the_heuristic_without() -> None:
    assert policy(key="k").choose(None) == GeneratorChoice(GEMINI)
    assert policy().choose(None) == GeneratorChoice(HEURISTIC)


def test_asking_for_gemini_without_a_key_falls_back_and_says_why() -> None:
    choice = policy().choose(GEMINI)
    assert choice.name == HEURISTIC
    assert choice.fallback_reason is not None and "no Gemini API key" in choice.fallback_reason


def test_a_generator_asked_for_by_name_is_used_when_it_can_be() -> None:
    assert policy(key="k").choose(GEMINI) == GeneratorChoice(GEMINI)
    assert policy(key="k").choose(HEURISTIC) == GeneratorChoice(HEURISTIC)


def test_an_unknown_generator_is_refused_with_the_known_names() -> None:
    with pytest.raises(GenerationError, match="heuristic, gemini"):
        policy().choose("oracle")
    with pytest.raises(GenerationError, match="heuristic, gemini"):
        make_generator("oracle", settings=Settings())


def test_only_a_model_gets_more_than_one_attempt() -> None:
    assert policy(max_attempts=4).attempts(GEMINI) == 4
    assert policy(max_attempts=4).attempts(HEURISTIC) == 1


@pytest.mark.parametrize(
    "error",
    [
        GeminiError("no answer", []),
        WrapperValidationError("failed validation"),
        NoSeriesFoundError("no series"),
    ],
)
def test_gemini_failing_to_deliver_lets_the_heuristic_stand_in(error: Exception) -> None:
    assert policy(key="k").falls_back(GEMINI, error)


def test_the_heuristic_has_nothing_to_fall_back_to_and_other_faults_are_not_fallbacks() -> None:
    assert not policy().falls_back(HEURISTIC, GenerationError("no table"))
    assert not policy(key="k").falls_back(GEMINI, SourceError("unreadable"))


def test_the_fallback_reason_names_gemini_the_cause_and_the_stand_in() -> None:
    reason = policy(key="k").reason(GeminiError("quota exhausted", []))
    assert reason == "Gemini did not produce a valid wrapper (quota exhausted); used the heuristic generator"


def test_a_failed_gemini_draft_is_regenerated_until_the_attempts_are_spent_then_falls_back() -> None:
    rules = policy(key="k", max_attempts=3)
    assert rules.after_failed_validation("gemini-2.5-flash", override=None, attempts=2) == "regenerate"
    assert rules.after_failed_validation("gemini-2.5-flash", override=None, attempts=3) == "fall_back"


def test_a_failed_heuristic_manual_or_fallback_draft_is_final() -> None:
    rules = policy(key="k")
    assert rules.after_failed_validation("heuristic", override=None, attempts=1) == "fail"
    assert rules.after_failed_validation("manual", override=None, attempts=1) == "fail"
    assert rules.after_failed_validation(None, override=None, attempts=0) == "fail"
    assert rules.after_failed_validation("gemini-2.5-flash", override=HEURISTIC, attempts=4) == "fail"


def test_the_heuristic_generator_is_made_without_settings_of_its_own() -> None:
    assert isinstance(make_generator(HEURISTIC, settings=Settings()), HeuristicGenerator)
