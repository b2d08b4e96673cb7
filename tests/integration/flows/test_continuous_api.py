"""Continuous wrappers over paged APIs: pagination and time windows inferred from the first response.

Each contract of tests/integration/paged_api.py is wrapped by the built-in generator from its live first
page, then run tick after tick while the API grows and revises: the first run reads every page, later
runs ask only for the window from the high water mark minus the lookback (read off the server's request
log), a revision inside the lookback is stored as one, and a backfill fetches again from its date.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from pymongo.database import Database

from functions.api.services import backfill_wrapper, run_wrapper_now
from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import RunPublic, RunStatus, RunTrigger, WrapperMode
from shared.domain.wrapper import IndicatorRequest
from shared.flows.run import run_wrapper
from shared.flows.wrap import wrap_source
from shared.messaging.broker import Publisher
from shared.source.read import read_source
from shared.store.database import get_client, get_database
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    TENANT,
    Messages,
    add_wrapper,
    drain_collected,
    job_settings,
    make_due,
    stored_points,
)
from tests.integration.paged_api import CONTRACTS, PagedApi, day, serve_paged_api

LOOKBACK_DAYS = 3
REQUEST = IndicatorRequest(name="Daily greenhouse gas observations", unit="kt CO2e")


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    """This test's database; the lookback comes from RS_JOB_LOOKBACK_SECONDS (the spec leaves it 0)."""
    settings = job_settings(mongodb_uri, amqp_url, database_name, job_lookback_seconds=LOOKBACK_DAYS * 86_400)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


@pytest.fixture
def api() -> Iterator[PagedApi]:
    with serve_paged_api() as served:
        yield served


def run_due(settings: Settings, db: Database, *, owner: str = "continuous-test") -> RunPublic:
    """Claim the due wrapper and run it, as one step of a tick."""
    claimed = WrapperRepository(db).claim_due(utcnow(), owner=owner, lease_seconds=60)
    assert claimed is not None
    with Publisher(settings) as publisher:
        return run_wrapper(claimed, db=db, publisher=publisher, settings=settings, owner=owner)


def start_values(api: PagedApi, name: str, *, since: int) -> list[str]:
    """The window start each request of a contract after the `since`-th one carried."""
    contract = CONTRACTS[name]
    requests = api.requests_of(name)[since:]
    if name == "path":
        return [query["path"].rsplit("/", 2)[-2] for query in requests]
    assert contract.start_param is not None
    return [query.get(contract.start_param, "") for query in requests]


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_a_paged_api_is_walked_whole_then_read_by_windows_from_the_water_mark(
    name: str, settings: Settings, db: Database, api: PagedApi, amqp_url: str
) -> None:
    contract = CONTRACTS[name]
    api.grow(30)
    url = api.url(name)

    # Generation reads the first page; `wrap` then reads every page of the URL's window.
    wrapped = wrap_source(read_source(url, settings=settings), REQUEST, settings=settings)
    spec = wrapped.draft.fetch_spec
    assert spec.pagination.kind != "none", wrapped.draft.inference
    assert spec.water_mark is not None and spec.water_mark.lookback_seconds == 0
    assert wrapped.pages == 5 and wrapped.pages_complete
    assert sorted((p.timestamp, p.value) for p in wrapped.points)[-1][1] == 400 + 29 * 0.25
    assert len(wrapped.points) == 30
    inference = wrapped.draft.inference
    assert inference is not None and inference.window and inference.window.startswith("time window")

    resource_id, wrapper_id = add_wrapper(db, url=url, spec=spec, code=wrapped.draft.parse_code)
    try:
        # First run: every page.
        seen = len(api.requests_of(name))
        first = run_due(settings, db)
        assert first.error is None and first.status == RunStatus.SUCCEEDED
        assert first.trigger == RunTrigger.SCHEDULE
        assert first.pages == 5 and len(first.requests) == 5
        assert (first.points_new, first.points_revised) == (30, 0)
        assert start_values(api, name, since=seen) == [contract.written(day(0))] * 5
        assert stored_points(db, resource_id) == api.expected()

        # The source grows by ten days and revises a value inside the lookback.
        api.grow(40)
        api.revise(28, 999.5)
        make_due(db, wrapper_id)
        seen = len(api.requests_of(name))
        second = run_due(settings, db)
        window_start = contract.written(day(29) - timedelta(days=LOOKBACK_DAYS))
        assert second.error is None
        assert start_values(api, name, since=seen) == [window_start] * second.pages
        assert second.pages == 2  # days 26..39: 14 observations
        assert (second.points_new, second.points_revised, second.points_duplicate) == (10, 1, 3)
        assert second.window_start == day(26) and window_start in second.window.values()
        assert stored_points(db, resource_id) == api.expected()

        # A revision older than the lookback is found by a backfill from its date, which has no lookback.
        api.revise(6, 111.25)
        backfill_wrapper(db, tenant_id=TENANT, wrapper_id=wrapper_id, start=day(5))
        seen = len(api.requests_of(name))
        third = run_due(settings, db)
        assert third.trigger == RunTrigger.BACKFILL and third.error is None
        assert start_values(api, name, since=seen) == [contract.written(day(5))] * third.pages
        assert (third.points_new, third.points_revised, third.points_duplicate) == (0, 1, 34)
        assert stored_points(db, resource_id) == api.expected()
        wrapper = WrapperRepository(db).get(wrapper_id)
        assert wrapper.high_water_mark == day(39) and wrapper.backfill_from is None

        # Nothing lost, nothing counted twice: what was published is each new or revised point once.
        published = Messages(amqp_url).wait_points(resource_id, 30 + 11 + 1)
        points = [(p["timestamp"], p["value"]) for _, body in published for p in body["points"]]
        assert len(points) == 42 and len(set(points)) == 42
        latest = dict(points)
        assert sorted(latest.items()) == api.expected()
    finally:
        Messages(amqp_url).take(resource_id)
        drain_collected(amqp_url, resource_id)


