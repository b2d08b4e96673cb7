"""The MongoDB connection: one lazily created client per process, indexes created by code."""

from __future__ import annotations

import threading

from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from shared.common.secrets import read_secret
from shared.common.settings import Settings

RESOURCES = "resources"
WRAPPERS = "generated_wrappers"
POINTS = "points"
POINT_OUTBOX = "point_outbox"
POINT_DIGESTS = "point_digests"
API_KEYS = "api_keys"
IDEMPOTENCY = "idempotency_keys"
PROMPTS = "prompt_records"
RUNS = "runs"

IDEMPOTENCY_TTL_SECONDS = 24 * 3600

# A write acknowledged to a client must survive the primary's crash or fail-over: on a majority of the
# replica set and in the journal. The default (w=1, no journal wait) lost an acknowledged create when the
# database was killed.
DURABLE_WRITES = WriteConcern(w="majority", j=True)

INDEXES: dict[str, list[IndexModel]] = {
    RESOURCES: [
        IndexModel([("tenant_id", ASCENDING), ("deleted", ASCENDING), ("created_at", DESCENDING)]),
        IndexModel([("wrapper_id", ASCENDING)], unique=True),
    ],
    WRAPPERS: [
        IndexModel([("wrapper_id", ASCENDING)], unique=True),
        IndexModel([("resource_id", ASCENDING)]),
        IndexModel([("tenant_id", ASCENDING), ("created_at", DESCENDING)]),
        IndexModel([("status", ASCENDING), ("next_run_at", ASCENDING)]),
    ],
    # `points` has no secondary index: a point's `_id` is its identity (see shared.store.point_store), so the
    # `_id` index makes writes idempotent and serves time-window reads.
    POINT_OUTBOX: [
        # A resource's outbox in the order it was queued; with `_id`, one document still queued as read.
        IndexModel([("resource_id", ASCENDING), ("queued", ASCENDING), ("_id", ASCENDING)]),
    ],
    POINT_DIGESTS: [
        # The digests whose points a revision or a deletion touches: a range of a resource's point ids.
        IndexModel([("resource_id", ASCENDING), ("first", ASCENDING)]),
    ],
    API_KEYS: [
        IndexModel([("key_hash", ASCENDING)], unique=True),
        IndexModel([("key_id", ASCENDING)], unique=True),
        IndexModel([("tenant_id", ASCENDING)]),
    ],
    IDEMPOTENCY: [
        IndexModel([("tenant_id", ASCENDING), ("route", ASCENDING), ("key", ASCENDING)], unique=True),
        IndexModel([("created_at", ASCENDING)], expireAfterSeconds=IDEMPOTENCY_TTL_SECONDS),
    ],
    PROMPTS: [IndexModel([("wrapper_id", ASCENDING), ("created_at", ASCENDING)])],
    RUNS: [IndexModel([("wrapper_id", ASCENDING), ("started_at", DESCENDING)])],
}

_lock = threading.Lock()
_clients: dict[str, MongoClient] = {}
# Each database once per process, its indexes ensured when it was first asked for.
_databases: dict[tuple[str, str], Database] = {}


def mongodb_uri(settings: Settings) -> str:
    """The connection string: from Secrets Manager when an ARN is configured, else the setting."""
    if settings.mongodb_secret_arn:
        uri = read_secret(
            settings.mongodb_secret_arn, "uri", max_age_seconds=settings.service_secret_max_age_seconds
        )
        return uri.get_secret_value()
    return settings.mongodb_uri.get_secret_value()


def get_client(settings: Settings) -> MongoClient:
    """The process-wide client for the configured URI, created on first use and reused (warm Lambdas)."""
    uri = mongodb_uri(settings)
    with _lock:
        client = _clients.get(uri)
        if client is None:
            client = MongoClient(
                uri,
                maxPoolSize=settings.mongodb_max_pool_size,
                serverSelectionTimeoutMS=settings.mongodb_server_selection_timeout_ms,
                connectTimeoutMS=settings.mongodb_server_selection_timeout_ms,
                tz_aware=True,
                appname="resource-service",
            )
            _clients[uri] = client
    return client


def get_database(settings: Settings) -> Database:
    """The service database (majority, journaled writes), with its indexes ensured once per process."""
    key = (mongodb_uri(settings), settings.mongodb_database)
    database = _databases.get(key)
    if database is None:
        database = get_client(settings).get_database(settings.mongodb_database, write_concern=DURABLE_WRITES)
        ensure_indexes(database)
        _databases[key] = database
    return database


def ensure_indexes(database: Database) -> None:
    """Create every index the service relies on (idempotent)."""
    for collection, indexes in INDEXES.items():
        database[collection].create_indexes(indexes)


def ping(settings: Settings) -> bool:
    """True when the server answers a ping."""
    try:
        get_client(settings).admin.command("ping")
    except PyMongoError:
        return False
    return True


def close_clients() -> None:
    """Close every client (tests, shutdown)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _databases.clear()
