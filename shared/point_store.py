"""Stored points and their outbox: each point stored once, published to RabbitMQ until confirmed.

Layout: one document per point in `points`,
`{resource_id, series, dimensions, timestamp, value, published, revision}`, unique on
(resource_id, series, timestamp) so writes are idempotent. `published` is False from the moment a
point is stored new or with a changed value until RabbitMQ confirmed a message holding it; that
flag is the outbox, and it lives in the point's own document, so storing a point and queueing it for
publication is one atomic write. `revision` counts value changes: a batch is marked published only
where the revision is still the one that was sent, so a value revised while its old value was in
flight stays in the outbox.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from shared import database as collections
from shared.broker import RESOURCE_DATA_QUEUE, Publisher, encode_payload
from shared.points import Point

# Writes go in bounded chunks so that storing millions of points keeps memory flat.
CHUNK_SIZE = 5000
# Some servers evaluate `$in` in quadratic time (SecantusDB does): mark batches in small groups.
MARK_GROUP_SIZE = 100
# Up to this many series in a chunk, existing points are read series by series; beyond, by time window.
SERIES_QUERIES_MAX = 20
DUPLICATE_KEY = 11000
ONE_MILLISECOND = timedelta(milliseconds=1)
OUTBOX_ORDER = [("timestamp", ASCENDING), ("_id", ASCENDING)]

Key = tuple[str, datetime]


class StoreResult(BaseModel):
    """What storing a set of points changed."""

    new: int
    revised: int
    duplicate: int
    first: datetime | None
    last: datetime | None


class OutboxResult(BaseModel):
    """What flushing a resource's outbox published."""

    published: int
    messages: int
    remaining: int


