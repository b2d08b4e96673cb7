"""The whole flow through the Lambda handlers: API (Mangum) → real queue → generate → validate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from functions.api.app import handler as api_handler
from functions.generate_wrapper.handler import handler as generate_handler
from functions.validate_wrapper.handler import handler as validate_handler
from shared.common.settings import Settings
from shared.messaging.broker import declare_queues
from shared.messaging.mq_event import build_rabbitmq_event
from shared.messaging.queues import WRAPPER_CREATION_QUEUE as CREATION_QUEUE
from shared.messaging.queues import WRAPPER_VALIDATION_QUEUE as VALIDATION_QUEUE
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database
from tests.support import FakeLambdaContext, http_api_event, serve_files, take_message

CSV = b"Year,Total,Per Capita\n2018,10,1.2\n2019,11,1.3\n2020,12,1.4\n2021,13,1.5\n"
BUCKET = "rs-uploads"


@pytest.fixture
def env(service_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The functions' environment: test services, loopback sources allowed, S3 in moto, no Gemini key."""
    monkeypatch.setenv("RS_FETCH_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    monkeypatch.setenv("RS_UPLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    for name in ("RS_GEMINI_API_KEY", "GEMINI_API_KEY", "RS_GEMINI_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    from shared.common.settings import get_settings

    get_settings.cache_clear()
    with mock_aws():
        boto3.client("s3", region_name="eu-central-1").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        yield get_settings()


@pytest.fixture
def key(env: Settings) -> str:
    """An API key of the test tenant."""
    return ApiKeyRepository(get_database(env)).create("acme", name="e2e")[1]


@pytest.fixture
def channel(amqp_channel: Any) -> Any:
    """The real broker, with the service's queues declared."""
    declare_queues(amqp_channel)
    return amqp_channel


def call_api(method: str, path: str, *, key: str, body: Any = None) -> tuple[int, Any]:
    """Invoke the API function through Mangum with a real-shaped HTTP API event."""
    response = api_handler(http_api_event(method, path, key=key, body=body), FakeLambdaContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def run_wrapper_functions(channel: Any, wrapper_id: str) -> None:
    """Deliver the real queue messages of a wrapper to the generate and then the validate function."""
    creation = take_message(channel, CREATION_QUEUE, wrapper_id)
    generate_handler(build_rabbitmq_event(CREATION_QUEUE, [creation]), FakeLambdaContext())
    validation = take_message(channel, VALIDATION_QUEUE, wrapper_id)
    validate_handler(build_rabbitmq_event(VALIDATION_QUEUE, [validation]), FakeLambdaContext())


def test_csv_served_over_http_becomes_a_ready_wrapper(key: str, channel: Any) -> None:
    with serve_files({"/emissions.csv": CSV}) as base:
        status, resource = call_api(
            "POST",
            "/resources",
            key=key,
            body={
                "name": "Total emissions",
                "unit": "Mt",
                "source": {"type": "csv", "url": f"{base}/emissions.csv"},
            },
        )
        assert status == 201, resource
        run_wrapper_functions(channel, resource["wrapper_id"])
    status, wrapper = call_api("GET", f"/wrappers/{resource['wrapper_id']}", key=key)
    assert status == 200
    assert wrapper["status"] == "ready", wrapper["status_reason"]
    assert "value_column='Total'" in wrapper["generated_code"]
    assert wrapper["validation"]["ok"] and wrapper["validation"]["summary"]["count"] == 4


def test_uploaded_csv_becomes_a_ready_wrapper(key: str, channel: Any) -> None:
    status, ticket = call_api(
        "POST",
        "/uploads",
        key=key,
        body={"filename": "emissions.csv", "content_type": "text/csv", "size_bytes": len(CSV)},
    )
    assert status == 201, ticket
    upload = requests.post(
        ticket["upload_url"], data=ticket["fields"], files={"file": ("emissions.csv", CSV)}, timeout=10
    )
    assert upload.status_code in (200, 201, 204)
    status, resource = call_api(
        "POST", "/resources", key=key, body={"name": "Total emissions", "source": ticket["source"]}
    )
    assert status == 201, resource
    run_wrapper_functions(channel, resource["wrapper_id"])
    _, wrapper = call_api("GET", f"/wrappers/{resource['wrapper_id']}", key=key)
    assert wrapper["status"] == "ready", wrapper["status_reason"]


def test_broken_source_ends_failed_and_redelivery_changes_nothing(key: str, channel: Any) -> None:
    with serve_files({"/words.csv": b"name,colour\napple,red\npear,green\n"}) as base:
        _, resource = call_api(
            "POST",
            "/resources",
            key=key,
            body={"name": "Anything", "source": {"type": "csv", "url": f"{base}/words.csv"}},
        )
        event = build_rabbitmq_event(
            CREATION_QUEUE, [take_message(channel, CREATION_QUEUE, resource["wrapper_id"])]
        )
        generate_handler(event, FakeLambdaContext())
        _, failed = call_api("GET", f"/wrappers/{resource['wrapper_id']}", key=key)
        for _ in range(2):
            again = generate_handler(event, FakeLambdaContext())
            assert [o["action"] for o in again["outcomes"]] == ["skipped"]
    _, after = call_api("GET", f"/wrappers/{resource['wrapper_id']}", key=key)
    assert failed["status"] == "failed" and "no series found" in failed["status_reason"]
    assert after == failed
