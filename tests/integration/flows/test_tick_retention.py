"""Retention on the MongoDB wire server: a tick deletes the points outside a resource's window, only those."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pymongo.database import Database

from shared.common.settings import Settings
from shared.domain.models import ResourceCreate, ResourceSource, ResourceUpdate, Retention, SourceType
from shared.flows.tick import expire_points, tick
from shared.points.point import Point
from shared.store import database as collections
from shared.store.database import get_client, get_database
from shared.store.point_store import PointStore
from shared.store.points import PointRepository
from shared.store.resources import ResourceRepository
from tests.integration.job_support import job_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TENANT = "tenant-a"


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


def monthly(start_year: int, end_year: int, **dimensions: str) -> list[Point]:
    return [
        Point(
            timestamp=datetime(year, month, 1, tzinfo=UTC),
            value=float(year * 100 + month),
            dimensions=dimensions,
        )
        for year in range(start_year, end_year + 1)
        for month in range(1, 13)
    ]


def resource_with_points(db: Database, points: list[Point], *, retention: Retention | None) -> str:
    resources = ResourceRepository(db)
    data = ResourceCreate(
        name="CO2",
        source=ResourceSource(type=SourceType.CSV, url="https://example.org/co2.csv"),
        retention=retention,
    )
    resource = resources.create(TENANT, data, wrapper_id=str(uuid.uuid4()))
    result = PointStore(db).store(resource.id, points)
    resources.set_periods(resource.id, first=result.first, last=result.last)
    # What waits for RabbitMQ is not this test's subject: keep the tick from publishing it.
    db[collections.POINT_OUTBOX].delete_many({"resource_id": resource.id})
    return resource.id


def timestamps(db: Database, resource_id: str) -> list[datetime]:
    stored = PointRepository(db).range(resource_id, start=None, end=None, limit=10_000)
    return sorted({point.timestamp for point in stored})


def test_only_points_older_than_the_window_are_deleted_and_the_start_period_follows(db: Database) -> None:
    # Two series: the window cuts every series of the resource at the same moment.
    kept = resource_with_points(
        db, monthly(2020, 2026, geo="DE") + monthly(2020, 2026, geo="FR"), retention=Retention(months=24)
    )

    expired = expire_points(db, now=NOW)

    remaining = timestamps(db, kept)
    # 2026-12-04 minus 24 months is 2024-12-04: the 2024-12-01 point is older, 2025-01-01 is the first kept.
    assert remaining[0] == datetime(2025, 1, 1, tzinfo=UTC)
    assert remaining[-1] == datetime(2026, 12, 1, tzinfo=UTC)
    assert expired == 2 * (5 * 12)
    assert PointRepository(db).availability(kept).count == 2 * 24
    stored = ResourceRepository(db).get(TENANT, kept)
    assert stored.start_period is not None
    assert stored.start_period.replace(tzinfo=UTC) == datetime(2025, 1, 1, tzinfo=UTC)
    assert expire_points(db, now=NOW) == 0


def test_resources_without_a_window_or_deleted_ones_are_left_alone(db: Database) -> None:
    unbounded = resource_with_points(db, monthly(2000, 2001), retention=None)
    deleted = resource_with_points(db, monthly(2002, 2003), retention=Retention(days=30))
    bounded = resource_with_points(db, monthly(2004, 2005), retention=Retention(days=30))
    ResourceRepository(db).soft_delete(TENANT, deleted)

    expire_points(db, now=NOW)

    assert len(timestamps(db, unbounded)) == 24
    assert len(timestamps(db, deleted)) == 24
    assert timestamps(db, bounded) == []
    stored = ResourceRepository(db).get(TENANT, bounded)
    assert stored.start_period is None and stored.end_period is None


def test_a_window_removed_by_an_update_stops_the_deletion(db: Database) -> None:
    resource_id = resource_with_points(db, monthly(2010, 2011), retention=Retention(days=1))
    ResourceRepository(db).update(TENANT, resource_id, ResourceUpdate(retention=None))

    assert expire_points(db, now=NOW) == 0
    assert len(timestamps(db, resource_id)) == 24


def test_every_tick_enforces_the_windows(settings: Settings, db: Database) -> None:
    resource_id = resource_with_points(db, monthly(2015, 2016), retention=Retention(months=1))

    result = tick(settings)

    assert result.points_expired == 24
    assert timestamps(db, resource_id) == []
    assert "deleted 24 points older than their resource's retention window" in result.lines()
