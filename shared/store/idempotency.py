"""Stored responses of POST requests by Idempotency-Key."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from shared.common.clock import utcnow
from shared.store import database as collections


class IdempotencyRepository:
    """Responses of POST requests by Idempotency-Key, so a retried create returns the first result."""

    def __init__(self, db: Database) -> None:
        self.collection = db[collections.IDEMPOTENCY]

    def find(self, tenant_id: str, *, route: str, key: str) -> dict[str, Any] | None:
        """The stored {"request_hash", "status_code", "body"} for a key, if any."""
        document = self.collection.find_one({"tenant_id": tenant_id, "route": route, "key": key})
        if document is None:
            return None
        return {k: document.get(k) for k in ("request_hash", "status_code", "body")}

    def save(
        self, tenant_id: str, *, route: str, key: str, request_hash: str, status_code: int, body: Any
    ) -> bool:
        """Store the response for a key; False when another request stored one first."""
        try:
            self.collection.insert_one(
                {
                    "tenant_id": tenant_id,
                    "route": route,
                    "key": key,
                    "request_hash": request_hash,
                    "status_code": status_code,
                    "body": body,
                    "created_at": utcnow(),
                }
            )
        except DuplicateKeyError:
            return False
        return True
