"""Layout hints as `wrap` flags, and the "unsure" warning a close runner-up earns."""

from __future__ import annotations

import argparse

import pytest

from shared.cli.hints import add_hint_arguments, flag_text, hints_from_arguments, unsure_lines
from shared.common.errors import HintError
from shared.domain.wrapper import Alternative, Inference


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_hint_arguments(parser)
    return parser.parse_args(list(flags))


def test_every_flag_becomes_its_hint() -> None:
    args = parse(
        "--sheet", "Data", "--header-rows", "4,3", "--time-column", "Jahr", "--value-column", "Total",
        "--where", "geo=DE", "--where", "sex = T", "--timezone", "Europe/Berlin", "--decimal", ",",
        "--encoding", "CP1250",
    )  # fmt: skip

    hints = hints_from_arguments(args)

    assert hints.model_dump() == {
        "sheet": "Data",
        "header_rows": [3, 4],
        "time_column": "Jahr",
        "value_column": "Total",
        "where": {"geo": "DE", "sex": "T"},
        "timezone": "Europe/Berlin",
        "decimal": ",",
        "encoding": "cp1250",
    }


def test_no_flags_give_no_hints() -> None:
    assert hints_from_arguments(parse()).given() == {}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--header-rows", "3,x"], "--header-rows '3,x': expected 0-based rows separated by commas"),
        (["--header-rows", "-1"], "--header-rows: header rows are 0-based row numbers"),
        (["--where", "geo"], "--where 'geo': expected DIM=VALUE"),
        (["--where", "geo="], "--where: a where filter needs a dimension and a value"),
        (["--timezone", "Mars/Olympus"], "--timezone: 'Mars/Olympus' is not an IANA time zone"),
        (["--decimal", ";"], "--decimal: Input should be '.' or ','"),
        (["--encoding", "klingon-8"], "--encoding: 'klingon-8' is not a known text encoding"),
    ],
)
def test_a_bad_flag_is_named_with_what_is_wrong(flags: list[str], message: str) -> None:
    with pytest.raises(HintError) as caught:
        hints_from_arguments(parse(*flags))
    assert str(caught.value).startswith(message)


def test_a_hint_reads_as_the_flags_that_give_it() -> None:
    assert flag_text({"sheet": "Table 1", "value_column": "Trend (ppm)"}) == (
        "--sheet 'Table 1' --value-column 'Trend (ppm)'"
    )


def test_a_close_runner_up_makes_wrap_unsure_and_says_how_to_pick_it() -> None:
    inference = Inference(
        confidence=0.52,
        chosen="value column 'Monthly mean'",
        alternatives=[
            Alternative(
                label="value column 'Trend'",
                score=0.9,
                reason="shares 'co2' with the request",
                hint={"value_column": "Trend"},
            )
        ],
    )

    assert unsure_lines(inference) == [
        "unsure (confidence 0.52, chose value column 'Monthly mean'): also possible value column 'Trend' "
        "(shares 'co2' with the request), pick with --value-column Trend"
    ]


def test_a_clear_choice_says_nothing() -> None:
    alternative = Alternative(label="value column 'Trend'", score=0.1, reason="weak", hint={})
    assert unsure_lines(Inference(confidence=0.9, chosen="x", alternatives=[alternative])) == []
    assert unsure_lines(Inference(confidence=0.3, chosen="x")) == []
    assert unsure_lines(None) == []


def test_rejected_candidates_are_warned_about_even_when_the_choice_is_clear() -> None:
    inference = Inference(confidence=1.0, chosen="sheet 'B'", warnings=["rejected sheet 'A': duplicates"])
    assert unsure_lines(inference) == ["warning: rejected sheet 'A': duplicates"]
