"""The `resource_data` body encoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.common.settings import Settings
from shared.messaging.broker import (
    PROBE_IDLE_SECONDS,
    Publisher,
    ResourceDataMessage,
    declare_queues,
    encode_payload,
    encode_points,
)
from shared.messaging.queues import PARKING_QUEUE, RESOURCE_DATA_QUEUE, queue_arguments
from shared.points.point import Point


def canonical(resource_id: str, points: list[Point]) -> bytes:
    """The body as plain json.dumps writes it: sorted keys, no spaces, UTF-8."""
    message = {"points": [point.in_utc().to_wire() for point in points], "resource_id": resource_id}
    return json.dumps(message, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_encode_points_matches_canonical_json_dumps() -> None:
    start = datetime(2021, 3, 1, 12, tzinfo=UTC)
    points = [
        Point(timestamp=start, value=1.5),
        Point(timestamp=start + timedelta(microseconds=250), value=-0.1, dimensions={"zone": "DE", "a": "é"}),
        Point(timestamp=datetime(2021, 3, 1, 14, tzinfo=timezone(timedelta(hours=2))), value=3),
        Point(timestamp=datetime(1999, 12, 31), value=123456789.125, dimensions={"b": "x", "a": "y"}),
    ]

    assert encode_points("r-ü", points) == canonical("r-ü", points)


def test_encode_points_writes_exponents_that_parse_to_the_same_values() -> None:
    # orjson writes 1e-7 where json.dumps writes 1e-07: the same number, a different text.
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    points = [Point(timestamp=moment, value=value) for value in (1e-7, 1e16, 5e-324)]

    assert json.loads(encode_points("r-1", points)) == json.loads(canonical("r-1", points))


def test_encode_payload_of_a_resource_data_message_is_encode_points() -> None:
    points = [Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC), value=2.0, dimensions={"k": "v"})]

    message = ResourceDataMessage(resource_id="r-1", points=points)

    assert encode_payload(message) == encode_points("r-1", points)
    assert ResourceDataMessage.model_validate_json(encode_payload(message)) == message


def test_encode_points_refuses_a_value_that_is_not_finite() -> None:
    unvalidated = Point.model_construct(timestamp=datetime(2020, 1, 1, tzinfo=UTC), value=float("nan"))

    with pytest.raises(ValueError, match="not a finite number"):
        encode_points("r-1", [unvalidated])


def test_encode_points_keeps_a_dimension_whose_text_looks_like_a_null_value() -> None:
    point = Point(timestamp=datetime(2020, 1, 1, tzinfo=UTC), value=1.0, dimensions={"note": '"value":null'})

    assert json.loads(encode_points("r-1", [point]))["points"][0]["dimensions"] == {"note": '"value":null'}


def test_encode_points_validates_what_is_not_a_point_yet() -> None:
    raw = {"timestamp": "2020-01-01T00:00:00+01:00", "value": "2.5", "dimensions": {}}

    body = json.loads(encode_points("r-1", [raw]))  # type: ignore[list-item]

    assert body["points"] == [{"dimensions": {}, "timestamp": "2019-12-31T23:00:00Z", "value": 2.5}]


class DeclaringChannel:
    """Records the queues declared on it, as a channel would receive them."""

    def __init__(self) -> None:
        self.declared: list[tuple[str, bool, dict[str, object] | None]] = []

    def queue_declare(self, queue: str, *, durable: bool, arguments: dict[str, object] | None = None) -> None:
        self.declared.append((queue, durable, arguments))


def test_a_queue_that_dead_letters_is_declared_after_its_target_so_no_dead_letter_is_dropped() -> None:
    channel = DeclaringChannel()
    settings = Settings()

    declare_queues(channel, [RESOURCE_DATA_QUEUE, "scratch"], settings=settings)  # type: ignore[arg-type]

    assert channel.declared == [
        (PARKING_QUEUE, True, None),
        (RESOURCE_DATA_QUEUE, True, queue_arguments(RESOURCE_DATA_QUEUE, settings)),
        ("scratch", True, None),
    ]


class IdleConnection:
    """An open connection that counts how often it is serviced (the publisher's probe)."""

    is_open = True

    def __init__(self) -> None:
        self.probes = 0

    def process_data_events(self, time_limit: float | None = None) -> None:
        self.probes += 1


class ConfirmingChannel:
    """An open confirm-mode channel that records the ids it published."""

    is_open = True

    def __init__(self) -> None:
        self.published: list[str] = []

    def basic_publish(
        self, *, exchange: str, routing_key: str, body: bytes, properties: Any, mandatory: bool
    ) -> None:
        self.published.append(properties.message_id)


def test_a_connection_is_probed_before_a_publish_only_once_it_was_idle() -> None:
    publisher = Publisher(Settings(broker_channel_pool_size=1), queue_names=[])
    connection, channel = IdleConnection(), ConfirmingChannel()
    (slot,) = list(publisher._slots.queue)
    slot.connection, slot.channel = connection, channel  # type: ignore[assignment]

    publisher.publish_body("q", b"{}", message_id="m1")  # nothing confirmed on it yet: probed
    publisher.publish_body("q", b"{}", message_id="m2")  # confirmed a moment ago: not probed
    slot.confirmed_at -= PROBE_IDLE_SECONDS
    publisher.publish_body("q", b"{}", message_id="m3")  # idle since: probed

    assert connection.probes == 2
    assert channel.published == ["m1", "m2", "m3"]
