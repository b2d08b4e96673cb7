"""Pagination and time windows inferred from an API's first response and its URL.

The evidence is what any client sees: the query parameters and path of the URL, a `Link` header, and the
metadata a JSON body carries beside its records (page counts, totals, next links, cursors).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel

from shared.domain.wrapper import Pagination, WaterMarkMapping

# Bodies put their paging metadata at the top, beside the records, or one object down.
META_KEYS = ("meta", "metadata", "pagination", "paging", "page_info", "pageInfo", "links", "_links")
NEXT_LINK_PATHS = (
    "links.next",
    "links.next.href",
    "_links.next.href",
    "@odata.nextLink",
    "next",
    "nextLink",
    "next_page_url",
    "paging.next",
    "pagination.next",
    "meta.next",
)
CURSOR_PATHS = (
    "next_cursor",
    "nextCursor",
    "next_page_token",
    "nextPageToken",
    "cursor.next",
    "meta.next_cursor",
    "meta.nextCursor",
    "pagination.next_cursor",
    "pagination.nextCursor",
    "response_metadata.next_cursor",
    "paging.cursors.after",
)
PAGE_KEYS = ("page", "current_page", "currentPage", "page_number", "pageNumber")
PAGES_KEYS = ("pages", "total_pages", "totalPages", "last_page", "lastPage", "page_count", "pageCount")
TOTAL_KEYS = ("total", "total_count", "totalCount", "total_results", "totalResults", "totalItems", "count")
OFFSET_KEYS = ("offset", "skip")
SIZE_KEYS = ("per_page", "perPage", "page_size", "pageSize", "limit", "size", "rows", "top", "$top")
PAGE_PARAMS = ("page", "p", "page_number", "pageNumber", "pageNo")
OFFSET_PARAMS = ("offset", "skip", "$skip", "start_index", "startIndex")
# Query names of a window's ends, compared lower-cased without `_`, `-` and `$`.
START_NAMES = frozenset(
    {
        "start", "startdate", "starttime", "startperiod", "from", "fromdate", "datefrom", "timefrom",
        "periodfrom", "since", "begin", "begindate", "observationstart", "mindate", "after", "updatedsince",
    }
)  # fmt: skip
END_NAMES = frozenset(
    {
        "end", "enddate", "endtime", "endperiod", "to", "todate", "dateto", "timeto", "periodto", "until",
        "observationend", "maxdate", "before",
    }
)  # fmt: skip
# strftime formats a window value may be written in, tried in order (the first that reads it wins).
MOMENT_FORMATS = (
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.000Z",
    "%Y-%m-%dT%H:%M:%S+00:00",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%MZ",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%Y%m%d",
    "%Y-%m",
    "%YM%m",
    "%d.%m.%Y",
    "%Y",
)
# Only unmistakable dates count in a path: a run of digits there is more often an id.
PATH_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
_LINK_PART = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


class FetchInference(BaseModel):
    """How an API pages and which time window it takes, with a sentence each for the inference record."""

    pagination: Pagination = Pagination()
    water_mark: WaterMarkMapping | None = None
    pagination_note: str = "one page: no pagination in the response or the URL"
    window_note: str = "full refresh: no time window parameter in the URL; every run fetches the whole source"


def infer_fetch(document: Any, *, url: str, link_header: str = "") -> FetchInference:
    """Pagination from the first response and the URL, and the time window from the URL."""
    pagination, paging_note = infer_pagination(document, url=url, link_header=link_header)
    water_mark, window_note = infer_window(url)
    inference = FetchInference(pagination=pagination, water_mark=water_mark)
    if paging_note:
        inference.pagination_note = paging_note
    if window_note:
        inference.window_note = window_note
    return inference


def get_at(node: Any, path: str) -> Any:
    """The value at a dotted path (`0.pages`, `_links.next.href`, `@odata.nextLink`); None when absent.

    A key may itself hold dots: at each object the longest run of parts that is one of its keys is taken.
    """
    parts = path.split(".")
    index = 0
    while index < len(parts):
        if isinstance(node, dict):
            for end in range(len(parts), index, -1):
                key = ".".join(parts[index:end])
                if key in node:
                    node, index = node[key], end
                    break
            else:
                return None
        elif isinstance(node, list) and re.fullmatch(r"-?\d+", parts[index]):
            position = int(parts[index])
            if not -len(node) <= position < len(node):
                return None
            node, index = node[position], index + 1
        else:
            return None
    return node


def has_path(node: Any, path: str) -> bool:
    """Whether the path exists (its value may be null)."""
    parent, _, last = path.rpartition(".")
    holder = get_at(node, parent) if parent else node
    if isinstance(holder, dict):
        return last in holder or get_at(node, path) is not None
    return get_at(node, path) is not None


def link_next(header: str) -> str | None:
    """The `rel="next"` target of an HTTP `Link` header, or None."""
    for match in _LINK_PART.finditer(header or ""):
        target, params = match.group(1), match.group(2)
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').lower().split():
                return target.strip()
    return None


def with_query(url: str, params: dict[str, str]) -> str:
    """The URL with these query parameters set, replacing any of the same name, the others kept in order."""
    if not params:
        return url
    parts = urlsplit(url)
    kept = [
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name not in params
    ]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()], safe=":,/")))


def with_segments(url: str, segments: dict[int, str]) -> str:
    """The URL with path segments (0-based, after the host) replaced."""
    if not segments:
        return url
    parts = urlsplit(url)
    names = parts.path.split("/")[1:]
    for index, value in segments.items():
        if index < len(names):
            names[index] = value
    return urlunsplit(parts._replace(path="/" + "/".join(names)))


def moment_format(value: str) -> str | None:
    """The strftime format a window value is written in (or `epoch_s`, `epoch_ms`), None if not a moment."""
    # An offset's `+` left unescaped in a URL reads back as a space.
    text = re.sub(r" (\d\d:\d\d)$", r"+\1", value.strip())
    if re.fullmatch(r"1\d{9}", text):
        return "epoch_s"
    if re.fullmatch(r"1\d{12}", text):
        return "epoch_ms"
    for fmt in MOMENT_FORMATS:
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        if 1800 <= moment.year <= 2200 and moment.strftime(fmt) == text:
            return fmt
    return None


def _name(name: str) -> str:
    return re.sub(r"[_\-$.]", "", name).lower()


def infer_window(url: str) -> tuple[WaterMarkMapping | None, str | None]:
    """The URL's time window: query parameters named like its ends, else dates in its path."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    starts = [(n, v, f) for n, v in query if _name(n) in START_NAMES and (f := moment_format(v))]
    ends = [(n, v, f) for n, v in query if _name(n) in END_NAMES and (f := moment_format(v))]
    if starts:
        start_name, _, fmt = starts[0]
        end_name = next((name for name, _, end_fmt in ends if end_fmt == fmt), None)
        mapping = WaterMarkMapping(start_param=start_name, end_param=end_name, format=fmt)
        ends_text = f", `{end_name}` → now" if end_name else ""
        return mapping, (
            f"time window: `{start_name}` → the high water mark minus the lookback ({_shown(fmt)}){ends_text}"
        )
    segments = [
        (index, written)
        for index, segment in enumerate(parts.path.split("/")[1:])
        if (written := moment_format(segment)) is not None and written in PATH_FORMATS
    ]
    if segments:
        (first, fmt), rest = segments[0], segments[1:]
        end = next((index for index, end_fmt in rest if end_fmt == fmt), None)
        mapping = WaterMarkMapping(start_segment=first, end_segment=end, format=fmt)
        ends_text = f", path segment {end} → now" if end is not None else ""
        return mapping, (
            f"time window: path segment {first} → the high water mark minus the lookback ({_shown(fmt)})"
            + ends_text
        )
    if ends:
        return None, (
            f"full refresh: the URL has only an end (`{ends[0][0]}`) and no start parameter; every run "
            "fetches the whole source"
        )
    return None, None


