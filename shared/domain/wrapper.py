"""What a wrapper is: an indicator request, a declarative fetch spec and parse code."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class SourceFormat(StrEnum):
    """Formats a source can have."""

    CSV = "csv"
    XLSX = "xlsx"
    JSON = "json"


class LayoutHints(BaseModel):
    """What a user says about a source's layout; every field given overrides what inference would pick."""

    sheet: str | None = Field(default=None, max_length=300, description="sheet (or table) to read")
    header_rows: list[int] | None = Field(
        default=None, description="0-based rows of the grid as read that hold the header (as --explain shows)"
    )
    time_column: str | None = Field(default=None, max_length=300)
    value_column: str | None = Field(default=None, max_length=300, description="a column name or row label")
    where: dict[str, str] = Field(default_factory=dict, description="dimension → the value to keep")
    timezone: str | None = Field(
        default=None, max_length=64, description="IANA zone of clock times that carry no UTC offset"
    )
    decimal: Literal[".", ","] | None = None
    encoding: str | None = Field(default=None, max_length=40)

    def given(self) -> dict[str, object]:
        """Only the hints the user gave."""
        return self.model_dump(exclude_defaults=True)


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


class WrapperDraft(BaseModel):
    """A generated wrapper before validation."""

    fetch_spec: FetchSpec
    parse_code: str
    generator: str
    rationale: str = ""
    notes: list[str] = Field(default_factory=list)
    inference: Inference | None = None


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
