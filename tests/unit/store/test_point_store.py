"""Chunk digests: what makes a second pass over the same points skip reading them back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.points.point import Point, PointSequence
from shared.store.point_store import chunk_digest, column_documents, point_documents

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


COLUMN_CASES = {
    "hourly, one series": [Point(timestamp=START + timedelta(hours=i), value=i / 3) for i in range(50)],
    "several series, one named twice": [
        Point(timestamp=START, value=1.0, dimensions={"country": "CH", "sector": "power"}),
        Point(timestamp=START, value=2.0, dimensions={"sector": "power", "country": "CH"}),
        Point(timestamp=START + timedelta(days=1), value=3.0, dimensions={"sector": "power"}),
        Point(timestamp=START, value=-4.5, dimensions={}),
    ],
    "sub-millisecond and pre-1970 moments": [
        Point(timestamp=moment, value=1.5)
        for moment in (
            START + timedelta(microseconds=1500),
            datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            datetime(1900, 3, 1, 0, 0, 0, 1, tzinfo=UTC),
            datetime(1, 1, 1, tzinfo=UTC),
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        )
    ],
    "stated offsets": [
        Point(timestamp=START.astimezone(timezone(timedelta(hours=hours))), value=float(hours))
        for hours in (-5, 0, 2)
    ],
    "wall clocks": [Point(timestamp=datetime(2020, 1, 1, hour), value=1.0) for hour in range(3)],
}


@pytest.mark.parametrize("case", COLUMN_CASES)
def test_points_held_as_columns_make_the_documents_their_points_make(case: str) -> None:
    points = COLUMN_CASES[case]
    made = column_documents("r1", PointSequence.from_points(points).columns)
    assert made == point_documents("r1", points)
    assert [type(document["timestamp"].tzinfo) for document in made] == [
        type(document["timestamp"].tzinfo) for document in point_documents("r1", points)
    ]


def test_documents_made_from_columns_refuse_a_resource_id_holding_the_separator() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        column_documents("r|1", PointSequence.from_points(COLUMN_CASES["hourly, one series"]).columns)
