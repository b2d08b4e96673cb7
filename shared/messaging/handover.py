"""Hand-over messages between the steps: the publishes that move a wrapper along.

Kept free of the parsing stack so the API function can publish without importing it.
"""

from __future__ import annotations

from typing import Any, Protocol

from shared.common.correlation import current_correlation_id
from shared.domain.models import WrapperRecord
from shared.messaging.queues import RESOURCE_DELETED_QUEUE, WRAPPER_CREATION_QUEUE, WRAPPER_VALIDATION_QUEUE


class MessagePublisher(Protocol):
    """What the steps need of the broker."""

    def publish(self, queue: str, payload: dict[str, Any], *, message_id: str | None = None) -> object:
        """Publish one persistent, confirmed message."""
        ...


def wrapper_message(wrapper_id: str) -> dict[str, str]:
    """The message body of both wrapper queues, with the correlation id of the work that caused it."""
    correlation_id = current_correlation_id()
    if correlation_id is None:
        return {"wrapper_id": wrapper_id}
    return {"wrapper_id": wrapper_id, "correlation_id": correlation_id}


def _message_id(wrapper: WrapperRecord, step: str, revision: str | None) -> str:
    message_id = f"{wrapper.wrapper_id}:{step}:{wrapper.attempts}"
    # A hand-over asked for again (regenerate, re-validate) must not share the id consumers dedupe on.
    return f"{message_id}:{revision}" if revision else message_id


def publish_generation(
    publisher: MessagePublisher, wrapper: WrapperRecord, *, revision: str | None = None
) -> None:
    """Hand a pending wrapper to the generate function."""
    publisher.publish(
        WRAPPER_CREATION_QUEUE,
        wrapper_message(wrapper.wrapper_id),
        message_id=_message_id(wrapper, "generate", revision),
    )


def publish_validation(
    publisher: MessagePublisher, wrapper: WrapperRecord, *, revision: str | None = None
) -> None:
    """Hand a generated wrapper to the validate function."""
    publisher.publish(
        WRAPPER_VALIDATION_QUEUE,
        wrapper_message(wrapper.wrapper_id),
        message_id=_message_id(wrapper, "validate", revision),
    )


def publish_resource_deleted(publisher: MessagePublisher, *, resource_id: str, wrapper_id: str) -> None:
    """Tell the services downstream that a resource is gone."""
    publisher.publish(
        RESOURCE_DELETED_QUEUE,
        {"resource_id": resource_id, "wrapper_id": wrapper_id},
        message_id=f"{resource_id}:deleted",
    )
