"""Idempotency-Key for POST: a retried request gets the first response instead of a second effect.

A key is reserved before the work starts (a unique insert), so two concurrent requests with one key
cannot both act: the second gets 409 while the first runs, and the first's response afterwards.
Only successful responses are kept; a failed request releases its key so that a retry runs again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel

from functions.api.dependencies import DatabaseDep, TenantDep
from functions.api.workers import offload
from shared.common.clock import utcnow
from shared.common.errors import ConflictError, InvalidRequestError
from shared.store.idempotency import IdempotencyRepository

IN_PROGRESS = 0
# Longer than the API function may run (its Lambda timeout), so only dead requests are taken over.
STALE_RESERVATION = timedelta(minutes=5)
REPLAYED_HEADER = "Idempotency-Replayed"

ModelT = TypeVar("ModelT", bound=BaseModel)


def request_hash(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, path and canonical JSON body (key order and spacing do not matter)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


class Idempotency:
    """The Idempotency-Key state of one request."""

    def __init__(
        self, repository: IdempotencyRepository, *, tenant_id: str, route: str, key: str | None, digest: str
    ) -> None:
        self.repository = repository
        self.tenant_id = tenant_id
        self.route = route
        self.key = key
        self.digest = digest
        self.reserved = False
        self.completed = False

    def run(
        self,
        status_code: int,
        action: Callable[[], ModelT],
        *,
        headers: Callable[[ModelT], dict[str, str]] | None = None,
    ) -> Response:
        """Answer a retry with the first response; otherwise run the action and keep its response."""
        replay = self.begin()
        if replay is not None:
            return replay
        payload = action()
        return self.complete(status_code, payload, headers=headers(payload) if headers else None)

    def begin(self) -> Response | None:
        """Reserve the key; return the stored response when this is a retry of a finished request."""
        if self.key is None:
            return None
        for _ in range(3):
            if self._reserve():
                return None
            stored = self.repository.collection.find_one(self._filter())
            if stored is None:  # released between our insert and our read: the first request failed
                continue
            if stored["request_hash"] != self.digest:
                raise InvalidRequestError(
                    "this Idempotency-Key was already used with a different request",
                    fields={
                        "header.Idempotency-Key": "a key may only retry the identical request; send a new key"
                    },
                )
            if stored["status_code"] == IN_PROGRESS:
                if self._take_over(stored["created_at"]):
                    return None
                raise ConflictError(
                    "a request with this Idempotency-Key is still being processed; retry shortly"
                )
            return Response(
                content=stored["body"],
                status_code=int(stored["status_code"]),
                media_type="application/json",
                headers={**(stored.get("headers") or {}), REPLAYED_HEADER: "true"},
            )
        raise ConflictError("this Idempotency-Key is contended by concurrent requests; retry shortly")

    def _reserve(self) -> bool:
        self.reserved = self.repository.save(
            self.tenant_id,
            route=self.route,
            key=self.key or "",
            request_hash=self.digest,
            status_code=IN_PROGRESS,
            body=None,
        )
        return self.reserved

    def _take_over(self, started: datetime) -> bool:
        # A reservation older than any request can run belongs to a request that died (timeout, crash).
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        if utcnow() - started < STALE_RESERVATION:
            return False
        result = self.repository.collection.update_one(
            {**self._filter(), "status_code": IN_PROGRESS, "created_at": started},
            {"$set": {"created_at": utcnow()}},
        )
        self.reserved = result.modified_count == 1
        return self.reserved

    def complete(
        self, status_code: int, payload: BaseModel, *, headers: dict[str, str] | None = None
    ) -> Response:
        """Build the response and, under a key, keep it for retries."""
        content = payload.model_dump_json(by_alias=True)
        if self.reserved:
            stored = {
                "status_code": status_code,
                "body": content,
                "headers": headers or {},
                "created_at": utcnow(),
            }
            self.repository.collection.update_one(self._filter(), {"$set": stored})
            self.completed = True
        return Response(
            content=content, status_code=status_code, media_type="application/json", headers=headers
        )

    def release(self) -> None:
        """Forget an unfinished reservation so that a retry runs again."""
        if self.reserved and not self.completed:
            self.repository.collection.delete_one({**self._filter(), "status_code": IN_PROGRESS})
            self.reserved = False

    def _filter(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "route": self.route, "key": self.key}


async def idempotency_dependency(
    request: Request,
    tenant: TenantDep,
    db: DatabaseDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="retrying with the same key returns the first response instead of acting twice",
        ),
    ] = None,
) -> AsyncIterator[Idempotency]:
    """The request's idempotency state; an unfinished reservation is released when the route fails."""
    body = await request.body()
    state = Idempotency(
        IdempotencyRepository(db),
        tenant_id=tenant.tenant_id,
        route=f"{request.method} {request.url.path}",
        key=idempotency_key,
        digest=request_hash(request.method, request.url.path, body),
    )
    try:
        yield state
    finally:
        if state.reserved and not state.completed:
            await offload(state.release)


IdempotencyDep = Annotated[Idempotency, Depends(idempotency_dependency, scope="function")]
