"""Fixtures of the API tests: the app's TestClient (a 500 fails the test), two tenants' keys, the queues."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from functions.api.app import app
from shared.common.settings import Settings
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database
from tests.integration.api.support import (
    CREATION,
    DELETED,
    VALIDATION,
    Queues,
    no_server_error,
)


@pytest.fixture
def settings(service_env: Settings) -> Settings:
    """The service settings of this test (its own database)."""
    return service_env


@pytest.fixture
def db(settings: Settings) -> Database:
    """The test database, as the API sees it."""
    return get_database(settings)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """A client of the API function's app; any 500 fails the test."""
    with TestClient(app) as test_client:
        test_client.event_hooks = {"request": [], "response": [no_server_error]}
        yield test_client


@pytest.fixture
def key_a(db: Database) -> str:
    """An API key of tenant-a."""
    return ApiKeyRepository(db).create("tenant-a", name="tests")[1]


@pytest.fixture
def key_b(db: Database) -> str:
    """An API key of tenant-b."""
    return ApiKeyRepository(db).create("tenant-b", name="tests")[1]


@pytest.fixture(autouse=True)
def queues(amqp_channel: Any, db: Database) -> Iterator[Queues]:
    """The service's queues; this test's messages are removed afterwards, nobody else's."""
    helper = Queues(amqp_channel, db)
    yield helper
    for name in (CREATION, VALIDATION, DELETED):
        helper.mine(name)
