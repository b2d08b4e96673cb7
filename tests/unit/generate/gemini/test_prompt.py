"""What Gemini is told about a source: the user's layout hints and the rule-based reading of its structure."""

from __future__ import annotations

import json

from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, LayoutHints, SourceFormat
from shared.generate.gemini.prompt import build_prompt
from shared.source.profile import build_profile
from shared.source.read import SourceData

CSV = b"Year;Country;Total (Mt);Per capita (t)\n2020;DE;700,5;8,4\n2021;DE;710,2;8,5\n2020;FR;300;4,6\n"


def prompt(hints: LayoutHints | None = None) -> str:
    source = SourceData(location="e.csv", content=CSV, format=SourceFormat.CSV, encoding="utf-8")
    request = IndicatorRequest(name="Total emissions", unit="Mt", hints=hints or LayoutHints())
    return build_prompt(build_profile(source), request, settings=Settings(gemini_api_key=None))


def section(text: str, tag: str) -> str:
    return text.split(f"<<<{tag}\n", 1)[1].split(f"\n{tag}>>>", 1)[0]


def test_given_hints_are_a_section_of_their_own() -> None:
    text = prompt(LayoutHints(value_column="Total (Mt)", where={"Country": "DE"}, timezone="Europe/Berlin"))

    assert json.loads(section(text, "LAYOUT_HINTS")) == {
        "value_column": "Total (Mt)",
        "where": {"Country": "DE"},
        "timezone": "Europe/Berlin",
    }
    assert "hints" not in json.loads(section(text, "INDICATOR_REQUEST"))


def test_without_hints_there_is_no_hint_section() -> None:
    assert "LAYOUT_HINTS" not in prompt()


def test_the_structure_summary_gives_the_heuristic_reading() -> None:
    summary = section(prompt(), "STRUCTURE_SUMMARY")

    assert "chosen: value column 'Total (Mt)'" in summary
    assert summary.startswith("reading: value column 'Total (Mt)' matches the request best")
