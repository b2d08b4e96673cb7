"""Executing fetch specs: water-mark windows, header secrets by name, and walking pages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from shared.common.errors import FetchPlanError, SourceError, UnsafeSourceError
from shared.common.settings import Settings
from shared.domain.wrapper import FetchSpec, Pagination, SourceFormat, WaterMarkMapping
from shared.source import fetch_plan
from shared.source.fetch_plan import (
    fetch_pages,
    format_moment,
    next_link,
    record_count,
    resolve_headers,
    secret_env_name,
    water_mark_params,
)
from shared.source.http import FetchedResponse

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HIGH = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
URL = "https://api.example.org/readings"


class FakeApi:
    """Stands in for fetch_url: answers from a function of the query, and records every request."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []

    def __call__(
        self,
        url: str,
        *,
        settings: Settings,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> FetchedResponse:
        query = {**dict(parse_qsl(urlsplit(url).query)), **dict(params or {})}
        self.requests.append((url, query, dict(headers or {})))
        body = self.answer(url, query)
        link = ""
        if isinstance(body, tuple):  # (body, Link header)
            body, link = body
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        if max_bytes is not None and len(content) > max_bytes:
            raise SourceError(f"{url} exceeds the limit of {max_bytes} bytes")
        return FetchedResponse(
            url=url, status=200, content_type="application/json", content=content, link=link
        )


@pytest.fixture
def settings() -> Settings:
    return Settings(job_lookback_seconds=3600)


def use_api(monkeypatch: pytest.MonkeyPatch, answer: Any) -> FakeApi:
    api = FakeApi(answer)
    monkeypatch.setattr(fetch_plan, "fetch_url", api)
    return api


def rows(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"t": n, "v": n * 1.5} for n in range(start, stop)]


def test_secret_names_map_to_rs_secret_variables() -> None:
    assert secret_env_name("eia-api.key") == "RS_SECRET_EIA_API_KEY"
    assert secret_env_name("Token") == "RS_SECRET_TOKEN"


def test_header_secrets_are_read_by_name_and_never_quoted_in_errors() -> None:
    environ = {"RS_SECRET_EIA_KEY": "s3cr3t"}
    assert resolve_headers({"X-Api-Key": "eia-key"}, environ=environ) == {"X-Api-Key": "s3cr3t"}
    with pytest.raises(FetchPlanError, match="set RS_SECRET_OTHER"):
        resolve_headers({"X-Api-Key": "other"}, environ=environ)
    with pytest.raises(FetchPlanError) as caught:
        resolve_headers({"X-Api-Key": "eia-key"}, environ={"RS_SECRET_EIA_KEY": "bad\r\nInjected: 1"})
    assert "Injected" not in str(caught.value)


def test_moments_format_as_strftime_or_epoch() -> None:
    assert format_moment(HIGH, "%Y-%m-%dT%H:%M:%SZ") == "2024-05-01T10:00:00Z"
    assert format_moment(HIGH, "%Y-%m-%d") == "2024-05-01"
    assert format_moment(HIGH, "epoch_s") == "1714557600"
    assert format_moment(HIGH, "epoch_ms") == "1714557600000"
    assert format_moment(HIGH, "iso") == "2024-05-01T10:00:00Z"


def test_the_window_starts_at_the_high_water_mark_minus_the_lookback() -> None:
    mapping = WaterMarkMapping(start_param="from", end_param="to", lookback_seconds=7200)
    params = water_mark_params(mapping, high_water_mark=HIGH, now=NOW, default_lookback_seconds=60)
    assert params == {"from": "2024-05-01T08:00:00Z", "to": "2024-05-01T12:00:00Z"}


def test_a_mapping_without_lookback_uses_the_configured_default() -> None:
    mapping = WaterMarkMapping(start_param="from")
    params = water_mark_params(mapping, high_water_mark=HIGH, now=NOW, default_lookback_seconds=1800)
    assert params == {"from": "2024-05-01T09:30:00Z"}


def test_the_first_run_has_no_start_and_fetches_the_whole_history() -> None:
    mapping = WaterMarkMapping(start_param="from")
    assert water_mark_params(mapping, high_water_mark=None, now=NOW, default_lookback_seconds=0) == {}
    assert water_mark_params(None, high_water_mark=HIGH, now=NOW, default_lookback_seconds=0) == {}


