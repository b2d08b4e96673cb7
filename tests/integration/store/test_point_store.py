"""The point store on the real MongoDB wire server and its outbox on the real RabbitMQ."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import SecretStr
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from shared.common.errors import BrokerError, BrokerUnavailableError
from shared.common.settings import Settings
from shared.messaging.broker import OutgoingMessage, Publisher
from shared.messaging.queues import RESOURCE_DATA_QUEUE
from shared.points.keys import series_key
from shared.points.point import Point
from shared.store import point_store
from shared.store.database import ensure_indexes
from shared.store.point_store import PointStore
from shared.store.points import PointRepository

pytestmark = pytest.mark.integration

START = datetime(2020, 1, 1, tzinfo=UTC)


def hourly(count: int, *, dimensions: dict[str, str] | None = None, value: float = 1.0) -> list[Point]:
    return [
        Point(timestamp=START + timedelta(hours=hour), value=value + hour, dimensions=dimensions or {})
        for hour in range(count)
    ]


@pytest.fixture
def db(mongodb_uri: str, database_name: str) -> Iterator[Database]:
    client: MongoClient = MongoClient(mongodb_uri, tz_aware=True)
    database = client[database_name]
    ensure_indexes(database)
    yield database
    client.drop_database(database_name)
    client.close()


@pytest.fixture
def store(db: Database) -> PointStore:
    return PointStore(db)


@pytest.fixture
def queue(amqp_channel: Any) -> Iterator[str]:
    """A queue of this test's own, deleted afterwards (never the shared resource_data)."""
    name = f"rs_test_points_{uuid.uuid4().hex[:12]}"
    amqp_channel.queue_declare(queue=name, durable=True)
    yield name
    amqp_channel.queue_delete(queue=name)


@pytest.fixture
def publisher(amqp_url: str, queue: str) -> Iterator[Publisher]:
    with Publisher(Settings(amqp_url=SecretStr(amqp_url)), queue_names=[queue]) as publisher:
        yield publisher


class FailingPublisher(Publisher):
    """Publishes the first `healthy` batches, then fails as if RabbitMQ were down."""

    def __init__(self, settings: Settings, *, queue: str, healthy: int) -> None:
        super().__init__(settings, queue_names=[queue])
        self.healthy = healthy
        self.calls = 0

    def publish_points(
        self,
        resource_id: str,
        points: Sequence[Point],
        *,
        batch_size: int = 1000,
        message_id_prefix: str | None = None,
        queue: str = RESOURCE_DATA_QUEUE,
    ) -> list[str]:
        self.calls += 1
        if self.calls > self.healthy:
            raise BrokerUnavailableError("RabbitMQ at 127.0.0.1:5672 unreachable after 5 attempts")
        return super().publish_points(
            resource_id, points, batch_size=batch_size, message_id_prefix=message_id_prefix, queue=queue
        )

    def publish_body(
        self, queue: str, body: bytes, *, message_id: str, headers: Mapping[str, Any] | None = None
    ) -> str:
        self.calls += 1
        if self.calls > self.healthy:
            raise BrokerUnavailableError("RabbitMQ at 127.0.0.1:5672 unreachable after 5 attempts")
        return super().publish_body(queue, body, message_id=message_id, headers=headers)

    def publish_window(
        self, queue: str, messages: Sequence[OutgoingMessage], *, on_confirmed: Callable[[int], None]
    ) -> None:
        healthy = max(0, min(len(messages), self.healthy - self.calls))
        self.calls += len(messages)
        super().publish_window(queue, messages[:healthy], on_confirmed=on_confirmed)
        if healthy < len(messages):
            raise BrokerUnavailableError("RabbitMQ at 127.0.0.1:5672 unreachable after 5 attempts")


class InterferingPublisher(Publisher):
    """Publishes, then runs `after_publish` once: another writer acting while a batch is in flight."""

    after_publish: Callable[[], object] | None = None

    def publish_points(
        self,
        resource_id: str,
        points: Sequence[Point],
        *,
        batch_size: int = 1000,
        message_id_prefix: str | None = None,
        queue: str = RESOURCE_DATA_QUEUE,
    ) -> list[str]:
        ids = super().publish_points(
            resource_id, points, batch_size=batch_size, message_id_prefix=message_id_prefix, queue=queue
        )
        self._interfere()
        return ids

    def publish_body(
        self, queue: str, body: bytes, *, message_id: str, headers: Mapping[str, Any] | None = None
    ) -> str:
        message_id = super().publish_body(queue, body, message_id=message_id, headers=headers)
        self._interfere()
        return message_id

    def publish_window(
        self, queue: str, messages: Sequence[OutgoingMessage], *, on_confirmed: Callable[[int], None]
    ) -> None:
        super().publish_window(queue, messages, on_confirmed=on_confirmed)
        self._interfere()

    def _interfere(self) -> None:
        action, self.after_publish = self.after_publish, None
        if action is not None:
            action()


