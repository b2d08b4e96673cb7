"""Running one wrapper: claims and leases, failures, backoff, water marks, secrets, raw payloads, memory."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import SourceType, WrapperMode, WrapperStatus
from shared.domain.wrapper import FetchSpec, SourceFormat
from shared.flows.run import run_wrapper
from shared.flows.tick import tick
from shared.messaging.broker import Publisher
from shared.store.database import get_client, get_database
from shared.store.point_store import PointStore
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository
from shared.validate.validation import PointBuilder
from tests.integration.job_support import (
    Messages,
    ReadingsApi,
    add_wrapper,
    drain_collected,
    hour,
    iso,
    job_settings,
    make_due,
    points_of,
    readings_spec,
    serve_readings,
    stored_points,
)
from tests.support import serve_files


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    """Settings of this test's own database; three failures in a row end a wrapper in error."""
    settings = job_settings(mongodb_uri, amqp_url, database_name, job_max_consecutive_failures=3)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


@pytest.fixture
def api() -> Iterator[ReadingsApi]:
    with serve_readings() as served:
        yield served


@pytest.fixture
def cleanup(amqp_url: str) -> Iterator[list[str]]:
    """Resource ids whose messages are taken off the shared queues at the end."""
    resource_ids: list[str] = []
    yield resource_ids
    for resource_id in resource_ids:
        Messages(amqp_url).take(resource_id)
        drain_collected(amqp_url, resource_id)


def claim_and_run(settings: Settings, db: Database, *, owner: str = "runner-test") -> Any:
    """Claim the next due wrapper and run it, as one step of a tick."""
    claimed = WrapperRepository(db).claim_due(utcnow(), owner=owner, lease_seconds=60)
    assert claimed is not None
    with Publisher(settings) as publisher:
        return run_wrapper(claimed, db=db, publisher=publisher, settings=settings, owner=owner)


# --- claiming ----------------------------------------------------------------------------------


def test_claims_take_due_runnable_wrappers_oldest_first_and_respect_leases(
    db: Database, api: ReadingsApi
) -> None:
    wrappers = WrapperRepository(db)
    now = utcnow()
    ids = {}
    for name, status in [
        ("late", WrapperStatus.RUNNING),
        ("early", WrapperStatus.READY),
        ("future", WrapperStatus.READY),
        ("stopped", WrapperStatus.STOPPED),
        ("completed", WrapperStatus.COMPLETED),
        ("error", WrapperStatus.ERROR),
        ("pending", WrapperStatus.PENDING),
    ]:
        ids[name] = add_wrapper(db, url=api.url, spec=readings_spec(api), status=status)[1]
    wrappers.update_fields(ids["early"], {"next_run_at": now - timedelta(minutes=10)})
    wrappers.update_fields(ids["late"], {"next_run_at": now - timedelta(minutes=1)})
    wrappers.update_fields(ids["future"], {"next_run_at": now + timedelta(minutes=5)})

    first = wrappers.claim_due(utcnow(), owner="a", lease_seconds=60)
    assert first is not None and first.wrapper_id == ids["early"]
    assert first.status == WrapperStatus.RUNNING and first.lease_owner == "a"
    second = wrappers.claim_due(utcnow(), owner="b", lease_seconds=60)
    assert second is not None and second.wrapper_id == ids["late"]
    assert wrappers.claim_due(utcnow(), owner="c", lease_seconds=60) is None  # leased, future or not runnable

    # A lease left by a killed task expires and is taken over.
    wrappers.update_fields(ids["early"], {"lease_until": utcnow() - timedelta(seconds=1)})
    taken = wrappers.claim_due(utcnow(), owner="d", lease_seconds=60)
    assert taken is not None and taken.wrapper_id == ids["early"] and taken.lease_owner == "d"
    assert not wrappers.extend_lease(ids["early"], owner="a", lease_seconds=60)
    assert wrappers.extend_lease(ids["early"], owner="d", lease_seconds=60)


# --- failures ----------------------------------------------------------------------------------


