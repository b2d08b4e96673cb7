"""Liveness and readiness; neither needs an API key."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from functions.api.dependencies import SettingsDep
from functions.api.errors import ErrorDetail, documented_error, error_response
from functions.api.workers import offload
from shared.common.errors import ResourceServiceError
from shared.common.settings import Settings
from shared.domain.base import DomainModel
from shared.store.database import ping

router = APIRouter(tags=["health"])

Check = Literal["ok", "unavailable"]


class Health(DomainModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class Readiness(DomainModel):
    """The dependencies answer."""

    status: Literal["ready"] = "ready"
    checks: dict[str, Check]


@router.get("/health", response_model=Health)
async def health() -> Health:
    """The process is up (no dependency is contacted)."""
    return Health()


def _mongodb(settings: Settings) -> bool:
    try:
        return ping(settings)
    except ResourceServiceError:  # e.g. the connection secret cannot be read
        return False


def _rabbitmq(settings: Settings) -> bool:
    from shared.messaging.broker import get_publisher  # see publisher_dependency: pika only when needed

    try:
        return get_publisher(settings).ping()
    except ResourceServiceError:
        return False


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: documented_error("MongoDB or RabbitMQ does not answer")},
)
async def ready(settings: SettingsDep) -> Readiness | JSONResponse:
    """MongoDB and RabbitMQ both answer a ping; 503 naming the one that does not."""
    checks: dict[str, Check] = {
        "mongodb": "ok" if await offload(_mongodb, settings) else "unavailable",
        "rabbitmq": "ok" if await offload(_rabbitmq, settings) else "unavailable",
    }
    failed = [name for name, state in checks.items() if state != "ok"]
    if not failed:
        return Readiness(checks=checks)
    return error_response(
        503,
        "not_ready",
        f"not ready: {', '.join(failed)} unavailable",
        details=[ErrorDetail(field=name, reason="did not answer a ping") for name in failed],
    )
