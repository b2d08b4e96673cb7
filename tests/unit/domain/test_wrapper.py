"""Layout hints as the API takes them, confidence from a margin, and a draft rewritten for its runner-up."""

from __future__ import annotations

import pytest

from shared.domain.wrapper import (
    UNSURE_BELOW,
    Alternative,
    FetchSpec,
    FetchSpecUpdate,
    Inference,
    SourceFormat,
    Variant,
    WrapperDraft,
    credentials_of,
    hint_problems,
    is_secret_name,
    layout_options,
    margin_confidence,
)


def test_valid_options_have_no_problems() -> None:
    options = {"sheet": "Data", "header_rows": [3, 4], "where": {"geo": "DE"}, "timezone": "UTC"}
    assert hint_problems(options) == []


def test_an_unknown_option_lists_the_hints_there_are() -> None:
    [(name, reason)] = hint_problems({"zone": "CH"})
    assert name == "zone"
    assert reason.startswith("unknown hint; the hints are sheet, header_rows, time_column, value_column")


def test_each_bad_option_is_named_with_its_reason() -> None:
    problems = dict(hint_problems({"timezone": "Europe/Atlantis", "encoding": "nope", "header_rows": [-2]}))
    assert set(problems) == {"timezone", "encoding", "header_rows"}
    assert "is not an IANA time zone" in problems["timezone"]
    assert "is not a known text encoding" in problems["encoding"]


def test_confidence_is_half_for_a_tie_and_grows_with_the_margin() -> None:
    assert margin_confidence(1.0, 1.0) == 0.5
    assert margin_confidence(1.0, 0.8) < UNSURE_BELOW
    # The lead counts in matched words, whatever the size of the scores.
    assert margin_confidence(10.6, 8.6) == margin_confidence(2.0, 0.0) > 0.85
    assert margin_confidence(0.0, -3.0) > 0.95
    assert margin_confidence(0.8, 1.0) < 0.5
    assert margin_confidence(1000.0, 0.0) == 1.0


def test_unsure_needs_an_alternative_and_a_low_confidence() -> None:
    other = Alternative(label="b", score=0.9, reason="close")
    assert Inference(confidence=0.55, chosen="a", alternatives=[other]).unsure()
    assert not Inference(confidence=0.55, chosen="a").unsure()
    assert not Inference(confidence=0.8, chosen="a", alternatives=[other]).unsure()


def draft_with_runners_up() -> WrapperDraft:
    variants = [
        Variant(label=label, score=score, reason=f"{label} fits", parse_code=f"# {label}\n")
        for label, score in (("b", 0.9), ("c", 0.2))
    ]
    return WrapperDraft(
        fetch_spec=FetchSpec(location="x.csv", format=SourceFormat.CSV),
        parse_code="# a\n",
        generator="heuristic",
        inference=Inference(confidence=0.55, chosen="a", timezone="Europe/Paris", warnings=["w"]),
        variants=variants,
    )


def test_a_runner_up_draft_carries_its_code_and_the_rejections_and_is_never_sure() -> None:
    chosen = draft_with_runners_up().runner_up(0, rejected=["rejected a: duplicates"])

    assert chosen.parse_code == "# b\n" and chosen.rationale == "b fits"
    assert chosen.inference is not None
    assert chosen.inference.chosen == "b"
    assert [a.label for a in chosen.inference.alternatives] == ["c"]
    assert chosen.inference.confidence < UNSURE_BELOW
    assert chosen.inference.warnings == ["w", "rejected a: duplicates"]
    assert chosen.inference.timezone == "Europe/Paris"
    assert [v.label for v in chosen.variants] == ["c"]


def test_the_last_runner_up_has_no_alternatives_left() -> None:
    last = draft_with_runners_up().runner_up(1, rejected=[])
    assert last.inference is not None and last.inference.alternatives == [] and last.variants == []


# --- credentials by name -----------------------------------------------------------------------


def test_credential_options_name_secrets_beside_the_layout_hints() -> None:
    options = {
        "sheet": "Data",
        "headers": {"X-Api-Key": {"secret": "eia"}},
        "query": {"key": {"secret": "k"}},
    }
    assert hint_problems(options) == []
    assert layout_options(options) == {"sheet": "Data"}
    credentials = credentials_of(options)
    assert credentials.header_secrets() == {"X-Api-Key": "eia"}
    assert credentials.query_secrets() == {"key": "k"}
    spec = FetchSpec(
        location="https://api.example.org/x", format=SourceFormat.JSON, header_secrets={"A": "a"}
    )
    merged = spec.with_credentials(credentials)
    assert merged.header_secrets == {"A": "a", "X-Api-Key": "eia"} and merged.query_secrets == {"key": "k"}


@pytest.mark.parametrize(
    "options",
    [
        {"headers": {"X-Api-Key": "9f1c2d3e4b5a"}},
        {"query": {"api_key": "9f1c2d3e4b5a"}},
        {"headers": {"X-Api-Key": {"value": "9f1c2d3e4b5a"}}},
        {"headers": {"X-Api-Key": {"secret": "9f1c2d3e4b5a" * 6}}},
    ],
)
def test_a_literal_secret_value_is_refused_without_being_quoted(options: dict[str, object]) -> None:
    problems = hint_problems(options)
    assert problems and all("never its value" in why for _, why in problems)
    assert all("9f1c2d3e4b5a" not in name + why for name, why in problems)


def test_a_bad_header_name_is_refused() -> None:
    assert hint_problems({"headers": {"X Api": {"secret": "eia"}}}) == [
        ("headers", "not an HTTP header name: 'X Api'")
    ]


@pytest.mark.parametrize(
    ("text", "is_name"),
    [
        ("eia", True),
        ("readings key", True),
        ("eia-api.key_2", True),
        ("Bearer abc", False),
        ("9f1c2d3e4b5a6f7e8d9c", False),
        ("averyveryverylongname", True),
        ("", False),
        ("key\nx", False),
    ],
)
def test_a_secret_name_is_told_from_a_pasted_value(text: str, is_name: bool) -> None:
    assert is_secret_name(text) is is_name


def test_a_fetch_spec_update_becomes_the_spec_the_wrapper_runs_with() -> None:
    update = FetchSpecUpdate.model_validate(
        {
            "location": "https://api.example.org/series",
            "format": "json",
            "query_secrets": {"api_key": "eia"},
            "pagination": {"kind": "offset", "param": "offset", "size_param": "limit", "size": 100},
            "water_mark": {"start_param": "start", "format": "%Y-%m-%d"},
        }
    )
    spec = update.to_spec()
    assert spec.query_secrets == {"api_key": "eia"} and spec.pagination.size == 100
    assert spec.water_mark is not None and spec.water_mark.format == "%Y-%m-%d"


def test_header_rows_are_bounded_so_that_stored_options_fit_mongodb_integers() -> None:
    assert dict(hint_problems({"header_rows": [2**70]})) == {
        "header_rows.0": "Input should be less than or equal to 1000000"
    }
    assert set(dict(hint_problems({"header_rows": list(range(51))}))) == {"header_rows"}
    assert hint_problems({"header_rows": [0, 1_000_000]}) == []


def test_a_where_dimension_cannot_hold_a_nul_character() -> None:
    assert dict(hint_problems({"where": {"a\x00b": "DE"}})) == {
        "where": "a dimension name cannot contain a NUL character"
    }
