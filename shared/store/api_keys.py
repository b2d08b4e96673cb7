"""API keys, stored hashed, each belonging to one tenant."""

from __future__ import annotations

import hashlib
import secrets
import uuid

from pymongo.database import Database

from shared.common.clock import utcnow
from shared.domain.models import ApiKeyPublic
from shared.store import database as collections

API_KEY_PREFIX = "rs_"


def hash_api_key(secret: str) -> str:
    """SHA-256 of an API key: keys are random, so a fast hash is enough and lookups stay indexable."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


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
        """The key record for a presented secret, or None."""
        if not secret.startswith(API_KEY_PREFIX):
            return None
        # By the indexed hash alone (see ResourceRepository.get); revocation is checked here.
        document = self.collection.find_one({"key_hash": hash_api_key(secret)})
        if document is None or document.get("revoked") is not False:
            return None
        return ApiKeyPublic.model_validate({k: document[k] for k in ApiKeyPublic.model_fields})
