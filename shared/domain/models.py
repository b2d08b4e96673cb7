"""Schemas of the service's records: what clients send (Create/Update) and what they get (Public)."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from shared.common.clock import to_utc
from shared.domain.base import DomainModel
from shared.domain.health import WrapperHealth
from shared.domain.schedule import parse_cron
from shared.domain.wrapper import SOURCE_URL_PATTERN, Inference, LayoutHints, Variant

T = TypeVar("T")
RETENTION_DESCRIPTION = (
    "keep only the points of the last N days or months ({'days': 30} or {'months': 24}); the job deletes "
    "older points each tick; null keeps every point"
)

# What `urlsplit` reads as a scheme and a host without complaint: printable ASCII in the host, no brackets.


class SourceType(StrEnum):
    """Where a resource's numbers come from."""

    API = "api"
    CSV = "csv"
    XLSX = "xlsx"


class WrapperStatus(StrEnum):
    """Life cycle of a wrapper; transitions are guarded in the repository."""

    PENDING = "pending"
    GENERATING = "generating"
    VALIDATING = "validating"
    READY = "ready"
    FAILED = "failed"
    RUNNING = "running"
    STOPPED = "stopped"
    COMPLETED = "completed"
    ERROR = "error"


class RunTrigger(StrEnum):
    """What started a run."""

    SCHEDULE = "schedule"
    RUN_NOW = "run-now"
    BACKFILL = "backfill"
    START = "start"


class RunStatus(StrEnum):
    """How a run ended: `interrupted` when the job was stopped (SIGTERM) before it finished, `abandoned`
    when its process died and another run took the wrapper over."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ABANDONED = "abandoned"


class WrapperMode(StrEnum):
    """Run once (historical files) or continuously on a schedule (APIs)."""

    ONCE = "once"
    CONTINUOUS = "continuous"


def _source_schema(schema: dict[str, Any]) -> None:
    # The options are layout hints (checked as LayoutHints by the API), and an api source is an http(s) URL.
    options = schema["properties"]["options"]
    hints = LayoutHints.model_json_schema()
    options.update(properties=hints["properties"], additionalProperties=False)
    schema["anyOf"] = [
        {"properties": {"type": {"enum": [SourceType.CSV.value, SourceType.XLSX.value]}}},
        {"properties": {"type": {"const": SourceType.API.value}, "url": {"pattern": "^https?://"}}},
    ]


class ResourceSource(DomainModel):
    """The pointer to a resource's data: an http(s) URL or an uploaded s3:// object."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_source_schema)

    type: SourceType
    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=SOURCE_URL_PATTERN,
        description="http(s):// URL or s3://bucket/key",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="layout hints that override inference: sheet, header_rows (0-based rows, e.g. [3, 4]), "
        "time_column, value_column (a column or row label), where ({dimension: value}), timezone (IANA), "
        "decimal ('.' or ','), encoding; and credentials by name: headers and query "
        "({name: {'secret': NAME}})",
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "s3") or not parts.netloc:
            raise ValueError("url must be an http(s):// URL or an s3://bucket/key object")
        return value


def _cron_field(value: str) -> str:
    item = rf"(?:\*|{value}(?:-{value})?)(?:/[1-9][0-9]?)?"
    return rf"{item}(?:,{item})*"


_MONTH_NAMES = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_WEEKDAY_NAMES = "sun|mon|tue|wed|thu|fri|sat"
# Five fields, each value within its field's range (shared.domain.schedule.BOUNDS); a range that runs
# backwards or a day that none of the months has is refused by parse_cron, which a pattern cannot state.
CRON_PATTERN = (
    "^"
    + " ".join(
        _cron_field(value)
        for value in (
            "[0-5]?[0-9]",
            "(?:[01]?[0-9]|2[0-3])",
            "(?:0?[1-9]|[12][0-9]|3[01])",
            f"(?:0?[1-9]|1[0-2]|{_MONTH_NAMES})",
            f"(?:[0-7]|{_WEEKDAY_NAMES})",
        )
    )
    + "$"
)


def _exactly_one(first: str, first_type: str, second: str, second_type: str) -> Any:
    """A JSON schema hook saying what a model's validator checks: exactly one of two fields is given."""

    def hook(schema: dict[str, Any]) -> None:
        schema["oneOf"] = [
            {"required": [first], "properties": {first: {"type": first_type}, second: {"type": "null"}}},
            {"required": [second], "properties": {second: {"type": second_type}, first: {"type": "null"}}},
        ]

    return hook