def test_records_are_counted_in_the_longest_json_list_or_csv_lines() -> None:
    assert record_count(b'{"meta": {"n": 2}, "data": [1, 2, 3], "links": ["a"]}', SourceFormat.JSON) == 3
    assert record_count(b'{"response": {"data": []}}', SourceFormat.JSON) == 0
    assert record_count(b"[]", SourceFormat.JSON) == 0
    assert record_count(b'{"2020": 1.5}', SourceFormat.JSON) is None
    assert record_count(b"time,value\n1,2\n3,4\n", SourceFormat.CSV) == 2
    assert record_count(b"time,value\n", SourceFormat.CSV) == 0


def test_next_links_are_read_at_a_dotted_path() -> None:
    assert next_link(b'{"links": {"next": "/p2"}}', "links.next") == "/p2"
    assert next_link(b'{"links": {"next": null}}', "links.next") is None
    assert next_link(b'{"links": {}}', "links.next") is None


def test_page_numbers_are_walked_until_a_short_page(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    data = rows(0, 12)

    def answer(url: str, query: dict[str, str]) -> Any:
        page, size = int(query["page"]), int(query["per_page"])
        return {"data": data[(page - 1) * size : page * size]}

    api = use_api(monkeypatch, answer)
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        params={"series": "co2"},
        pagination=Pagination(kind="page_number", param="page", size_param="per_page", size=5),
        water_mark=WaterMarkMapping(start_param="start"),
    )
    result = fetch_pages(spec, settings=settings, high_water_mark=HIGH, now=NOW, environ={})
    assert [json.loads(p)["data"] for p in result.payloads()] == [data[0:5], data[5:10], data[10:12]]
    assert [q["page"] for _, q, _ in api.requests] == ["1", "2", "3"]
    assert all(q["series"] == "co2" and q["start"] == "2024-05-01T09:00:00Z" for _, q, _ in api.requests)
    assert result.complete and result.bytes_fetched == sum(len(p) for p in result.payloads())


def test_an_empty_page_ends_the_walk_and_is_left_out(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    data = rows(0, 10)
    use_api(monkeypatch, lambda url, q: {"data": data[(int(q["page"]) - 1) * 5 : int(q["page"]) * 5]})
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        pagination=Pagination(kind="page_number", param="page", size=5),
    )
    result = fetch_pages(spec, settings=settings, environ={})
    assert len(result.pages) == 2


def test_offsets_start_at_zero_and_step_by_the_page_size(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    data = rows(0, 7)
    api = use_api(monkeypatch, lambda url, q: data[int(q["offset"]) : int(q["offset"]) + 3])
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        pagination=Pagination(kind="offset", param="offset", size_param="limit", size=3),
    )
    result = fetch_pages(spec, settings=settings, environ={})
    assert [q["offset"] for _, q, _ in api.requests] == ["0", "3", "6"]
    assert sum(len(json.loads(p)) for p in result.payloads()) == 7


def test_next_links_are_followed_relative_to_the_page(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    def answer(url: str, query: dict[str, str]) -> Any:
        page = int(query.get("cursor", "0"))
        link = f"/readings?cursor={page + 1}" if page < 2 else None
        return {"items": rows(page, page + 1), "next": link}

    api = use_api(monkeypatch, answer)
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        params={"key": "v"},
        pagination=Pagination(kind="next_link", next_link_path="next"),
    )
    result = fetch_pages(spec, settings=settings, environ={})
    assert len(result.pages) == 3
    assert [u for u, _, _ in api.requests][1:] == [
        "https://api.example.org/readings?cursor=1",
        "https://api.example.org/readings?cursor=2",
    ]


def test_max_pages_cuts_the_walk_and_says_so(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    use_api(monkeypatch, lambda url, q: {"data": rows(int(q["page"]) * 10, int(q["page"]) * 10 + 10)})
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        pagination=Pagination(kind="page_number", param="page", size=10, max_pages=4),
    )
    result = fetch_pages(spec, settings=settings, environ={})
    assert len(result.pages) == 4 and not result.complete


