"""Source credentials by name: a resource's `source.options.headers`/`query` name secrets that the trusted
fetcher alone resolves; the value reaches no stored document, log line or queue message."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.database import Database

from shared.common.settings import Settings
from shared.domain.models import ResourceCreate, ResourceSource, SourceType, WrapperMode, WrapperStatus
from shared.flows.run import run_wrapper
from shared.flows.steps import generate_step, validate_step
from shared.messaging.broker import Publisher
from shared.messaging.queues import COLLECTED_DATA_QUEUE, RESOURCE_DATA_QUEUE
from shared.store.database import get_client, get_database
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    Messages,
    ReadingsApi,
    job_settings,
    points_of,
    serve_readings,
    stored_points,
)

pytestmark = pytest.mark.integration

KEY = "k3y-5f0c9e71"
TOKEN = "t0k/7d+21"


class RecordingPublisher:
    """Takes the steps' hand-over messages, so a test can read them."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def publish(self, queue: str, payload: dict[str, Any], *, message_id: str | None = None) -> None:
        self.messages.append((queue, payload))


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
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


def add_resource(db: Database, api: ReadingsApi, *, options: dict[str, Any]) -> tuple[str, str]:
    """A resource of the readings API with these options and its pending wrapper: (resource, wrapper)."""
    wrappers = WrapperRepository(db)
    wrapper = wrappers.create(
        tenant_id="t",
        resource_id="pending",
        source_type=SourceType.API,
        mode=WrapperMode.CONTINUOUS,
        metadata={},
    )
    source = ResourceSource(type=SourceType.API, url=api.url, options=options)
    resource = ResourceRepository(db).create(
        "t",
        ResourceCreate(name="Hourly readings value", unit="gCO2/kWh", source=source),
        wrapper_id=wrapper.wrapper_id,
    )
    wrappers.update_fields(wrapper.wrapper_id, {"resource_id": resource.id})
    return resource.id, wrapper.wrapper_id


def test_named_secrets_open_the_api_and_their_values_are_never_stored_logged_or_queued(
    settings: Settings,
    db: Database,
    api: ReadingsApi,
    amqp_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    api.grow(6)
    api.required_headers = {"X-Api-Key": KEY}
    seen_tokens: list[str | None] = []
    api.on_request = lambda query: seen_tokens.append(query.get("token"))
    steps = RecordingPublisher()

    # Without the secret the API answers 401, and the wrapper fails saying so.
    _, bare = add_resource(db, api, options={})
    generate_step(bare, db=db, publisher=steps, settings=settings, owner="test")
    failed = WrapperRepository(db).get(bare)
    assert failed.status == WrapperStatus.FAILED and "HTTP 401" in (failed.status_reason or "")

    # Named but not configured: the reason names the variable to set.
    options = {"headers": {"X-Api-Key": {"secret": "readings key"}}, "query": {"token": {"secret": "tok"}}}
    _, unset = add_resource(db, api, options=options)
    generate_step(unset, db=db, publisher=steps, settings=settings, owner="test")
    assert "RS_SECRET_READINGS_KEY" in (WrapperRepository(db).get(unset).status_reason or "")

    # With the secrets: generated, validated and run, every point collected.
    monkeypatch.setenv("RS_SECRET_READINGS_KEY", KEY)
    monkeypatch.setenv("RS_SECRET_TOK", TOKEN)
    resource_id, wrapper_id = add_resource(db, api, options=options)
    generate_step(wrapper_id, db=db, publisher=steps, settings=settings, owner="test")
    validate_step(wrapper_id, db=db, publisher=steps, settings=settings, owner="test")
    wrappers = WrapperRepository(db)
    ready = wrappers.get(wrapper_id)
    assert ready.status == WrapperStatus.READY, ready.status_reason
    assert ready.fetch_spec is not None
    assert ready.fetch_spec["header_secrets"] == {"X-Api-Key": "readings key"}
    assert ready.fetch_spec["query_secrets"] == {"token": "tok"}
    claimed = wrappers.claim_due(ready.updated_at.replace(year=2100), owner="runner", lease_seconds=60)
    assert claimed is not None and claimed.wrapper_id == wrapper_id
    with Publisher(settings) as publisher:
        run = run_wrapper(claimed, db=db, publisher=publisher, settings=settings, owner="runner")
    assert run.error is None and run.points_new == 6
    assert stored_points(db, resource_id) == api.expected()
    assert TOKEN in seen_tokens  # the query secret went on the request

    # A later 401 (the key was rotated upstream) is recorded without the values.
    api.required_headers = {"X-Api-Key": "rotated"}
    wrappers.update_fields(wrapper_id, {"next_run_at": ready.updated_at})
    claimed = wrappers.claim_due(ready.updated_at.replace(year=2100), owner="runner", lease_seconds=60)
    assert claimed is not None
    with Publisher(settings) as publisher:
        refused = run_wrapper(claimed, db=db, publisher=publisher, settings=settings, owner="runner")
    assert refused.error is not None and "HTTP 401" in refused.error and "token=***" in refused.error

    messages = Messages(amqp_url, RESOURCE_DATA_QUEUE).wait_points(resource_id, 6)
    assert sorted(points_of(messages)) == api.expected()
    raw = Messages(amqp_url, COLLECTED_DATA_QUEUE).take(resource_id)
    assert raw
    searched = {
        "queued": json.dumps([body for _, body in messages + raw]) + json.dumps(steps.messages),
        "logs": caplog.text + "".join(capfd.readouterr()),
        "stored": "".join(
            str(document) for name in db.list_collection_names() for document in db[name].find()
        ),
    }
    for where, text in searched.items():
        for value in (KEY, TOKEN, "t0k%2F7d%2B21", "t0k/7d%2B21"):
            assert value not in text, f"{value} found in {where}"