def test_failures_back_off_exponentially_then_end_in_error_with_the_reason(
    settings: Settings, db: Database, api: ReadingsApi, cleanup: list[str]
) -> None:
    api.grow(3)
    api.required_headers = {"X-Token": "right"}  # every request fails with 401
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api))
    cleanup.append(resource_id)
    wrappers = WrapperRepository(db)
    delays = []
    for failures in (1, 2):
        run = claim_and_run(settings, db)
        assert run.error is not None and "HTTP 401" in run.error
        wrapper = wrappers.get(wrapper_id)
        assert wrapper.status == WrapperStatus.RUNNING and wrapper.consecutive_failures == failures
        assert wrapper.status_reason is not None and "HTTP 401" in wrapper.status_reason
        assert wrapper.next_run_at is not None and wrapper.lease_owner is None
        delays.append((wrapper.next_run_at - datetime.now(UTC)).total_seconds())
        assert tick(settings).outcomes == []  # backing off: not due yet
        make_due(db, wrapper_id)
    assert 30 < delays[0] <= 60 and delays[1] > delays[0] * 1.5

    run = claim_and_run(settings, db)
    wrapper = wrappers.get(wrapper_id)
    assert wrapper.status == WrapperStatus.ERROR and wrapper.next_run_at is None
    assert wrapper.status_reason is not None and "3 runs in a row failed" in wrapper.status_reason
    assert "HTTP 401" in wrapper.status_reason and wrapper.high_water_mark is None
    make_due(db, wrapper_id)
    assert tick(settings).outcomes == []  # error is final until someone starts it again
    runs = RunRepository(db).list(wrapper_id, limit=10, offset=0)
    assert runs.total == 3 and all(r.error and r.finished_at for r in runs.items)
    assert stored_points(db, resource_id) == []


def test_a_success_forgets_earlier_failures(
    settings: Settings, db: Database, api: ReadingsApi, cleanup: list[str]
) -> None:
    api.grow(3)
    api.required_headers = {"X-Token": "right"}
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api))
    cleanup.append(resource_id)
    claim_and_run(settings, db)
    api.required_headers = {}
    make_due(db, wrapper_id)
    run = claim_and_run(settings, db)
    assert run.error is None and run.points_new == 3
    wrapper = WrapperRepository(db).get(wrapper_id)
    assert wrapper.consecutive_failures == 0 and wrapper.status_reason is None


def test_invalid_points_fail_the_run_and_store_nothing(
    settings: Settings, db: Database, api: ReadingsApi, cleanup: list[str]
) -> None:
    api.grow(3)
    code = 'def parse(payload, context):\n    return [{"timestamp": "yesterday-ish", "value": 1.0}]\n'
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api), code=code)
    cleanup.append(resource_id)
    run = claim_and_run(settings, db)
    assert run.error is not None and run.error.startswith("invalid points")
    assert stored_points(db, resource_id) == []
    assert WrapperRepository(db).get(wrapper_id).high_water_mark is None


def test_a_file_that_yields_no_points_fails_but_an_empty_api_window_does_not(
    settings: Settings, db: Database, api: ReadingsApi, cleanup: list[str]
) -> None:
    code = "def parse(payload, context):\n    return []\n"
    once = add_wrapper(db, url=api.url, spec=readings_spec(api), code=code, mode=WrapperMode.ONCE)
    cleanup.append(once[0])
    run = claim_and_run(settings, db)
    assert run.error is not None and run.error.startswith("no_points")
    continuous = add_wrapper(db, url=api.url, spec=readings_spec(api), code=code)
    cleanup.append(continuous[0])
    run = claim_and_run(settings, db)
    assert run.error is None and run.points_fetched == 0
    assert WrapperRepository(db).get(continuous[1]).high_water_mark is None


# --- water marks -------------------------------------------------------------------------------


def test_the_high_water_mark_is_capped_at_what_the_run_saw(
    settings: Settings, db: Database, api: ReadingsApi, cleanup: list[str]
) -> None:
    api.grow(10)
    spec = readings_spec(api)
    assert spec.water_mark is not None
    spec.water_mark.end_param = "end"  # the window asked for ends now; the data ends at 09:00
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=spec)
    cleanup.append(resource_id)
    run = claim_and_run(settings, db)
    assert run.high_water_mark == hour(9)
    assert abs(datetime.fromisoformat(api.requests[0]["end"]) - datetime.now(UTC)) < timedelta(minutes=1)
    make_due(db, wrapper_id)
    again = claim_and_run(settings, db)  # nothing new: the mark stays
    assert again.error is None and again.points_new == 0 and again.high_water_mark == hour(9)
    assert WrapperRepository(db).get(wrapper_id).high_water_mark == hour(9)