_schedule_schema = _exactly_one("rate_seconds", "integer", "cron", "string")


class Schedule(DomainModel):
    """When a continuous wrapper runs: every `rate_seconds`, or on a 5-field cron expression (UTC)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_schedule_schema)

    rate_seconds: int | None = Field(default=None, ge=60, le=31 * 86400)
    cron: str | None = Field(
        default=None,
        max_length=100,
        json_schema_extra={"pattern": CRON_PATTERN},
        description="minute hour day-of-month month day-of-week (UTC), e.g. '0 6 * * mon-fri'",
    )

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.rate_seconds is None) == (self.cron is None):
            raise ValueError("give exactly one of rate_seconds or cron")
        if self.cron is not None:
            parse_cron(self.cron)
        return self


class Retention(DomainModel):
    """How long a resource's points are kept: the job deletes those older than the window each tick."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_exactly_one("days", "integer", "months", "integer")
    )

    days: int | None = Field(default=None, ge=1, le=36_500)
    months: int | None = Field(default=None, ge=1, le=1_200)

    @model_validator(mode="after")
    def _one_of(self) -> Retention:
        if (self.days is None) == (self.months is None):
            raise ValueError("give exactly one of days or months")
        return self

    def cutoff(self, now: datetime) -> datetime:
        """The oldest moment kept: points stamped before it are outside the window."""
        if self.days is not None:
            return now - timedelta(days=self.days)
        months = now.year * 12 + now.month - 1 - (self.months or 0)
        year, month = divmod(months, 12)
        # The same day of the month, or the month's last day when it has fewer (Mar 31 - 1 month: Feb 28).
        day = min(now.day, calendar.monthrange(year, month + 1)[1])
        return now.replace(year=year, month=month + 1, day=day)


class ResourceCreate(DomainModel):
    """What a client sends to create a resource."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    type: str = Field(default="indicator", min_length=1, max_length=100)
    unit: str = Field(default="", max_length=100)
    description: str = Field(default="", max_length=2000)
    source: ResourceSource
    schedule: Schedule | None = None
    retention: Retention | None = Field(default=None, description=RETENTION_DESCRIPTION)


def _only_schedule_nullable(schema: dict[str, Any]) -> None:
    # Absent means unchanged and only `schedule` may be null (no schedule); null for another field is
    # refused by the API, naming each such field, so the schema does not offer it.
    for name, field in schema.get("properties", {}).items():
        options = field.get("anyOf", [])
        if name == "schedule" or {"type": "null"} not in options:
            continue
        (kept,) = [option for option in options if option != {"type": "null"}]
        del field["anyOf"]
        field.pop("default", None)
        field.update(kept)


class ResourceUpdate(DomainModel):
    """What a client sends to change a resource; a new source regenerates its wrapper."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_only_schedule_nullable)

    name: str | None = Field(default=None, min_length=1, max_length=300)
    type: str | None = Field(default=None, min_length=1, max_length=100)
    unit: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=2000)
    source: ResourceSource | None = None
    schedule: Schedule | None = None
    retention: Retention | None = Field(default=None, description=RETENTION_DESCRIPTION)


class ResourcePublic(DomainModel):
    """A resource as clients see it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: str
    wrapper_id: str
    name: str
    type: str
    unit: str
    description: str
    source: ResourceSource
    schedule: Schedule | None = None
    retention: Retention | None = None
    start_period: datetime | None = Field(default=None, alias="startPeriod")
    end_period: datetime | None = Field(default=None, alias="endPeriod")
    created_at: datetime
    updated_at: datetime


class ResourceRecord(ResourcePublic):
    """A resource as stored, with the fields clients never see."""

    tenant_id: str
    deleted: bool = False
    deleted_at: datetime | None = None


class LogEvent(DomainModel):
    """One entry of a wrapper's bounded execution log."""

    at: datetime
    event: str
    detail: str = ""