def drain_raw(channel: Any, queue: str) -> list[tuple[str, dict[str, Any], bytes]]:
    """Every message in the queue as (message_id, headers, body bytes), acknowledged."""
    messages = []
    while True:
        method, properties, body = channel.basic_get(queue=queue, auto_ack=True)
        if method is None:
            return messages
        messages.append((properties.message_id, properties.headers, body))


def drain(channel: Any, queue: str) -> list[tuple[str, dict[str, Any]]]:
    """Every message in the queue as (message_id, body), acknowledged."""
    messages = []
    while True:
        method, properties, body = channel.basic_get(queue=queue, auto_ack=True)
        if method is None:
            return messages
        messages.append((properties.message_id, json.loads(body)))


def wire_points(messages: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, float, str]]:
    """The published points as (timestamp, value, series key), in publication order."""
    return [
        (p["timestamp"], p["value"], series_key(p["dimensions"]))
        for _, body in messages
        for p in body["points"]
    ]


# --- store ---------------------------------------------------------------------------------------


def test_new_points_are_counted_and_wait_in_the_outbox(store: PointStore) -> None:
    points = hourly(4, dimensions={"country": "CH"}) + hourly(4, dimensions={"country": "DE"})
    result = store.store("r1", points)
    assert (result.new, result.revised, result.duplicate) == (8, 0, 0)
    assert (result.first, result.last) == (START, START + timedelta(hours=3))
    assert store.unpublished_count("r1") == 8
    assert store.resources_with_outbox() == ["r1"]


def test_the_same_points_again_are_all_duplicates(store: PointStore, db: Database) -> None:
    points = hourly(6, dimensions={"country": "CH"})
    store.store("r1", points)
    again = store.store("r1", points)
    assert (again.new, again.revised, again.duplicate) == (0, 0, 6)
    assert (again.first, again.last) == (START, START + timedelta(hours=5))
    assert db["points"].count_documents({"resource_id": "r1"}) == 6
    assert store.unpublished_count("r1") == 6  # queued once, not twice


def test_a_point_is_keyed_by_resource_time_and_series(store: PointStore, db: Database) -> None:
    store.store("r1", [Point(timestamp=START, value=1.5, dimensions={"sector": "power", "country": "CH"})])
    assert db["points"].find_one() == {
        "_id": 'r1|2020-01-01T00:00:00.000Z|{"country":"CH","sector":"power"}',
        "resource_id": "r1",
        "timestamp": START,
        "value": 1.5,
        "dimensions": {"sector": "power", "country": "CH"},
    }
    assert [index["name"] for index in db["points"].list_indexes()] == ["_id_"]


def test_a_resource_id_with_the_key_separator_is_refused(store: PointStore) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        store.store("r|1", hourly(1))


