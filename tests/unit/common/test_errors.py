"""Domain errors come in two kinds: transient faults a retry cures, and terminal ones recorded on the work."""

from __future__ import annotations

import pytest

from shared.common import errors
from shared.common.errors import ResourceServiceError, TransientError

TRANSIENT = {
    "BrokerError",
    "BrokerUnavailableError",
    "OutboxPendingError",
    "DatabaseUnavailableError",
    "SecretUnavailableError",
    "WorkerBusyError",
    "TransientBatchError",
}


def domain_errors() -> list[type[ResourceServiceError]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, ResourceServiceError) and value is not TransientError
    ]


@pytest.mark.parametrize("error", domain_errors(), ids=lambda error: error.__name__)
def test_only_faults_a_retry_can_cure_are_transient(error: type[ResourceServiceError]) -> None:
    assert issubclass(error, TransientError) == (error.__name__ in TRANSIENT)


def test_every_domain_error_is_named_as_one() -> None:
    assert all(error.__name__.endswith("Error") for error in domain_errors())
    assert {error.__name__ for error in domain_errors()} >= TRANSIENT


def test_errors_carry_what_the_caller_needs_to_answer() -> None:
    conflict = errors.ConflictError("wrapper w is generating", status="generating")
    invalid = errors.InvalidRequestError("bad", fields={"query.limit": "must be at most 100"})
    gemini = errors.GeminiError("no answer", exchanges=("prompt",))
    assert (str(conflict), conflict.status) == ("wrapper w is generating", "generating")
    assert invalid.fields == {"query.limit": "must be at most 100"}
    assert gemini.exchanges == ["prompt"]