def _shown(fmt: str) -> str:
    return fmt if fmt.startswith("epoch") else f"as {fmt}"


def infer_pagination(document: Any, *, url: str, link_header: str = "") -> tuple[Pagination, str | None]:
    """The paging contract the first response and its URL show, with a sentence saying which."""
    if link_next(link_header):
        return Pagination(kind="link_header"), 'next link in the `Link` header (rel="next")'
    for path in NEXT_LINK_PATHS:
        if has_path(document, path) and _looks_like_link(get_at(document, path)):
            return Pagination(kind="next_link", next_link_path=path), f"next link in the body at `{path}`"
    for path in CURSOR_PATHS:
        value = get_at(document, path)
        if has_path(document, path) and (value is None or isinstance(value, str | int)):
            param = _cursor_param(path, url)
            return (
                Pagination(kind="cursor", param=param, cursor_path=path),
                f"cursor at `{path}` sent back as `{param}`",
            )
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    counted = _counted_pages(document, query)
    if counted is not None:
        return counted
    page_param = next((name for name in PAGE_PARAMS if name in query), None)
    size_param = next((name for name in SIZE_KEYS if name in query), None)
    size = int(query[size_param]) if size_param and query[size_param].isdigit() else None
    if page_param and query[page_param].isdigit():
        pagination = Pagination(
            kind="page_number",
            param=page_param,
            start=int(query[page_param]),
            size_param=size_param,
            size=size,
        )
        return pagination, f"page number `{page_param}` in the URL, until an empty or short page"
    offset_param = next((name for name in OFFSET_PARAMS if name in query), None)
    if offset_param and query[offset_param].isdigit() and size:
        pagination = Pagination(
            kind="offset",
            param=offset_param,
            start=int(query[offset_param]),
            size_param=size_param,
            size=size,
        )
        return (
            pagination,
            f"offset `{offset_param}` and `{size_param}` in the URL, until an empty or short page",
        )
    return Pagination(), None


