"""The API's structured logger; correlation keys live in a context variable, one set per request."""

from __future__ import annotations

from aws_lambda_powertools import Logger

from functions.api.metrics import SERVICE

logger = Logger(service=SERVICE)


def correlate(**keys: str | None) -> None:
    """Add correlation keys (tenant, resource, wrapper) to every log line of the current request."""
    present = {name: value for name, value in keys.items() if value}
    if present:
        logger.thread_safe_append_keys(**present)
