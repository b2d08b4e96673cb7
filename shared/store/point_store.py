"""Stored points and their outbox: each point stored once, published to RabbitMQ until confirmed.

Layout: one document per point in `points`, `{_id, resource_id, timestamp, value, dimensions}`. The
`_id` is the point's identity, `"{resource_id}|{timestamp, ISO 8601 with milliseconds}|{series}"`, so
the `_id` index alone makes writes idempotent, and a resource's points sort by time, then series, in
`_id` order: no secondary index to maintain per point.

The outbox is `point_outbox`: the new or revised points of each stored chunk, oldest first, in
documents of up to OUTBOX_DOCUMENT_MESSAGES `resource_data` messages of OUTBOX_BATCH_SIZE points,
each message encoded once as the document is written (`messages`: `body`, the JSON bytes, its
`message_id` and `count`), with how many points the document holds (`count`), how many of them were
confirmed (`sent`) and when it was queued (`queued`, nanoseconds). Flushing sends each body as it is;
a message sent in smaller batches is cut from its body, and a document written by an earlier version
(its points as `[timestamp, value, dimensions]`, no messages) is encoded as it is flushed. They are
written before the points, so a crash in between may publish a point twice but never loses one. A
document's `_id` is derived from its content: a retried chunk queues the same documents again, which
moves them to the end of the outbox instead of adding more. Flushing publishes the documents in
`queued` order, one confirmed message per batch, so the newest value of a revised point is published
last; a document's stored bodies, sent as they are, go through the publisher's confirm window together
(its points are distinct, so a refused message can never fall behind a later value of its point) and
count as sent only once they and every message before them are confirmed; a
document's progress is recorded when a flush stops in it, and the documents confirmed whole
are deleted per group read, oldest first, one document after another in one ordered write: a process
killed before that sends their confirmed messages again, under the same ids (at least once, as
consumers expect), and a delete stopped midway leaves only newer documents, so nothing older is ever
sent again after something newer.

A second pass over the same data must not read every point back: each stored chunk leaves a digest in
`point_digests`, keyed by the hash of its point ids, holding the hash of its ids with their values and the
range of ids it covers (`first`, `last`). It is written only after the chunk's outbox documents and
points, so a crash in between leaves none and the next pass takes the slow path, point by point. A chunk
whose digest is the stored one was stored as it is and is counted as duplicates without reading its
points. Whatever changes or deletes points (a revision, `delete_before`) first clears the digests whose
range meets them and bumps their `generation`, and does so again afterwards; a digest is written only if
its generation is still the one read before the chunk's points were, so a writer racing a revision
writes none. Deleting a resource deletes its digests first.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from pydantic import BaseModel
from pymongo import DeleteOne, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.messaging.broker import (
    OutgoingMessage,
    Publisher,
    encode_points,
    points_headers,
    points_message_id,
)
from shared.messaging.queues import RESOURCE_DATA_QUEUE
from shared.points.columns import PointColumns
from shared.points.keys import (
    KEY_SEPARATOR,
    key_timestamp,
    point_id,
    resource_id_range,
    resource_prefix,
    series_key,
    stored_timestamp,
)
from shared.points.point import Point, PointSequence
from shared.store import database as collections

# Writes go in bounded chunks so that storing millions of points keeps memory flat.
CHUNK_SIZE = 5000
# Points per outbox message: one message as the job publishes (`job_publish_batch_size`).
OUTBOX_BATCH_SIZE = 1000
# Messages per outbox document, a stored chunk's worth: SecantusDB spends ~2 ms on every document written,
# read or deleted whatever its size, as long as publishing a message takes.
OUTBOX_DOCUMENT_MESSAGES = 5
# SecantusDB matches `$in` in time that grows with (documents found × keys asked): keys are looked up
# in groups of LOOKUP_GROUP_SIZE, doubled up to LOOKUP_GROUP_MAX while they are not found (new points),
# so a chunk of new points costs a few round trips and one of stored points no quadratic match.
LOOKUP_GROUP_SIZE = 25
LOOKUP_GROUP_MAX = 500
# Outbox documents read per round trip while flushing (a few MB of ready bodies at most), and deleted per
# round trip once confirmed: SecantusDB spends twice as long deleting them a round trip each.
FLUSH_GROUP_SIZE = 25
DUPLICATE_KEY = 11000


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


def point_documents(resource_id: str, points: Sequence[Point]) -> list[dict[str, Any]]:
    """The `points` documents of points, as `PointStore.store` writes them new."""
    # Encoding a series key costs more than the rest of a document; inputs hold few series.
    series_keys: dict[tuple[tuple[str, str], ...], str] = {}
    documents = []
    for point in points:
        moment = point.timestamp
        if moment.microsecond % 1000:
            moment = stored_timestamp(moment)
        dimensions = point.dimensions
        items = tuple(dimensions.items())
        series = series_keys.get(items)
        if series is None:
            series = series_keys[items] = series_key(dimensions)
        documents.append(
            {
                "_id": point_id(resource_id, moment, series=series),
                "resource_id": resource_id,
                "timestamp": moment,
                "value": point.value,
                "dimensions": dimensions,
            }
        )
    return documents


def column_documents(resource_id: str, columns: PointColumns) -> list[dict[str, Any]]:
    """point_documents of points held as columns, made without a Point per point."""
    if columns.offsets is not None:
        # Stated offsets or wall clocks: rare, and kept exactly as Points would have them.
        return point_documents(resource_id, PointSequence(columns))
    import numpy as np

    # Milliseconds, as MongoDB keeps them (floor, as a datetime's microseconds are cut).
    millis = (columns.timestamps // 1000).astype("datetime64[ms]")
    # The id's timestamp, as key_timestamp writes it for a UTC moment.
    stamps = np.datetime_as_string(millis, unit="ms").tolist()
    prefix = resource_prefix(resource_id)
    keys = [f"{KEY_SEPARATOR}{series_key(dimensions)}" for dimensions in columns.series]
    values = columns.values.tolist()
    codes = columns.series_codes().tolist()
    return [
        {
            "_id": f"{prefix}{stamp}Z{keys[code]}",
            "resource_id": resource_id,
            "timestamp": moment.replace(tzinfo=UTC),
            "value": value,
            "dimensions": dict(columns.series[code]),
        }
        for stamp, moment, value, code in zip(stamps, millis.tolist(), values, codes, strict=True)
    ]


def document_chunks(resource_id: str, points: Sequence[Point]) -> Iterator[list[dict[str, Any]]]:
    """The points' documents, CHUNK_SIZE at a time: points held as columns are never all made objects."""
    if isinstance(points, PointSequence):
        for columns in points.columns.chunks(CHUNK_SIZE):
            yield column_documents(resource_id, columns)
    else:
        for chunk in _chunks(points, CHUNK_SIZE):
            yield point_documents(resource_id, chunk)


