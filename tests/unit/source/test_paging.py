"""Pagination and time windows inferred from an API's first response, its Link header and its URL."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.wrapper import Pagination
from shared.source.paging import (
    get_at,
    infer_fetch,
    infer_pagination,
    infer_window,
    link_next,
    moment_format,
    with_query,
    with_segments,
)

API = "https://api.example.org/v1/observations"
ROWS = [{"date": "2024-01-01", "value": 1.5}, {"date": "2024-01-02", "value": 1.75}]


def paging(document: Any, url: str = API, link: str = "") -> Pagination:
    return infer_pagination(document, url=url, link_header=link)[0]


def test_page_number_with_a_page_count_in_a_metadata_object() -> None:
    document = {"meta": {"page": 1, "pages": 5, "per_page": 2, "total": 10}, "data": ROWS}
    found = paging(document, f"{API}?per_page=2")
    assert found.kind == "page_number" and found.param == "page" and found.start == 1
    assert found.pages_path == "meta.pages" and (found.size_param, found.size) == ("per_page", 2)


def test_page_number_with_only_a_total_counts_pages_from_the_size() -> None:
    document = {"pagination": {"currentPage": 1, "totalItems": 40, "pageSize": 20}, "items": ROWS}
    found = paging(document)
    assert found.kind == "page_number" and found.param == "page"
    assert found.total_path == "pagination.totalItems" and found.pages_path is None and found.size == 20


def test_a_metadata_and_records_pair_pages_by_its_first_element() -> None:
    document = [{"page": 1, "pages": "3", "per_page": "50", "total": 120}, ROWS]
    found = paging(document, f"{API}?format=json&per_page=50")
    assert found.kind == "page_number" and found.pages_path == "0.pages"
    assert (found.size_param, found.size) == ("per_page", 50)


def test_offset_and_limit_with_a_total() -> None:
    document = {"total": 95, "offset": 0, "limit": 25, "results": ROWS}
    found = paging(document, f"{API}?offset=0&limit=25")
    assert found.kind == "offset" and found.param == "offset" and found.start == 0
    assert (found.size_param, found.size, found.total_path) == ("limit", 25, "total")


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"data": ROWS, "links": {"self": API, "next": f"{API}?page[number]=2"}}, "links.next"),
        ({"count": 30, "next": f"{API}?page=2", "previous": None, "results": ROWS}, "next"),
        (
            {"_links": {"next": {"href": "/v1/observations?page=2"}}, "_embedded": {"o": ROWS}},
            "_links.next.href",
        ),
        ({"value": ROWS, "@odata.nextLink": f"{API}?$skiptoken=2"}, "@odata.nextLink"),
        ({"count": 2, "next": None, "results": ROWS}, "next"),
    ],
)
def test_next_links_in_the_body(document: dict[str, Any], path: str) -> None:
    found = paging(document)
    assert found.kind == "next_link" and found.next_link_path == path


def test_a_next_link_in_the_link_header_wins() -> None:
    header = f'<{API}?page=2>; rel="next", <{API}?page=9>; rel="last"'
    assert paging(ROWS, link=header).kind == "link_header"
    assert link_next(header) == f"{API}?page=2"
    assert link_next(f'<{API}?page=1>; rel="first"') is None
    assert link_next("") is None


@pytest.mark.parametrize(
    ("document", "url", "param", "path"),
    [
        ({"items": ROWS, "next_cursor": "b3Mx", "has_more": True}, API, "cursor", "next_cursor"),
        ({"items": ROWS, "nextPageToken": "CAIQAA"}, API, "pageToken", "nextPageToken"),
        (
            {"data": ROWS, "meta": {"next_cursor": "x1"}},
            f"{API}?after_token=",
            "after_token",
            "meta.next_cursor",
        ),
        ({"data": ROWS, "paging": {"cursors": {"after": "QVFI"}}}, API, "after", "paging.cursors.after"),
    ],
)
def test_an_opaque_cursor_goes_back_as_a_query_parameter(
    document: dict[str, Any], url: str, param: str, path: str
) -> None:
    found = paging(document, url)
    assert found.kind == "cursor" and found.param == param and found.cursor_path == path


def test_page_or_offset_parameters_in_the_url_alone() -> None:
    by_page = paging({"data": ROWS}, f"{API}?page=1&pageSize=100")
    assert by_page.kind == "page_number" and (by_page.param, by_page.size_param, by_page.size) == (
        "page",
        "pageSize",
        100,
    )
    by_offset = paging(ROWS, f"{API}?skip=0&top=50")
    assert by_offset.kind == "offset" and (by_offset.param, by_offset.size) == ("skip", 50)


def test_a_body_without_paging_evidence_is_one_page() -> None:
    assert paging({"data": ROWS, "unit": "kt"}).kind == "none"
    assert paging({"page": "Overview", "data": ROWS}).kind == "none"  # a text, not a page number
    inference = infer_fetch({"data": ROWS}, url=API)
    assert inference.pagination_note.startswith("one page")


@pytest.mark.parametrize(
    ("query", "start", "end", "fmt"),
    [
        ("start=2024-01-01&end=2024-12-31", "start", "end", "%Y-%m-%d"),
        ("from=2024-01-01T00:00:00Z&to=2024-02-01T00:00:00Z", "from", "to", "%Y-%m-%dT%H:%M:%SZ"),
        ("startDate=2024-01-01&endDate=2024-06-30", "startDate", "endDate", "%Y-%m-%d"),
        ("date_from=20240101&date_to=20241231", "date_from", "date_to", "%Y%m%d"),
        ("since=1704067200", "since", None, "epoch_s"),
        ("updated_since=1704067200000", "updated_since", None, "epoch_ms"),
        ("startPeriod=2020-01&endPeriod=2024-12", "startPeriod", "endPeriod", "%Y-%m"),
        ("observation_start=2000&observation_end=2023", "observation_start", "observation_end", "%Y"),
        (
            "startTime=2024-01-01T00:00:00&endTime=2024-01-02T00:00:00",
            "startTime",
            "endTime",
            "%Y-%m-%dT%H:%M:%S",
        ),
        ("from=01.01.2024&to=31.12.2024", "from", "to", "%d.%m.%Y"),
    ],
)
def test_window_parameters_keep_their_own_format(query: str, start: str, end: str | None, fmt: str) -> None:
    mapping, note = infer_window(f"{API}?series=co2&{query}")
    assert mapping is not None and note is not None and note.startswith("time window")
    assert (mapping.start_param, mapping.end_param, mapping.format) == (start, end, fmt)
    assert mapping.lookback_seconds == 0  # RS_JOB_LOOKBACK_SECONDS applies


def test_dates_in_the_path_are_a_window() -> None:
    mapping, _ = infer_window("https://api.example.org/series/daily/2024-01-01/2024-12-31?page=1")
    assert mapping is not None and (mapping.start_segment, mapping.end_segment) == (2, 3)
    assert mapping.format == "%Y-%m-%d" and mapping.start_param is None
    single, _ = infer_window("https://api.example.org/v2/changes/since/2024-03-01T00:00:00Z")
    assert single is not None and (single.start_segment, single.end_segment) == (3, None)


def test_without_a_window_parameter_every_run_is_a_full_refresh() -> None:
    assert infer_window(f"{API}?series=co2&id=20240101x")[0] is None
    assert infer_window("https://api.example.org/items/12345678")[0] is None  # digits in a path are an id
    inference = infer_fetch({"data": ROWS}, url=f"{API}?country=DE")
    assert inference.water_mark is None and inference.window_note.startswith("full refresh")
    only_end, note = infer_window(f"{API}?end=2024-12-31")
    assert only_end is None and note is not None and note.startswith("full refresh")


def test_moment_formats_read_only_what_they_write_back() -> None:
    assert moment_format("2024-02-30") is None
    assert moment_format("7") is None and moment_format("DE") is None
    assert moment_format("2024M07") == "%YM%m"
    assert moment_format("2024-01-01T00:00:00.000Z") == "%Y-%m-%dT%H:%M:%S.000Z"
    mapping, _ = infer_window(f"{API}?from=2024-01-01T00:00:00+00:00")  # `+` unescaped: read as a space
    assert mapping is not None and mapping.format == "%Y-%m-%dT%H:%M:%S+00:00"


def test_paths_take_list_indexes_and_keys_with_dots() -> None:
    document = {"@odata.nextLink": "u", "_links": {"next": {"href": "h"}}, "pair": [{"pages": 3}, []]}
    assert get_at(document, "@odata.nextLink") == "u"
    assert get_at(document, "_links.next.href") == "h"
    assert get_at(document, "pair.0.pages") == 3
    assert get_at(document, "pair.5.pages") is None and get_at(document, "missing.key") is None


def test_query_and_path_changes_replace_instead_of_repeating() -> None:
    assert with_query(f"{API}?page=1&series=co2", {"page": "2"}) == f"{API}?series=co2&page=2"
    assert with_query(API, {}) == API
    changed = with_segments("https://a.example/s/2024-01-01/2024-02-01?x=1", {1: "2024-03-01"})
    assert changed == "https://a.example/s/2024-03-01/2024-02-01?x=1"
