"""The run history of wrappers."""

from __future__ import annotations

import uuid

from pymongo import DESCENDING
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.domain.models import Page, RunPublic, RunStatus, RunTrigger
from shared.store import database as collections


class RunRepository:
    """The run history of wrappers."""

    def __init__(self, db: Database) -> None:
        self.collection = db[collections.RUNS]

    def abandon_unfinished(self, wrapper_id: str, *, taken_over_by: str) -> int:
        """Close the wrapper's runs that never finished as `abandoned`; how many there were.

        Called by a run holding the wrapper's lease: a run still open lost its lease when its process died.
        """
        result = self.collection.update_many(
            {"wrapper_id": wrapper_id, "finished_at": None},
            {
                "$set": {
                    "status": RunStatus.ABANDONED.value,
                    "finished_at": utcnow(),
                    "error": "abandoned: its process stopped before the run finished (the lease expired); "
                    f"run {taken_over_by} took the wrapper over",
                }
            },
        )
        return int(result.modified_count)

    def start(
        self, *, wrapper_id: str, resource_id: str, trigger: RunTrigger, run_id: str | None = None
    ) -> RunPublic:
        """Record a run that has begun."""
        run = RunPublic(
            run_id=run_id or str(uuid.uuid4()),
            wrapper_id=wrapper_id,
            resource_id=resource_id,
            started_at=utcnow(),
            trigger=trigger,
        )
        self.collection.insert_one(run.model_dump())
        return run

    def finish(self, run: RunPublic) -> RunPublic:
        """Store the final figures of a run."""
        now = utcnow()
        seconds = round((now - run.started_at).total_seconds(), 3)
        status = run.status
        if status == RunStatus.RUNNING:
            status = RunStatus.FAILED if run.error else RunStatus.SUCCEEDED
        finished = run.model_copy(update={"finished_at": now, "duration_seconds": seconds, "status": status})
        self.collection.replace_one({"run_id": run.run_id}, finished.model_dump())
        return finished

    def list(self, wrapper_id: str, *, limit: int, offset: int) -> Page[RunPublic]:
        """A page of a wrapper's runs, newest first."""
        query = {"wrapper_id": wrapper_id}
        total = self.collection.count_documents(query)
        cursor = self.collection.find(query).sort("started_at", DESCENDING).skip(offset).limit(limit)
        fields = RunPublic.model_fields
        items = [RunPublic.model_validate({k: d[k] for k in fields if k in d}) for d in cursor]
        return Page[RunPublic](items=items, total=total, limit=limit, offset=offset)
