"""Exceptions of the Resource Service; every one carries a reason a user can act on."""

from __future__ import annotations


class ResourceServiceError(Exception):
    """Base of every error the service raises on purpose."""


class SourceError(ResourceServiceError):
    """The source cannot be read."""


class UnsafeSourceError(SourceError):
    """The source was refused for safety (address, archive or XML checks)."""


class UnsupportedFormatError(SourceError):
    """The source is not CSV, XLSX or JSON."""


class NoSeriesFoundError(ResourceServiceError):
    """No time series could be located in the source."""


class GenerationError(ResourceServiceError):
    """A generator could not produce a wrapper."""


class WrapperValidationError(ResourceServiceError):
    """A wrapper failed validation; `report` says why."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class SandboxError(ResourceServiceError):
    """The sandboxed parse run failed or was stopped."""


class BrokerError(ResourceServiceError):
    """RabbitMQ refused or lost a message (unroutable, nacked, channel closed)."""


class BrokerUnavailableError(BrokerError):
    """RabbitMQ could not be reached after the configured connection attempts."""


class HintError(ResourceServiceError):
    """A layout hint names something the source does not have; the message lists what it does have."""