def test_a_run_taken_over_mid_way_leaves_the_wrapper_to_its_new_owner(
    settings: Settings, db: Database, api: ReadingsApi, cleanup: list[str]
) -> None:
    api.grow(3)
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api))
    cleanup.append(resource_id)
    wrappers = WrapperRepository(db)

    def take_over(query: dict[str, str]) -> None:
        later = utcnow() + timedelta(minutes=5)
        wrappers.update_fields(wrapper_id, {"lease_owner": "other", "lease_until": later})

    api.on_request = take_over
    run = claim_and_run(settings, db)
    assert run.error is not None and "taken over" in run.error
    wrapper = wrappers.get(wrapper_id)
    assert wrapper.lease_owner == "other" and wrapper.high_water_mark is None
    assert stored_points(db, resource_id) == []


def test_a_wrapper_stopped_mid_run_finishes_the_run_and_stays_stopped(
    settings: Settings, db: Database, api: ReadingsApi, amqp_url: str
) -> None:
    api.grow(3)
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api))
    wrappers = WrapperRepository(db)

    def stop(query: dict[str, str]) -> None:  # as POST /wrappers/{id}/stop does: the lease stays
        wrappers.transition(
            wrapper_id,
            expected={WrapperStatus.RUNNING},
            to=WrapperStatus.STOPPED,
            fields={"next_run_at": None},
        )

    api.on_request = stop
    run = claim_and_run(settings, db)
    assert run.error is None and run.points_new == 3
    assert wrappers.get(wrapper_id).status == WrapperStatus.STOPPED
    assert len(points_of(Messages(amqp_url).wait_points(resource_id, 3))) == 3
    drain_collected(amqp_url, resource_id)


# --- secrets and raw payloads ------------------------------------------------------------------


def test_header_secrets_come_from_the_environment_by_name_and_are_never_stored(
    settings: Settings, db: Database, api: ReadingsApi, monkeypatch: pytest.MonkeyPatch, cleanup: list[str]
) -> None:
    api.grow(4)
    api.required_headers = {"X-Token": "tok-8f3a1c"}
    spec = readings_spec(api, header_secrets={"X-Token": "readings token"})
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=spec)
    cleanup.append(resource_id)

    failed = claim_and_run(settings, db)
    assert failed.error is not None and "RS_SECRET_READINGS_TOKEN" in failed.error
    monkeypatch.setenv("RS_SECRET_READINGS_TOKEN", "tok-8f3a1c")
    make_due(db, wrapper_id)
    run = claim_and_run(settings, db)
    assert run.error is None and run.points_new == 4
    assert all(h.get("x-token") == "tok-8f3a1c" for h in api.headers_seen[1:])
    for name in db.list_collection_names():
        for document in db[name].find():
            assert "tok-8f3a1c" not in str(document), name


def test_raw_payloads_go_to_collected_data_capped_in_size(
    mongodb_uri: str, amqp_url: str, database_name: str, db: Database, api: ReadingsApi
) -> None:
    settings = job_settings(mongodb_uri, amqp_url, database_name, collected_data_max_bytes=64)
    api.grow(7)
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api, size=5))
    run = claim_and_run(settings, db)
    assert run.error is None and run.pages == 2
    raw = drain_collected(amqp_url, resource_id)
    assert len(raw) == 2 and all(m["truncated"] and m["wrapper_id"] == wrapper_id for m in raw)
    assert sum(m["size"] for m in raw) == run.bytes_fetched
    assert all(len(m["data_base64"]) <= 88 for m in raw)  # 64 bytes, base64-encoded
    delivered = points_of(Messages(amqp_url).wait_points(resource_id, 7))
    assert delivered == api.expected() and iso(hour(0)) == delivered[0][0]


# --- memory ------------------------------------------------------------------------------------


LONG_TABLE_CODE = """from shared.wrapper_toolkit import long_points, read_csv_table


def parse(payload, context):
    table = read_csv_table(payload)
    return long_points(table, header_row=0, time_column="time", time_format="iso", value_column="value")
"""


