"""The request schemas state what their validators check: schedules, sources, hints, nulls, retention."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from shared.domain.models import (
    CRON_PATTERN,
    SOURCE_URL_PATTERN,
    ResourceSource,
    ResourceUpdate,
    Retention,
    Schedule,
)
from shared.domain.wrapper import NOT_BLANK


@pytest.mark.parametrize(
    "cron", ["0 6 * * mon-fri", "*/15 * * * *", "5/10 0-23/2 1,15 jan-jun 7", "59 23 31 12 sat"]
)
def test_the_cron_pattern_accepts_what_the_schedule_accepts(cron: str) -> None:
    assert re.match(CRON_PATTERN, cron)
    assert Schedule(cron=cron).cron == cron


@pytest.mark.parametrize(
    "cron", ["60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "* * * *"]
)
def test_the_cron_pattern_refuses_values_out_of_their_field(cron: str) -> None:
    assert not re.match(CRON_PATTERN, cron)
    with pytest.raises(ValidationError):
        Schedule(cron=cron)


def test_a_schedule_schema_asks_for_exactly_one_of_rate_and_cron() -> None:
    schema = Schedule.model_json_schema()
    required = sorted(tuple(branch["required"]) for branch in schema["oneOf"])
    assert required == [("cron",), ("rate_seconds",)]
    assert schema["properties"]["cron"]["pattern"] == CRON_PATTERN


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://example.org/a.csv?x=1", True),
        ("s3://bucket/key.xlsx", True),
        ("http://user:pw@host:8080", True),
        ("ftp://example.org/a.csv", False),
        ("http://", False),
        ("http://[/a", False),
        ("https://exa mple.org/", False),
    ],
)
def test_the_url_pattern_and_the_validator_agree(url: str, valid: bool) -> None:
    assert bool(re.match(SOURCE_URL_PATTERN, url)) is valid
    try:
        ResourceSource(type="csv", url=url)  # type: ignore[arg-type]
    except ValidationError:
        assert not valid
    else:
        assert valid


def test_the_source_schema_states_the_layout_hints_and_http_for_api_sources() -> None:
    schema = ResourceSource.model_json_schema()
    options = schema["properties"]["options"]
    assert options["additionalProperties"] is False
    hints = options["properties"]
    assert hints["header_rows"]["anyOf"][0]["items"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 1_000_000,
    }
    assert "Europe/Berlin" in hints["timezone"]["anyOf"][0]["enum"]
    assert "cp1252" in hints["encoding"]["anyOf"][0]["enum"]
    names = hints["where"]["propertyNames"]
    assert names["maxLength"] == 300
    assert [bool(re.search(names["pattern"], name)) for name in ("geo", "a.b", " ", "a\x00b")] == [
        True,
        True,
        False,
        False,
    ]
    assert hints["where"]["maxProperties"] == 50
    api = next(branch for branch in schema["anyOf"] if branch["properties"]["type"].get("const") == "api")
    assert api["properties"]["url"]["pattern"] == "^https?://"


def test_an_update_schema_offers_null_only_for_the_schedule() -> None:
    properties: dict[str, Any] = ResourceUpdate.model_json_schema()["properties"]
    nullable = {name for name, field in properties.items() if {"type": "null"} in field.get("anyOf", [])}
    assert nullable == {"schedule"}
    assert properties["name"]["minLength"] == 1 and "default" not in properties["name"]
    assert ResourceUpdate.model_validate({"name": None}).model_fields_set == {"name"}  # refused by the API


def test_the_not_blank_pattern_is_what_str_strip_leaves_in_any_regex_dialect() -> None:
    blank = [c for c in map(chr, range(0x3001)) if re.search(NOT_BLANK, c) is None]
    assert blank == [c for c in map(chr, range(0x3001)) if not c.strip()]
    assert r"\s" not in NOT_BLANK and r"\S" not in NOT_BLANK  # dialects disagree on these


@pytest.mark.parametrize(
    ("retention", "now", "cutoff"),
    [
        (Retention(days=30), datetime(2026, 3, 31, 6, tzinfo=UTC), datetime(2026, 3, 1, 6, tzinfo=UTC)),
        (Retention(months=24), datetime(2026, 12, 4, 12, tzinfo=UTC), datetime(2024, 12, 4, 12, tzinfo=UTC)),
        (Retention(months=1), datetime(2026, 3, 31, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC)),
        (Retention(months=1), datetime(2024, 3, 31, tzinfo=UTC), datetime(2024, 2, 29, tzinfo=UTC)),
        (Retention(months=3), datetime(2026, 2, 15, tzinfo=UTC), datetime(2025, 11, 15, tzinfo=UTC)),
        (Retention(months=12), datetime(2026, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)),
    ],
    ids=["days", "two-years", "short-month", "leap-year", "across-the-year", "january"],
)
def test_the_cutoff_is_the_window_back_from_now_in_calendar_months_or_days(
    retention: Retention, now: datetime, cutoff: datetime
) -> None:
    assert retention.cutoff(now) == cutoff


@pytest.mark.parametrize(
    "fields",
    [{}, {"days": 1, "months": 1}, {"days": 0}, {"months": 1201}, {"years": 2}],
    ids=["neither", "both", "zero", "too-long", "unknown-unit"],
)
def test_a_window_needs_exactly_one_positive_unit(fields: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        Retention.model_validate(fields)
