"""Reads of stored points for the API; writes and the outbox are in shared.store.point_store."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database

from shared.domain.models import Availability, PointPublic
from shared.points.keys import resource_id_range
from shared.store import database as collections


class PointRepository:
    """Stored points of resources (one document per series and timestamp, keyed by `_id`)."""

    def __init__(self, db: Database) -> None:
        self.collection = db[collections.POINTS]

    def range(
        self, resource_id: str, *, start: datetime | None, end: datetime | None, limit: int, offset: int = 0
    ) -> list[PointPublic]:
        """Points of a resource in [start, end), oldest first (then by series)."""
        # Point ids sort by resource, time, then series: the window is an `_id` range in the API's order.
        query = {"_id": resource_id_range(resource_id, start=start, end=end)}
        cursor = self.collection.find(query).sort("_id", ASCENDING).skip(offset).limit(limit)
        return [
            PointPublic(timestamp=d["timestamp"], value=d["value"], dimensions=d.get("dimensions") or {})
            for d in cursor
        ]

    def availability(self, resource_id: str) -> Availability:
        """First and last timestamp and the number of points of a resource."""
        query = {"_id": resource_id_range(resource_id)}
        first = self.collection.find_one(query, sort=[("_id", ASCENDING)])
        if first is None:
            return Availability()
        last = self.collection.find_one(query, sort=[("_id", DESCENDING)])
        count = self.collection.count_documents(query)
        return Availability(first=first["timestamp"], last=last["timestamp"] if last else None, count=count)
