"""A loopback HTTP API of daily observations that pages and filters by time the way public APIs do.

Each contract is one endpoint with its own paging (page numbers with a page count, a `[metadata, records]`
pair, offset and limit with a total, next links in the body or the `Link` header, an opaque cursor) and its
own time-window parameters in their own format. The data grows and is revised between ticks; every
request is logged with its query.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.support import serve_loopback

D0 = datetime(2024, 1, 1, tzinfo=UTC)
PAGE_SIZE = 7


def day(n: int) -> datetime:
    """The n-th day after D0, at midnight UTC."""
    return D0 + timedelta(days=n)


def iso_day(moment: datetime) -> str:
    """ISO 8601 with a Z, as stored points are compared."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Contract:
    """One endpoint: its paging, its window parameters and their format."""

    name: str
    path: str
    start_param: str | None
    end_param: str | None
    fmt: str
    first_query: dict[str, str] = field(default_factory=dict)

    def moment(self, text: str) -> datetime:
        """A window value written in this contract's format."""
        if self.fmt == "epoch_s":
            return datetime.fromtimestamp(int(text), UTC)
        if self.fmt == "epoch_ms":
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        return datetime.strptime(text, self.fmt).replace(tzinfo=UTC)

    def written(self, moment: datetime) -> str:
        """A moment written in this contract's format."""
        if self.fmt == "epoch_s":
            return str(int(moment.timestamp()))
        if self.fmt == "epoch_ms":
            return str(int(moment.timestamp() * 1000))
        return moment.strftime(self.fmt)


