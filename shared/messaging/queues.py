"""The RabbitMQ queue names, written once: the publisher, the hand-overs and the handlers read them here."""

from __future__ import annotations

WRAPPER_CREATION_QUEUE = "wrapper_creation_queue"
WRAPPER_VALIDATION_QUEUE = "wrapper_validation_queue"
RESOURCE_DATA_QUEUE = "resource_data"
RESOURCE_DELETED_QUEUE = "resource_deleted"
COLLECTED_DATA_QUEUE = "collected_data"
QUEUES = (
    WRAPPER_CREATION_QUEUE,
    WRAPPER_VALIDATION_QUEUE,
    RESOURCE_DATA_QUEUE,
    RESOURCE_DELETED_QUEUE,
    COLLECTED_DATA_QUEUE,
)
