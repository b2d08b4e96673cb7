"""Executing a wrapper's fetch spec: parameters, water-mark window, secrets by name and pagination.

Only trusted code runs here, and every request goes through shared.source.http (SSRF checks, caps) or
shared.source.read (s3 objects, workbook checks). Header and query secrets are looked up by name
(`RS_SECRET_<NAME>`, else Secrets Manager under `RS_SOURCE_SECRET_PREFIX`) at fetch time; their values
are cut out of every URL and error this module returns, and never stored or reported.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urljoin, urlsplit

from pydantic import BaseModel, Field

from shared.common.errors import FetchPlanError, SourceError, UnsafeSourceError
from shared.common.json_text import load_json
from shared.common.secrets import SECRET_ENV_PREFIX, read_named_secret
from shared.common.secrets import secret_env_name as secret_env_name
from shared.common.settings import Settings
from shared.domain.models import SourceValidators
from shared.domain.wrapper import (
    FetchSpec,
    Pagination,
    SourceCredentials,
    SourceFormat,
    WaterMarkMapping,
)
from shared.source.http import fetch_url
from shared.source.paging import count_value, get_at, link_next, with_query, with_segments
from shared.source.read import ZIP_MAGIC, SourceData, check_workbook, read_source

SECRET_PREFIX = SECRET_ENV_PREFIX
REDACTED = "***"
# Lists nested deeper than this in a JSON page are not counted as its records.
RECORD_SEARCH_DEPTH = 3
# Query parameters whose values a run record never shows.
SECRET_PARAM = re.compile(r"key|secret|token|passw|sig|auth|credential", re.IGNORECASE)
REQUEST_TEXT_LIMIT = 500


class FetchedPage(BaseModel):
    """One response of a fetch: its bytes and where they came from."""

    url: str
    content: bytes = Field(repr=False)
    content_type: str = ""
    link: str = Field(default="", description="the response's Link header")


class FetchResult(BaseModel):
    """Every page a fetch returned, in order, with the request parameters it used."""

    pages: list[FetchedPage]
    bytes_fetched: int
    params: dict[str, str] = Field(default_factory=dict)
    complete: bool = True
    window: dict[str, str] = Field(default_factory=dict, description="the time window's parameters as sent")
    window_start: datetime | None = None
    requests: list[str] = Field(default_factory=list, description="each request's path and query")
    stop_reason: str = "last page"

    def payloads(self) -> list[bytes]:
        """The pages' bytes, for the sandboxed parse run."""
        return [page.content for page in self.pages]


def resolve_headers(
    header_secrets: Mapping[str, str], *, environ: Mapping[str, str], settings: Settings | None = None
) -> dict[str, str]:
    """Header name → value, each value read by its secret's name (environment, then Secrets Manager)."""
    headers = {}
    for header, secret in header_secrets.items():
        value = _secret_value(secret, used_for=f"header {header!r}", environ=environ, settings=settings)
        # Checked here so that http.client's error, which quotes the value, can never carry the secret.
        if any(ch in value for ch in "\r\n\0"):
            raise FetchPlanError(f"secret {secret!r} for header {header!r} contains a line break or NUL")
        headers[header] = value
    return headers


def resolve_query(
    query_secrets: Mapping[str, str], *, environ: Mapping[str, str], settings: Settings | None = None
) -> dict[str, str]:
    """Query parameter → value, each value read by its secret's name (environment, then Secrets Manager)."""
    return {
        param: _secret_value(secret, used_for=f"parameter {param!r}", environ=environ, settings=settings)
        for param, secret in query_secrets.items()
    }


def _secret_value(
    secret: str, *, used_for: str, environ: Mapping[str, str], settings: Settings | None
) -> str:
    try:
        value = read_named_secret(
            secret,
            prefix=settings.source_secret_prefix if settings else None,
            max_age_seconds=settings.source_secret_max_age_seconds if settings else 0,
            environ=environ,
        )
    except FetchPlanError as exc:
        raise FetchPlanError(f"{exc} (for {used_for})") from None
    return value.get_secret_value()