class SourceValidators(DomainModel):
    """What a file source said about its version at the last run; the next run's conditional request
    sends them back, so an unchanged file is neither downloaded nor parsed again."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = Field(default=None, description="sha256 of the bytes last read")


class WrapperSummary(DomainModel):
    """A wrapper in a list: its state without the code."""

    wrapper_id: str
    resource_id: str
    status: WrapperStatus
    status_reason: str | None = None
    mode: WrapperMode
    source_type: SourceType
    generator: str | None = None
    attempts: int = 0
    created_at: datetime
    updated_at: datetime
    health: WrapperHealth | None = Field(
        default=None, description="computed when read: ok, stale (no new data), failing (runs fail) or idle"
    )


class WrapperPublic(WrapperSummary):
    """A wrapper in full, as clients see it."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    generated_code: str | None = None
    fetch_spec: dict[str, Any] | None = None
    rationale: str | None = None
    validation: dict[str, Any] | None = None
    inference: Inference | None = Field(
        default=None, description="how sure the generator was of its reading, and the alternatives it saw"
    )
    execution_log: list[LogEvent] = Field(default_factory=list)
    high_water_mark: datetime | None = None
    low_water_mark: datetime | None = None
    next_run_at: datetime | None = None
    source_validators: SourceValidators | None = Field(
        default=None, description="ETag, Last-Modified and content hash of a scheduled file at its last run"
    )


class FetchSpecProposal(DomainModel):
    """A fetch spec given by PUT, validated on a fresh sample before it replaces the wrapper's own."""

    fetch_spec: dict[str, Any]
    previous_status: WrapperStatus = Field(description="where the wrapper goes back to if it is refused")


class WrapperRecord(WrapperPublic):
    """A wrapper as stored, with lease and feedback fields."""

    tenant_id: str
    consecutive_failures: int = 0
    # How often new data is expected, stored by the job from the schedule and the data's frequency.
    cadence_seconds: int | None = None
    feedback: str | None = None
    generator_override: str | None = None
    variants: list[Variant] = Field(default_factory=list)
    lease_owner: str | None = None
    lease_until: datetime | None = None
    requested_trigger: RunTrigger | None = Field(
        default=None, description="what asked for the next run (run-now, backfill, start); None: the schedule"
    )
    backfill_from: datetime | None = Field(default=None, description="a requested backfill's first moment")
    fetch_spec_proposal: FetchSpecProposal | None = None


class RunPublic(DomainModel):
    """One execution of a wrapper: what it fetched, stored and published, and what it asked the source for."""

    run_id: str
    wrapper_id: str
    resource_id: str
    started_at: datetime
    finished_at: datetime | None = None
    trigger: RunTrigger = RunTrigger.SCHEDULE
    status: RunStatus = RunStatus.RUNNING
    window: dict[str, str] = Field(
        default_factory=dict, description="the time window's parameters as requested; empty: a full refresh"
    )
    window_start: datetime | None = Field(default=None, description="the moment the window started at")
    requests: list[str] = Field(
        default_factory=list, description="path and query of each page requested (secret-like values hidden)"
    )
    stop_reason: str | None = Field(default=None, description="why the page walk ended")
    pages: int = 0
    bytes_fetched: int = 0
    points_fetched: int = 0
    points_new: int = 0
    points_revised: int = 0
    points_duplicate: int = 0
    points_published: int = 0
    high_water_mark: datetime | None = None
    duration_seconds: float | None = None
    error: str | None = None
    note: str | None = Field(default=None, description="e.g. `unchanged`: the file had not changed upstream")


class BackfillRequest(DomainModel):
    """Re-run a wrapper from a given date; unchanged points are not replaced."""

    model_config = ConfigDict(extra="forbid")

    start: datetime = Field(description="ISO 8601, not in the future (UTC when no offset)")

    @field_validator("start")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return to_utc(value)


class CodeReplacement(DomainModel):
    """Hand-written parse code for a wrapper; it is validated before use."""

    model_config = ConfigDict(extra="forbid")

    parse_code: str = Field(min_length=1, max_length=200_000)


class ApiKeyPublic(DomainModel):
    """An API key's public part (the secret is shown once, at creation)."""

    key_id: str
    tenant_id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = Field(
        default=None, description="when a request last presented it (to within a minute); None if never"
    )
    revoked: bool = False
    revoked_at: datetime | None = None


class PointPublic(DomainModel):
    """A stored data point."""

    timestamp: datetime
    value: float
    dimensions: dict[str, str] = Field(default_factory=dict)


class Availability(DomainModel):
    """What data exists for a resource."""

    first: datetime | None = None
    last: datetime | None = None
    count: int = 0


class Page(DomainModel, Generic[T]):
    """One page of a listing."""

    items: list[T]
    total: int
    limit: int
    offset: int


class PromptRecordPublic(DomainModel):
    """One prompt, response or tool exchange of a generation, kept for debugging."""

    wrapper_id: str
    attempt: int
    role: str
    text: str
    created_at: datetime
