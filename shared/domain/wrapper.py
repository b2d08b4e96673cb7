"""What a wrapper is: an indicator request, a declarative fetch spec and parse code."""

from __future__ import annotations

import codecs
import encodings.aliases
import math
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Below this confidence a result says which other interpretations were close (`wrap` prints "unsure: …").
UNSURE_BELOW = 0.6
# A header is near the top of a grid; the bounds also keep stored options within MongoDB's integers.
HEADER_ROW_MAX = 1_000_000
HEADER_ROWS_MAX = 50
WHERE_MAX = 50
# A JSON Schema pattern (unanchored): at least one character that is not white space as `str.strip`
# sees it, spelled out because regex dialects disagree on `\s` (ECMA's leaves out \x1c-\x1f and \x85).
BLANK = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{BLANK}]"


class SourceFormat(StrEnum):
    """Formats a source can have."""

    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


@lru_cache(maxsize=1)
def _codec_names() -> list[str]:
    names = set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
    known = []
    for name in names:
        try:
            codecs.lookup(name)
        except LookupError:  # named for another platform (e.g. mbcs on Windows)
            continue
        known.append(name)
    return sorted(known)


def _hint_schema(schema: dict[str, Any]) -> None:
    # What the validators below check, stated in the schema too: a client (or a fuzzer) that follows it
    # sends only hints that are accepted. Zones and codecs are those of this runtime.
    fields = schema["properties"]
    fields["header_rows"]["anyOf"][0]["minItems"] = 1
    fields["header_rows"]["anyOf"][0]["items"]["minimum"] = 0
    fields["where"]["additionalProperties"]["pattern"] = NOT_BLANK
    # A name is a MongoDB key once stored, and BSON keys cannot hold NUL.
    fields["where"].setdefault("propertyNames", {})["pattern"] = rf"^[^\x00]*[^{BLANK}\x00][^\x00]*$"
    fields["timezone"]["anyOf"][0]["enum"] = sorted(available_timezones())
    fields["encoding"]["anyOf"][0]["enum"] = _codec_names()


class LayoutHints(BaseModel):
    """What a user says about a source's layout; every field given overrides what inference would pick."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_hint_schema)

    sheet: str | None = Field(default=None, max_length=300, description="sheet (or table) to read")
    header_rows: list[Annotated[int, Field(le=HEADER_ROW_MAX)]] | None = Field(
        default=None,
        max_length=HEADER_ROWS_MAX,
        description="0-based rows of the grid as read that hold the header (as --explain shows)",
    )
    time_column: str | None = Field(default=None, max_length=300)
    value_column: str | None = Field(default=None, max_length=300, description="a column name or row label")
    where: dict[Annotated[str, Field(max_length=300)], Annotated[str, Field(max_length=300)]] = Field(
        default_factory=dict, max_length=WHERE_MAX, description="dimension → the value to keep"
    )
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA zone of clock times that carry no UTC offset"
    )
    decimal: Literal[".", ","] | None = None
    encoding: str | None = Field(default=None, max_length=40)

    @field_validator("header_rows")
    @classmethod
    def _rows(cls, value: list[int] | None) -> list[int] | None:
        if value is None:
            return None
        if not value or any(row < 0 for row in value):
            raise ValueError("header rows are 0-based row numbers of the grid as read, e.g. 3 or 3,4")
        return sorted(set(value))

    @field_validator("where")
    @classmethod
    def _where(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not name.strip() or not wanted.strip() for name, wanted in value.items()):
            raise ValueError("a where filter needs a dimension and a value (DIM=VALUE)")
        if any("\x00" in name for name in value):
            raise ValueError("a dimension name cannot contain a NUL character")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)") from exc
        return value

    @field_validator("encoding")
    @classmethod
    def _codec(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return codecs.lookup(value).name
        except LookupError as exc:
            raise ValueError(
                f"{value!r} is not a known text encoding (e.g. utf-8, cp1252, shift_jis)"
            ) from exc

    def given(self) -> dict[str, object]:
        """Only the hints the user gave."""
        return self.model_dump(exclude_defaults=True)


def hint_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with layout hints given as a mapping: (hint, reason) pairs, none when they are valid."""
    try:
        LayoutHints.model_validate(values)
    except ValidationError as exc:
        known = ", ".join(LayoutHints.model_fields)
        return [
            (
                ".".join(str(part) for part in error["loc"]) or "hints",
                f"unknown hint; the hints are {known}"
                if error["type"] == "extra_forbidden"
                else str(error["msg"]).removeprefix("Value error, "),
            )
            for error in exc.errors()
        ]
    return []


class IndicatorRequest(BaseModel):
    """The indicator a user asks for, with what the user says about the source's layout."""

    name: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=2000)
    unit: str = Field(default="", max_length=100)
    hints: LayoutHints = Field(default_factory=LayoutHints)

    def text(self) -> str:
        """All words of the request in one line."""
        return " ".join(part for part in (self.name, self.description, self.unit) if part)


