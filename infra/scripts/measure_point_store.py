"""Time the two `points` layouts of DESIGN.md on a MongoDB wire server: a document per point or buckets.

For each layout and each scenario (200,000 hourly points in 1 series, then in 100 series) it times
storing the points into an empty collection, storing the same points again (all duplicates), and
flushing the outbox to RabbitMQ in batches of 1,000 with publisher confirms, into a queue of its own
that is deleted afterwards. "point" is shared.store.point_store.PointStore as shipped (a document per point
keyed by its `_id`, the outbox a document per stored chunk); "bucket" is a prototype kept here only for
the comparison: one document per series and month holding the values and the not-yet-published
timestamps, marked published per bucket with a version check.

Without --mongodb-uri it starts the pinned SecantusDB of .cache (as `make test` installs it).

    .venv/bin/python infra/scripts/measure_point_store.py [--points 200000] [--series 1 100]
        [--layouts point bucket] [--mongodb-uri URI]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
from pydantic import SecretStr
from pymongo import ASCENDING, IndexModel, MongoClient, UpdateOne
from pymongo.database import Database

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from measure_services import given, secantus  # noqa: E402

from shared.messaging.broker import Publisher  # noqa: E402
from shared.store.database import ensure_indexes  # noqa: E402
from shared.points.keys import series_key  # noqa: E402
from shared.store.point_store import CHUNK_SIZE, PointStore  # noqa: E402
from shared.points.point import Point  # noqa: E402
from shared.common.settings import Settings  # noqa: E402

BATCH_SIZE = 1000
RESOURCE_ID = "measure"


def make_points(count: int, series: int) -> list[Point]:
    """Hourly points, `series` series of `count // series` points each, in time-major order."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    per_series = count // series
    return [
        Point(
            timestamp=start + timedelta(hours=hour),
            value=float(hour % 1000) + index / 1000,
            dimensions={"country": f"C{index:03d}"} if series > 1 else {},
        )
        for hour in range(per_series)
        for index in range(series)
    ]


class BucketStore:
    """Prototype: a document per (resource, series, month) with `values` and `pending` maps by epoch ms."""

    def __init__(self, db: Database) -> None:
        self.collection = db["point_buckets"]
        self.collection.create_indexes(
            [
                IndexModel([("resource_id", ASCENDING), ("series", ASCENDING), ("start", ASCENDING)]),
                IndexModel(
                    [("resource_id", ASCENDING), ("start", ASCENDING), ("_id", ASCENDING)],
                    partialFilterExpression={"pending_count": {"$gt": 0}},
                ),
            ]
        )

    def store(self, resource_id: str, points: Sequence[Point]) -> tuple[int, int, int]:
        """Store points; return (new, revised, duplicate)."""
        new = revised = duplicate = 0
        for offset in range(0, len(points), CHUNK_SIZE):
            buckets: dict[str, dict[str, Any]] = {}
            for point in points[offset : offset + CHUNK_SIZE]:
                series = series_key(point.dimensions)
                month = point.timestamp.strftime("%Y-%m")
                bucket = buckets.setdefault(
                    f"{resource_id}|{series}|{month}",
                    {
                        "series": series,
                        "dimensions": point.dimensions,
                        "start": point.timestamp.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
                        "values": {},
                    },
                )
                bucket["values"][str(int(point.timestamp.timestamp() * 1000))] = point.value
            existing = {
                d["_id"]: d.get("values", {})
                for d in self.collection.find({"_id": {"$in": list(buckets)}}, {"values": 1})
            }
            updates = []
            for bucket_id, bucket in buckets.items():
                stored = existing.get(bucket_id, {})
                changes = {k: v for k, v in bucket["values"].items() if stored.get(k) != v}
                fresh = sum(1 for k in changes if k not in stored)
                new += fresh
                revised += len(changes) - fresh
                duplicate += len(bucket["values"]) - len(changes)
                if not changes:
                    continue
                fields: dict[str, Any] = {f"values.{k}": v for k, v in changes.items()}
                fields.update({f"pending.{k}": True for k in changes})
                updates.append(
                    UpdateOne(
                        {"_id": bucket_id},
                        {
                            "$set": fields,
                            "$inc": {"version": 1, "pending_count": len(changes), "count": fresh},
                            "$setOnInsert": {
                                "resource_id": resource_id,
                                "series": bucket["series"],
                                "dimensions": bucket["dimensions"],
                                "start": bucket["start"],
                            },
                        },
                        upsert=True,
                    )
                )
            if updates:
                self.collection.bulk_write(updates, ordered=False)
        return new, revised, duplicate

    def flush_outbox(self, resource_id: str, publisher: Publisher, *, batch_size: int, queue: str) -> int:
        """Publish pending values oldest bucket first; return how many points were published."""
        published = 0
        while True:
            batch: list[Point] = []
            taken: list[tuple[str, int, list[str]]] = []
            cursor = self.collection.find(
                {"resource_id": resource_id, "pending_count": {"$gt": 0}},
                {"values": 1, "pending": 1, "version": 1, "dimensions": 1},
            ).sort([("start", ASCENDING), ("_id", ASCENDING)])
            for bucket in cursor:
                keys = sorted(bucket.get("pending", {}), key=int)[: batch_size - len(batch)]
                batch += [
                    Point(
                        timestamp=datetime.fromtimestamp(int(k) / 1000, UTC),
                        value=bucket["values"][k],
                        dimensions=bucket["dimensions"],
                    )
                    for k in keys
                ]
                taken.append((bucket["_id"], bucket["version"], keys))
                if len(batch) >= batch_size:
                    break
            cursor.close()
            if not batch:
                return published
            publisher.publish_points(resource_id, batch, batch_size=len(batch), queue=queue)
            for bucket_id, version, keys in taken:
                self.collection.update_one(
                    {"_id": bucket_id, "version": version},
                    {"$unset": {f"pending.{k}": "" for k in keys}, "$inc": {"pending_count": -len(keys)}},
                )
            published += len(batch)


