"""/resources/{id}/points and availability: the stored series as JSON and CSV."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests.integration.api.support import (
    add_points,
    assert_error,
    auth,
    create,
)

pytestmark = pytest.mark.integration


def test_points_and_availability_are_empty_before_execution(client: TestClient, key_a: str) -> None:
    resource = create(client, key_a)
    points = client.get(f"/resources/{resource['id']}/points", headers=auth(key_a)).json()
    assert points["items"] == [] and points["next_offset"] is None
    availability = client.get(f"/resources/{resource['id']}/availability", headers=auth(key_a)).json()
    assert availability == {"first": None, "last": None, "count": 0}
    csv_text = client.get(f"/resources/{resource['id']}/points?format=csv", headers=auth(key_a)).text
    assert csv_text == "timestamp,value\n"


def test_points_as_json_and_csv(client: TestClient, db: Database, key_a: str) -> None:
    resource = create(client, key_a)
    rid = resource["id"]
    add_points(db, rid)
    add_points(db, create(client, key_a, name="Other")["id"])  # another resource's points stay apart
    page = client.get(f"/resources/{rid}/points", headers=auth(key_a)).json()
    assert len(page["items"]) == 6
    assert page["items"][0] == {
        "timestamp": "2019-01-01T00:00:00Z",
        "value": 4.5,
        "dimensions": {"country": "CH"},
    }
    window = client.get(
        f"/resources/{rid}/points",
        params={"start": "2020-01-01T00:00:00Z", "end": "2021-01-01", "limit": 1},
        headers=auth(key_a),
    ).json()
    assert [(p["timestamp"], p["value"]) for p in window["items"]] == [("2020-01-01T00:00:00Z", 4.1)]
    assert (window["limit"], window["next_offset"]) == (1, 1)
    second = client.get(
        f"/resources/{rid}/points",
        params={"start": "2020-01-01T00:00:00Z", "end": "2021-01-01", "limit": 1, "offset": 1},
        headers=auth(key_a),
    ).json()
    assert [p["dimensions"]["country"] for p in second["items"]] == ["DE"]
    response = client.get(f"/resources/{rid}/points?format=csv&end=2020-06-01", headers=auth(key_a))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{rid}.csv"' in response.headers["content-disposition"]
    assert response.text.splitlines() == [
        "timestamp,value,country",
        "2019-01-01T00:00:00Z,4.5,CH",
        "2019-01-01T00:00:00Z,8.4,DE",
        "2020-01-01T00:00:00Z,4.1,CH",
        "2020-01-01T00:00:00Z,7.7,DE",
    ]
    availability = client.get(f"/resources/{rid}/availability", headers=auth(key_a)).json()
    assert availability == {"first": "2019-01-01T00:00:00Z", "last": "2021-01-01T00:00:00Z", "count": 6}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=yesterday", "query.start"),
        ("format=xml", "query.format"),
        ("limit=0", "query.limit"),
        ("limit=10001", "query.limit"),
    ],
)
def test_bad_point_queries_are_422(client: TestClient, key_a: str, query: str, field: str) -> None:
    resource = create(client, key_a)
    response = client.get(f"/resources/{resource['id']}/points?{query}", headers=auth(key_a))
    assert assert_error(response, 422, "validation_error")["details"][0]["field"] == field


def test_a_window_that_ends_before_it_starts_is_empty(client: TestClient, db: Database, key_a: str) -> None:
    resource = create(client, key_a)
    add_points(db, resource["id"])
    for query in ("start=2021-01-01&end=2020-01-01", "start=2020-01-01&end=2020-01-01"):
        response = client.get(f"/resources/{resource['id']}/points?{query}", headers=auth(key_a))
        assert response.status_code == 200, response.text
        assert (response.json()["items"], response.json()["next_offset"]) == ([], None)


def test_times_beyond_the_utc_calendar_bound_the_window_at_its_ends(
    client: TestClient, db: Database, key_a: str
) -> None:
    resource = create(client, key_a)
    add_points(db, resource["id"])
    everything = {"start": "0001-01-01T00:00:00+05:00", "end": "9999-12-31T23:59:59-05:00"}
    response = client.get(f"/resources/{resource['id']}/points", params=everything, headers=auth(key_a))
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 6
    nothing = {"start": "9999-12-31T23:59:59-05:00"}
    response = client.get(f"/resources/{resource['id']}/points", params=nothing, headers=auth(key_a))
    assert response.json()["items"] == []


def test_points_of_a_deleted_resource_are_404(client: TestClient, db: Database, key_a: str) -> None:
    resource = create(client, key_a)
    add_points(db, resource["id"])
    client.delete(f"/resources/{resource['id']}", headers=auth(key_a))
    assert_error(client.get(f"/resources/{resource['id']}/points", headers=auth(key_a)), 404, "not_found")
