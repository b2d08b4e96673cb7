"""X-Ray tracing through Powertools Tracer where it can work, a tracer that does nothing elsewhere.

Powertools' Tracer needs the X-Ray SDK, which the Lambda packages leave out (it pulls botocore into
every layer); there, and outside Lambda or with POWERTOOLS_TRACE_DISABLED, the functions get the
no-op tracer, and `Tracing: Active` still traces every invocation at the Lambda level.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

TRACE_DISABLED_ENV = "POWERTOOLS_TRACE_DISABLED"
LAMBDA_ENV = "AWS_LAMBDA_FUNCTION_NAME"


class Tracing(Protocol):
    """The part of Powertools' Tracer the service uses."""

    def capture_lambda_handler(self, lambda_handler: F) -> F: ...
    def capture_method(self, method: F) -> F: ...


class NoTracer:
    """A tracer that records nothing: decorators return the function unchanged."""

    def capture_lambda_handler(self, lambda_handler: F) -> F:
        """Return the handler as it is."""
        return lambda_handler

    def capture_method(self, method: F) -> F:
        """Return the method as it is."""
        return method


def tracing_enabled() -> bool:
    """Whether traces can be sent: inside Lambda, not disabled, with the X-Ray SDK installed."""
    disabled = os.environ.get(TRACE_DISABLED_ENV, "false").strip().lower() in ("1", "true", "yes", "on")
    if disabled or not os.environ.get(LAMBDA_ENV):
        return False
    return importlib.util.find_spec("aws_xray_sdk") is not None


def make_tracer(service: str) -> Tracing:
    """Powertools' Tracer for `service` when tracing is enabled, else the no-op tracer."""
    if not tracing_enabled():
        return NoTracer()
    from aws_lambda_powertools import Tracer

    # Powertools types its decorators loosely (Callable[..., Any]); they keep the function's signature.
    return cast(Tracing, Tracer(service=service))