def timed(label: str, action: Callable[[], object]) -> float:
    """Run the action, print and return its wall time in seconds."""
    started = time.perf_counter()
    outcome = action()
    seconds = time.perf_counter() - started
    print(f"    {label:<22} {seconds:8.1f} s   {outcome}", flush=True)
    return seconds


def measure(
    layout: str, db: Database, points: list[Point], publisher: Publisher, queue: str
) -> dict[str, float]:
    """Store, store again and flush with one layout; return the seconds of each step."""
    figures: dict[str, float] = {}
    if layout == "point":
        ensure_indexes(db)
        store = PointStore(db)
        figures["store"] = timed("store (new)", lambda: store.store(RESOURCE_ID, points))
        figures["store_again"] = timed("store (same again)", lambda: store.store(RESOURCE_ID, points))
        figures["flush"] = timed(
            "flush outbox",
            lambda: store.flush_outbox(RESOURCE_ID, publisher, batch_size=BATCH_SIZE, queue=queue),
        )
    else:
        buckets = BucketStore(db)
        figures["store"] = timed("store (new)", lambda: buckets.store(RESOURCE_ID, points))
        figures["store_again"] = timed("store (same again)", lambda: buckets.store(RESOURCE_ID, points))
        figures["flush"] = timed(
            "flush outbox",
            lambda: buckets.flush_outbox(RESOURCE_ID, publisher, batch_size=BATCH_SIZE, queue=queue),
        )
    return figures


def main() -> None:
    """Parse the arguments and print the figures of each layout and scenario."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mongodb-uri", help="a running server (default: start SecantusDB from .cache)")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--series", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--layouts", nargs="+", choices=["point", "bucket"], default=["point", "bucket"])
    args = parser.parse_args()

    queue = f"rs_measure_{uuid.uuid4().hex[:12]}"
    publisher = Publisher(Settings(amqp_url=SecretStr(args.amqp_url)), queue_names=[queue])
    results: dict[str, dict[str, float]] = {}
    with secantus() if args.mongodb_uri is None else given(args.mongodb_uri) as uri:
        client: MongoClient = MongoClient(uri, tz_aware=True)
        try:
            for series in args.series:
                points = make_points(args.points, series)
                for layout in args.layouts:
                    name = f"{layout}/{series} series"
                    print(f"{name}: {len(points):,} points", flush=True)
                    database = f"rs_measure_{uuid.uuid4().hex[:8]}"
                    try:
                        results[name] = measure(layout, client[database], points, publisher, queue)
                    finally:
                        client.drop_database(database)
        finally:
            client.close()
            publisher.close()
            _delete_queue(args.amqp_url, queue)
    print(json.dumps(results, indent=2))


def _delete_queue(amqp_url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        connection.channel().queue_delete(queue=queue)
    finally:
        connection.close()


if __name__ == "__main__":
    main()
