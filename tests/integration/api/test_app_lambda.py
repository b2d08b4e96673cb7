"""The API through its Lambda handler (Mangum), with HTTP API v2.0 events built from infra/events/*.json."""

from __future__ import annotations

import copy
import io
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from pymongo.database import Database

from functions.api.app import handler
from functions.api.log import logger
from shared.common.settings import Settings
from tests.integration.api.support import (
    CREATION,
    DELETED,
    EVENTS,
    Queues,
    add_points,
    resource_body,
)

pytestmark = pytest.mark.integration


def lambda_context() -> Any:
    """The parts of a Lambda context object the stack reads."""
    return SimpleNamespace(
        function_name="ApiFunction",
        function_version="$LATEST",
        invoked_function_arn="arn:aws:lambda:eu-central-1:123456789012:function:ApiFunction",
        memory_limit_in_mb=512,
        aws_request_id=str(uuid.uuid4()),
        get_remaining_time_in_millis=lambda: 29_000,
    )


def http_event(
    template: str,
    method: str,
    path: str,
    *,
    key: str | None,
    query: str = "",
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API v2.0 event from an infra/events template, with the request substituted."""
    event = copy.deepcopy(json.loads((EVENTS / template).read_text()))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["requestId"] = f"req-{uuid.uuid4().hex[:12]}"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event_headers = {
        k: v for k, v in event["headers"].items() if k not in ("authorization", "idempotency-key")
    }
    if key is not None:
        event_headers["authorization"] = f"Bearer {key}"
    event_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    if body is None:
        event.pop("body", None)
        event_headers["content-length"] = "0"
    else:
        event["body"] = body if isinstance(body, str) else json.dumps(body)
        event_headers["content-length"] = str(len(event["body"].encode()))
        event_headers["content-type"] = "application/json"
    event["headers"] = event_headers
    return event


def invoke(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Call the Lambda handler; a 500 fails the test."""
    response = handler(event, context or lambda_context())
    assert response["statusCode"] != 500, response
    return dict(response)


def test_event_templates_are_http_api_v2_events() -> None:
    for name in ("api_get_resource.json", "api_create_resource.json"):
        event = json.loads((EVENTS / name).read_text())
        assert event["version"] == "2.0"
        assert event["requestContext"]["http"]["method"] in ("GET", "POST")
        assert event["headers"]["authorization"].startswith("Bearer ")
        assert event["rawPath"] == event["requestContext"]["http"]["path"]
    create_event = json.loads((EVENTS / "api_create_resource.json").read_text())
    assert int(create_event["headers"]["content-length"]) == len(create_event["body"].encode())
    json.loads(create_event["body"])


def test_lambda_create_retry_and_get(db: Database, key_a: str, queues: Queues) -> None:
    template = json.loads((EVENTS / "api_create_resource.json").read_text())
    create_event = http_event(
        "api_create_resource.json",
        "POST",
        "/resources",
        key=key_a,
        body=template["body"],
        headers={"Idempotency-Key": "lambda-create-1"},
    )
    first = invoke(create_event)
    assert first["statusCode"] == 201
    assert first["headers"]["content-type"] == "application/json"
    assert first["headers"]["x-request-id"] == create_event["requestContext"]["requestId"]
    assert first["isBase64Encoded"] is False
    resource = json.loads(first["body"])
    assert resource["name"] == "CO2 emissions per capita, Switzerland"
    retried = invoke(create_event)  # API Gateway or the client retrying the same request
    assert retried["statusCode"] == 201 and json.loads(retried["body"]) == resource
    assert db["resources"].count_documents({}) == 1
    assert len(queues.of(CREATION, wrapper_id=resource["wrapper_id"])) == 1

    got = invoke(http_event("api_get_resource.json", "GET", f"/resources/{resource['id']}", key=key_a))
    assert got["statusCode"] == 200
    assert json.loads(got["body"]) == resource
    listed = invoke(
        http_event("api_get_resource.json", "GET", "/resources", key=key_a, query="name=co2&limit=5")
    )
    assert json.loads(listed["body"])["total"] == 1


def test_lambda_auth_delete_and_csv(db: Database, key_a: str, key_b: str, queues: Queues) -> None:
    missing = invoke(http_event("api_get_resource.json", "GET", "/resources", key=None))
    assert missing["statusCode"] == 401
    assert missing["headers"]["www-authenticate"].startswith("Bearer")
    assert json.loads(missing["body"])["error"]["code"] == "unauthorized"
    created = invoke(
        http_event("api_create_resource.json", "POST", "/resources", key=key_a, body=resource_body())
    )
    resource = json.loads(created["body"])
    add_points(db, resource["id"])
    csv_response = invoke(
        http_event(
            "api_get_resource.json",
            "GET",
            f"/resources/{resource['id']}/points",
            key=key_a,
            query="format=csv",
        )
    )
    assert csv_response["statusCode"] == 200
    assert csv_response["headers"]["content-type"].startswith("text/csv")
    assert csv_response["isBase64Encoded"] is False
    assert csv_response["body"].splitlines()[0] == "timestamp,value,country"
    other = invoke(http_event("api_get_resource.json", "DELETE", f"/resources/{resource['id']}", key=key_b))
    assert other["statusCode"] == 404
    deleted = invoke(http_event("api_get_resource.json", "DELETE", f"/resources/{resource['id']}", key=key_a))
    assert deleted["statusCode"] == 204
    again = invoke(http_event("api_get_resource.json", "DELETE", f"/resources/{resource['id']}", key=key_a))
    assert again["statusCode"] == 404
    assert len(queues.of(DELETED, resource_id=resource["id"])) == 1
    invalid = invoke(http_event("api_create_resource.json", "POST", "/resources", key=key_a, body="{}"))
    assert invalid["statusCode"] == 422
    assert {d["field"] for d in json.loads(invalid["body"])["error"]["details"]} == {
        "body.name",
        "body.source",
    }


@contextmanager
def log_lines() -> Iterator[list[dict[str, Any]]]:
    """The API logger's JSON lines written inside the block (the list fills when the block ends)."""
    stream = io.StringIO()
    handler_ = logger.registered_handler
    assert hasattr(handler_, "setStream")
    previous = handler_.setStream(stream)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        handler_.setStream(previous)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.strip())


