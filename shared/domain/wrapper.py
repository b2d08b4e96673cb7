"""What a wrapper is: an indicator request, a declarative fetch spec and parse code."""

from __future__ import annotations

import codecs
import encodings.aliases
import math
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.domain.base import DomainModel

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


class LayoutHints(DomainModel):
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
    """What is wrong with layout hints given as a mapping: (hint, reason) pairs, none when they are valid.

    The credential options (`headers`, `query`) may stand beside the hints and are checked as such.
    """
    try:
        LayoutHints.model_validate(layout_options(values))
    except ValidationError as exc:
        known = ", ".join([*LayoutHints.model_fields, *CREDENTIAL_OPTIONS])
        problems = [
            (
                ".".join(str(part) for part in error["loc"]) or "hints",
                f"unknown hint; the hints are {known}"
                if error["type"] == "extra_forbidden"
                else str(error["msg"]).removeprefix("Value error, "),
            )
            for error in exc.errors()
        ]
    else:
        problems = []
    return problems + credential_problems(values)


# Keys of `source.options` that map request headers and query parameters to secrets, not layout hints.
CREDENTIAL_OPTIONS = ("headers", "query")
# A secret's name: what `RS_SECRET_<NAME>` and the Secrets Manager path are made of; never its value.
SECRET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$"  # noqa: S105 - a pattern, not a secret
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$"
BY_NAME_ONLY = 'give the name of a secret ({"secret": "NAME"}), never its value'


def is_secret_name(text: str) -> bool:
    """Whether `text` can be a secret's name, and does not look like a pasted value (a scheme such as
    `Bearer …`, or a long run of letters and digits as API keys are)."""
    if not re.match(SECRET_NAME_PATTERN, text) or re.match(r"(?i)(bearer|basic|token|digest)\s", text):
        return False
    keylike = len(text) >= 20 and re.fullmatch(r"[A-Za-z0-9]+", text) is not None
    return not (keylike and re.search(r"\d", text) and re.search(r"[A-Za-z]", text))


class SecretRef(DomainModel):
    """A secret given by its name (`{"secret": "eia"}`); the value is looked up only when fetching."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(description="name of the secret, not its value")

    @field_validator("secret")
    @classmethod
    def _name(cls, value: str) -> str:
        if not is_secret_name(value):
            raise ValueError(BY_NAME_ONLY)
        return value


class SourceCredentials(DomainModel):
    """Request headers and query parameters whose values are secrets, each named, never given."""

    model_config = ConfigDict(extra="forbid")

    headers: dict[str, SecretRef] = Field(default_factory=dict, description="header name → secret")
    query: dict[str, SecretRef] = Field(default_factory=dict, description="query parameter → secret")

    @field_validator("headers", "query", mode="before")
    @classmethod
    def _by_name(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError('a mapping of names to secrets, e.g. {"X-Api-Key": {"secret": "eia"}}')
        for name, ref in value.items():
            # The message never quotes the value: it may be the very secret the user pasted.
            if not isinstance(ref, Mapping):
                raise ValueError(f"{name}: {BY_NAME_ONLY}")
        return value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, SecretRef]) -> dict[str, SecretRef]:
        bad = [name for name in value if not re.match(HEADER_NAME_PATTERN, name)]
        if bad:
            raise ValueError(f"not an HTTP header name: {bad[0]!r}")
        return value

    @field_validator("query")
    @classmethod
    def _query_names(cls, value: dict[str, SecretRef]) -> dict[str, SecretRef]:
        if any(not name.strip() or len(name) > 100 for name in value):
            raise ValueError("a query parameter name is 1 to 100 characters")
        return value

    def header_secrets(self) -> dict[str, str]:
        """Header name → secret name, as a fetch spec holds them."""
        return {name: ref.secret for name, ref in self.headers.items()}

    def query_secrets(self) -> dict[str, str]:
        """Query parameter → secret name, as a fetch spec holds them."""
        return {name: ref.secret for name, ref in self.query.items()}


def layout_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The layout hints among a source's options (everything but the credentials)."""
    return {name: value for name, value in options.items() if name not in CREDENTIAL_OPTIONS}


def credential_problems(options: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with the credential options of a source: (option, reason) pairs."""
    try:
        credentials_of(options)
    except ValidationError as exc:
        return [
            (
                ".".join(str(part) for part in error["loc"] if part != "secret"),
                BY_NAME_ONLY
                if error["type"] in ("extra_forbidden", "missing")
                else str(error["msg"]).removeprefix("Value error, "),
            )
            for error in exc.errors()
        ]
    return []


def credentials_of(options: Mapping[str, Any]) -> SourceCredentials:
    """The credentials a source's options name (ValidationError when one is not given by name)."""
    return SourceCredentials.model_validate(
        {name: options[name] for name in CREDENTIAL_OPTIONS if name in options}
    )


class IndicatorRequest(DomainModel):
    """The indicator a user asks for, with what the user says about the source's layout."""

    name: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=2000)
    unit: str = Field(default="", max_length=100)
    hints: LayoutHints = Field(default_factory=LayoutHints)

    def text(self) -> str:
        """All words of the request in one line."""
        return " ".join(part for part in (self.name, self.description, self.unit) if part)