def _looks_like_link(value: Any) -> bool:
    if value is None:
        return True  # the last page: the key is there, with nothing after it
    return isinstance(value, str) and (value.startswith(("http://", "https://", "/", "?")) or value == "")


def _cursor_param(path: str, url: str) -> str:
    """The query parameter a cursor goes back in: one the URL already has, else its key without `next`."""
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    for name in query:
        if "cursor" in name.lower() or "token" in name.lower() or name.lower() in ("after", "continuation"):
            return name
    key = path.rsplit(".", 1)[-1]
    if key == "after":
        return "after"
    stripped = re.sub(r"^next_?", "", key, flags=re.IGNORECASE) or "cursor"
    return stripped[0].lower() + stripped[1:]


def _metadata_objects(document: Any) -> list[tuple[str, dict[str, Any]]]:
    """Objects that may hold paging metadata, with their paths: the top, a `meta`-like key, `[meta, rows]`."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(document, dict):
        found.append(("", document))
        found += [(key, document[key]) for key in META_KEYS if isinstance(document.get(key), dict)]
    elif (
        isinstance(document, list)
        and len(document) == 2
        and isinstance(document[0], dict)
        and isinstance(document[1], list)
    ):
        found.append(("0", document[0]))
    return found


def count_value(value: Any) -> int | None:
    """A count a response gives: an integer, or digits as text; None for anything else (booleans too)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _counted_pages(document: Any, query: dict[str, str]) -> tuple[Pagination, str] | None:
    """Page number with a page count or total, or offset and limit with a total, from a metadata object."""
    for prefix, meta in _metadata_objects(document):
        path = (prefix + ".") if prefix else ""
        page_key = next((k for k in PAGE_KEYS if count_value(meta.get(k)) is not None), None)
        pages_key = next((k for k in PAGES_KEYS if count_value(meta.get(k)) is not None), None)
        total_key = next((k for k in TOTAL_KEYS if count_value(meta.get(k)) is not None), None)
        size_key = next((k for k in SIZE_KEYS if count_value(meta.get(k)) is not None), None)
        offset_key = next((k for k in OFFSET_KEYS if count_value(meta.get(k)) is not None), None)
        size_param = next((k for k in SIZE_KEYS if k in query), None)
        size = count_value(query.get(size_param, "")) if size_param else None
        size = size or (count_value(meta.get(size_key)) if size_key else None)
        if page_key and (pages_key or (total_key and size)):
            named = "page" if page_key in ("page", "current_page", "currentPage") else page_key
            param = next((k for k in PAGE_PARAMS if k in query), named)
            pagination = Pagination(
                kind="page_number",
                param=param,
                start=count_value(meta.get(page_key)) or 1,
                size_param=size_param
                or (size_key if size_key in ("per_page", "perPage", "pageSize") else None),
                size=size,
                pages_path=path + pages_key if pages_key else None,
                total_path=path + total_key if total_key and not pages_key else None,
            )
            counted = f"`{path}{pages_key}` pages" if pages_key else f"`{path}{total_key}` records"
            return pagination, f"page number `{param}` with {counted} in the metadata"
        if offset_key and total_key and size:
            param = next((k for k in OFFSET_PARAMS if k in query), offset_key)
            limit_param = size_param or size_key or "limit"
            pagination = Pagination(
                kind="offset",
                param=param,
                start=count_value(meta.get(offset_key)) or 0,
                size_param=limit_param,
                size=size,
                total_path=path + total_key,
            )
            return pagination, (
                f"offset `{param}` and `{limit_param}` with `{path}{total_key}` records in the metadata"
            )
    return None