class Pagination(BaseModel):
    """How trusted code walks the pages of an API."""

    kind: Literal["none", "page_number", "offset", "next_link"] = "none"
    param: str | None = None
    size_param: str | None = None
    size: int | None = None
    start: int = 1
    next_link_path: str | None = None
    max_pages: int = Field(default=50, ge=1, le=10_000)


class WaterMarkMapping(BaseModel):
    """How the high water mark becomes request parameters on continuous runs."""

    start_param: str | None = None
    end_param: str | None = None
    format: str = "%Y-%m-%dT%H:%M:%SZ"
    lookback_seconds: int = 0


class FetchSpec(BaseModel):
    """Declarative description of how trusted code fetches the source; secrets by name only."""

    location: str = Field(min_length=1)
    format: SourceFormat
    encoding: str | None = None
    method: Literal["GET"] = "GET"
    params: dict[str, str] = Field(default_factory=dict)
    header_secrets: dict[str, str] = Field(
        default_factory=dict, description="HTTP header name → name of the secret that holds its value"
    )
    pagination: Pagination = Field(default_factory=Pagination)
    water_mark: WaterMarkMapping | None = None


class Alternative(BaseModel):
    """An interpretation of the source that was not chosen, and the hint that would choose it."""

    label: str
    score: float
    reason: str
    hint: dict[str, str] = Field(default_factory=dict, description="hint (as --NAME VALUE) that picks it")


class Inference(BaseModel):
    """How sure the generator is of the interpretation it chose, and what else was possible."""

    confidence: float = Field(ge=0.0, le=1.0)
    chosen: str = ""
    alternatives: list[Alternative] = Field(default_factory=list)
    timezone: str | None = Field(
        default=None,
        description="zone of the timestamps; None when clock times carry no offset and none was given",
    )
    warnings: list[str] = Field(default_factory=list)

    def unsure(self) -> bool:
        """Whether another interpretation came close enough that a user should confirm the choice."""
        return bool(self.alternatives) and self.confidence < UNSURE_BELOW


def margin_confidence(best: float, runner_up: float) -> float:
    """Confidence in a choice from its lead over the runner-up: 0.5 for a tie, towards 1.0 far ahead."""
    # Scores count matched request words (rarer words weigh more), so the lead is judged in those units,
    # not relative to the scores: ten words against eight is as clear a lead as two against none. A lead of
    # a whole matched word gives 0.73; one under about 0.4 of a word stays below UNSURE_BELOW.
    lead = max(-50.0, min(50.0, best - runner_up))
    return round(1.0 / (1.0 + math.exp(-lead)), 3)


class Variant(BaseModel):
    """Parse code of an interpretation ranked below the chosen one, tried when that one fails validation."""

    label: str
    score: float
    reason: str
    parse_code: str
    rationale: str = ""
    hint: dict[str, str] = Field(default_factory=dict)


class WrapperDraft(BaseModel):
    """A generated wrapper before validation."""

    fetch_spec: FetchSpec
    parse_code: str
    generator: str
    rationale: str = ""
    notes: list[str] = Field(default_factory=list)
    inference: Inference | None = None
    variants: list[Variant] = Field(default_factory=list, description="runners-up, best first")

    def runner_up(self, index: int, *, rejected: list[str]) -> WrapperDraft:
        """The draft rewritten for runner-up `index` (0: the second best); `rejected` become warnings."""
        variant, remaining = self.variants[index], self.variants[index + 1 :]
        confidence = margin_confidence(variant.score, remaining[0].score) if remaining else 1.0
        inference = Inference(
            # A lower-ranked reading that validates is less certain than the best was: never "sure".
            confidence=min(confidence, UNSURE_BELOW - 0.01),
            chosen=variant.label,
            alternatives=[
                Alternative(label=v.label, score=v.score, reason=v.reason, hint=v.hint) for v in remaining
            ],
            timezone=self.inference.timezone if self.inference else None,
            warnings=[*(self.inference.warnings if self.inference else []), *rejected],
        )
        return self.model_copy(
            update={
                "parse_code": variant.parse_code,
                "rationale": variant.rationale or variant.reason,
                "inference": inference,
                "variants": remaining,
            }
        )


ExchangeRole = Literal["system", "prompt", "response", "tool_call", "tool_result", "error"]


class Exchange(BaseModel):
    """One message between the service and a model (prompt, response, tool call or tool result)."""

    attempt: int
    role: ExchangeRole
    text: str


class Generation(BaseModel):
    """A draft wrapper and every exchange that produced it."""

    draft: WrapperDraft
    exchanges: list[Exchange] = Field(default_factory=list)