def test_lambda_request_line_keeps_its_fields(db: Database, key_a: str) -> None:
    with log_lines() as lines:
        created = invoke(
            http_event("api_create_resource.json", "POST", "/resources", key=key_a, body=resource_body())
        )
        resource = json.loads(created["body"])
        event = http_event("api_get_resource.json", "GET", f"/resources/{resource['id']}", key=key_a)
        context = lambda_context()
        got = invoke(event, context)
    assert got["statusCode"] == 200
    request_id = event["requestContext"]["requestId"]
    assert got["headers"]["x-request-id"] == request_id
    line = next(line for line in lines if line["message"] == "request" and line["request_id"] == request_id)
    assert set(line) == {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "request_id",
        "method",
        "path",
        "status",
        "duration_ms",
        "tenant_id",
        "correlation_id",
        # the line is also the request's EMF metric record
        "_aws",
        "route",
        "Requests",
        "Latency",
        # inject_lambda_context: the invocation's fields
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
    }
    assert line["function_request_id"] == context.aws_request_id
    assert line["correlation_id"] == request_id  # no X-Correlation-Id sent: the gateway's request id
    assert (line["method"], line["path"], line["status"]) == ("GET", f"/resources/{resource['id']}", "200")
    assert line["tenant_id"] == "tenant-a"
    # The creation's own lines still carry the correlation keys of its request.
    created_line = next(line for line in lines if line["message"] == "resource created")
    assert created_line["resource_id"] == resource["id"] and created_line["key_id"]


def test_lambda_health_ready_and_openapi(settings: Settings) -> None:
    assert json.loads(invoke(http_event("api_get_resource.json", "GET", "/health", key=None))["body"]) == {
        "status": "ok"
    }
    assert invoke(http_event("api_get_resource.json", "GET", "/ready", key=None))["statusCode"] == 200
    spec = invoke(http_event("api_get_resource.json", "GET", "/openapi.json", key=None))
    assert json.loads(spec["body"])["info"]["title"] == "Resource Service API"


def test_each_request_line_is_an_emf_record_by_route_and_status(db: Database, key_a: str) -> None:
    created = invoke(
        http_event("api_create_resource.json", "POST", "/resources", key=key_a, body=resource_body())
    )
    resource_id = json.loads(created["body"])["id"]
    with log_lines() as lines:
        invoke(http_event("api_get_resource.json", "GET", f"/resources/{resource_id}", key=key_a))
        invoke(http_event("api_get_resource.json", "GET", "/resources/no-such-id", key=key_a))
        invoke(http_event("api_get_resource.json", "GET", "/no/such/route/4711", key=None))
    records = [line for line in lines if "_aws" in line]

    assert [(r["message"], r["route"], r["status"]) for r in records] == [
        ("request", "GET /resources/{resource_id}", "200"),
        ("request", "GET /resources/{resource_id}", "404"),
        ("request", "unmatched", "404"),  # a random path never becomes a dimension value
    ]
    for record in records:
        (directive,) = record["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "ResourceService"
        assert directive["Dimensions"] == [["route", "status", "service"]]
        assert directive["Metrics"] == [
            {"Name": "Requests", "Unit": "Count"},
            {"Name": "Latency", "Unit": "Milliseconds"},
        ]
        # Every dimension is a string member of the line, every metric a number.
        assert all(isinstance(record[name], str) for name in directive["Dimensions"][0])
        assert record["service"] == "resource-service-api"
        assert record["Requests"] == 1
        assert 0 < record["Latency"] < 29_000
        assert abs(record["_aws"]["Timestamp"] / 1000 - time.time()) < 60


def test_the_callers_correlation_id_goes_into_the_creation_message(
    db: Database, key_a: str, queues: Queues
) -> None:
    given = invoke(
        http_event(
            "api_create_resource.json",
            "POST",
            "/resources",
            key=key_a,
            body=resource_body(),
            headers={"X-Correlation-Id": "order-4711.retry-2"},
        )
    )
    assert given["headers"]["x-correlation-id"] == "order-4711.retry-2"
    (message,) = queues.of(CREATION, wrapper_id=json.loads(given["body"])["wrapper_id"])
    assert message["correlation_id"] == "order-4711.retry-2"

    # Without one (or with one that is not a plain token), the request's own id is the correlation id.
    event = http_event(
        "api_create_resource.json",
        "POST",
        "/resources",
        key=key_a,
        body=resource_body(),
        headers={"X-Correlation-Id": "bad value\r\nX-Injected: 1"},
    )
    own = invoke(event)
    request_id = event["requestContext"]["requestId"]
    assert own["headers"]["x-correlation-id"] == request_id
    (message,) = queues.of(CREATION, wrapper_id=json.loads(own["body"])["wrapper_id"])
    assert message["correlation_id"] == request_id
