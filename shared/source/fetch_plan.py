"""Executing a wrapper's fetch spec: parameters, water-mark window, header secrets and pagination.

Only trusted code runs here, and every request goes through shared.source.http (SSRF checks, caps) or
shared.source.read (s3 objects, workbook checks). Header secrets are looked up by name in the environment
(`RS_SECRET_<NAME>`) at fetch time and never stored or reported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, Field

from shared.common.errors import FetchPlanError, SourceError
from shared.common.json_text import load_json
from shared.common.settings import Settings
from shared.domain.wrapper import FetchSpec, Pagination, SourceFormat, WaterMarkMapping
from shared.source.http import fetch_url
from shared.source.read import ZIP_MAGIC, check_workbook, read_source

SECRET_PREFIX = "RS_SECRET_"  # noqa: S105 - a variable name prefix, not a secret
# Lists nested deeper than this in a JSON page are not counted as its records.
RECORD_SEARCH_DEPTH = 3


class FetchedPage(BaseModel):
    """One response of a fetch: its bytes and where they came from."""

    url: str
    content: bytes = Field(repr=False)
    content_type: str = ""


class FetchResult(BaseModel):
    """Every page a fetch returned, in order, with the request parameters it used."""

    pages: list[FetchedPage]
    bytes_fetched: int
    params: dict[str, str] = Field(default_factory=dict)
    complete: bool = True

    def payloads(self) -> list[bytes]:
        """The pages' bytes, for the sandboxed parse run."""
        return [page.content for page in self.pages]


def secret_env_name(name: str) -> str:
    """The variable holding a header secret: `RS_SECRET_` + the name upper-cased, non-alnum → _."""
    return SECRET_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def resolve_headers(header_secrets: Mapping[str, str], *, environ: Mapping[str, str]) -> dict[str, str]:
    """Header name → value, each value read from the environment variable of its secret name."""
    headers = {}
    for header, secret in header_secrets.items():
        variable = secret_env_name(secret)
        value = environ.get(variable)
        if not value:
            raise FetchPlanError(
                f"secret {secret!r} for header {header!r} is not configured (set {variable})"
            )
        # Checked here so that http.client's error, which quotes the value, can never carry the secret.
        if any(ch in value for ch in "\r\n\0"):
            raise FetchPlanError(f"secret {secret!r} for header {header!r} contains a line break or NUL")
        headers[header] = value
    return headers


def format_moment(moment: datetime, fmt: str) -> str:
    """A UTC moment as a request parameter: a strftime format, or `epoch_s`, `epoch_ms`, `iso`."""
    moment = moment.astimezone(UTC)
    if fmt == "epoch_s":
        return str(int(moment.timestamp()))
    if fmt == "epoch_ms":
        return str(int(moment.timestamp() * 1000))
    if fmt == "iso":
        return moment.isoformat().replace("+00:00", "Z")
    return moment.strftime(fmt)


def water_mark_params(
    mapping: WaterMarkMapping | None,
    *,
    high_water_mark: datetime | None,
    now: datetime,
    default_lookback_seconds: int,
) -> dict[str, str]:
    """Request parameters of the window to fetch: from the high water mark minus the lookback, to now."""
    if mapping is None:
        return {}
    params = {}
    if mapping.start_param and high_water_mark is not None:
        lookback = mapping.lookback_seconds or default_lookback_seconds
        params[mapping.start_param] = format_moment(
            high_water_mark - timedelta(seconds=lookback), mapping.format
        )
    if mapping.end_param:
        params[mapping.end_param] = format_moment(now, mapping.format)
    return params


