"""API keys, stored hashed, each belonging to one tenant."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from contextlib import suppress
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from shared.common.clock import utcnow
from shared.domain.models import ApiKeyPublic
from shared.store import database as collections

API_KEY_PREFIX = "rs_"
# How finely `last_used_at` is kept: at most one write per key and minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_api_key(secret: str) -> str:
    """SHA-256 of an API key: keys are random, so a fast hash is enough and lookups stay indexable."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def public_api_key(document: dict[str, Any]) -> ApiKeyPublic:
    """The public record of a stored key (never its hash)."""
    return ApiKeyPublic.model_validate({k: document[k] for k in ApiKeyPublic.model_fields if k in document})


class ApiKeyRepository:
    """API keys, stored hashed, each belonging to one tenant."""

    def __init__(self, db: Database) -> None:
        self.collection = db[collections.API_KEYS]

    def create(self, tenant_id: str, *, name: str = "default") -> tuple[ApiKeyPublic, str]:
        """A new key for the tenant: its public record and the secret (shown only now)."""
        secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKeyPublic(
            key_id=str(uuid.uuid4()), tenant_id=tenant_id, name=name, prefix=secret[:8], created_at=utcnow()
        )
        self.collection.insert_one(
            {**record.model_dump(), "key_hash": hash_api_key(secret), "revoked": False}
        )
        return record, secret

    def authenticate(self, secret: str) -> ApiKeyPublic | None:
        """The key record for a presented secret, or None; notes when the key was last used."""
        if not secret.startswith(API_KEY_PREFIX):
            return None
        # By the indexed hash alone (see ResourceRepository.get); revocation is checked here.
        document = self.collection.find_one({"key_hash": hash_api_key(secret)})
        if document is None or document.get("revoked") is not False:
            return None
        self._note_use(document)
        return public_api_key(document)

    def _note_use(self, document: dict[str, Any]) -> None:
        now = utcnow()
        last = document.get("last_used_at")
        if last is not None and now - last < LAST_USED_RESOLUTION:
            return
        # Bookkeeping, not an answer to a client: no wait for a majority, and never a failed request.
        quick = self.collection.with_options(write_concern=WriteConcern(w=1))
        with suppress(PyMongoError):
            quick.update_one({"_id": document["_id"]}, {"$set": {"last_used_at": now}})
        document["last_used_at"] = now

    def list(self, *, tenant_id: str | None = None) -> list[ApiKeyPublic]:
        """Every key (or a tenant's), by tenant, newest first within a tenant; secrets are not stored."""
        query = {} if tenant_id is None else {"tenant_id": tenant_id}
        cursor = self.collection.find(query, {"key_hash": 0}).sort(
            [("tenant_id", ASCENDING), ("created_at", DESCENDING)]
        )
        return [public_api_key(document) for document in cursor]

    def revoke(self, key_id: str) -> ApiKeyPublic | None:
        """Revoke a key by id (a no-op when it is revoked already); None when there is no such key."""
        document = self.collection.find_one_and_update(
            {"key_id": key_id, "revoked": False},
            {"$set": {"revoked": True, "revoked_at": utcnow()}},
            projection={"key_hash": 0},
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            document = self.collection.find_one({"key_id": key_id}, {"key_hash": 0})
        return None if document is None else public_api_key(document)