def add_long_table_wrappers(
    db: Database, *, base: str, names: Iterable[str], cleanup: list[str]
) -> list[tuple[str, str]]:
    """(resource id, wrapper id) of a one-off wrapper reading each served CSV's long table, in order."""
    added = []
    for name in names:
        spec = FetchSpec(location=f"{base}{name}", format=SourceFormat.CSV)
        resource_id, wrapper_id = add_wrapper(
            db,
            url=spec.location,
            spec=spec,
            code=LONG_TABLE_CODE,
            mode=WrapperMode.ONCE,
            source_type=SourceType.CSV,
        )
        cleanup.append(resource_id)
        added.append((resource_id, wrapper_id))
    return added


def test_a_run_holds_its_points_as_columns_and_makes_objects_a_chunk_at_a_time(
    settings: Settings, db: Database, cleanup: list[str]
) -> None:
    count = 50_000
    files: dict[str, bytes] = {}
    for size in (100, count):
        rows = "".join(f"{iso(hour(n))},{n / 4}\n" for n in range(size))
        files[f"/long-{size}.csv"] = f"time,value\n{rows}".encode()
    with serve_files(files) as base:
        add_long_table_wrappers(db, base=base, names=files, cleanup=cleanup)
        # The small run first, untraced: what the process imports on its first run is not the run's data.
        assert claim_and_run(settings, db).error is None
        tracemalloc.start()
        try:
            run = claim_and_run(settings, db)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert (run.error, run.points_new, run.points_published) == (None, count, count)
    # Points made all at once peaked near 800 bytes each here; as columns, with objects a store chunk at a
    # time, the run peaks near 200 (most of it the outbox group the flush reads back).
    assert peak < count * 300, f"the run peaked at {peak / count:.0f} bytes per point"


def test_a_run_lets_go_of_the_fetched_source_once_the_sandbox_child_has_it(
    settings: Settings, db: Database, amqp_url: str, cleanup: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Few points from a big source: what the run holds while it parses and stores them is the source, if
    # anything.
    note = "n" * 2_000
    rows = "".join(f"{iso(hour(n))},{n / 4},{note}\n" for n in range(5_000))
    body = f"time,value,note\n{rows}".encode()
    parsing: list[int] = []
    storing: list[int] = []
    add, store = PointBuilder.add, PointStore.store

    def traced_add(self: PointBuilder, batch: Any) -> None:
        parsing.append(tracemalloc.get_traced_memory()[0])
        add(self, batch)

    def traced_store(self: PointStore, resource_id: str, points: Any) -> Any:
        storing.append(tracemalloc.get_traced_memory()[0])
        return store(self, resource_id, points)

    monkeypatch.setattr(PointBuilder, "add", traced_add)
    monkeypatch.setattr(PointStore, "store", traced_store)
    small = "".join(f"{iso(hour(n))},{n / 4},{note}\n" for n in range(5))
    files = {"/small.csv": f"time,value,note\n{small}".encode(), "/wide.csv": body}
    with serve_files(files) as base:
        (_, _), (resource_id, wrapper_id) = add_long_table_wrappers(
            db, base=base, names=files, cleanup=cleanup
        )
        # The small run first, untraced: what the process imports on its first run is not the run's data.
        assert claim_and_run(settings, db).error is None
        parsing.clear()
        storing.clear()
        drain_collected(amqp_url, cleanup[0])
        tracemalloc.start()
        try:
            run = claim_and_run(settings, db)
        finally:
            tracemalloc.stop()
    assert (run.error, run.points_new, run.bytes_fetched) == (None, 5_000, len(body))
    # The run held the 10 MB it fetched until it had published the raw page, after storing every point.
    # Now the child has them in its work directory before it parses, and the run keeps only the page's
    # message (its first `collected_data_max_bytes`).
    assert parsing and max(parsing) < len(body) / 2, f"{max(parsing):,} bytes traced during the parse"
    assert storing and storing[0] < len(body) / 2, f"{storing[0]:,} bytes traced when the points were stored"
    (raw,) = drain_collected(amqp_url, resource_id)
    assert (raw["size"], raw["truncated"], raw["wrapper_id"]) == (len(body), True, wrapper_id)
