"""Prompts, responses and tool exchanges of generations, kept for debugging."""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.domain.models import PromptRecordPublic
from shared.domain.wrapper import Exchange
from shared.store import database as collections


class PromptRecordRepository:
    """Prompts, responses and tool exchanges of generations, for debugging."""

    def __init__(self, db: Database) -> None:
        self.collection = db[collections.PROMPTS]

    def add(self, wrapper_id: str, exchanges: list[Exchange]) -> None:
        """Append a generation's exchanges."""
        if not exchanges:
            return
        now = utcnow()
        self.collection.insert_many(
            [{"wrapper_id": wrapper_id, **e.model_dump(), "created_at": now} for e in exchanges]
        )

    def list(self, wrapper_id: str, *, limit: int = 200) -> list[PromptRecordPublic]:
        """The exchanges of a wrapper, oldest first."""
        cursor = self.collection.find({"wrapper_id": wrapper_id}).sort("created_at", ASCENDING).limit(limit)
        return [
            PromptRecordPublic.model_validate({k: d[k] for k in PromptRecordPublic.model_fields})
            for d in cursor
        ]