def test_a_repeated_page_ends_the_walk(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    use_api(monkeypatch, lambda url, q: {"data": rows(0, 3)})
    spec = FetchSpec(
        location=URL, format=SourceFormat.JSON, pagination=Pagination(kind="page_number", param="p")
    )
    assert len(fetch_pages(spec, settings=settings, environ={}).pages) == 1


def test_header_secrets_go_on_every_request(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    api = use_api(monkeypatch, lambda url, q: {"data": []})
    spec = FetchSpec(location=URL, format=SourceFormat.JSON, header_secrets={"Authorization": "api token"})
    fetch_pages(spec, settings=settings, environ={"RS_SECRET_API_TOKEN": "Bearer t0k"})
    assert api.requests[0][2] == {"Authorization": "Bearer t0k"}
    with pytest.raises(FetchPlanError, match="RS_SECRET_API_TOKEN"):
        fetch_pages(spec, settings=settings, environ={})


def test_the_byte_cap_holds_over_all_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    use_api(monkeypatch, lambda url, q: {"data": rows(int(q["page"]) * 50, int(q["page"]) * 50 + 50)})
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        pagination=Pagination(kind="page_number", param="page", size=50),
    )
    with pytest.raises(SourceError, match="limit"):
        fetch_pages(spec, settings=Settings(fetch_max_bytes=3000), environ={})


def test_only_http_and_s3_locations_are_fetched(settings: Settings) -> None:
    for location in ("/etc/passwd", "file:///etc/passwd", "ftp://example.org/x.csv"):
        with pytest.raises(FetchPlanError):
            fetch_pages(FetchSpec(location=location, format=SourceFormat.CSV), settings=settings, environ={})
    s3_with_params = FetchSpec(location="s3://bucket/key.csv", format=SourceFormat.CSV, params={"a": "b"})
    with pytest.raises(FetchPlanError):
        fetch_pages(s3_with_params, settings=settings, environ={})


def test_a_page_count_ends_the_walk_without_asking_for_an_empty_page(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    data = rows(0, 10)

    def answer(url: str, query: dict[str, str]) -> Any:
        page = int(query["page"])
        return [{"page": page, "pages": "2", "per_page": "5"}, data[(page - 1) * 5 : page * 5]]

    api = use_api(monkeypatch, answer)
    spec = FetchSpec(
        location=f"{URL}?format=json",
        format=SourceFormat.JSON,
        pagination=Pagination(kind="page_number", param="page", pages_path="0.pages"),
    )
    result = fetch_pages(spec, settings=settings, environ={})
    assert [q["page"] for _, q, _ in api.requests] == ["1", "2"] and result.complete
    assert result.requests == ["/readings?format=json&page=1", "/readings?format=json&page=2"]


def test_offsets_stop_at_the_total(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    data = rows(0, 6)
    api = use_api(
        monkeypatch,
        lambda url, q: {"total": 6, "results": data[int(q["offset"]) : int(q["offset"]) + 3]},
    )
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        pagination=Pagination(
            kind="offset", param="offset", size_param="limit", size=3, start=0, total_path="total"
        ),
    )
    fetch_pages(spec, settings=settings, environ={})
    assert [q["offset"] for _, q, _ in api.requests] == ["0", "3"]


def test_the_link_header_leads_to_the_next_page(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    def answer(url: str, query: dict[str, str]) -> Any:
        page = int(query.get("page", "1"))
        link = f'<{URL}?page={page + 1}>; rel="next", <{URL}?page=1>; rel="first"' if page < 3 else ""
        return rows(page, page + 1), link

    api = use_api(monkeypatch, answer)
    spec = FetchSpec(location=URL, format=SourceFormat.JSON, pagination=Pagination(kind="link_header"))
    assert len(fetch_pages(spec, settings=settings, environ={}).pages) == 3
    assert [q.get("page") for _, q, _ in api.requests] == [None, "2", "3"]


def test_a_cursor_is_sent_back_with_the_window_until_it_runs_out(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    tokens = {None: "c1", "c1": "c2", "c2": None}
    api = use_api(monkeypatch, lambda url, q: {"items": rows(0, 2), "next": tokens[q.get("cursor")], "n": q})
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        pagination=Pagination(kind="cursor", param="cursor", cursor_path="next"),
        water_mark=WaterMarkMapping(start_param="since", format="%Y-%m-%d"),
    )
    result = fetch_pages(spec, settings=settings, high_water_mark=HIGH, now=NOW, environ={})
    assert [q.get("cursor") for _, q, _ in api.requests] == [None, "c1", "c2"]
    assert {q["since"] for _, q, _ in api.requests} == {"2024-05-01"}
    assert result.window == {"since": "2024-05-01"} and len(result.pages) == 3


def test_a_next_link_to_another_host_is_refused(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    use_api(
        monkeypatch, lambda url, q: {"data": rows(0, 1), "next": "http://169.254.169.254/latest/meta-data"}
    )
    spec = FetchSpec(
        location=URL, format=SourceFormat.JSON, pagination=Pagination(kind="next_link", next_link_path="next")
    )
    with pytest.raises(UnsafeSourceError, match="another host"):
        fetch_pages(spec, settings=settings, environ={})
    use_api(monkeypatch, lambda url, q: {"data": rows(0, 1), "next": "http://api.example.org/readings?p=2"})
    with pytest.raises(UnsafeSourceError, match="leaves https"):
        fetch_pages(spec, settings=settings, environ={})


def test_a_next_link_back_to_a_page_already_read_ends_the_walk(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    def answer(url: str, query: dict[str, str]) -> Any:
        page = int(query.get("page", "1"))
        return {"data": rows(page, page + 1), "next": f"{URL}?page={2 if page == 1 else 1}"}

    use_api(monkeypatch, answer)
    spec = FetchSpec(
        location=f"{URL}?page=1",
        format=SourceFormat.JSON,
        pagination=Pagination(kind="next_link", next_link_path="next"),
    )
    result = fetch_pages(spec, settings=settings, environ={})
    assert len(result.pages) == 2 and result.complete and "already read" in result.stop_reason


def test_the_time_cap_ends_the_walk_and_says_so(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    clock = iter(float(n) for n in range(0, 10_000, 40))
    monkeypatch.setattr(fetch_plan, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    use_api(monkeypatch, lambda url, q: {"data": rows(int(q["page"]), int(q["page"]) + 1)})
    spec = FetchSpec(
        location=URL,
        format=SourceFormat.JSON,
        pagination=Pagination(kind="page_number", param="page", max_seconds=100),
    )
    result = fetch_pages(spec, settings=settings, environ={})
    assert not result.complete and "max_seconds" in result.stop_reason and len(result.pages) == 3


def test_a_window_in_the_path_and_a_backfill_start_without_lookback(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    api = use_api(monkeypatch, lambda url, q: {"data": rows(0, 1)})
    spec = FetchSpec(
        location="https://api.example.org/series/2024-01-01/2024-02-01",
        format=SourceFormat.JSON,
        water_mark=WaterMarkMapping(start_segment=1, end_segment=2, format="%Y-%m-%d"),
    )
    backfill = datetime(2023, 6, 1, tzinfo=UTC)
    result = fetch_pages(spec, settings=settings, high_water_mark=HIGH, now=NOW, start=backfill, environ={})
    assert api.requests[0][0] == "https://api.example.org/series/2023-06-01/2024-05-01"
    assert result.window_start == backfill
    assert result.window == {"path segment 1": "2023-06-01", "path segment 2": "2024-05-01"}


def test_window_values_replace_the_urls_own_instead_of_repeating_them(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    api = use_api(monkeypatch, lambda url, q: {"data": rows(0, 1)})
    spec = FetchSpec(
        location=f"{URL}?start=2020-01-01&end=2020-12-31&api_key=k3y",
        format=SourceFormat.JSON,
        water_mark=WaterMarkMapping(start_param="start", end_param="end", format="%Y-%m-%d"),
    )
    result = fetch_pages(spec, settings=settings, high_water_mark=HIGH, now=NOW, environ={})
    url = api.requests[0][0]
    assert url.count("start=") == 1 and "start=2024-05-01" in url and "end=2024-05-01" in url
    assert result.requests == ["/readings?api_key=***&start=2024-05-01&end=2024-05-01"]