def test_a_changed_value_is_revised_and_published_again(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    points = hourly(5)
    store.store("r1", points)
    store.flush_outbox("r1", publisher, queue=queue)
    drain(amqp_channel, queue)
    assert store.unpublished_count("r1") == 0

    changed = [*points[:2], points[2].model_copy(update={"value": 99.5}), *points[3:]]
    result = store.store("r1", changed)
    assert (result.new, result.revised, result.duplicate) == (0, 1, 4)
    assert store.unpublished_count("r1") == 1
    stored = PointRepository(store.collection.database).range("r1", start=None, end=None, limit=10)
    assert [p.value for p in stored] == [1.0, 2.0, 99.5, 4.0, 5.0]

    outbox = store.flush_outbox("r1", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (1, 1, 0)
    assert wire_points(drain(amqp_channel, queue)) == [("2020-01-01T02:00:00Z", 99.5, "{}")]
    # Storing the revised value once more changes nothing.
    assert store.store("r1", changed).duplicate == 5


def test_different_dimensions_at_the_same_timestamp_are_different_points(store: PointStore) -> None:
    points = [
        Point(timestamp=START, value=1, dimensions={}),
        Point(timestamp=START, value=2, dimensions={"country": "CH"}),
        Point(timestamp=START, value=3, dimensions={"country": "DE"}),
        Point(timestamp=START, value=4, dimensions={"country": "CH", "sector": "power"}),
    ]
    assert store.store("r1", points).new == 4
    # The order of the dimensions does not name another series.
    same = Point(timestamp=START, value=4, dimensions={"sector": "power", "country": "CH"})
    assert store.store("r1", [same]).duplicate == 1


def test_series_key_is_sorted_compact_json() -> None:
    assert series_key({}) == "{}"
    assert series_key({"b": "2", "a": "1"}) == series_key({"a": "1", "b": "2"}) == '{"a":"1","b":"2"}'
    assert series_key({"région": "Zürich"}) == '{"région":"Zürich"}'


def test_the_same_point_twice_in_one_input_is_stored_once_with_the_last_value(store: PointStore) -> None:
    first, second = Point(timestamp=START, value=1), Point(timestamp=START, value=2)
    result = store.store("r1", [first, second])
    assert (result.new, result.revised, result.duplicate) == (1, 0, 1)
    assert [
        p.value for p in PointRepository(store.collection.database).range("r1", start=None, end=None, limit=5)
    ] == [2.0]


def test_sub_millisecond_timestamps_are_stored_as_milliseconds_and_stay_duplicates(store: PointStore) -> None:
    point = Point(timestamp=START + timedelta(microseconds=123_456), value=1)
    first = store.store("r1", [point])
    assert first.new == 1 and first.first == START + timedelta(microseconds=123_000)
    assert store.store("r1", [point]).duplicate == 1


def test_inputs_larger_than_a_chunk_are_written_chunk_by_chunk(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "CHUNK_SIZE", 4)
    monkeypatch.setattr(point_store, "LOOKUP_GROUP_SIZE", 3)
    points = hourly(7, dimensions={"country": "CH"}) + hourly(7, dimensions={"country": "DE"})
    assert store.store("r1", points).new == 14
    assert store.outbox.count_documents({"resource_id": "r1"}) == 4  # one per chunk
    revised = [p.model_copy(update={"value": -p.value}) if p.timestamp.hour == 6 else p for p in points]
    result = store.store("r1", [*points[:3], *revised])  # overlaps across chunks too
    assert (result.new, result.revised, result.duplicate) == (0, 2, 15)
    assert (result.first, result.last) == (START, START + timedelta(hours=6))


def test_a_chunk_across_many_series_is_compared_point_by_point(store: PointStore) -> None:
    countries = [f"C{index:02d}" for index in range(30)]
    points = [p for country in countries for p in hourly(3, dimensions={"country": country})]
    store.store("r1", points)
    store.store("r2", points)  # another resource in the same window stays apart
    changed = [p.model_copy(update={"value": 0.5}) if p.dimensions["country"] == "C07" else p for p in points]
    result = store.store("r1", [*changed, *hourly(1, dimensions={"country": "new"})])
    assert (result.new, result.revised, result.duplicate) == (1, 3, len(points) - 3)
    assert store.unpublished_count("r2") == len(points)


def test_points_stored_by_another_writer_meanwhile_are_revised_not_lost(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = hourly(3)
    store.store("r1", points)
    # As if another writer inserted them between this writer's read and its insert.
    real = store._stored_values
    calls: list[int] = []

    def first_read_finds_nothing(keys: Any) -> Any:
        calls.append(1)
        return {} if len(calls) == 1 else real(keys)

    monkeypatch.setattr(store, "_stored_values", first_read_finds_nothing)
    changed = [*points[:2], points[2].model_copy(update={"value": 30.0})]
    result = store.store("r1", changed)
    assert (result.new, result.revised, result.duplicate) == (0, 1, 2)
    assert store.collection.find_one({"resource_id": "r1", "value": 30.0}) is not None


def test_empty_input_stores_nothing(store: PointStore) -> None:
    assert store.store("r1", []).model_dump() == {
        "new": 0,
        "revised": 0,
        "duplicate": 0,
        "first": None,
        "last": None,
    }


def test_resources_are_kept_apart_and_deleted_alone(store: PointStore) -> None:
    store.store("r1", hourly(3))
    store.store("r2", hourly(2))
    store.store("r10", hourly(4))  # its ids start like r1's: the separator keeps them apart
    assert store.resources_with_outbox() == ["r1", "r10", "r2"]
    assert store.resources_with_outbox(limit=1) == ["r1"]
    assert store.delete_resource("r1") == 3
    assert store.unpublished_count("r1") == 0
    assert store.resources_with_outbox() == ["r10", "r2"]
    repository = PointRepository(store.collection.database)
    assert [repository.availability(r).count for r in ("r1", "r10", "r2")] == [0, 4, 2]


# --- second pass (chunk digests) -----------------------------------------------------------------


def no_point_reads(keys: Any) -> Any:
    raise AssertionError("a stored chunk's points were read back")


def two_series(count: int) -> list[Point]:
    return hourly(count, dimensions={"country": "CH"}) + hourly(count, dimensions={"country": "DE"})


def test_a_second_pass_stores_nothing_publishes_nothing_and_reads_no_point(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "CHUNK_SIZE", 7)
    points = two_series(10)
    store.store("r1", points)
    assert store.flush_outbox("r1", publisher, queue=queue).published == 20
    drain(amqp_channel, queue)
    monkeypatch.setattr(store, "_stored_values", no_point_reads)
    again = store.store("r1", points)
    assert (again.new, again.revised, again.duplicate) == (0, 0, 20)
    assert (again.first, again.last) == (START, START + timedelta(hours=9))
    assert store.flush_outbox("r1", publisher, queue=queue).published == 0
    assert drain(amqp_channel, queue) == []


def test_one_revised_value_in_an_unchanged_chunk_is_revised_and_published(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = two_series(5)
    store.store("r1", points)
    store.flush_outbox("r1", publisher, queue=queue)
    drain(amqp_channel, queue)
    changed = [*points[:3], points[3].model_copy(update={"value": 40.5}), *points[4:]]
    result = store.store("r1", changed)
    assert (result.new, result.revised, result.duplicate) == (0, 1, 9)
    store.flush_outbox("r1", publisher, queue=queue)
    assert wire_points(drain(amqp_channel, queue)) == [("2020-01-01T03:00:00Z", 40.5, '{"country":"CH"}')]
    monkeypatch.setattr(store, "_stored_values", no_point_reads)
    assert store.store("r1", changed).duplicate == 10


def test_a_chunk_with_one_point_more_or_less_is_compared_point_by_point(store: PointStore) -> None:
    points = hourly(6)
    store.store("r1", points)
    more = store.store("r1", hourly(7))
    assert (more.new, more.revised, more.duplicate) == (1, 0, 6)
    less = store.store("r1", points[:5])
    assert (less.new, less.revised, less.duplicate) == (0, 0, 5)
    changed_less = store.store("r1", [*points[:4], points[4].model_copy(update={"value": 0.5})])
    assert (changed_less.new, changed_less.revised, changed_less.duplicate) == (0, 1, 4)


def test_points_deleted_by_retention_then_fetched_again_are_stored_again(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    points = hourly(10)
    store.store("r1", points)
    store.flush_outbox("r1", publisher, queue=queue)
    drain(amqp_channel, queue)
    assert store.delete_before("r1", START + timedelta(hours=4)) == 4
    again = store.store("r1", points)
    assert (again.new, again.revised, again.duplicate) == (4, 0, 6)
    assert store.collection.count_documents({"resource_id": "r1"}) == 10
    assert store.flush_outbox("r1", publisher, queue=queue).published == 4


def test_a_crash_between_the_points_and_the_digest_leaves_a_correct_next_pass(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = hourly(5)
    store.store("r1", points)
    changed = [*points[:2], points[2].model_copy(update={"value": 30.0}), *points[3:]]

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("killed between the points and the digest")

    with monkeypatch.context() as patch:
        patch.setattr(store.digests, "update_one", killed)
        with pytest.raises(RuntimeError):
            store.store("r1", changed)
    assert store.collection.find_one({"resource_id": "r1", "value": 30.0}) is not None
    # The digest of the first values must not survive their revision.
    back = store.store("r1", points)
    assert (back.new, back.revised, back.duplicate) == (0, 1, 4)
    again = store.store("r1", points)
    assert (again.new, again.revised, again.duplicate) == (0, 0, 5)


def test_a_point_revised_through_another_chunk_clears_the_digests_that_hold_it(
    store: PointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = hourly(8)
    store.store("r1", points)
    store.store("r1", [points[5].model_copy(update={"value": 50.0})])
    result = store.store("r1", points)
    assert (result.new, result.revised, result.duplicate) == (0, 1, 7)


def test_a_revision_by_another_writer_while_a_chunk_is_stored_leaves_no_digest_of_it(
    store: PointStore, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = hourly(4)
    store.store("r1", points)
    changed = [*points[:3], points[3].model_copy(update={"value": 10.0})]
    other = PointStore(db)
    real = store._revise

    def revised_then_overwritten(changes: Any) -> int:
        revised = real(changes)
        other.store("r1", [points[3].model_copy(update={"value": 20.0})])
        return revised

    with monkeypatch.context() as patch:
        patch.setattr(store, "_revise", revised_then_overwritten)
        assert store.store("r1", changed).revised == 1
    assert store.collection.find_one({"resource_id": "r1", "value": 20.0}) is not None
    result = store.store("r1", changed)
    assert (result.new, result.revised, result.duplicate) == (0, 1, 3)


def test_deleting_a_resource_removes_its_digests(store: PointStore) -> None:
    store.store("r1", hourly(3))
    store.store("r10", hourly(2))
    assert store.digests.count_documents({"resource_id": "r1"}) == 1
    store.delete_resource("r1")
    assert store.digests.count_documents({"resource_id": "r1"}) == 0
    assert store.digests.count_documents({"resource_id": "r10"}) == 1
    assert store.store("r1", hourly(3)).new == 3


# --- outbox --------------------------------------------------------------------------------------


def test_flush_publishes_oldest_first_in_batches_with_stable_ids(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    points = hourly(13, dimensions={"country": "DE"}) + hourly(12, dimensions={"country": "CH"})
    store.store("r1", points)
    outbox = store.flush_outbox("r1", publisher, batch_size=10, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (25, 3, 0)
    assert store.resources_with_outbox() == []

    messages = drain(amqp_channel, queue)
    assert [len(body["points"]) for _, body in messages] == [10, 10, 5]
    assert all(body["resource_id"] == "r1" for _, body in messages)
    stamps = [timestamp for timestamp, _, _ in wire_points(messages)]
    assert stamps == sorted(stamps)
    assert sorted(wire_points(messages)) == sorted(
        (p.to_wire()["timestamp"], p.value, series_key(p.dimensions)) for p in points
    )
    assert len({message_id for message_id, _ in messages}) == 3
    assert store.flush_outbox("r1", publisher, batch_size=10, queue=queue).messages == 0


def test_a_flush_that_dies_before_recording_the_confirm_sends_the_same_messages_again(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.store("r1", hourly(25))

    def crash(document: Any, sent: int) -> bool:
        raise RuntimeError("killed after the confirm")

    with monkeypatch.context() as patch:
        patch.setattr(store, "_record_sent", crash)
        with pytest.raises(RuntimeError):
            store.flush_outbox("r1", publisher, batch_size=10, queue=queue)
    assert store.unpublished_count("r1") == 25
    outbox = store.flush_outbox("r1", publisher, batch_size=10, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (25, 3, 0)
    messages = drain(amqp_channel, queue)
    assert [len(body["points"]) for _, body in messages] == [10, 10, 10, 5]
    assert messages[0] == messages[1]  # the same batch under the same id: consumers drop it


def test_queueing_the_same_change_again_moves_it_to_the_end_of_the_outbox(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = hourly(3)
    store.store("r1", points)
    flipped = [points[0].model_copy(update={"value": 10.0})]
    store.store("r1", flipped)
    store.store("r1", [points[0]])  # back to the first value
    earlier = [Point(timestamp=START - timedelta(hours=1), value=7.0)]

    def killed(documents: Any) -> Any:
        raise RuntimeError("killed between queueing the chunk and writing its points")

    with monkeypatch.context() as patch:
        patch.setattr(store, "_insert", killed)
        with pytest.raises(RuntimeError):
            store.store("r1", earlier)
    assert store.store("r1", earlier).new == 1  # the retry queues the same document, not a second
    store.store("r1", flipped)  # the same change as the second store: it must be published last
    assert store.outbox.count_documents({"resource_id": "r1"}) == 4
    assert store.flush_outbox("r1", publisher, queue=queue).messages == 4
    assert wire_points(drain(amqp_channel, queue)) == [
        ("2020-01-01T00:00:00Z", 1.0, "{}"),
        ("2020-01-01T01:00:00Z", 2.0, "{}"),
        ("2020-01-01T02:00:00Z", 3.0, "{}"),
        ("2020-01-01T00:00:00Z", 1.0, "{}"),
        ("2019-12-31T23:00:00Z", 7.0, "{}"),
        ("2020-01-01T00:00:00Z", 10.0, "{}"),
    ]
    stored = PointRepository(store.collection.database).range("r1", start=START, end=None, limit=1)
    assert stored[0].value == 10.0


def test_the_outbox_holds_documents_of_a_few_messages_each_published_in_order(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 4)
    monkeypatch.setattr(point_store, "OUTBOX_DOCUMENT_MESSAGES", 2)
    points = hourly(5, dimensions={"country": "DE"}) + hourly(5, dimensions={"country": "CH"})
    store.store("r1", points)
    documents = list(store.outbox.find({}).sort("queued", 1))
    assert [[m["count"] for m in document["messages"]] for document in documents] == [[4, 4], [2]]
    outbox = store.flush_outbox("r1", publisher, batch_size=3, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (10, 5, 0)
    messages = drain(amqp_channel, queue)
    assert [len(body["points"]) for _, body in messages] == [3, 1, 3, 1, 2]
    assert wire_points(messages) == sorted(
        (p.to_wire()["timestamp"], p.value, series_key(p.dimensions)) for p in points
    )
    assert store.outbox.count_documents({}) == 0


def test_a_broker_outage_keeps_the_unconfirmed_rest_for_the_next_flush(
    store: PointStore, amqp_url: str, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    store.store("r1", hourly(25))
    failing = FailingPublisher(Settings(amqp_url=SecretStr(amqp_url)), queue=queue, healthy=1)
    try:
        with pytest.raises(BrokerUnavailableError):
            store.flush_outbox("r1", failing, batch_size=10, queue=queue)
    finally:
        failing.close()
    assert store.unpublished_count("r1") == 15
    assert store.resources_with_outbox() == ["r1"]

    outbox = store.flush_outbox("r1", publisher, batch_size=10, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (15, 2, 0)
    published = wire_points(drain(amqp_channel, queue))
    assert len(published) == 25 and len(set(published)) == 25
    assert [value for _, value, _ in published] == [1.0 + hour for hour in range(25)]


def test_a_broker_outage_between_the_messages_of_a_document_keeps_only_the_unconfirmed_ones(
    store: PointStore,
    amqp_url: str,
    publisher: Publisher,
    queue: str,
    amqp_channel: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 4)
    store.store("r1", hourly(10))
    failing = FailingPublisher(Settings(amqp_url=SecretStr(amqp_url)), queue=queue, healthy=1)
    try:
        with pytest.raises(BrokerUnavailableError):
            store.flush_outbox("r1", failing, queue=queue)
    finally:
        failing.close()
    assert store.unpublished_count("r1") == 6

    outbox = store.flush_outbox("r1", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (6, 2, 0)
    messages = drain(amqp_channel, queue)
    assert [len(body["points"]) for _, body in messages] == [4, 4, 2]
    assert [value for _, value, _ in wire_points(messages)] == [1.0 + hour for hour in range(10)]


def test_a_value_revised_while_in_flight_stays_in_the_outbox(
    store: PointStore, amqp_url: str, queue: str, amqp_channel: Any
) -> None:
    points = hourly(3)
    store.store("r1", points)
    with InterferingPublisher(Settings(amqp_url=SecretStr(amqp_url)), queue_names=[queue]) as publisher:
        publisher.after_publish = lambda: store.store("r1", [points[1].model_copy(update={"value": 20.0})])
        first = store.flush_outbox("r1", publisher, queue=queue)
        assert (first.published, first.remaining) == (3, 1)
        second = store.flush_outbox("r1", publisher, queue=queue)
        assert (second.published, second.remaining) == (1, 0)
    published = wire_points(drain(amqp_channel, queue))
    assert published[-1] == ("2020-01-01T01:00:00Z", 20.0, "{}")


def test_an_outbox_document_holds_the_message_publish_points_would_send(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    berlin = timezone(timedelta(hours=1))
    points = [
        Point(timestamp=datetime(2020, 1, 1, 1, tzinfo=berlin), value=0.1, dimensions={"b": "2", "a": "ü"}),
        Point(timestamp=START + timedelta(microseconds=123_456), value=1e16, dimensions={}),
        *hourly(3, value=-2.5),
    ]
    store.store("r1", points)
    (document,) = store.outbox.find({"resource_id": "r1"})
    (message,) = document["messages"]
    # The stored points as read back, in outbox order, encoded the way publish_points encodes a batch.
    read_back = [
        Point.model_construct(timestamp=d["timestamp"], value=d["value"], dimensions=d["dimensions"])
        for d in store.collection.find({"resource_id": "r1"}).sort("_id", 1)
    ]
    publisher.publish_points("r1", read_back, queue=queue)
    ((message_id, headers, body),) = drain_raw(amqp_channel, queue)
    assert (message["body"], message["message_id"], message["count"]) == (body, message_id, 5)

    store.flush_outbox("r1", publisher, queue=queue)
    assert drain_raw(amqp_channel, queue) == [(message_id, headers, body)]


def test_flushing_sends_the_stored_body_as_it_is(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    store.store("r1", hourly(3))
    ready = {"body": b'{"ready":"bytes"}', "message_id": "r1:ready", "count": 3}
    store.outbox.update_many({}, {"$set": {"messages": [ready]}})
    outbox = store.flush_outbox("r1", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (3, 1, 0)
    assert [(m, b) for m, _, b in drain_raw(amqp_channel, queue)] == [("r1:ready", b'{"ready":"bytes"}')]


def test_outbox_documents_of_the_previous_version_without_a_body_publish_the_same_messages(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 4)
    monkeypatch.setattr(point_store, "OUTBOX_DOCUMENT_MESSAGES", 1)  # as the previous version wrote them
    points = hourly(5, dimensions={"country": "DE"}) + hourly(5, dimensions={"country": "CH"})
    store.store("r1", points)
    store.flush_outbox("r1", publisher, queue=queue)
    with_bodies = drain_raw(amqp_channel, queue)

    store.store("r2", points)
    for document in store.outbox.find({"resource_id": "r2"}):
        # As the previous version wrote it: the points as [timestamp, value, dimensions], no message.
        wire = [p for message in document["messages"] for p in json.loads(message["body"])["points"]]
        legacy = [[datetime.fromisoformat(p["timestamp"]), p["value"], p["dimensions"]] for p in wire]
        store.outbox.update_one(
            {"_id": document["_id"]}, {"$set": {"points": legacy}, "$unset": {"messages": ""}}
        )
    outbox = store.flush_outbox("r2", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (10, 3, 0)
    without = drain_raw(amqp_channel, queue)
    assert [json.loads(body) for _, _, body in without] == [
        {**json.loads(body), "resource_id": "r2"} for _, _, body in with_bodies
    ]
    assert [headers for _, headers, _ in without] == [
        {**headers, "resource_id": "r2"} for _, headers, _ in with_bodies
    ]


def test_a_flush_killed_after_the_confirms_before_the_delete_sends_them_again_under_the_same_ids(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 4)
    monkeypatch.setattr(point_store, "OUTBOX_DOCUMENT_MESSAGES", 2)
    store.store("r1", hourly(20))

    def killed(documents: Any) -> None:
        raise RuntimeError("killed after the confirms, before the delete")

    with monkeypatch.context() as patch:
        patch.setattr(store, "_delete_confirmed", killed)
        with pytest.raises(RuntimeError):
            store.flush_outbox("r1", publisher, queue=queue)
    first = drain(amqp_channel, queue)
    assert store.unpublished_count("r1") == 20
    outbox = store.flush_outbox("r1", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (20, 5, 0)
    assert drain(amqp_channel, queue) == first  # the same messages under the same ids, in order
    assert [value for _, value, _ in wire_points(first)] == [1.0 + hour for hour in range(20)]


def test_confirmed_outbox_documents_are_deleted_in_queued_order_once_per_group_read(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 2)
    monkeypatch.setattr(point_store, "OUTBOX_DOCUMENT_MESSAGES", 1)
    monkeypatch.setattr(point_store, "FLUSH_GROUP_SIZE", 3)
    store.store("r1", hourly(14))
    queued = [document["_id"] for document in store.outbox.find({}).sort("queued", 1)]
    deleted: list[list[str]] = []
    real = store._delete_confirmed

    def recorded(documents: list[dict[str, Any]]) -> None:
        deleted.append([document["_id"] for document in documents])
        real(documents)

    monkeypatch.setattr(store, "_delete_confirmed", recorded)
    assert store.flush_outbox("r1", publisher, queue=queue).published == 14
    assert [len(group) for group in deleted] == [3, 3, 1]
    assert [key for group in deleted for key in group] == queued
    assert store.outbox.count_documents({}) == 0
    assert len(drain(amqp_channel, queue)) == 7


class DeleteCommands(monitoring.CommandListener):
    """The `delete` commands a client sends to the outbox."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "delete" and event.command["delete"] == "point_outbox":
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_confirmed_outbox_documents_are_deleted_one_by_one_oldest_first_so_a_stopped_delete_leaves_the_newest(
    mongodb_uri: str, db: Database, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    # A delete that stops midway (a crash, a failover) must leave the newest documents only: the next
    # flush sends those again, and an older value sent after a newer one would undo a revision. An
    # ordered delete, one statement per document in queued order, stops that way.
    listener = DeleteCommands()
    client: MongoClient = MongoClient(mongodb_uri, tz_aware=True, event_listeners=[listener])
    try:
        store = PointStore(client[db.name])
        points = hourly(3)
        store.store("r1", points)
        store.store("r1", [points[1].model_copy(update={"value": 20.0})])
        store.store("r1", [points[1]])  # revised back: the newest document must be the last one sent
        queued = [
            {k: d[k] for k in ("resource_id", "queued", "_id")}
            for d in store.outbox.find({}).sort("queued", 1)
        ]
        assert store.flush_outbox("r1", publisher, queue=queue).published == 5
    finally:
        client.close()
    statements = [statement for command in listener.commands for statement in command["deletes"]]
    assert all(command.get("ordered", True) for command in listener.commands)
    assert [dict(statement["q"]) for statement in statements] == queued
    assert all(statement["limit"] == 1 for statement in statements)
    assert wire_points(drain(amqp_channel, queue))[-1] == ("2020-01-01T01:00:00Z", 2.0, "{}")


def test_a_document_confirmed_whole_but_not_deleted_is_deleted_by_the_next_flush_without_sending_it(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any
) -> None:
    store.store("r1", hourly(3))
    store.outbox.update_many({}, {"$set": {"sent": 3}})  # as a flush stopped right after the last confirm
    outbox = store.flush_outbox("r1", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (0, 0, 0)
    assert store.outbox.count_documents({}) == 0
    assert drain(amqp_channel, queue) == []


def test_a_document_queued_again_while_its_group_is_flushed_is_not_deleted(
    store: PointStore, publisher: Publisher, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = hourly(3)
    store.store("r1", points)
    real = store._delete_confirmed

    def requeued_first(documents: list[dict[str, Any]]) -> None:
        store._enqueue("r1", point_store.point_documents("r1", points))  # the same content, queued again
        real(documents)

    with monkeypatch.context() as patch:
        patch.setattr(store, "_delete_confirmed", requeued_first)
        assert store.flush_outbox("r1", publisher, queue=queue).remaining == 3
    assert store.flush_outbox("r1", publisher, queue=queue).published == 3
    assert len(drain(amqp_channel, queue)) == 2


class WindowRecorder(Publisher):
    """Counts the confirm window runs of a flush."""

    runs: list[int]

    def publish_window(
        self, queue: str, messages: Sequence[OutgoingMessage], *, on_confirmed: Callable[[int], None]
    ) -> None:
        self.runs = [*getattr(self, "runs", []), len(messages)]
        super().publish_window(queue, messages, on_confirmed=on_confirmed)


def windowed(amqp_url: str, *, window: int) -> Settings:
    return Settings(amqp_url=SecretStr(amqp_url), broker_confirm_window=window)


def test_a_flush_sends_each_documents_ready_messages_through_the_confirm_window_in_queued_order(
    store: PointStore, amqp_url: str, queue: str, amqp_channel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 2)
    monkeypatch.setattr(point_store, "OUTBOX_DOCUMENT_MESSAGES", 2)
    monkeypatch.setattr(point_store, "FLUSH_GROUP_SIZE", 3)
    store.store("r1", hourly(30))
    documents = list(store.outbox.find({}).sort("queued", 1))
    stored = [(m["message_id"], m["body"]) for d in documents for m in d["messages"]]
    # The fifth document as an earlier version wrote it: sent one message at a time, between two runs.
    legacy = documents[4]
    wire = [p for message in legacy["messages"] for p in json.loads(message["body"])["points"]]
    points = [[datetime.fromisoformat(p["timestamp"]), p["value"], p["dimensions"]] for p in wire]
    store.outbox.update_one({"_id": legacy["_id"]}, {"$set": {"points": points}, "$unset": {"messages": ""}})

    with WindowRecorder(windowed(amqp_url, window=3), queue_names=[queue]) as publisher:
        outbox = store.flush_outbox("r1", publisher, batch_size=2, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (30, 15, 0)
    # Eight documents of two messages (the last of one), each its own window run (a window never holds
    # two documents' messages, which may carry two values of one point); the legacy one goes without.
    assert publisher.runs == [2, 2, 2, 2, 2, 2, 1]
    sent = drain_raw(amqp_channel, queue)
    assert [(m, b) for m, _, b in sent[:8] + sent[10:]] == stored[:8] + stored[10:]
    assert [value for _, value, _ in wire_points([(m, json.loads(b)) for m, _, b in sent])] == [
        1.0 + hour for hour in range(30)
    ]
    assert {json.dumps(headers, sort_keys=True) for _, headers, _ in sent} == {
        '{"batch_count": 1, "batch_index": 0, "resource_id": "r1"}'
    }
    assert store.outbox.count_documents({}) == 0


def test_a_nack_mid_window_deletes_only_the_documents_confirmed_whole_and_keeps_the_rest(
    store: PointStore, amqp_url: str, amqp_channel: Any, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 2)
    monkeypatch.setattr(point_store, "OUTBOX_DOCUMENT_MESSAGES", 2)
    bounded = f"rs_test_points_{uuid.uuid4().hex[:12]}"
    amqp_channel.queue_declare(
        queue=bounded, durable=True, arguments={"x-max-length": 5, "x-overflow": "reject-publish"}
    )
    try:
        store.store("r1", hourly(30))
        with (
            Publisher(windowed(amqp_url, window=8), queue_names=[bounded]) as publisher,
            pytest.raises(BrokerError, match="nacked"),
        ):
            store.flush_outbox("r1", publisher, queue=bounded)
        first = drain(amqp_channel, bounded)
    finally:
        amqp_channel.queue_delete(queue=bounded)
    # Five messages confirmed: two documents whole (deleted), the third's first message (recorded).
    assert len(first) == 5
    assert store.outbox.count_documents({}) == 6
    assert [d["sent"] for d in store.outbox.find({}).sort("queued", 1)][:2] == [2, 0]
    assert store.unpublished_count("r1") == 20

    with Publisher(windowed(amqp_url, window=8), queue_names=[queue]) as publisher:
        outbox = store.flush_outbox("r1", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (20, 10, 0)
    rest = drain(amqp_channel, queue)
    assert [value for _, value, _ in wire_points(first + rest)] == [1.0 + hour for hour in range(30)]


def test_an_unroutable_flush_deletes_nothing_and_the_next_one_sends_everything(
    store: PointStore, amqp_url: str, amqp_channel: Any, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(point_store, "OUTBOX_BATCH_SIZE", 2)
    store.store("r1", hourly(30))
    missing = f"rs_test_missing_{uuid.uuid4().hex[:12]}"
    with Publisher(windowed(amqp_url, window=8), queue_names=[queue]) as publisher:
        with pytest.raises(BrokerError, match="unroutable"):
            store.flush_outbox("r1", publisher, queue=missing)
        assert store.unpublished_count("r1") == 30
        assert [d["sent"] for d in store.outbox.find({})] == [0] * store.outbox.count_documents({})
        outbox = store.flush_outbox("r1", publisher, queue=queue)
    assert (outbox.published, outbox.messages, outbox.remaining) == (30, 15, 0)
    assert [value for _, value, _ in wire_points(drain(amqp_channel, queue))] == [
        1.0 + hour for hour in range(30)
    ]


def test_batch_size_must_be_positive(store: PointStore, publisher: Publisher, queue: str) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        store.flush_outbox("r1", publisher, batch_size=0, queue=queue)


# --- read side -----------------------------------------------------------------------------------


def test_the_api_reads_what_the_store_wrote(store: PointStore) -> None:
    points = hourly(3, dimensions={"country": "DE"}) + hourly(3, dimensions={"country": "CH"})
    store.store("r1", points)
    repository = PointRepository(store.collection.database)
    window = repository.range(
        "r1", start=START + timedelta(hours=1), end=START + timedelta(hours=2), limit=10
    )
    assert [(p.timestamp, p.dimensions["country"]) for p in window] == [
        (START + timedelta(hours=1), "CH"),
        (START + timedelta(hours=1), "DE"),
    ]
    availability = repository.availability("r1")
    assert (availability.first, availability.last, availability.count) == (
        START,
        START + timedelta(hours=2),
        6,
    )
