"""A run stores UTC instants: wall clock times need the resource's timezone, or the run refuses them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from bson import ObjectId
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import WrapperMode
from shared.flows.run import run_wrapper
from shared.messaging.broker import Publisher
from shared.store.database import get_client, get_database
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    Messages,
    add_wrapper,
    drain_collected,
    job_settings,
    readings_spec,
    serve_readings,
    stored_points,
)

# Wall clocks across the night the clocks go back in Paris: 02:00 comes twice.
WALL_CLOCKS = (
    "def parse(payload, context):\n"
    "    stamps = ['2021-10-31T01:00:00', '2021-10-31T02:00:00', '2021-10-31T02:00:00',\n"
    "              '2021-10-31T03:00:00']\n"
    "    return [{'timestamp': stamp, 'value': float(at)} for at, stamp in enumerate(stamps)]\n"
)


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


def run_once(settings: Settings, db: Database, amqp_url: str, *, timezone: str | None) -> tuple[str, object]:
    """Add a wrapper that yields wall clocks (its resource naming `timezone`), run it, and clean up."""
    with serve_readings() as served:
        served.grow(3)  # one page of readings, which the code below does not read
        resource_id, _ = add_wrapper(
            db, url=served.url, spec=readings_spec(served, size=100), code=WALL_CLOCKS, mode=WrapperMode.ONCE
        )
        if timezone:
            db["resources"].update_one(
                {"_id": ObjectId(resource_id)}, {"$set": {"source.options": {"timezone": timezone}}}
            )
        claimed = WrapperRepository(db).claim_due(utcnow(), owner="clock-test", lease_seconds=60)
        assert claimed is not None
        with Publisher(settings) as publisher:
            run = run_wrapper(claimed, db=db, publisher=publisher, settings=settings, owner="clock-test")
    Messages(amqp_url).take(resource_id)
    drain_collected(amqp_url, resource_id)
    return resource_id, run


def test_a_run_refuses_wall_clocks_without_a_timezone_and_stores_nothing(
    settings: Settings, db: Database, amqp_url: str
) -> None:
    resource_id, run = run_once(settings, db, amqp_url, timezone=None)
    assert run.error is not None and run.error.startswith("unknown_timezone")  # type: ignore[attr-defined]
    assert "source.options.timezone" in run.error  # type: ignore[attr-defined]
    assert stored_points(db, resource_id) == []


def test_a_run_places_wall_clocks_in_the_resources_timezone(
    settings: Settings, db: Database, amqp_url: str
) -> None:
    resource_id, run = run_once(settings, db, amqp_url, timezone="Europe/Paris")
    assert run.error is None  # type: ignore[attr-defined]
    assert stored_points(db, resource_id) == [
        ("2021-10-30T23:00:00Z", 0.0),
        ("2021-10-31T00:00:00Z", 1.0),
        ("2021-10-31T01:00:00Z", 2.0),
        ("2021-10-31T02:00:00Z", 3.0),
    ]
