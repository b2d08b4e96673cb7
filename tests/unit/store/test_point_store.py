"""Chunk digests: what makes a second pass over the same points skip reading them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.points.point import Point
from shared.store.point_store import chunk_digest, point_documents

START = datetime(2020, 1, 1, tzinfo=UTC)


def documents(values: list[float]) -> dict[str, dict]:
    points = [Point(timestamp=START + timedelta(hours=i), value=v) for i, v in enumerate(values)]
    return {document["_id"]: document for document in point_documents("r1", points)}


def test_the_same_points_in_another_order_have_the_same_key_and_digest() -> None:
    chunk = documents([1.0, 2.0, 3.0])
    assert chunk_digest(dict(reversed(chunk.items()))) == chunk_digest(chunk)


def test_a_changed_value_keeps_the_key_and_changes_the_digest() -> None:
    key, digest = chunk_digest(documents([1.0, 2.0, 3.0]))
    changed_key, changed_digest = chunk_digest(documents([1.0, 2.5, 3.0]))
    assert (changed_key, changed_digest != digest) == (key, True)


def test_a_point_more_changes_the_key() -> None:
    assert chunk_digest(documents([1.0, 2.0]))[0] != chunk_digest(documents([1.0, 2.0, 3.0]))[0]


def test_an_integral_value_digests_like_its_float() -> None:
    chunk = documents([1.0, 2.0])
    as_int = {key: {**document, "value": int(document["value"])} for key, document in chunk.items()}
    assert chunk_digest(as_int) == chunk_digest(chunk)
