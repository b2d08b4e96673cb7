"""Files keep up: a scheduled CSV is fetched with a conditional request on every run; an unchanged file
stores nothing, a republished one stores and publishes only its new and revised points."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any, ClassVar

import pytest
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import (
    ResourceCreate,
    ResourceSource,
    RunPublic,
    Schedule,
    SourceType,
    WrapperMode,
    WrapperStatus,
)
from shared.flows.run import run_wrapper
from shared.flows.steps import generate_step, validate_step
from shared.messaging.broker import Publisher
from shared.store.database import get_client, get_database
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import Messages, drain_collected, job_settings, points_of, stored_points
from tests.support import serve_loopback

pytestmark = pytest.mark.integration

ROWS = [("2024-01-01", 1.5), ("2024-02-01", 2.5), ("2024-03-01", 3.5)]


class RepublishedFile:
    """A CSV served with an ETag and a Last-Modified date, answering 304 to a matching condition."""

    def __init__(self) -> None:
        self.rows = list(ROWS)
        self.modified = 1_700_000_000.0
        self.honours_conditions = True
        self.log: list[tuple[str | None, str | None, int]] = []
        self.lock = threading.Lock()
        self.url = ""

    def body(self) -> bytes:
        return ("month,value\n" + "".join(f"{m},{v}\n" for m, v in self.rows)).encode()

    def republish(self, rows: list[tuple[str, float]]) -> None:
        with self.lock:
            self.rows = rows
            self.modified += 86_400

    def answer(self, if_none_match: str | None, if_modified_since: str | None) -> tuple[int, bytes, str, str]:
        with self.lock:
            body = self.body()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            modified = formatdate(self.modified, usegmt=True)
        unchanged = if_none_match == etag or (if_none_match is None and if_modified_since == modified)
        status = 304 if unchanged and self.honours_conditions else 200
        self.log.append((if_none_match, if_modified_since, status))
        return status, body, etag, modified


class _Handler(http.server.BaseHTTPRequestHandler):
    file: ClassVar[RepublishedFile]

    def do_GET(self) -> None:
        status, body, etag, modified = self.file.answer(
            self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
        )
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        if status == 304:
            self.end_headers()
            return
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def upstream() -> Iterator[RepublishedFile]:
    served = RepublishedFile()
    with serve_loopback(type("Handler", (_Handler,), {"file": served})) as base:
        served.url = f"{base}/monthly.csv"
        yield served


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


class NoHandOver:
    """The steps' hand-over messages are not needed here: the test runs each step itself."""

    def publish(self, queue: str, payload: dict[str, Any], *, message_id: str | None = None) -> None:
        return None


def scheduled_file(settings: Settings, db: Database, url: str) -> tuple[str, str]:
    """A CSV resource with a schedule, generated and validated: (resource id, wrapper id)."""
    wrappers = WrapperRepository(db)
    wrapper = wrappers.create(
        tenant_id="t",
        resource_id="pending",
        source_type=SourceType.CSV,
        mode=WrapperMode.CONTINUOUS,
        metadata={},
    )
    resource = ResourceRepository(db).create(
        "t",
        ResourceCreate(
            name="Monthly value",
            source=ResourceSource(type=SourceType.CSV, url=url),
            schedule=Schedule(rate_seconds=86_400),
        ),
        wrapper_id=wrapper.wrapper_id,
    )
    wrappers.update_fields(wrapper.wrapper_id, {"resource_id": resource.id})
    for step in (generate_step, validate_step):
        step(wrapper.wrapper_id, db=db, publisher=NoHandOver(), settings=settings, owner="steps")
    ready = wrappers.get(wrapper.wrapper_id)
    assert ready.status == WrapperStatus.READY, ready.status_reason
    return resource.id, wrapper.wrapper_id


def run_now(settings: Settings, db: Database, wrapper_id: str) -> RunPublic:
    wrappers = WrapperRepository(db)
    wrappers.update_fields(wrapper_id, {"next_run_at": utcnow()})
    claimed = wrappers.claim_due(utcnow(), owner="runner", lease_seconds=60)
    assert claimed is not None and claimed.wrapper_id == wrapper_id
    with Publisher(settings) as publisher:
        return run_wrapper(claimed, db=db, publisher=publisher, settings=settings, owner="runner")


def test_a_scheduled_file_is_fetched_conditionally_and_stores_only_what_changed(
    settings: Settings, db: Database, upstream: RepublishedFile, amqp_url: str
) -> None:
    resource_id, wrapper_id = scheduled_file(settings, db, upstream.url)
    messages = Messages(amqp_url)
    first = run_now(settings, db, wrapper_id)
    assert first.error is None and first.points_new == 3 and first.note is None
    assert len(points_of(messages.wait_points(resource_id, 3))) == 3
    stored = WrapperRepository(db).get(wrapper_id)
    assert stored.status == WrapperStatus.RUNNING and stored.source_validators is not None
    etag = stored.source_validators.etag

    unchanged = run_now(settings, db, wrapper_id)
    assert upstream.log[-1] == (etag, stored.source_validators.last_modified, 304)
    assert unchanged.error is None and unchanged.note == "unchanged (HTTP 304 Not Modified)"
    assert (unchanged.pages, unchanged.points_fetched, unchanged.points_new, unchanged.points_published) == (
        0,
        0,
        0,
        0,
    )
    assert messages.take(resource_id) == []
    assert WrapperRepository(db).get(wrapper_id).status == WrapperStatus.RUNNING

    upstream.republish([("2024-01-01", 1.5), ("2024-02-01", 2.75), ("2024-03-01", 3.5), ("2024-04-01", 4.5)])
    changed = run_now(settings, db, wrapper_id)
    assert upstream.log[-1] == (etag, stored.source_validators.last_modified, 200)
    assert changed.error is None and changed.note is None
    assert (changed.points_new, changed.points_revised, changed.points_duplicate) == (1, 1, 2)
    assert sorted(points_of(messages.wait_points(resource_id, 2))) == [
        ("2024-02-01T00:00:00Z", 2.75),
        ("2024-04-01T00:00:00Z", 4.5),
    ]
    assert [v for _, v in stored_points(db, resource_id)] == [1.5, 2.75, 3.5, 4.5]
    assert WrapperRepository(db).get(wrapper_id).source_validators.etag != etag  # type: ignore[union-attr]
    drain_collected(amqp_url, resource_id)


def test_a_server_that_ignores_conditions_is_told_unchanged_by_the_content_hash(
    settings: Settings, db: Database, upstream: RepublishedFile, amqp_url: str
) -> None:
    upstream.honours_conditions = False
    resource_id, wrapper_id = scheduled_file(settings, db, upstream.url)
    assert run_now(settings, db, wrapper_id).points_new == 3
    again = run_now(settings, db, wrapper_id)
    assert upstream.log[-1][2] == 200
    assert again.note == "unchanged (same content hash)" and again.points_fetched == 0
    Messages(amqp_url).wait_points(resource_id, 3)
    drain_collected(amqp_url, resource_id)
