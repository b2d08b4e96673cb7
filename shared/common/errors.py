"""Exceptions of the Resource Service; every one carries a reason a user can act on.

Two kinds: a `TransientError` is a fault a retry can cure (database, broker, a lease held elsewhere, a
secret that could not be read), so a queue trigger redelivers the message; every other error is
terminal for the work at hand and is recorded on it. `wrapper_toolkit.ToolkitError` stays in the toolkit:
it is part of the contract with stored parse code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class ResourceServiceError(Exception):
    """Base of every error the service raises on purpose."""


class TransientError(ResourceServiceError):
    """A fault a retry can cure: the work is redone later rather than recorded as failed."""


class SourceError(ResourceServiceError):
    """The source cannot be read."""


class UnsafeSourceError(SourceError):
    """The source was refused for safety (address, archive or XML checks)."""


class UnsupportedFormatError(SourceError):
    """The source is not CSV, XLSX or JSON."""


class FetchPlanError(SourceError):
    """The fetch spec cannot be executed as written (missing secret, bad pagination)."""


class NoSeriesFoundError(ResourceServiceError):
    """No time series could be located in the source."""


class GenerationError(ResourceServiceError):
    """A generator could not produce a wrapper."""


class GeminiError(GenerationError):
    """Gemini did not produce a wrapper; `exchanges` holds everything said until it stopped."""

    def __init__(self, message: str, exchanges: Sequence[Any]) -> None:
        super().__init__(message)
        # shared.domain.wrapper.Exchange records; typed loosely because common sits below domain.
        self.exchanges = list(exchanges)


class HintError(ResourceServiceError):
    """A layout hint names something the source does not have; the message lists what it does have."""


class WrapperValidationError(ResourceServiceError):
    """A wrapper failed validation; `report` says why."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class SandboxError(ResourceServiceError):
    """The sandboxed parse run failed or was stopped."""


class RunFailedError(ResourceServiceError):
    """The wrapper could not turn the fetched data into valid points."""


class LeaseLostError(ResourceServiceError):
    """Another task took the wrapper over (or it was stopped) while this run was still going."""


class NotFoundError(ResourceServiceError):
    """The record does not exist (or belongs to another tenant)."""


class ConflictError(ResourceServiceError):
    """The request conflicts with the record's current state; `status` is that state when there is one."""

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


class InvalidRequestError(ResourceServiceError):
    """A request value is not acceptable; `fields` maps each offending field to the reason."""

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class ForbiddenError(InvalidRequestError):
    """A request points at something the caller may not use (e.g. an object another tenant uploaded)."""


class BrokerError(TransientError):
    """RabbitMQ refused or lost a message (unroutable, nacked, channel closed)."""


class BrokerUnavailableError(BrokerError):
    """RabbitMQ could not be reached after the configured connection attempts."""


class OutboxPendingError(BrokerError):
    """Points are stored but RabbitMQ has not confirmed them all; a later tick publishes them."""


class QueueArgumentsError(ResourceServiceError):
    """A queue exists with other arguments (limits, dead letters) than the service declares; migrate it."""


class DatabaseUnavailableError(TransientError):
    """MongoDB could not be reached: the work stopped; the next attempt starts over."""


class SecretUnavailableError(TransientError):
    """A secret could not be read."""


class WorkerBusyError(TransientError):
    """Another worker holds the wrapper's lease: retry later."""


class TransientBatchError(TransientError):
    """Some messages met a transient fault: fail the batch so the trigger redelivers it."""


class ServiceClientError(ResourceServiceError):
    """A call of the command line's service client failed; `status` is the HTTP status when one came back."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JobStoppedError(BaseException):
    """The job was asked to stop (SIGTERM) while a run was under way: the run is closed as interrupted.

    A BaseException, like KeyboardInterrupt: it may be raised from a signal handler in the middle of a
    fetch, and no `except Exception` on the way may turn it into a failure of the wrapper.
    """


class JsonDepthError(ResourceServiceError, ValueError):
    """A JSON document is nested deeper than the parser accepts (a ValueError, like any malformed JSON)."""