PagingKind = Literal["none", "page_number", "offset", "next_link", "link_header", "cursor"]


class Pagination(DomainModel):
    """How trusted code walks the pages of an API; every walk is capped in pages, bytes and time."""

    kind: PagingKind = "none"
    param: str | None = Field(
        default=None, description="query parameter of the page number, offset or cursor"
    )
    size_param: str | None = None
    size: int | None = None
    start: int = 1
    next_link_path: str | None = Field(default=None, description="dotted path of the next page's URL")
    cursor_path: str | None = Field(default=None, description="dotted path of the next request's cursor")
    pages_path: str | None = Field(default=None, description="dotted path of the page count")
    total_path: str | None = Field(default=None, description="dotted path of the record count")
    max_pages: int = Field(default=50, ge=1, le=10_000)
    max_seconds: int = Field(default=300, ge=1, le=3600, description="the whole walk, every page")


class WaterMarkMapping(DomainModel):
    """How the high water mark becomes request parameters on continuous runs.

    The window starts at the high water mark minus the lookback (0: `RS_JOB_LOOKBACK_SECONDS`) and ends now;
    either end is a query parameter or a segment of the URL's path (0-based, after the host).
    """

    start_param: str | None = None
    end_param: str | None = None
    start_segment: int | None = Field(default=None, ge=0)
    end_segment: int | None = Field(default=None, ge=0)
    format: str = "%Y-%m-%dT%H:%M:%SZ"
    lookback_seconds: int = Field(default=0, ge=0)


class FetchSpec(DomainModel):
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
    query_secrets: dict[str, str] = Field(
        default_factory=dict, description="query parameter → name of the secret that holds its value"
    )

    def with_credentials(self, credentials: SourceCredentials) -> FetchSpec:
        """The spec with a source's named credentials added (they win over the spec's own)."""
        return self.model_copy(
            update={
                "header_secrets": {**self.header_secrets, **credentials.header_secrets()},
                "query_secrets": {**self.query_secrets, **credentials.query_secrets()},
            }
        )


# Query parameters whose literal value would be a credential: such a value belongs in a named secret.
CREDENTIAL_PARAM = re.compile(
    r"(^|[_.-])(api[_-]?key|apikey|key|token|access[_-]?token|auth|secret|password|passwd|signature)$",
    re.IGNORECASE,
)
STRFTIME_FORMATS = ("epoch_s", "epoch_ms", "iso")


# What the validators of a source URL accept, as a JSON schema pattern: http(s):// or s3:// and a host.
SOURCE_URL_PATTERN = r"^(?:https?|s3)://[A-Za-z0-9\-._~%!$&'()*+,;=:@]+(?:[/?#].*)?$"