def series_key(dimensions: dict[str, str]) -> str:
    """Name one series canonically: its dimensions as sorted, compact JSON."""
    return json.dumps(dimensions, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stored_timestamp(moment: datetime) -> datetime:
    """The timestamp as MongoDB keeps it: milliseconds, so keys compare equal after a round trip."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def point_documents(
    resource_id: str, points: Sequence[Point], *, published: bool = False
) -> list[dict[str, Any]]:
    """The `points` documents of points, as `PointStore.store` writes them new."""
    return [
        {
            "resource_id": resource_id,
            "series": series_key(point.dimensions),
            "dimensions": dict(point.dimensions),
            "timestamp": stored_timestamp(point.timestamp),
            "value": point.value,
            "published": published,
            "revision": 0,
        }
        for point in points
    ]


def batch_message_prefix(resource_id: str, points: Sequence[Point]) -> str:
    """A message id prefix derived from a batch's content, so a re-sent batch keeps its id."""
    digest = hashlib.sha256(encode_payload({"points": [point.to_wire() for point in points]}))
    return f"{resource_id}:{digest.hexdigest()[:32]}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class PointStore:
    """Idempotent point writes and the outbox that publishes them to RabbitMQ."""

    def __init__(self, db: Database) -> None:
        self.collection: Collection = db[collections.POINTS]

    def store(self, resource_id: str, points: Sequence[Point]) -> StoreResult:
        """Store points once each; new and revised points join the outbox, unchanged ones are duplicates."""
        new = revised = duplicate = 0
        first: datetime | None = None
        last: datetime | None = None
        for chunk in _chunks(points, CHUNK_SIZE):
            documents: dict[Key, dict[str, Any]] = {}
            for document in point_documents(resource_id, chunk):
                # A point repeated in the input is stored once: the last value wins.
                documents[(document["series"], document["timestamp"])] = document
            duplicate += len(chunk) - len(documents)
            chunk_new, chunk_revised, chunk_duplicate = self._store_chunk(resource_id, documents)
            new += chunk_new
            revised += chunk_revised
            duplicate += chunk_duplicate
            chunk_first = min(key[1] for key in documents)
            chunk_last = max(key[1] for key in documents)
            first = chunk_first if first is None else min(first, chunk_first)
            last = chunk_last if last is None else max(last, chunk_last)
        return StoreResult(new=new, revised=revised, duplicate=duplicate, first=first, last=last)

    def flush_outbox(
        self,
        resource_id: str,
        publisher: Publisher,
        *,
        batch_size: int = 1000,
        queue: str = RESOURCE_DATA_QUEUE,
    ) -> OutboxResult:
        """Publish the resource's unpublished points oldest first, one confirmed message per batch."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        published = messages = 0
        # One pass over the outbox as it is now: points stored meanwhile wait for the next flush.
        with self.collection.find(
            {"resource_id": resource_id, "published": False},
            {"timestamp": 1, "value": 1, "dimensions": 1, "revision": 1},
            sort=OUTBOX_ORDER,
            batch_size=batch_size,
        ) as cursor:
            batch: list[dict[str, Any]] = []
            for document in cursor:
                batch.append(document)
                if len(batch) == batch_size:
                    self._publish(resource_id, batch, publisher, queue=queue)
                    published += len(batch)
                    messages += 1
                    batch = []
            if batch:
                self._publish(resource_id, batch, publisher, queue=queue)
                published += len(batch)
                messages += 1
        return OutboxResult(
            published=published, messages=messages, remaining=self.unpublished_count(resource_id)
        )

    def resources_with_outbox(self, *, limit: int = 1000) -> list[str]:
        """Ids of the resources that have unpublished points, sorted."""
        resource_ids = self.collection.distinct("resource_id", {"published": False})
        return sorted(resource_ids)[:limit]

    def unpublished_count(self, resource_id: str) -> int:
        """How many of the resource's points wait for publication."""
        return self.collection.count_documents({"resource_id": resource_id, "published": False})

    def delete_resource(self, resource_id: str) -> int:
        """Delete every point of a resource; return how many there were."""
        return self.collection.delete_many({"resource_id": resource_id}).deleted_count

    def _store_chunk(self, resource_id: str, documents: dict[Key, dict[str, Any]]) -> tuple[int, int, int]:
        """Insert the new documents, revise the changed ones; return (new, revised, duplicate)."""
        stored = self._stored_points(resource_id, documents)
        fresh = [document for key, document in documents.items() if key not in stored]
        raced = self._insert(fresh)
        if raced:
            # Another writer stored these since the read: compare them like the others.
            stored.update(self._stored_points(resource_id, {(d["series"], d["timestamp"]): d for d in raced}))
        changes = {
            stored[key][0]: document["value"]
            for key, document in documents.items()
            if key in stored and stored[key][1] != document["value"]
        }
        new = len(fresh) - len(raced)
        revised = self._revise(changes)
        return new, revised, len(documents) - new - revised

    def _stored_points(
        self, resource_id: str, documents: dict[Key, dict[str, Any]]
    ) -> dict[Key, tuple[ObjectId, float]]:
        """The `_id` and stored value of those of the keys that exist."""
        spans: dict[str, tuple[datetime, datetime]] = {}
        for series, moment in documents:
            low, high = spans.get(series, (moment, moment))
            spans[series] = (min(low, moment), max(high, moment))
        if len(spans) <= SERIES_QUERIES_MAX:
            # A time range per series: an exact range of the unique index each.
            windows = [({"series": series}, low, high) for series, (low, high) in spans.items()]
        else:
            # Many series: the chunk is a short time window across them, read in one go.
            low = min(low for low, _ in spans.values())
            high = max(high for _, high in spans.values())
            windows = [({}, low, high)]
        stored: dict[Key, tuple[ObjectId, float]] = {}
        for series_filter, low, high in windows:
            # Half-open, a millisecond past the last key: SecantusDB's `$lte` misses it in a compound index.
            query = {
                "resource_id": resource_id,
                **series_filter,
                "timestamp": {"$gte": low, "$lt": high + ONE_MILLISECOND},
            }
            for found in self.collection.find(query, {"series": 1, "timestamp": 1, "value": 1}):
                key = (found["series"], found["timestamp"])
                if key in documents:
                    stored[key] = (found["_id"], found["value"])
        return stored

    def _insert(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert new documents; return those another writer inserted first (duplicate keys)."""
        if not documents:
            return []
        try:
            self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            failures = error.details.get("writeErrors", [])
            if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
                raise
            return [documents[failure["index"]] for failure in failures]
        return []

    def _revise(self, changes: dict[ObjectId, float]) -> int:
        """Write new values by `_id` and put the points back in the outbox; return how many changed."""
        if not changes:
            return 0
        updates = [
            UpdateOne(
                # The value filter makes a concurrent identical write a duplicate, not a second revision.
                {"_id": point_id, "value": {"$ne": value}},
                {"$set": {"value": value, "published": False}, "$inc": {"revision": 1}},
            )
            for point_id, value in changes.items()
        ]
        return self.collection.bulk_write(updates, ordered=False).modified_count

    def _publish(
        self, resource_id: str, documents: list[dict[str, Any]], publisher: Publisher, *, queue: str
    ) -> None:
        """Publish one batch as one message and wait for the confirm, then take it out of the outbox."""
        points = [
            Point(timestamp=d["timestamp"], value=d["value"], dimensions=d.get("dimensions") or {})
            for d in documents
        ]
        # A BrokerError propagates from here: earlier batches are marked, this one stays in the outbox.
        publisher.publish_points(
            resource_id,
            points,
            batch_size=len(points),
            message_id_prefix=batch_message_prefix(resource_id, points),
            queue=queue,
        )
        self._mark_published(documents)

    def _mark_published(self, documents: list[dict[str, Any]]) -> None:
        """Take the sent documents out of the outbox unless their value was revised meanwhile."""
        by_revision: dict[int, list[Any]] = {}
        for document in documents:
            by_revision.setdefault(document.get("revision", 0), []).append(document["_id"])
        for revision, ids in by_revision.items():
            for group in _chunks(ids, MARK_GROUP_SIZE):
                self.collection.update_many(
                    {"_id": {"$in": list(group)}, "revision": revision, "published": False},
                    {"$set": {"published": True}},
                )
