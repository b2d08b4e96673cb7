"""The RabbitMQ queue names and their arguments, written once: every publisher and handler reads them here."""

from __future__ import annotations

from typing import Any

from shared.common.settings import Settings

WRAPPER_CREATION_QUEUE = "wrapper_creation_queue"
WRAPPER_VALIDATION_QUEUE = "wrapper_validation_queue"
RESOURCE_DATA_QUEUE = "resource_data"
RESOURCE_DELETED_QUEUE = "resource_deleted"
COLLECTED_DATA_QUEUE = "collected_data"
PARKING_QUEUE = "parked_messages"
QUEUES = (
    WRAPPER_CREATION_QUEUE,
    WRAPPER_VALIDATION_QUEUE,
    RESOURCE_DATA_QUEUE,
    RESOURCE_DELETED_QUEUE,
    COLLECTED_DATA_QUEUE,
    PARKING_QUEUE,
)
# The default exchange routes by queue name, so dead letters need no exchange of their own.
DEFAULT_EXCHANGE = ""


def queue_arguments(name: str, settings: Settings) -> dict[str, Any]:
    """The declaration arguments of a service queue (none for any other queue).

    `resource_data` keeps at most `resource_data_max_messages`; past that its oldest message is
    dead-lettered to the parking queue (drop-head), so publishers keep going and nothing is lost.
    `collected_data` holds raw copies of fetched bytes: at most `collected_data_max_messages`, each for
    `collected_data_ttl_seconds`, the oldest dropped first. The parking queue is unbounded: what lands
    there waits for an operator (`resource-service messages parked|replay`).
    """
    if name == RESOURCE_DATA_QUEUE:
        return {
            "x-max-length": settings.resource_data_max_messages,
            "x-overflow": "drop-head",
            "x-dead-letter-exchange": DEFAULT_EXCHANGE,
            "x-dead-letter-routing-key": PARKING_QUEUE,
        }
    if name == COLLECTED_DATA_QUEUE:
        return {
            "x-max-length": settings.collected_data_max_messages,
            "x-message-ttl": settings.collected_data_ttl_seconds * 1000,
            "x-overflow": "drop-head",
        }
    return {}


def dead_letter_queue(arguments: dict[str, Any]) -> str | None:
    """The queue a queue with these arguments dead-letters to, when it does."""
    if "x-dead-letter-exchange" not in arguments:
        return None
    return str(arguments.get("x-dead-letter-routing-key") or "") or None