CONTRACTS = {
    c.name: c
    for c in (
        Contract("meta_pages", "/v1/observations", "start_date", "end_date", "%Y-%m-%d", {"per_page": "7"}),
        Contract("pair", "/v2/country/DE/indicator/EN.GHG", "startDate", "endDate", "%Y-%m-%d",
                 {"format": "json", "per_page": "7"}),
        Contract("offset", "/api/readings", "since", None, "%Y-%m-%dT%H:%M:%SZ",
                 {"offset": "0", "limit": "7"}),
        Contract("links_next", "/jsonapi/observations", "from", "to", "%Y-%m-%d"),
        Contract("next", "/rest/observations/", "date_from", "date_to", "%Y%m%d"),
        Contract("hal", "/hal/observations", "start", "end", "epoch_s"),
        Contract("odata", "/odata/Observations", "startTime", "endTime", "%Y-%m-%dT%H:%M:%S"),
        Contract("link_header", "/gh/observations", "since", "until", "%Y-%m-%dT%H:%M:%SZ",
                 {"per_page": "7"}),
        Contract("cursor", "/stream/observations", "updated_since", None, "epoch_ms"),
        Contract("path", "/series/daily", None, None, "%Y-%m-%d"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Asked:
    """One request to a contract: the observations in its window, its path and its query."""

    contract: Contract
    rows: list[tuple[datetime, float]]
    path: str
    query: dict[str, str]


class PagedApi:
    """The daily observations every contract serves; grown and revised by the test, every request logged."""

    def __init__(self) -> None:
        self.values: dict[datetime, float] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self.base = ""

    def grow(self, count: int) -> None:
        """Serve days 0..count-1 (existing days keep their values)."""
        with self.lock:
            for n in range(count):
                self.values.setdefault(day(n), round(400 + n * 0.25, 2))

    def revise(self, n: int, value: float) -> None:
        """Change the value of day n, as a source revising its data does."""
        with self.lock:
            self.values[day(n)] = value

    def expected(self) -> list[tuple[str, float]]:
        """Every observation served now, oldest first."""
        with self.lock:
            return [(iso_day(moment), value) for moment, value in sorted(self.values.items())]

    def url(self, name: str, *, start: datetime = D0, end: datetime | None = None) -> str:
        """The first URL of a contract, with a window from `start` to `end` in the contract's format."""
        contract = CONTRACTS[name]
        end = end or day(365)
        query = dict(contract.first_query)
        path = contract.path
        if name == "path":
            path += f"/{contract.written(start)}/{contract.written(end)}"
        if contract.start_param:
            query[contract.start_param] = contract.written(start)
        if contract.end_param:
            query[contract.end_param] = contract.written(end)
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def requests_of(self, name: str) -> list[dict[str, str]]:
        """The query of every request to a contract, in order (a path window appears as `path`)."""
        return [query for contract, query in self.requests if contract == name]

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        for contract in CONTRACTS.values():
            if path == contract.path or (contract.name == "path" and path.startswith(contract.path + "/")):
                with self.lock:
                    logged = dict(query)
                    if contract.name == "path":
                        logged["path"] = path
                    self.requests.append((contract.name, logged))
                    rows = self._window(contract, path, query)
                return _RENDER[contract.name](self, Asked(contract, rows, path, query))
        return 404, b'{"error": "not found"}', {}

    def _window(self, contract: Contract, path: str, query: dict[str, str]) -> list[tuple[datetime, float]]:
        if contract.name == "path":
            start_text, end_text = path.rsplit("/", 2)[-2:]
            start, end = contract.moment(start_text), contract.moment(end_text)
        else:
            start = contract.moment(query[contract.start_param]) if contract.start_param in query else None
            end = contract.moment(query[contract.end_param]) if contract.end_param in query else None
        return [
            (m, v)
            for m, v in sorted(self.values.items())
            if (start is None or m >= start) and (end is None or m <= end + timedelta(days=1, seconds=-1))
        ]

    def link(self, path: str, query: dict[str, str], **changes: str) -> str:
        """An absolute link to the same endpoint with some query parameters changed."""
        return f"{self.base}{path}?{urlencode({**query, **changes})}"


def _record(moment: datetime, value: float) -> dict[str, Any]:
    return {"date": moment.strftime("%Y-%m-%d"), "value": value}


def _page(rows: list[Any], query: dict[str, str], *, name: str = "page") -> tuple[list[Any], int, int]:
    number = int(query.get(name, "1"))
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    return rows[(number - 1) * PAGE_SIZE : number * PAGE_SIZE], number, pages


def _json(body: Any, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    return 200, json.dumps(body).encode(), headers or {}


def _meta_pages(api: PagedApi, asked: Asked) -> Any:
    rows, q = asked.rows, asked.query
    chosen, number, pages = _page(rows, q)
    meta = {"page": number, "pages": pages, "per_page": PAGE_SIZE, "total": len(rows)}
    return _json({"meta": meta, "data": [_record(m, v) for m, v in chosen]})


def _pair(api: PagedApi, asked: Asked) -> Any:
    rows, q = asked.rows, asked.query
    chosen, number, pages = _page(rows, q)
    meta = {"page": number, "pages": pages, "per_page": str(PAGE_SIZE), "total": len(rows), "sourceid": "2"}
    records = [
        {
            "indicator": {"id": "EN.GHG", "value": "Total greenhouse gas emissions"},
            "country": {"id": "DE", "value": "Germany"},
            "date": m.strftime("%Y-%m-%d"),
            "value": v,
            "unit": "",
            "decimal": 2,
        }
        for m, v in chosen
    ]
    return _json([meta, records or None])


def _offset(api: PagedApi, asked: Asked) -> Any:
    rows, q = asked.rows, asked.query
    offset, limit = int(q.get("offset", "0")), int(q.get("limit", "100"))
    chosen = rows[offset : offset + limit]
    results = [{"timestamp": iso_day(m), "value": v} for m, v in chosen]
    return _json({"total": len(rows), "offset": offset, "limit": limit, "results": results})


def _links_next(api: PagedApi, asked: Asked) -> Any:
    rows, path, q = asked.rows, asked.path, asked.query
    chosen, number, pages = _page(rows, q, name="page[number]")
    following = api.link(path, q, **{"page[number]": str(number + 1)}) if number < pages else None
    links = {"self": api.link(path, q), "next": following}
    return _json(
        {"data": [{"type": "observation", "attributes": _record(m, v)} for m, v in chosen], "links": links}
    )


def _next(api: PagedApi, asked: Asked) -> Any:
    rows, path, q = asked.rows, asked.path, asked.query
    chosen, number, pages = _page(rows, q)
    following = api.link(path, q, page=str(number + 1)) if number < pages else None
    previous = api.link(path, q, page=str(number - 1)) if number > 1 else None
    body = {"count": len(rows), "next": following, "previous": previous}
    return _json({**body, "results": [_record(m, v) for m, v in chosen]})


def _hal(api: PagedApi, asked: Asked) -> Any:
    rows, path, q = asked.rows, asked.path, asked.query
    chosen, number, pages = _page(rows, q)
    links: dict[str, Any] = {"self": {"href": f"{path}?{urlencode(q)}"}}
    if number < pages:
        links["next"] = {
            "href": f"{path}?{urlencode({**q, 'page': str(number + 1)})}"
        }  # relative, as HAL allows
    return _json({"_links": links, "_embedded": {"observations": [_record(m, v) for m, v in chosen]}})


def _odata(api: PagedApi, asked: Asked) -> Any:
    rows, path, q = asked.rows, asked.path, asked.query
    skip = int(q.get("$skiptoken", "0"))
    chosen = rows[skip : skip + PAGE_SIZE]
    body: dict[str, Any] = {"@odata.context": f"{api.base}/odata/$metadata#Observations"}
    body["value"] = [{"Date": iso_day(m), "Value": v} for m, v in chosen]
    if skip + PAGE_SIZE < len(rows):
        body["@odata.nextLink"] = api.link(path, q, **{"$skiptoken": str(skip + PAGE_SIZE)})
    return _json(body)


def _link_header(api: PagedApi, asked: Asked) -> Any:
    rows, path, q = asked.rows, asked.path, asked.query
    chosen, number, pages = _page(rows, q)
    parts = [f'<{api.link(path, q, page="1")}>; rel="first"']
    if number < pages:
        parts.insert(0, f'<{api.link(path, q, page=str(number + 1))}>; rel="next"')
    return _json([_record(m, v) for m, v in chosen], {"Link": ", ".join(parts)})


def _cursor(api: PagedApi, asked: Asked) -> Any:
    rows, q = asked.rows, asked.query
    position = int(base64.urlsafe_b64decode(q["cursor"]).decode().split(":")[1]) if "cursor" in q else 0
    chosen = rows[position : position + PAGE_SIZE]
    more = position + PAGE_SIZE < len(rows)
    token = base64.urlsafe_b64encode(f"pos:{position + PAGE_SIZE}".encode()).decode() if more else None
    return _json({"items": [_record(m, v) for m, v in chosen], "next_cursor": token, "has_more": more})


def _path(api: PagedApi, asked: Asked) -> Any:
    rows, q = asked.rows, asked.query
    chosen, number, pages = _page(rows, q)
    observations = [_record(m, v) for m, v in chosen]
    return _json({"page": number, "total_pages": pages, "observations": observations})


_RENDER: dict[str, Callable[..., tuple[int, bytes, dict[str, str]]]] = {
    "meta_pages": _meta_pages,
    "pair": _pair,
    "offset": _offset,
    "links_next": _links_next,
    "next": _next,
    "hal": _hal,
    "odata": _odata,
    "link_header": _link_header,
    "cursor": _cursor,
    "path": _path,
}


class _Handler(http.server.BaseHTTPRequestHandler):
    api: ClassVar[PagedApi]

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        status, body, headers = self.api.answer(parts.path, dict(parse_qsl(parts.query)))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serve_paged_api() -> Iterator[PagedApi]:
    """A PagedApi on a loopback port."""
    api = PagedApi()
    with serve_loopback(type("PagedHandler", (_Handler,), {"api": api})) as base:
        api.base = base
        yield api