def fetch_pages(
    spec: FetchSpec,
    *,
    settings: Settings,
    high_water_mark: datetime | None = None,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> FetchResult:
    """Fetch every page the spec describes for the window after the high water mark."""
    now = now or datetime.now(UTC)
    scheme = urlsplit(spec.location).scheme.lower()
    if scheme not in ("http", "https", "s3"):
        raise FetchPlanError(f"location {spec.location!r} must be an http(s):// URL or an s3:// object")
    params = {
        **spec.params,
        **water_mark_params(
            spec.water_mark,
            high_water_mark=high_water_mark,
            now=now,
            default_lookback_seconds=settings.job_lookback_seconds,
        ),
    }
    headers = resolve_headers(spec.header_secrets, environ=os.environ if environ is None else environ)
    if scheme == "s3":
        if params or headers or spec.pagination.kind != "none":
            raise FetchPlanError("s3:// sources take no parameters, headers or pagination")
        source = read_source(
            spec.location, settings=settings, format_hint=_format_hint(spec), allow_local_files=False
        )
        page = FetchedPage(url=spec.location, content=source.content, content_type=source.content_type)
        return FetchResult(pages=[page], bytes_fetched=len(source.content))
    walker = _PageWalker(spec, settings=settings, params=params, headers=headers)
    pages, complete = walker.walk()
    return FetchResult(
        pages=pages, bytes_fetched=sum(len(p.content) for p in pages), params=params, complete=complete
    )


def _format_hint(spec: FetchSpec) -> SourceFormat | None:
    return spec.format if spec.format in (SourceFormat.CSV, SourceFormat.XLSX) else None


class _PageWalker:
    """Requests the pages of an http(s) source one after another, within the byte cap."""

    def __init__(
        self, spec: FetchSpec, *, settings: Settings, params: dict[str, str], headers: dict[str, str]
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.params = params
        self.headers = headers
        self.budget = settings.fetch_max_bytes
        self.pages: list[FetchedPage] = []

    def walk(self) -> tuple[list[FetchedPage], bool]:
        """The pages, and whether the walk reached the end (False when max_pages cut it short)."""
        paging = self.spec.pagination
        if paging.kind == "none":
            self._get(self.spec.location, self.params)
            return self.pages, True
        if paging.kind == "next_link":
            return self.pages, self._walk_links(paging)
        return self.pages, self._walk_numbers(paging)

    def _walk_numbers(self, paging: Pagination) -> bool:
        if not paging.param:
            raise FetchPlanError(f"{paging.kind} pagination needs `param`")
        position = paging.start
        if paging.kind == "offset" and "start" not in paging.model_fields_set:
            position = 0
        size_params = {paging.size_param: str(paging.size)} if paging.size_param and paging.size else {}
        previous: bytes | None = None
        for _ in range(paging.max_pages):
            page = self._get(self.spec.location, {**self.params, **size_params, paging.param: str(position)})
            count = record_count(page.content, self.spec.format)
            if count == 0 or page.content == previous:
                self.pages.pop()  # an empty or repeated page ends the walk and holds nothing new
                return True
            if paging.size and count is not None and count < paging.size:
                return True
            previous = page.content
            if paging.kind == "page_number":
                position += 1
            elif paging.size:
                position += paging.size
            elif count is not None:
                position += count
            else:
                raise FetchPlanError("offset pagination of a non-JSON source needs `size`")
        return False

    def _walk_links(self, paging: Pagination) -> bool:
        if not paging.next_link_path:
            raise FetchPlanError("next_link pagination needs `next_link_path`")
        url, params = self.spec.location, self.params
        seen = {url}
        for _ in range(paging.max_pages):
            page = self._get(url, params)
            link = next_link(page.content, paging.next_link_path)
            if not link:
                return True
            url, params = urljoin(page.url, link), {}
            if url in seen:
                return True
            seen.add(url)
        return False

    def _get(self, url: str, params: Mapping[str, str]) -> FetchedPage:
        if self.budget <= 0:
            raise SourceError(f"the pages exceed the limit of {self.settings.fetch_max_bytes} bytes in all")
        response = fetch_url(
            url, settings=self.settings, params=params, headers=self.headers, max_bytes=self.budget
        )
        self.budget -= len(response.content)
        if self.spec.format == SourceFormat.XLSX or response.content.startswith(ZIP_MAGIC):
            check_workbook(response.content, settings=self.settings)
        page = FetchedPage(url=response.url, content=response.content, content_type=response.content_type)
        self.pages.append(page)
        return page


def record_count(content: bytes, fmt: SourceFormat) -> int | None:
    """Records on a page: the longest list in a JSON page, data lines of a CSV; None when unknown."""
    if not content.strip():
        return 0
    if fmt == SourceFormat.CSV:
        lines = [line for line in content.splitlines() if line.strip()]
        return max(0, len(lines) - 1)
    if fmt != SourceFormat.JSON:
        return None
    try:
        document = load_json(content)
    except ValueError:
        return None
    if document in (None, {}, [], ""):
        return 0
    return _longest_list(document, RECORD_SEARCH_DEPTH)


def _longest_list(node: Any, depth: int) -> int | None:
    if isinstance(node, list):
        return len(node)
    if isinstance(node, dict) and depth > 0:
        counts = [c for c in (_longest_list(value, depth - 1) for value in node.values()) if c is not None]
        return max(counts, default=None)
    return None


def next_link(content: bytes, path: str) -> str | None:
    """The next page's URL at a dotted path of a JSON page, or None at the last page."""
    try:
        node: Any = load_json(content)
    except ValueError as exc:
        raise FetchPlanError(f"next_link pagination needs JSON pages: {exc}") from exc
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.lstrip("-").isdigit() and abs(int(part)) < len(node):
            node = node[int(part)]
        else:
            return None
    return node if isinstance(node, str) and node.strip() else None
