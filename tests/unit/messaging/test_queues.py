"""Queue arguments, in one place: resource_data overflows into the parking queue, collected_data expires."""

from __future__ import annotations

from shared.common.settings import Settings
from shared.messaging.queues import (
    COLLECTED_DATA_QUEUE,
    PARKING_QUEUE,
    QUEUES,
    RESOURCE_DATA_QUEUE,
    WRAPPER_CREATION_QUEUE,
    dead_letter_queue,
    queue_arguments,
)

SETTINGS = Settings(
    resource_data_max_messages=7, collected_data_max_messages=5, collected_data_ttl_seconds=60
)


def test_resource_data_drops_its_oldest_message_into_the_parking_queue() -> None:
    arguments = queue_arguments(RESOURCE_DATA_QUEUE, SETTINGS)

    assert arguments == {
        "x-max-length": 7,
        "x-overflow": "drop-head",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": PARKING_QUEUE,
    }
    assert dead_letter_queue(arguments) == PARKING_QUEUE


def test_collected_data_is_bounded_in_length_and_age_without_a_dead_letter_route() -> None:
    arguments = queue_arguments(COLLECTED_DATA_QUEUE, SETTINGS)

    assert arguments == {"x-max-length": 5, "x-message-ttl": 60_000, "x-overflow": "drop-head"}
    assert dead_letter_queue(arguments) is None


def test_the_other_queues_and_scratch_queues_have_no_arguments() -> None:
    assert PARKING_QUEUE in QUEUES
    for name in (WRAPPER_CREATION_QUEUE, PARKING_QUEUE, "rs_test_scratch"):
        assert queue_arguments(name, SETTINGS) == {}
