"""The service database: every collection writes with majority, journaled acknowledgement."""

from __future__ import annotations

import pytest
from pymongo.write_concern import WriteConcern

from shared.common.settings import Settings
from shared.store import database
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database
from shared.store.resources import ResourceRepository

pytestmark = pytest.mark.integration

DURABLE = WriteConcern(w="majority", j=True)


def test_every_collection_acknowledges_majority_journaled_writes(service_env: Settings) -> None:
    db = get_database(service_env)
    assert db.write_concern == DURABLE
    for name in database.INDEXES:
        assert db[name].write_concern == DURABLE, name
    assert ApiKeyRepository(db).collection.write_concern == DURABLE
    assert ResourceRepository(db).collection.write_concern == DURABLE


def test_the_server_accepts_them(service_env: Settings) -> None:
    db = get_database(service_env)
    record, secret = ApiKeyRepository(db).create("acme")
    assert ApiKeyRepository(db).authenticate(secret) == ApiKeyRepository(db).list(tenant_id="acme")[0]
    result = db["resources"].insert_one({"probe": True})
    assert result.acknowledged
    assert db["resources"].delete_one({"_id": result.inserted_id}).deleted_count == 1
    assert record.key_id == ApiKeyRepository(db).revoke(record.key_id).key_id  # type: ignore[union-attr]
