"""Labels read like a person reads them: negations, exact names, totals, the request's name first."""

from __future__ import annotations

from shared.domain.wrapper import IndicatorRequest
from shared.generate.heuristic.matching import RequestMatcher


def best(request: IndicatorRequest, labels: list[str]) -> str:
    matcher = RequestMatcher(request, labels)
    return max(labels, key=matcher.score)


def test_a_label_that_says_not_in_total_loses_to_the_plain_one() -> None:
    request = IndicatorRequest(name="Wind generation", unit="GWh")
    labels = ["Wind generation (Not in Total)", "Wind generation"]
    assert best(request, labels) == "Wind generation"


def test_excl_and_excluding_count_against_a_label_unless_the_request_says_so_too() -> None:
    labels = ["Price excl. taxes", "Price incl. taxes", "Price"]
    assert best(IndicatorRequest(name="Gasoline price"), labels) == "Price"
    assert best(IndicatorRequest(name="Gasoline price excluding taxes"), labels) == "Price excl. taxes"


def test_a_label_equal_to_the_requested_words_beats_one_that_contains_them() -> None:
    request = IndicatorRequest(name="UK natural gas imports (monthly)")
    assert best(request, ["Net imports [note 4]", "Imports"]) == "Imports"


def test_words_of_the_name_outweigh_words_only_in_the_description() -> None:
    request = IndicatorRequest(
        name="Average floor area of new houses",
        description="from the table 'Median and Average Square Feet of Floor Area'",
    )
    assert best(request, ["Median square feet", "Average square feet"]) == "Average square feet"


def test_a_total_is_chosen_only_when_the_request_asks_for_a_total() -> None:
    labels = ["Total renewable energy consumption", "Solar energy consumption"]
    assert best(IndicatorRequest(name="Solar energy consumption renewable"), labels) == labels[1]
    assert best(IndicatorRequest(name="Total renewable energy consumption"), labels) == labels[0]


def test_footnote_marks_in_a_label_do_not_match_numbers_of_the_request() -> None:
    request = IndicatorRequest(name="UK natural gas imports", description="Energy Trends table 4.2")
    labels = ["Upstream gas industry Plus Net imports [note 4]", "Upstream gas industry Plus Imports"]
    assert best(request, labels) == "Upstream gas industry Plus Imports"


def test_a_short_label_of_requested_words_beats_a_long_one_sharing_as_many() -> None:
    request = IndicatorRequest(name="UK natural gas imports (monthly)")
    labels = [
        "Upstream gas industry Plus Imports",
        "Downstream gas industry Less Liquefied Natural Gas Terminals' Own Use",
    ]
    assert best(request, labels) == labels[0]