def chunk_digest(documents: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(key, digest) of a chunk of point documents: the hash of its ids, the hash of ids and values."""
    keys = sorted(documents)
    ids = "\n".join(keys).encode()
    values = "\n".join([repr(float(documents[key]["value"])) for key in keys]).encode()
    return hashlib.sha256(ids).hexdigest()[:32], hashlib.sha256(ids + b"\n\n" + values).hexdigest()


class _ReadyMessage(NamedTuple):
    """An outbox message whose stored body is sent as it is, its points, and where in its document it ends."""

    message: OutgoingMessage
    points: int
    end: int


def _ready_messages(document: dict[str, Any], *, batch_size: int) -> list[_ReadyMessage]:
    """A document's unconfirmed messages if each is sent as stored; none if one is not, or none is left."""
    resource_id = document["resource_id"]
    sent = document["sent"]
    entries = []
    end = 0
    for message in document.get("messages") or [{"count": document["count"]}]:
        begin, end = end, end + message["count"]
        if end <= sent:
            continue  # confirmed in an earlier flush
        body = message.get("body")
        if body is None or sent > begin or message["count"] > batch_size:
            return []
        headers = points_headers(resource_id, index=0, count=1)
        entries.append(
            _ReadyMessage(OutgoingMessage(message["message_id"], body, headers), message["count"], end)
        )
    # None left: confirmed whole by an earlier flush, deleted without a publish (see _flush_document).
    return entries


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class PointStore:
    """Idempotent point writes and the outbox that publishes them to RabbitMQ."""

    def __init__(self, db: Database) -> None:
        self.collection: Collection = db[collections.POINTS]
        self.outbox: Collection = db[collections.POINT_OUTBOX]
        self.digests: Collection = db[collections.POINT_DIGESTS]

    def store(self, resource_id: str, points: Sequence[Point]) -> StoreResult:
        """Store points once each; new and revised points join the outbox, unchanged ones are duplicates."""
        new = revised = duplicate = 0
        first: datetime | None = None
        last: datetime | None = None
        for chunk in document_chunks(resource_id, points):
            # A point repeated in the input is stored once: the last value wins.
            documents = {document["_id"]: document for document in chunk}
            duplicate += len(chunk) - len(documents)
            chunk_new, chunk_revised, chunk_duplicate = self._store_chunk(resource_id, documents)
            new += chunk_new
            revised += chunk_revised
            duplicate += chunk_duplicate
            chunk_first = min(document["timestamp"] for document in documents.values())
            chunk_last = max(document["timestamp"] for document in documents.values())
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
        """Publish the resource's outbox in the order it was queued, one confirmed message per batch."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        published = messages = 0
        # One pass over the outbox as it is now: what is queued meanwhile waits for the next flush. The
        # clock rather than a query for the newest document: SecantusDB reads every document of the
        # resource, bodies and all, for any query that is not by `_id`. A document stamped by a clock
        # ahead of this one waits for a later flush.
        until = time.time_ns()
        for group in self._queued_groups(resource_id, until=until):
            confirmed: list[dict[str, Any]] = []
            try:
                for document in group:
                    # A document's ready messages go through the confirm window together: they hold
                    # distinct points, so a refused one cannot fall behind a later value of its point.
                    # Any other document (an earlier version's, or cut into smaller batches) goes one
                    # message at a time.
                    ready = _ready_messages(document, batch_size=batch_size)
                    if ready:
                        document_published, document_messages = self._flush_ready(
                            document, ready, publisher, queue=queue, into=confirmed
                        )
                    else:
                        document_published, document_messages, whole = self._flush_document(
                            document, publisher, batch_size=batch_size, queue=queue
                        )
                        if whole:
                            confirmed.append(document)
                    published += document_published
                    messages += document_messages
            finally:
                # Also when a later document fails: those confirmed before it are done.
                self._delete_confirmed(confirmed)
        return OutboxResult(
            published=published, messages=messages, remaining=self.unpublished_count(resource_id)
        )

    def _queued_groups(self, resource_id: str, *, until: int) -> Iterator[list[dict[str, Any]]]:
        """The resource's outbox documents queued up to `until`, in order, FLUSH_GROUP_SIZE at a time."""
        # One cursor read as it goes, rather than a listing and a read by `_id` per group: SecantusDB
        # spends about a millisecond on every document it returns. A document queued again meanwhile
        # is past `until` (see _delete_confirmed); an earlier version's points only when its turn
        # comes (see _queued_points).
        cursor = (
            self.outbox.find({"resource_id": resource_id}, {"points": 0})
            .sort([("queued", 1), ("_id", 1)])
            .batch_size(FLUSH_GROUP_SIZE)
        )
        with cursor:
            group: list[dict[str, Any]] = []
            for document in cursor:
                # Compared here: SecantusDB 0.7 found no document with `queued` `$lte` these int64 values.
                if document["queued"] > until:
                    break
                group.append(document)
                if len(group) == FLUSH_GROUP_SIZE:
                    yield group
                    group = []
            if group:
                yield group

    def _flush_ready(
        self,
        document: dict[str, Any],
        ready: list[_ReadyMessage],
        publisher: Publisher,
        *,
        queue: str,
        into: list[dict[str, Any]],
    ) -> tuple[int, int]:
        """Publish a document's ready messages through the confirm window together; (points, messages).

        The document is appended to `into` when it is confirmed whole; confirmed in part when the publish
        fails, it records how far it got, as `_flush_document` does.
        """
        confirmed = 0

        def advance(count: int) -> None:
            nonlocal confirmed
            confirmed = count

        try:
            publisher.publish_window(queue, [entry.message for entry in ready], on_confirmed=advance)
        finally:
            if confirmed:
                end = ready[confirmed - 1].end
                if end >= document["count"]:
                    into.append(document)
                else:
                    self._record_sent(document, end)
        return sum(entry.points for entry in ready[:confirmed]), confirmed

    def _flush_document(
        self, document: dict[str, Any], publisher: Publisher, *, batch_size: int, queue: str
    ) -> tuple[int, int, bool]:
        """Publish an outbox document from where it stopped; (points, messages, whole: to be deleted)."""
        resource_id = document["resource_id"]
        published = messages = 0
        sent = recorded = document["sent"]
        end = 0
        try:
            # An earlier version's document is one message of its points, without a body.
            for message in document.get("messages") or [{"count": document["count"]}]:
                begin, end = end, end + message["count"]
                body = message.get("body")
                if end <= sent:
                    continue  # confirmed in an earlier flush
                if body is not None and sent == begin and message["count"] <= batch_size:
                    # A BrokerError propagates: the confirmed messages are recorded, the rest stays queued.
                    publisher.publish_body(
                        queue,
                        body,
                        message_id=message["message_id"],
                        headers=points_headers(resource_id, index=0, count=1),
                    )
                    published, messages, sent = published + message["count"], messages + 1, end
                    continue
                points = self._queued_points(document, body)
                if points is None:
                    return published, messages, False  # flushed by another writer meanwhile
                for start in range(sent, end, batch_size):
                    batch = points[start - begin : min(start + batch_size, end) - begin]
                    publisher.publish_points(resource_id, batch, batch_size=len(batch), queue=queue)
                    published, messages, sent = published + len(batch), messages + 1, start + len(batch)
                    recorded = sent
                    # The last batch is not recorded: the document is deleted with its group.
                    if sent < document["count"] and not self._record_sent(document, sent):
                        return published, messages, False
        except BaseException:
            if sent > recorded:
                self._record_sent(document, sent)
            raise
        whole = sent >= document["count"]
        if sent > recorded and not whole:
            self._record_sent(document, sent)
        return published, messages, whole

    def _queued_points(self, document: dict[str, Any], body: bytes | None) -> list[Point] | None:
        """The points of an outbox message, from its body or, written by an earlier version, its points."""
        # Validated when they were stored: rebuilding them unchecked costs a tenth of validating again.
        if body is not None:
            return [
                Point.model_construct(
                    timestamp=datetime.fromisoformat(wire["timestamp"]),
                    value=wire["value"],
                    dimensions=wire["dimensions"],
                )
                for wire in json.loads(body)["points"]
            ]
        stored = self.outbox.find_one({"_id": document["_id"]}, {"points": 1})
        if stored is None:
            return None
        return [
            Point.model_construct(timestamp=timestamp, value=value, dimensions=dimensions)
            for timestamp, value, dimensions in stored["points"]
        ]

    def resources_with_outbox(self, *, limit: int = 1000) -> list[str]:
        """Ids of the resources that have points waiting for publication, sorted."""
        resource_ids = self.outbox.distinct("resource_id")
        return sorted(resource_ids)[:limit]

    def unpublished_count(self, resource_id: str) -> int:
        """How many of the resource's points wait for publication (a point queued twice counts twice)."""
        entries = self.outbox.find({"resource_id": resource_id}, {"count": 1, "sent": 1})
        return sum(entry["count"] - entry["sent"] for entry in entries)

    def delete_resource(self, resource_id: str) -> int:
        """Delete every point of a resource, its outbox and its digests; return how many points there were."""
        self.digests.delete_many({"resource_id": resource_id})
        self.outbox.delete_many({"resource_id": resource_id})
        return self.collection.delete_many({"_id": resource_id_range(resource_id)}).deleted_count

    def delete_before(self, resource_id: str, cutoff: datetime) -> int:
        """Delete the resource's points stamped before `cutoff` (UTC), only those; return how many."""
        low, high = resource_prefix(resource_id), resource_prefix(resource_id) + key_timestamp(cutoff)
        self._clear_digests(resource_id, low=low, high=high)
        deleted = self.collection.delete_many(
            {"_id": resource_id_range(resource_id, end=cutoff)}
        ).deleted_count
        self._clear_digests(resource_id, low=low, high=high)
        return deleted

    def _store_chunk(self, resource_id: str, documents: dict[str, dict[str, Any]]) -> tuple[int, int, int]:
        """Queue what changes, insert the new, revise the changed; return (new, revised, duplicate)."""
        key, digest = chunk_digest(documents)
        digest_id = f"{resource_prefix(resource_id)}{key}"
        generation = self._digest_generation(resource_id, digest_id, digest=digest, documents=documents)
        if generation is None:
            return 0, 0, len(documents)
        stored = self._stored_values(list(documents))
        fresh = [document for key, document in documents.items() if key not in stored]
        changes = {
            key: document["value"]
            for key, document in documents.items()
            if key in stored and stored[key] != document["value"]
        }
        queued = [documents[key] for key in sorted([*(d["_id"] for d in fresh), *changes])]
        if queued:
            self._enqueue(resource_id, queued)
        raced = self._insert(fresh)
        if raced:
            # Another writer stored these since the read: compare them like the others.
            raced_values = self._stored_values([document["_id"] for document in raced])
            for document in raced:
                if raced_values.get(document["_id"]) != document["value"]:
                    changes[document["_id"]] = document["value"]
        new = len(fresh) - len(raced)
        if changes:
            low, high = min(changes), max(changes)
            # Before, so that a crash mid-revision leaves no digest of the old values; after, for a
            # writer that read this chunk's generation meanwhile. Both bump this chunk's own digest.
            self._clear_digests(resource_id, low=low, high=high)
            revised = self._revise(changes)
            self._clear_digests(resource_id, low=low, high=high)
            generation += 2
        else:
            revised = 0
        self.digests.update_one({"_id": digest_id, "generation": generation}, {"$set": {"digest": digest}})
        return new, revised, len(documents) - new - revised

    def _digest_generation(
        self, resource_id: str, digest_id: str, *, digest: str, documents: dict[str, dict[str, Any]]
    ) -> int | None:
        """None when the chunk is stored as it is (its digest); else the generation its digest must match."""
        stored = self.digests.find_one({"_id": digest_id}, {"digest": 1, "generation": 1})
        if stored is None:
            # Created empty before the points are read, so that a revision meanwhile bumps it.
            try:
                self.digests.insert_one(
                    {
                        "_id": digest_id,
                        "resource_id": resource_id,
                        "first": min(documents),
                        "last": max(documents),
                        "generation": 0,
                        "digest": None,
                    }
                )
            except DuplicateKeyError:
                return self._digest_generation(resource_id, digest_id, digest=digest, documents=documents)
            return 0
        if stored["digest"] == digest:
            return None
        return int(stored["generation"])

    def _clear_digests(self, resource_id: str, *, low: str, high: str) -> None:
        """Clear the digests of the chunks whose point ids meet [low, high]: their points change."""
        self.digests.update_many(
            {"resource_id": resource_id, "first": {"$lte": high}, "last": {"$gte": low}},
            {"$set": {"digest": None}, "$inc": {"generation": 1}},
        )

    def _stored_values(self, keys: Sequence[str]) -> dict[str, float]:
        """The stored value of those of the point ids that exist."""
        stored: dict[str, float] = {}
        start, size = 0, LOOKUP_GROUP_SIZE
        while start < len(keys):
            group = list(keys[start : start + size])
            start += len(group)
            found = 0
            for document in self.collection.find({"_id": {"$in": group}}, {"value": 1}):
                stored[document["_id"]] = document["value"]
                found += 1
            size = LOOKUP_GROUP_SIZE if found else min(size * 2, LOOKUP_GROUP_MAX)
        return stored

    def _enqueue(self, resource_id: str, documents: list[dict[str, Any]]) -> None:
        """Queue points for publication, at the end of the outbox (again, if the same were queued)."""
        queued = time.time_ns()
        upserts = []
        per_document = OUTBOX_DOCUMENT_MESSAGES * OUTBOX_BATCH_SIZE
        for index, group in enumerate(_chunks(documents, per_document)):
            messages = []
            for batch in _chunks(group, OUTBOX_BATCH_SIZE):
                # Encoded once here, as an earlier version encoded the points it read back on every flush.
                body = encode_points(
                    resource_id,
                    [
                        Point.model_construct(
                            timestamp=d["timestamp"], value=d["value"], dimensions=d["dimensions"]
                        )
                        for d in batch
                    ],
                )
                messages.append(
                    {"body": body, "message_id": points_message_id(resource_id, body), "count": len(batch)}
                )
            content = "\n".join(f"{d['_id']}={d['value']!r}" for d in group)
            digest = hashlib.sha256(content.encode()).hexdigest()[:32]
            upserts.append(
                UpdateOne(
                    {"_id": f"{resource_prefix(resource_id)}{digest}"},
                    {
                        "$set": {"queued": queued + index, "sent": 0},
                        "$setOnInsert": {
                            "resource_id": resource_id,
                            "count": len(group),
                            "messages": messages,
                        },
                    },
                    upsert=True,
                )
            )
        self.outbox.bulk_write(upserts, ordered=True)

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

    def _revise(self, changes: dict[str, float]) -> int:
        """Write new values by `_id`; return how many changed."""
        if not changes:
            return 0
        updates = [
            # The value filter makes a concurrent identical write a duplicate, not a second revision.
            UpdateOne({"_id": key, "value": {"$ne": value}}, {"$set": {"value": value}})
            for key, value in changes.items()
        ]
        return self.collection.bulk_write(updates, ordered=False).modified_count

    def _delete_confirmed(self, documents: list[dict[str, Any]]) -> None:
        """Delete outbox documents confirmed whole, oldest first, each only if still queued as it was read."""
        if documents:
            # One by one in an ordered bulk, as fast as one `delete_many` on SecantusDB: a write that
            # stops midway (a crash, a failover) leaves the newest documents, so the next flush sends
            # them again in order, never an older value after a newer one. A document queued again
            # since it was read has a later `queued`: it stays. Not a range of `queued`: a writer's
            # document may commit inside the range after the cursor went past it.
            self.outbox.bulk_write([DeleteOne(self._still_queued(document)) for document in documents])

    def _record_sent(self, document: dict[str, Any], sent: int) -> bool:
        """Record the first `sent` points of an outbox document as confirmed; False if it was requeued."""
        return (
            self.outbox.update_one(self._still_queued(document), {"$set": {"sent": sent}}).modified_count == 1
        )

    @staticmethod
    def _still_queued(document: dict[str, Any]) -> dict[str, Any]:
        """The filter matching an outbox document only as it was read (not queued again since)."""
        # The whole key of the outbox index: a point lookup, also on SecantusDB.
        return {key: document[key] for key in ("resource_id", "queued", "_id")}