def redact(text: str, secrets: Iterable[str]) -> str:
    """The text with every secret value (also as it appears URL-encoded) replaced by ***."""
    for value in sorted({v for v in secrets if v}, key=len, reverse=True):
        # As sent (quote_plus), as a run record shows a query (safe ":,/*"), and as a path holds it.
        for form in {
            value,
            quote(value, safe=""),
            quote_plus(value),
            quote_plus(value, safe=":,/*"),
            quote(value),
        }:
            text = text.replace(form, REDACTED)
    return text


def redacted_error(exc: SourceError, secrets: Iterable[str]) -> SourceError:
    """The same kind of error with every secret value cut out of its message."""
    return type(exc)(redact(str(exc), secrets))


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
    start = window_start(
        mapping, high_water_mark=high_water_mark, default_lookback_seconds=default_lookback_seconds
    )
    return window_query(mapping, start=start, now=now)


def window_start(
    mapping: WaterMarkMapping | None, *, high_water_mark: datetime | None, default_lookback_seconds: int
) -> datetime | None:
    """Where a run's window starts: the high water mark minus the lookback; None on a first run."""
    if mapping is None or high_water_mark is None:
        return None
    lookback = mapping.lookback_seconds or default_lookback_seconds
    return high_water_mark - timedelta(seconds=lookback)


def window_query(
    mapping: WaterMarkMapping | None, *, start: datetime | None, now: datetime
) -> dict[str, str]:
    """The window's query parameters, each in the parameter's own format; the end is always now."""
    if mapping is None:
        return {}
    params = {}
    if mapping.start_param and start is not None:
        params[mapping.start_param] = format_moment(start, mapping.format)
    if mapping.end_param:
        params[mapping.end_param] = format_moment(now, mapping.format)
    return params


def window_segments(
    mapping: WaterMarkMapping | None, *, start: datetime | None, now: datetime
) -> dict[int, str]:
    """The window's path segments (0-based after the host), each in the path's own format."""
    if mapping is None:
        return {}
    segments = {}
    if mapping.start_segment is not None and start is not None:
        segments[mapping.start_segment] = format_moment(start, mapping.format)
    if mapping.end_segment is not None:
        segments[mapping.end_segment] = format_moment(now, mapping.format)
    return segments


def fetch_pages(
    spec: FetchSpec,
    *,
    settings: Settings,
    high_water_mark: datetime | None = None,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    start: datetime | None = None,
) -> FetchResult:
    """Fetch every page the spec describes for the window after the high water mark (or from `start`).

    `start` (a backfill's date) replaces the high water mark minus the lookback as the window's start.
    """
    now = now or datetime.now(UTC)
    scheme = urlsplit(spec.location).scheme.lower()
    if scheme not in ("http", "https", "s3"):
        raise FetchPlanError(f"location {spec.location!r} must be an http(s):// URL or an s3:// object")
    if start is None:
        start = window_start(
            spec.water_mark,
            high_water_mark=high_water_mark,
            default_lookback_seconds=settings.job_lookback_seconds,
        )
    window = window_query(spec.water_mark, start=start, now=now)
    segments = window_segments(spec.water_mark, start=start, now=now)
    params = {**spec.params, **window}
    headers, secret_params = request_secrets(spec, settings=settings, environ=environ)
    if scheme == "s3":
        if params or headers or secret_params or segments or spec.pagination.kind != "none":
            raise FetchPlanError("s3:// sources take no parameters, headers or pagination")
        source = read_source(
            spec.location, settings=settings, format_hint=_format_hint(spec), allow_local_files=False
        )
        page = FetchedPage(url=spec.location, content=source.content, content_type=source.content_type)
        return FetchResult(pages=[page], bytes_fetched=len(source.content))
    first = with_segments(spec.location, segments)
    walker = _PageWalker(spec, settings=settings, params={**params, **secret_params}, headers=headers)
    secrets = [*headers.values(), *secret_params.values()]
    try:
        pages, complete = walker.walk(first)
    except SourceError as exc:
        raise redacted_error(exc, secrets) from None
    shown = {**window, **{f"path segment {index}": value for index, value in segments.items()}}
    return FetchResult(
        pages=[page.model_copy(update={"url": redact(page.url, secrets)}) for page in pages],
        bytes_fetched=sum(len(p.content) for p in pages),
        params={**params, **dict.fromkeys(secret_params, REDACTED)},
        complete=complete,
        window=shown,
        window_start=start if shown else None,
        requests=[redact(request, secrets) for request in walker.requests],
        stop_reason=walker.stop_reason,
    )


