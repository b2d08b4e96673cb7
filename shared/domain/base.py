"""The base of the service's pydantic models: each builds its validator and serializer on first use."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DomainModel(BaseModel):
    """A pydantic model whose schema is built when it is first used, not when its class is defined."""

    # The API imports every model but a request uses a few (GET /resources/{id}: the key and the
    # resource). Built at import, they cost a cold start ~10 ms, and FastAPI's per-route response
    # adapters built most of them once more; deferred, a container builds only what it serves.
    model_config = ConfigDict(defer_build=True)
