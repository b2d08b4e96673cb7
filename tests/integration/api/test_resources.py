"""/resources: create, list, get, patch, delete, and the messages they publish."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from shared.store.wrappers import WrapperRepository
from tests.integration.api.support import (
    CREATION,
    DELETED,
    FETCH_SPEC,
    PARSE_CODE,
    Queues,
    assert_error,
    auth,
    closed_port,
    create,
    resource_body,
    set_wrapper,
    use_env,
)

pytestmark = pytest.mark.integration


def test_create_resource_queues_a_pending_wrapper(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    response = client.post("/resources", json=resource_body(), headers=auth(key_a))
    assert response.status_code == 201
    resource = response.json()
    assert response.headers["location"] == f"/resources/{resource['id']}"
    assert resource["name"] == "CO2 emissions per capita, Switzerland"
    assert resource["type"] == "indicator"
    assert resource["source"] == {"type": "csv", "url": "https://example.org/data/co2.csv", "options": {}}
    assert resource["startPeriod"] is None and resource["endPeriod"] is None
    assert "tenant_id" not in resource and "deleted" not in resource
    wrapper = client.get(f"/wrappers/{resource['wrapper_id']}", headers=auth(key_a)).json()
    assert wrapper["status"] == "pending"
    assert wrapper["mode"] == "once"
    assert wrapper["resource_id"] == resource["id"]
    assert wrapper["metadata"] == {
        "name": "CO2 emissions per capita, Switzerland",
        "description": "Annual CO2 emissions per person",
        "unit": "t/capita",
    }
    assert "tenant_id" not in wrapper and "lease_owner" not in wrapper
    messages = queues.of(CREATION, wrapper_id=resource["wrapper_id"])
    assert len(messages) == 1
    # The request's correlation id (its request id: the client sent none) travels with the hand-over.
    assert set(messages[0]) == {"wrapper_id", "correlation_id", "_message_id"}
    assert messages[0]["correlation_id"]


def test_api_sources_run_continuously(client: TestClient, key_a: str) -> None:
    resource = create(
        client,
        key_a,
        source={
            "type": "api",
            "url": "https://api.example.org/intensity",
            "options": {"timezone": "Europe/Zurich"},
        },
        schedule={"rate_seconds": 3600},
    )
    assert resource["schedule"] == {"rate_seconds": 3600, "cron": None}
    wrapper = client.get(f"/wrappers/{resource['wrapper_id']}", headers=auth(key_a)).json()
    assert (wrapper["mode"], wrapper["source_type"]) == ("continuous", "api")


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (resource_body(source={"type": "csv", "url": "ftp://example.org/a.csv"}), "body.source.url", "http"),
        (resource_body(source={"type": "csv", "url": "file:///etc/passwd"}), "body.source.url", "http"),
        ({k: v for k, v in resource_body().items() if k != "name"}, "body.name", "required"),
        (resource_body(name=""), "body.name", "at least 1"),
        (resource_body(colour="blue"), "body.colour", "extra"),
        (resource_body(source={"type": "pdf", "url": "https://e.org/a"}), "body.source.type", "api"),
        (resource_body(schedule={"cron": "* *"}), "body.schedule", "5 fields"),
    ],
)
def test_invalid_resources_are_422_with_field_and_reason(
    client: TestClient, key_a: str, body: dict[str, Any], field: str, reason: str
) -> None:
    error = assert_error(client.post("/resources", json=body, headers=auth(key_a)), 422, "validation_error")
    matching = [d for d in error["details"] if d["field"] == field]
    assert matching, error
    assert reason.lower() in matching[0]["reason"].lower()


def test_malformed_json_is_422(client: TestClient, key_a: str) -> None:
    response = client.post(
        "/resources", content=b"{not json", headers={**auth(key_a), "Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


def test_s3_sources_must_be_the_tenants_uploads(
    client: TestClient, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    foreign = resource_body(source={"type": "csv", "url": "s3://someone-elses-bucket/data.csv"})
    error = assert_error(client.post("/resources", json=foreign, headers=auth(key_a)), 403, "forbidden")
    assert error["details"][0]["field"] == "body.source.url"
    use_env(monkeypatch, upload_bucket="rs-uploads")
    other_tenant = resource_body(source={"type": "csv", "url": "s3://rs-uploads/uploads/tenant-b/x/a.csv"})
    assert client.post("/resources", json=other_tenant, headers=auth(key_a)).status_code == 403
    api_s3 = resource_body(source={"type": "api", "url": "s3://rs-uploads/uploads/tenant-a/x/a.csv"})
    assert client.post("/resources", json=api_s3, headers=auth(key_a)).status_code == 422
    own = resource_body(source={"type": "csv", "url": "s3://rs-uploads/uploads/tenant-a/x/a.csv"})
    assert client.post("/resources", json=own, headers=auth(key_a)).status_code == 201


def test_list_resources_filters_and_pages(client: TestClient, key_a: str) -> None:
    create(client, key_a, name="Grid carbon intensity", source={"type": "api", "url": "https://a.example/x"})
    create(client, key_a, name="Renewable share", type="share")
    create(client, key_a, name="Gas use campus", source={"type": "xlsx", "url": "https://e.org/gas.xlsx"})
    everything = client.get("/resources", headers=auth(key_a)).json()
    assert everything["total"] == 3 and everything["limit"] == 50 and everything["offset"] == 0
    assert {r["name"] for r in everything["items"]} == {
        "Grid carbon intensity",
        "Renewable share",
        "Gas use campus",
    }
    page = client.get("/resources?limit=2&offset=2", headers=auth(key_a)).json()
    assert (page["total"], len(page["items"]), page["offset"]) == (3, 1, 2)
    by_name = client.get("/resources", params={"name": "CARBON"}, headers=auth(key_a)).json()
    assert [r["name"] for r in by_name["items"]] == ["Grid carbon intensity"]
    by_type = client.get("/resources", params={"type": "share"}, headers=auth(key_a)).json()
    assert [r["name"] for r in by_type["items"]] == ["Renewable share"]
    by_source = client.get("/resources", params={"source_type": "xlsx"}, headers=auth(key_a)).json()
    assert [r["name"] for r in by_source["items"]] == ["Gas use campus"]
    regex = client.get("/resources", params={"name": ".*"}, headers=auth(key_a)).json()
    assert regex["total"] == 0  # the filter is a literal substring, not a pattern


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "query.limit"),
        ("limit=501", "query.limit"),
        ("limit=ten", "query.limit"),
        ("offset=-1", "query.offset"),
        ("offset=99999999999999999999", "query.offset"),
        ("source_type=pdf", "query.source_type"),
    ],
)
def test_bad_pagination_and_filters_are_422(client: TestClient, key_a: str, query: str, field: str) -> None:
    for path in ("/resources", "/wrappers"):
        if field == "query.source_type" and path == "/wrappers":
            continue
        error = assert_error(client.get(f"{path}?{query}", headers=auth(key_a)), 422, "validation_error")
        assert error["details"][0]["field"] == field


def test_patch_name_updates_the_wrapper_metadata_without_regenerating(
    client: TestClient, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    queues.mine(CREATION)
    response = client.patch(
        f"/resources/{resource['id']}",
        json={"name": "CO2 per capita (CH)", "schedule": None},
        headers=auth(key_a),
    )
    assert response.status_code == 200
    assert response.json()["name"] == "CO2 per capita (CH)"
    assert response.json()["updated_at"] > resource["updated_at"]
    wrapper = client.get(f"/wrappers/{resource['wrapper_id']}", headers=auth(key_a)).json()
    assert wrapper["metadata"]["name"] == "CO2 per capita (CH)"
    assert wrapper["status"] == "pending"
    assert queues.mine(CREATION) == []


def test_patch_source_sends_the_wrapper_back_to_generation(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    wid = resource["wrapper_id"]
    first = queues.of(CREATION, wrapper_id=wid)
    set_wrapper(
        db,
        wid,
        status="ready",
        attempts=2,
        generated_code=PARSE_CODE,
        fetch_spec=FETCH_SPEC,
        generator="gemini-2.5-flash",
        generator_override="heuristic",
        feedback="fix the dates",
        validation={"ok": True},
        high_water_mark=datetime(2020, 1, 1, tzinfo=UTC),
    )
    new_source = {"type": "api", "url": "https://api.example.org/co2", "options": {}}
    response = client.patch(f"/resources/{resource['id']}", json={"source": new_source}, headers=auth(key_a))
    assert response.status_code == 200
    assert response.json()["source"] == new_source
    wrapper = WrapperRepository(db).get(wid)
    assert wrapper.status == "pending"
    assert wrapper.attempts == 0
    assert wrapper.generator_override is None and wrapper.feedback is None and wrapper.validation is None
    assert wrapper.generated_code is None and wrapper.high_water_mark is None
    assert (wrapper.mode, wrapper.source_type) == ("continuous", "api")
    assert wrapper.execution_log[-1].event == "source changed"
    again = queues.of(CREATION, wrapper_id=wid)
    assert len(again) == 1
    assert again[0]["_message_id"] != first[0]["_message_id"]  # not deduplicated as the first hand-over
    # The same source again is no change: nothing is regenerated.
    client.patch(f"/resources/{resource['id']}", json={"source": new_source}, headers=auth(key_a))
    assert queues.mine(CREATION) == []


def test_patch_source_while_the_wrapper_is_busy_is_409_and_changes_nothing(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    set_wrapper(db, resource["wrapper_id"], status="generating")
    queues.mine(CREATION)
    body = {"name": "Renamed", "source": {"type": "csv", "url": "https://example.org/new.csv"}}
    error = assert_error(
        client.patch(f"/resources/{resource['id']}", json=body, headers=auth(key_a)), 409, "conflict"
    )
    assert "generating" in error["message"]
    unchanged = client.get(f"/resources/{resource['id']}", headers=auth(key_a)).json()
    assert unchanged["source"] == resource["source"] and unchanged["name"] == resource["name"]
    assert queues.mine(CREATION) == []


def test_patch_rejects_nulls_extra_fields_and_bad_urls(client: TestClient, key_a: str) -> None:
    resource = create(client, key_a)
    path = f"/resources/{resource['id']}"
    error = assert_error(
        client.patch(path, json={"name": None}, headers=auth(key_a)), 422, "validation_error"
    )
    assert error["details"] == [{"field": "body.name", "reason": "may not be null"}]
    assert client.patch(path, json={"owner": "x"}, headers=auth(key_a)).status_code == 422
    bad = {"source": {"type": "csv", "url": "gopher://x"}}
    assert client.patch(path, json=bad, headers=auth(key_a)).status_code == 422


def test_delete_is_soft_stops_the_wrapper_and_announces_once(
    client: TestClient, db: Database, key_a: str, queues: Queues
) -> None:
    resource = create(client, key_a)
    rid, wid = resource["id"], resource["wrapper_id"]
    first = client.delete(f"/resources/{rid}", headers=auth(key_a))
    assert first.status_code == 204 and first.content == b""
    assert_error(client.delete(f"/resources/{rid}", headers=auth(key_a)), 404, "not_found")
    assert_error(client.get(f"/resources/{rid}", headers=auth(key_a)), 404, "not_found")
    assert client.get("/resources", headers=auth(key_a)).json()["total"] == 0
    stored = db["resources"].find_one({"wrapper_id": wid})
    assert stored is not None and stored["deleted"] is True  # still stored, marked deleted
    wrapper = client.get(f"/wrappers/{wid}", headers=auth(key_a)).json()
    assert wrapper["status"] == "stopped"
    messages = queues.of(DELETED, resource_id=rid)
    assert [{k: v for k, v in m.items() if k != "_message_id"} for m in messages] == [
        {"resource_id": rid, "wrapper_id": wid}
    ]
    assert_error(client.post(f"/wrappers/{wid}/regenerate", headers=auth(key_a)), 409, "conflict")


def test_concurrent_deletes_publish_one_message(client: TestClient, key_a: str, queues: Queues) -> None:
    resource = create(client, key_a)
    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = sorted(
            pool.map(
                lambda _: client.delete(f"/resources/{resource['id']}", headers=auth(key_a)).status_code,
                range(5),
            )
        )
    assert statuses == [204, 404, 404, 404, 404]
    assert len(queues.of(DELETED, resource_id=resource["id"])) == 1


def test_broker_down_create_is_503_and_leaves_nothing_behind(
    client: TestClient, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(
        monkeypatch,
        amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F",
        broker_connect_attempts="1",
    )
    headers = {**auth(key_a), "Idempotency-Key": "while-down"}
    error = assert_error(
        client.post("/resources", json=resource_body(), headers=headers), 503, "broker_unavailable"
    )
    assert "RabbitMQ" in error["message"] and "guest" not in error["message"]
    assert client.get("/resources", headers=auth(key_a)).json()["total"] == 0
    assert client.get("/wrappers", headers=auth(key_a)).json()["total"] == 0


# --- files keep up; credentials by name ---------------------------------------------------------


def test_a_file_with_a_schedule_is_kept_up_with_and_follows_schedule_changes(
    client: TestClient, db: Database, key_a: str
) -> None:
    resource = create(client, key_a, schedule={"rate_seconds": 86400})
    wrapper_id = resource["wrapper_id"]
    assert client.get(f"/wrappers/{wrapper_id}", headers=auth(key_a)).json()["mode"] == "continuous"

    unscheduled = client.patch(f"/resources/{resource['id']}", json={"schedule": None}, headers=auth(key_a))
    assert unscheduled.status_code == 200
    assert client.get(f"/wrappers/{wrapper_id}", headers=auth(key_a)).json()["mode"] == "once"

    # A file read once and done starts running on its new schedule.
    set_wrapper(db, wrapper_id, status="completed", fetch_spec=FETCH_SPEC, generated_code=PARSE_CODE)
    scheduled = client.patch(
        f"/resources/{resource['id']}", json={"schedule": {"cron": "0 6 * * *"}}, headers=auth(key_a)
    )
    assert scheduled.status_code == 200
    wrapper = client.get(f"/wrappers/{wrapper_id}", headers=auth(key_a)).json()
    assert (wrapper["mode"], wrapper["status"]) == ("continuous", "running")
    assert wrapper["next_run_at"] is not None


def test_a_schedule_on_an_uploaded_object_is_refused_with_the_reason(
    client: TestClient, key_a: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, upload_bucket="rs-uploads")
    upload = {"type": "csv", "url": "s3://rs-uploads/uploads/tenant-a/x/a.csv"}
    body = resource_body(source=upload, schedule={"rate_seconds": 3600})
    error = assert_error(client.post("/resources", json=body, headers=auth(key_a)), 422, "validation_error")
    assert error["details"][0]["field"] == "body.schedule"
    assert "uploaded object, which never changes" in error["details"][0]["reason"]

    resource = create(client, key_a, source=upload)
    patch = client.patch(
        f"/resources/{resource['id']}", json={"schedule": {"rate_seconds": 3600}}, headers=auth(key_a)
    )
    assert assert_error(patch, 422, "validation_error")["details"][0]["field"] == "body.schedule"
    assert client.get(f"/resources/{resource['id']}", headers=auth(key_a)).json()["schedule"] is None


def test_credentials_are_taken_by_name_and_a_literal_value_is_refused_unquoted(
    client: TestClient, key_a: str
) -> None:
    named = {"headers": {"X-Api-Key": {"secret": "eia"}}, "query": {"api_key": {"secret": "eia"}}}
    source = {"type": "api", "url": "https://api.example.org/series", "options": named}
    assert create(client, key_a, source=source)["source"]["options"] == named

    literal = {**source, "options": {"headers": {"X-Api-Key": "9c1f7e3a55d0"}}}
    response = client.post("/resources", json=resource_body(source=literal), headers=auth(key_a))
    error = assert_error(response, 422, "validation_error")
    assert error["details"] == [
        {
            "field": "body.source.options.headers",
            "reason": 'X-Api-Key: give the name of a secret ({"secret": "NAME"}), never its value',
        }
    ]
    assert "9c1f7e3a55d0" not in response.text
