"""A run of a resource with a retention window stores and publishes only the points inside it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

import pytest
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import ResourceUpdate, Retention
from shared.flows.run import run_wrapper
from shared.messaging.broker import Publisher
from shared.store.database import get_client, get_database
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    TENANT,
    Messages,
    ReadingsApi,
    add_wrapper,
    drain_collected,
    hour,
    job_settings,
    points_of,
    readings_spec,
    serve_readings,
    stored_points,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@pytest.fixture
def api() -> Iterator[ReadingsApi]:
    with serve_readings() as served:
        yield served


def test_points_older_than_the_window_are_neither_stored_nor_published(
    settings: Settings, api: ReadingsApi, amqp_url: str
) -> None:
    db: Database = get_database(settings)
    api.grow(72)
    resource_id, _ = add_wrapper(db, url=api.url, spec=readings_spec(api))
    # A whole number of days that ends the window between the 36th and the 60th hourly reading.
    days = (utcnow() - hour(36)).days
    ResourceRepository(db).update(TENANT, resource_id, ResourceUpdate(retention=Retention(days=days)))
    window = Retention(days=days)

    before = window.cutoff(utcnow())
    claimed = WrapperRepository(db).claim_due(utcnow(), owner="runner-test", lease_seconds=60)
    assert claimed is not None
    try:
        with Publisher(settings) as publisher:
            run = run_wrapper(claimed, db=db, publisher=publisher, settings=settings, owner="runner-test")
        after = window.cutoff(utcnow())
        published = points_of(Messages(amqp_url).take(resource_id))
    finally:
        drain_collected(amqp_url, resource_id)

    stored = stored_points(db, resource_id)
    assert run.error is None and run.points_fetched == 72
    assert 12 <= len(stored) <= 36
    assert all(datetime.fromisoformat(moment) >= before for moment, _ in stored)
    left_out = [moment for moment, value in api.expected() if (moment, value) not in stored]
    assert left_out and all(datetime.fromisoformat(moment) < after for moment in left_out)
    assert published == stored