def test_runs_record_their_trigger_and_a_dead_run_is_closed_as_abandoned(
    settings: Settings, db: Database, api: PagedApi, amqp_url: str
) -> None:
    api.grow(10)
    url = api.url("meta_pages")
    wrapped = wrap_source(read_source(url, settings=settings), REQUEST, settings=settings)
    resource_id, wrapper_id = add_wrapper(
        db, url=url, spec=wrapped.draft.fetch_spec, code=wrapped.draft.parse_code, mode=WrapperMode.CONTINUOUS
    )
    runs = RunRepository(db)
    wrappers = WrapperRepository(db)
    try:
        # A process claims the wrapper, records its run, and dies: its lease runs out, its run stays open.
        dead = wrappers.claim_due(utcnow(), owner="dead-task", lease_seconds=60)
        assert dead is not None
        orphan = runs.start(wrapper_id=wrapper_id, resource_id=resource_id, trigger=RunTrigger.SCHEDULE)
        wrappers.update_fields(wrapper_id, {"lease_until": utcnow() - timedelta(seconds=1)})

        taken = run_due(settings, db, owner="next-task")
        assert taken.error is None and taken.points_new == 10
        history = {run.run_id: run for run in runs.list(wrapper_id, limit=10, offset=0).items}
        closed = history[orphan.run_id]
        assert closed.status == RunStatus.ABANDONED and closed.finished_at is not None
        assert closed.error is not None and taken.run_id in closed.error

        run_wrapper_now(db, tenant_id=TENANT, wrapper_id=wrapper_id)
        assert run_due(settings, db).trigger == RunTrigger.RUN_NOW
        make_due(db, wrapper_id)
        later = run_due(settings, db)
        assert later.trigger == RunTrigger.SCHEDULE and later.status == RunStatus.SUCCEEDED
        assert later.window and later.requests[0].startswith("/v1/observations?")
    finally:
        Messages(amqp_url).take(resource_id)
        drain_collected(amqp_url, resource_id)


def test_a_one_off_run_reads_the_urls_own_window(
    settings: Settings, db: Database, api: PagedApi, amqp_url: str
) -> None:
    api.grow(30)
    url = api.url("meta_pages", end=day(13))
    wrapped = wrap_source(read_source(url, settings=settings), REQUEST, settings=settings)
    assert len(wrapped.points) == 14 and wrapped.pages == 2
    resource_id, _ = add_wrapper(
        db, url=url, spec=wrapped.draft.fetch_spec, code=wrapped.draft.parse_code, mode=WrapperMode.ONCE
    )
    try:
        seen = len(api.requests_of("meta_pages"))
        run = run_due(settings, db)
        assert run.error is None and run.window == {} and run.points_new == 14
        assert {q["end_date"] for q in api.requests_of("meta_pages")[seen:]} == {"2024-01-14"}
    finally:
        Messages(amqp_url).take(resource_id)
        drain_collected(amqp_url, resource_id)