class FetchSpecUpdate(DomainModel):
    """A fetch spec a user gives (PUT /wrappers/{id}/fetch-spec): secrets by name only, checked fields."""

    model_config = ConfigDict(extra="forbid")

    location: str = Field(
        min_length=1,
        max_length=2048,
        json_schema_extra={"pattern": SOURCE_URL_PATTERN},  # the validator below checks it, with a reason
        description="http(s):// URL or s3://bucket/key",
    )
    format: SourceFormat
    encoding: str | None = Field(default=None, max_length=40)
    params: dict[str, str] = Field(default_factory=dict, description="fixed query parameters, no credentials")
    header_secrets: dict[str, str] = Field(
        default_factory=dict, description="HTTP header name → name of the secret holding its value"
    )
    query_secrets: dict[str, str] = Field(
        default_factory=dict, description="query parameter → name of the secret holding its value"
    )
    pagination: Pagination = Field(default_factory=Pagination)
    water_mark: WaterMarkMapping | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_literal_headers(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "headers" in data:
            raise ValueError(
                "headers are refused: a header value may be a credential; name a secret in header_secrets "
                '({"X-Api-Key": "NAME"}) and store its value as RS_SECRET_<NAME> or in Secrets Manager'
            )
        return data

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "s3") or not parts.netloc:
            raise ValueError("location must be an http(s):// URL or an s3://bucket/key object")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL are refused; name a secret in header_secrets")
        if any(CREDENTIAL_PARAM.search(name) for name, _ in parse_qsl(parts.query)):
            raise ValueError("the URL carries a credential parameter; name a secret in query_secrets instead")
        return value

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, str]) -> dict[str, str]:
        credentials = [name for name in value if CREDENTIAL_PARAM.search(name)]
        if credentials:
            raise ValueError(
                f"{credentials[0]!r} looks like a credential; name a secret in query_secrets instead"
            )
        return value

    @field_validator("header_secrets", "query_secrets")
    @classmethod
    def _by_name(cls, value: dict[str, str]) -> dict[str, str]:
        for name, secret in value.items():
            if not is_secret_name(secret):
                raise ValueError(f"{name}: {BY_NAME_ONLY}")
        return value

    @field_validator("header_secrets")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not re.match(HEADER_NAME_PATTERN, name)]
        if bad:
            raise ValueError(f"not an HTTP header name: {bad[0]!r}")
        return value

    @field_validator("pagination")
    @classmethod
    def _pagination(cls, value: Pagination) -> Pagination:
        if value.kind in ("page_number", "offset", "cursor") and not value.param:
            raise ValueError(f"{value.kind} pagination needs `param`, the query parameter of the position")
        if value.kind == "next_link" and not value.next_link_path:
            raise ValueError("next_link pagination needs `next_link_path`, the dotted path of the next URL")
        if value.kind == "cursor" and not value.cursor_path:
            raise ValueError("cursor pagination needs `cursor_path`, the dotted path of the next cursor")
        if value.size is not None and value.size < 1:
            raise ValueError("a page size is at least 1")
        if value.size_param and value.size is None:
            raise ValueError("`size_param` needs `size`, the page size to ask for")
        return value

    @field_validator("water_mark")
    @classmethod
    def _window(cls, value: WaterMarkMapping | None) -> WaterMarkMapping | None:
        if value is None:
            return None
        ends = (value.start_param, value.end_param, value.start_segment, value.end_segment)
        if all(end is None or end == "" for end in ends):
            raise ValueError("a water mark mapping needs a start or end, as a parameter or a path segment")
        if value.start_param is not None and value.start_param == value.end_param:
            raise ValueError("`start_param` and `end_param` must differ")
        if value.start_segment is not None and value.start_segment == value.end_segment:
            raise ValueError("`start_segment` and `end_segment` must differ")
        if value.format not in STRFTIME_FORMATS and "%" not in value.format:
            raise ValueError("format is a strftime pattern (e.g. %Y-%m-%d) or epoch_s, epoch_ms, iso")
        if value.lookback_seconds < 0:
            raise ValueError("lookback_seconds may not be negative")
        return value

    @model_validator(mode="after")
    def _s3_is_plain(self) -> FetchSpecUpdate:
        if self.location.startswith("s3://") and (
            self.params or self.header_secrets or self.query_secrets or self.pagination.kind != "none"
        ):
            raise ValueError("an s3:// location takes no parameters, secrets or pagination")
        return self

    def to_spec(self) -> FetchSpec:
        """The fetch spec the wrapper runs with."""
        return FetchSpec.model_validate(self.model_dump())


class FetchSpecPublic(FetchSpec):
    """A wrapper's fetch spec as clients see it, with one given by PUT that is still being validated."""

    proposed: FetchSpec | None = Field(
        default=None, description="a fetch spec being validated; it replaces this one only if it validates"
    )


class Alternative(DomainModel):
    """An interpretation of the source that was not chosen, and the hint that would choose it."""

    label: str
    score: float
    reason: str
    hint: dict[str, str] = Field(default_factory=dict, description="hint (as --NAME VALUE) that picks it")


class Inference(DomainModel):
    """How sure the generator is of the interpretation it chose, and what else was possible."""

    confidence: float = Field(ge=0.0, le=1.0)
    chosen: str = ""
    alternatives: list[Alternative] = Field(default_factory=list)
    timezone: str | None = Field(
        default=None,
        description="zone of the timestamps; None when clock times carry no offset and none was given",
    )
    warnings: list[str] = Field(default_factory=list)
    pagination: str | None = Field(default=None, description="how the pages of an API are walked")
    window: str | None = Field(
        default=None, description="the time window runs request, or why each run is a full refresh"
    )

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


class Variant(DomainModel):
    """Parse code of an interpretation ranked below the chosen one, tried when that one fails validation."""

    label: str
    score: float
    reason: str
    parse_code: str
    rationale: str = ""
    hint: dict[str, str] = Field(default_factory=dict)


class WrapperDraft(DomainModel):
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
            pagination=self.inference.pagination if self.inference else None,
            window=self.inference.window if self.inference else None,
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


class Exchange(DomainModel):
    """One message between the service and a model (prompt, response, tool call or tool result)."""

    attempt: int
    role: ExchangeRole
    text: str


class Generation(DomainModel):
    """A draft wrapper and every exchange that produced it."""

    draft: WrapperDraft
    exchanges: list[Exchange] = Field(default_factory=list)