def request_secrets(
    spec: FetchSpec, *, settings: Settings, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The spec's header and query secrets resolved to their values: (headers, query parameters)."""
    source = os.environ if environ is None else environ
    headers = resolve_headers(spec.header_secrets, environ=source, settings=settings)
    return headers, resolve_query(spec.query_secrets, environ=source, settings=settings)


def read_with_secrets(
    location: str,
    *,
    credentials: SourceCredentials,
    settings: Settings,
    format_hint: SourceFormat | None = None,
    encoding: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SourceData:
    """A source read as `read_source` does, with its named header and query secrets on the request."""
    spec = FetchSpec(location=location, format=format_hint or SourceFormat.JSON).with_credentials(credentials)
    headers, query = request_secrets(spec, settings=settings, environ=environ)
    try:
        return read_source(
            location,
            settings=settings,
            format_hint=format_hint,
            allow_local_files=False,
            encoding=encoding,
            headers=headers,
            params=query,
        )
    except SourceError as exc:
        raise redacted_error(exc, [*headers.values(), *query.values()]) from None


def _format_hint(spec: FetchSpec) -> SourceFormat | None:
    return spec.format if spec.format in (SourceFormat.CSV, SourceFormat.XLSX) else None


class _PageWalker:
    """Requests the pages of an http(s) source one after another, within the page, byte and time caps.

    Every next page is an ordinary request through the trusted fetcher (SSRF rules, redirects re-checked)
    and must stay on the first page's host; a page seen before, or a link followed before, ends the walk.
    """

    def __init__(
        self, spec: FetchSpec, *, settings: Settings, params: dict[str, str], headers: dict[str, str]
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.params = params
        self.headers = headers
        self.budget = settings.fetch_max_bytes
        self.pages: list[FetchedPage] = []
        self.requests: list[str] = []
        self.stop_reason = "last page"

    def walk(self, location: str) -> tuple[list[FetchedPage], bool]:
        """The pages, and whether the walk reached the end (False when a page or time cap cut it short)."""
        paging = self.spec.pagination
        if paging.kind in ("page_number", "offset", "cursor") and not paging.param:
            raise FetchPlanError(f"{paging.kind} pagination needs `param`")
        if paging.kind == "next_link" and not paging.next_link_path:
            raise FetchPlanError("next_link pagination needs `next_link_path`")
        if paging.kind == "cursor" and not paging.cursor_path:
            raise FetchPlanError("cursor pagination needs `cursor_path`")
        deadline = time.monotonic() + paging.max_seconds
        url = with_query(location, {**self.params, **self._page_params(paging, number=0, last=None)})
        seen_pages: set[str] = set()
        seen_urls = {url}
        for number in range(paging.max_pages):
            page = self._get(url)
            digest = hashlib.sha256(page.content).hexdigest()
            if digest in seen_pages:
                self.pages.pop()  # a repeated page holds nothing new and would loop forever
                self.stop_reason = "a page repeated an earlier one"
                return self.pages, True
            seen_pages.add(digest)
            following = self._next_url(paging, page, number=number, location=location)
            if following is None:
                return self.pages, True
            _check_same_origin(location, following)
            if following in seen_urls:
                self.stop_reason = "a next link pointed back to a page already read"
                return self.pages, True
            seen_urls.add(following)
            if time.monotonic() > deadline:
                self.stop_reason = f"stopped at max_seconds ({paging.max_seconds} s)"
                return self.pages, False
            url = following
        self.stop_reason = f"stopped at max_pages ({paging.max_pages})"
        return self.pages, False

    def _page_params(self, paging: Pagination, *, number: int, last: int | None) -> dict[str, str]:
        """The query parameters that ask for page `number` (0-based) of a numbered walk."""
        if paging.kind not in ("page_number", "offset") or not paging.param:
            return {}
        sized = {paging.size_param: str(paging.size)} if paging.size_param and paging.size else {}
        if paging.kind == "page_number":
            return {**sized, paging.param: str(paging.start + number)}
        start = paging.start if "start" in paging.model_fields_set else 0
        return {**sized, paging.param: str(start if last is None else last)}

    def _next_url(self, paging: Pagination, page: FetchedPage, *, number: int, location: str) -> str | None:
        """The URL of the page after `page`, or None at the last page."""
        if paging.kind == "none":
            return None
        if paging.kind == "link_header":
            link = link_next(page.link)
            return urljoin(page.url, link) if link else None
        document = _json(page.content) if self.spec.format == SourceFormat.JSON else None
        if paging.kind == "next_link":
            if document is None:
                raise FetchPlanError("next_link pagination needs JSON pages")
            link = get_at(document, paging.next_link_path or "")
            return urljoin(page.url, link) if isinstance(link, str) and link.strip() else None
        if paging.kind == "cursor":
            token = get_at(document, paging.cursor_path or "")
            if token is None or isinstance(token, bool) or str(token).strip() == "":
                return None
            return with_query(location, {**self.params, str(paging.param): str(token)})
        return self._numbered_next(paging, page, document=document, number=number, location=location)

    def _numbered_next(
        self, paging: Pagination, page: FetchedPage, *, document: Any, number: int, location: str
    ) -> str | None:
        count = record_count(page.content, self.spec.format)
        if count == 0:
            self.pages.pop()  # an empty page ends the walk and holds nothing
            return None
        if paging.size and count is not None and count < paging.size:
            return None
        size = paging.size or count
        pages = _count_at(document, paging.pages_path)
        total = _count_at(document, paging.total_path)
        if paging.kind == "page_number":
            if pages is None and total is not None and size:
                pages = -(-total // size)
            last_page = (0 if paging.start == 0 else 1) + (pages or 0) - 1
            if pages is not None and paging.start + number >= last_page:
                return None
            following_page = self._page_params(paging, number=number + 1, last=None)
            return with_query(location, {**self.params, **following_page})
        if size is None:
            raise FetchPlanError("offset pagination of a non-JSON source needs `size`")
        first = paging.start if "start" in paging.model_fields_set else 0
        following = first + (number + 1) * size
        if total is not None and following >= total:
            return None
        return with_query(
            location, {**self.params, **self._page_params(paging, number=number + 1, last=following)}
        )

    def _get(self, url: str) -> FetchedPage:
        if self.budget <= 0:
            raise SourceError(f"the pages exceed the limit of {self.settings.fetch_max_bytes} bytes in all")
        self.requests.append(self._shown(url))
        response = fetch_url(url, settings=self.settings, headers=self.headers, max_bytes=self.budget)
        self.budget -= len(response.content)
        if self.spec.format == SourceFormat.XLSX or response.content.startswith(ZIP_MAGIC):
            check_workbook(response.content, settings=self.settings)
        page = FetchedPage(
            url=response.url, content=response.content, content_type=response.content_type, link=response.link
        )
        self.pages.append(page)
        return page

    def _shown(self, url: str) -> str:
        """The request as a run records it: path and query, values of secret-looking parameters hidden."""
        parts = urlsplit(url)
        hidden = set(self.headers.values())
        query = [
            (name, "***" if SECRET_PARAM.search(name) or value in hidden else value)
            for name, value in parse_qsl(parts.query, keep_blank_values=True)
        ]
        text = parts.path + ("?" + urlencode(query, safe=":,/*") if query else "")
        return text[:REQUEST_TEXT_LIMIT]


def _check_same_origin(first: str, following: str) -> None:
    """Refuse a next page on another host, or over http after https (header secrets go with every page)."""
    start, then = urlsplit(first), urlsplit(following)
    if then.hostname != start.hostname:
        raise UnsafeSourceError(
            f"the next page's link leads to another host ({then.hostname}); "
            "pages must stay on the source's host"
        )
    if start.scheme == "https" and then.scheme != "https":
        raise UnsafeSourceError("the next page's link leaves https; pages must stay on https")


def _json(content: bytes) -> Any:
    try:
        return load_json(content)
    except ValueError as exc:
        raise FetchPlanError(f"this pagination needs JSON pages: {exc}") from exc


def _count_at(document: Any, path: str | None) -> int | None:
    if document is None or not path:
        return None
    return count_value(get_at(document, path))


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
    if isinstance(node, list) and len(node) == 2 and isinstance(node[0], dict):
        if node[1] is None:
            return 0  # `[metadata, null]`: a page past the last one
        if isinstance(node[1], list):
            return len(node[1])  # `[metadata, records]`
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
    link = get_at(node, path)
    return link if isinstance(link, str) and link.strip() else None


class FileFetch(BaseModel):
    """A scheduled file fetched only when it changed: its bytes (None when unchanged) and validators."""

    result: FetchResult | None
    validators: SourceValidators
    how: str = Field(description="what told the file apart: 304, content hash, or the first read")
    requests: list[str] = Field(default_factory=list, description="the request's path and query")


def fetch_if_changed(
    spec: FetchSpec,
    *,
    settings: Settings,
    validators: SourceValidators | None,
    environ: Mapping[str, str] | None = None,
) -> FileFetch:
    """A file source fetched with a conditional request (If-None-Match / If-Modified-Since); an s3://
    object, or a server that ignores the condition, is told unchanged by its content hash."""
    known = validators or SourceValidators()
    if urlsplit(spec.location).scheme.lower() == "s3":
        result = fetch_pages(spec, settings=settings, environ=environ)
        compared = _compared(result, known=known, served=SourceValidators())
        return compared.model_copy(update={"requests": [spec.location]})
    headers, query = request_secrets(spec, settings=settings, environ=environ)
    conditions = {
        name: value
        for name, value in (("If-None-Match", known.etag), ("If-Modified-Since", known.last_modified))
        if value
    }
    secrets = [*headers.values(), *query.values()]
    try:
        response = fetch_url(
            spec.location,
            settings=settings,
            params={**spec.params, **query},
            headers={**headers, **conditions},
        )
    except SourceError as exc:
        raise redacted_error(exc, secrets) from None
    shown = urlsplit(redact(with_query(spec.location, spec.params), secrets))
    requests = [shown.path + (f"?{shown.query}" if shown.query else "")]
    if response.status == HTTPStatus.NOT_MODIFIED:
        return FileFetch(result=None, validators=known, how="HTTP 304 Not Modified", requests=requests)
    if spec.format == SourceFormat.XLSX or response.content.startswith(ZIP_MAGIC):
        check_workbook(response.content, settings=settings)
    page = FetchedPage(
        url=redact(response.url, secrets), content=response.content, content_type=response.content_type
    )
    result = FetchResult(pages=[page], bytes_fetched=len(response.content), params=dict(spec.params))
    served = SourceValidators(
        etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified")
    )
    return _compared(result, known=known, served=served).model_copy(update={"requests": requests})


def _compared(result: FetchResult, *, known: SourceValidators, served: SourceValidators) -> FileFetch:
    digest = hashlib.sha256(b"".join(result.payloads())).hexdigest()
    validators = served.model_copy(update={"content_hash": digest})
    if known.content_hash == digest:
        return FileFetch(result=None, validators=validators, how="same content hash")
    return FileFetch(
        result=result, validators=validators, how="changed" if known.content_hash else "first read"
    )
