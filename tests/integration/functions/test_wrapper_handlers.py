"""The generate/validate Lambda handlers on real RabbitMQ messages and the MongoDB wire server."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pika
import pytest
from moto import mock_aws
from pymongo.errors import ServerSelectionTimeoutError

from functions.generate_wrapper.handler import handler as generate_handler
from functions.validate_wrapper.handler import handler as validate_handler
from shared.common.settings import Settings
from shared.domain.models import ResourceCreate, ResourceSource, SourceType, WrapperMode, WrapperStatus
from shared.messaging.broker import declare_queues
from shared.messaging.handover import publish_generation
from shared.messaging.mq_event import build_rabbitmq_event
from shared.messaging.queues import WRAPPER_CREATION_QUEUE as CREATION_QUEUE
from shared.messaging.queues import WRAPPER_VALIDATION_QUEUE as VALIDATION_QUEUE
from shared.store.database import get_database
from shared.store.prompt_records import PromptRecordRepository
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository
from tests.support import FakeLambdaContext, serve_files, take_message

CSV = b"Year,Total,Per Capita\n2018,10,1.2\n2019,11,1.3\n2020,12,1.4\n2021,13,1.5\n"
TENANT = "tenant-a"


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    """A local HTTP server serving test sources."""
    with serve_files({"/data.csv": CSV, "/words.csv": b"name,colour\napple,red\npear,green\n"}) as base:
        yield base


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Settings:
    """Settings for real services, a database of the test's own, and the local server allowed."""
    return Settings(
        mongodb_uri=mongodb_uri,
        mongodb_database=database_name,
        amqp_url=amqp_url,
        fetch_allowed_networks=["127.0.0.1/32"],
        gemini_api_key=None,
        gemini_secret_arn=None,
    )


@pytest.fixture
def channel(amqp_url: str) -> Iterator[Any]:
    """A channel to read the real queues."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    ch = connection.channel()
    declare_queues(ch)
    yield ch
    connection.close()


@pytest.fixture(autouse=True)
def use_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers read settings from the environment, as in Lambda."""
    monkeypatch.setenv("RS_MONGODB_URI", settings.mongodb_uri.get_secret_value())
    monkeypatch.setenv("RS_MONGODB_DATABASE", settings.mongodb_database)
    monkeypatch.setenv("RS_AMQP_URL", settings.amqp_url.get_secret_value())
    monkeypatch.setenv("RS_FETCH_ALLOWED_NETWORKS", json.dumps(settings.fetch_allowed_networks))
    for name in ("RS_GEMINI_API_KEY", "GEMINI_API_KEY", "RS_GEMINI_SECRET_ARN"):
        monkeypatch.delenv(name, raising=False)
    from shared.common.settings import get_settings

    get_settings.cache_clear()


def create_resource(
    settings: Settings, url: str, *, source_type: SourceType = SourceType.CSV
) -> tuple[str, str]:
    """Store a resource with a pending wrapper and publish its creation message, as the API does."""
    db = get_database(settings)
    wrapper = WrapperRepository(db).create(
        tenant_id=TENANT, resource_id="pending", source_type=source_type, mode=WrapperMode.ONCE, metadata={}
    )
    resource = ResourceRepository(db).create(
        TENANT,
        ResourceCreate(name="Total emissions", unit="Mt", source=ResourceSource(type=source_type, url=url)),
        wrapper_id=wrapper.wrapper_id,
    )
    db["generated_wrappers"].update_one(
        {"wrapper_id": wrapper.wrapper_id}, {"$set": {"resource_id": resource.id}}
    )
    from shared.messaging.broker import get_publisher

    publish_generation(get_publisher(settings), wrapper)
    return resource.id, wrapper.wrapper_id


def test_csv_resource_goes_from_creation_message_to_ready_wrapper(
    settings: Settings, channel: Any, http_base: str
) -> None:
    _, wrapper_id = create_resource(settings, f"{http_base}/data.csv")
    message = take_message(channel, CREATION_QUEUE, wrapper_id)
    assert message[1].delivery_mode == 2 and message[1].message_id == f"{wrapper_id}:generate:0"

    outcome = generate_handler(build_rabbitmq_event(CREATION_QUEUE, [message]), FakeLambdaContext())
    assert [o["action"] for o in outcome["outcomes"]] == ["generated"]
    wrappers = WrapperRepository(get_database(settings))
    assert wrappers.get(wrapper_id).status == WrapperStatus.VALIDATING

    validation_message = take_message(channel, VALIDATION_QUEUE, wrapper_id)
    outcome = validate_handler(
        build_rabbitmq_event(VALIDATION_QUEUE, [validation_message]), FakeLambdaContext()
    )
    assert [o["action"] for o in outcome["outcomes"]] == ["ready"]
    wrapper = wrappers.get(wrapper_id)
    assert wrapper.status == WrapperStatus.READY
    assert wrapper.generator == "heuristic" and "value_column='Total'" in (wrapper.generated_code or "")
    assert wrapper.validation is not None and wrapper.validation["ok"] is True
    assert wrapper.validation["summary"]["count"] == 4
    assert wrapper.attempts == 1 and wrapper.next_run_at is not None
    assert [e.event for e in wrapper.execution_log] == [
        "created",
        "generating",
        "generated",
        "validating",
        "validated",
    ]


def test_redelivering_the_same_events_changes_nothing(
    settings: Settings, channel: Any, http_base: str
) -> None:
    _, wrapper_id = create_resource(settings, f"{http_base}/data.csv")
    creation = build_rabbitmq_event(CREATION_QUEUE, [take_message(channel, CREATION_QUEUE, wrapper_id)])
    generate_handler(creation, FakeLambdaContext())
    validation = build_rabbitmq_event(VALIDATION_QUEUE, [take_message(channel, VALIDATION_QUEUE, wrapper_id)])
    validate_handler(validation, FakeLambdaContext())
    wrappers = WrapperRepository(get_database(settings))
    before = wrappers.get(wrapper_id)

    for _ in range(2):
        again = generate_handler(creation, FakeLambdaContext())
        assert [o["action"] for o in again["outcomes"]] == ["skipped"]
        again = validate_handler(validation, FakeLambdaContext())
        assert [o["action"] for o in again["outcomes"]] == ["skipped"]

    after = wrappers.get(wrapper_id)
    assert after.model_dump() == before.model_dump()
    with pytest.raises(AssertionError, match="no message"):
        take_message(channel, VALIDATION_QUEUE, wrapper_id, timeout=1.0)
    with pytest.raises(AssertionError, match="no message"):
        take_message(channel, CREATION_QUEUE, wrapper_id, timeout=1.0)


def test_broken_source_ends_failed_with_a_reason(settings: Settings, channel: Any, http_base: str) -> None:
    _, wrapper_id = create_resource(settings, f"{http_base}/words.csv")
    event = build_rabbitmq_event(CREATION_QUEUE, [take_message(channel, CREATION_QUEUE, wrapper_id)])
    outcome = generate_handler(event, FakeLambdaContext())
    assert [o["action"] for o in outcome["outcomes"]] == ["failed"]
    wrapper = WrapperRepository(get_database(settings)).get(wrapper_id)
    assert wrapper.status == WrapperStatus.FAILED
    assert wrapper.status_reason is not None and "no series found" in wrapper.status_reason


def test_unreachable_source_ends_failed_naming_the_http_error(
    settings: Settings, channel: Any, http_base: str
) -> None:
    _, wrapper_id = create_resource(settings, f"{http_base}/missing.csv")
    event = build_rabbitmq_event(CREATION_QUEUE, [take_message(channel, CREATION_QUEUE, wrapper_id)])
    generate_handler(event, FakeLambdaContext())
    wrapper = WrapperRepository(get_database(settings)).get(wrapper_id)
    assert wrapper.status == WrapperStatus.FAILED
    assert "HTTP 404" in (wrapper.status_reason or "")


def test_s3_upload_source_is_generated_and_validated(settings: Settings, channel: Any) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="uploads")
        s3.put_object(Bucket="uploads", Key="uploads/tenant-a/data.csv", Body=CSV)
        _, wrapper_id = create_resource(settings, "s3://uploads/uploads/tenant-a/data.csv")
        generate_handler(
            build_rabbitmq_event(CREATION_QUEUE, [take_message(channel, CREATION_QUEUE, wrapper_id)]),
            FakeLambdaContext(),
        )
        validate_handler(
            build_rabbitmq_event(VALIDATION_QUEUE, [take_message(channel, VALIDATION_QUEUE, wrapper_id)]),
            FakeLambdaContext(),
        )
    wrapper = WrapperRepository(get_database(settings)).get(wrapper_id)
    assert wrapper.status == WrapperStatus.READY, wrapper.status_reason


def test_malformed_messages_are_dropped_without_failing_the_batch(settings: Settings) -> None:
    event = build_rabbitmq_event(CREATION_QUEUE, [{"wrong": "shape"}, {"wrapper_id": "not-a-uuid"}])
    outcome = generate_handler(event, FakeLambdaContext())
    assert outcome["outcomes"] == [] and len(outcome["rejected"]) == 2


def test_unknown_wrapper_is_skipped(settings: Settings) -> None:
    event = build_rabbitmq_event(CREATION_QUEUE, [{"wrapper_id": str(uuid.uuid4())}])
    outcome = generate_handler(event, FakeLambdaContext())
    assert [o["action"] for o in outcome["outcomes"]] == ["skipped"]


def test_database_outage_raises_so_the_batch_is_redelivered(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RS_MONGODB_URI", "mongodb://127.0.0.1:9/?directConnection=true")
    monkeypatch.setenv("RS_MONGODB_SERVER_SELECTION_TIMEOUT_MS", "300")
    from shared.common.settings import get_settings

    get_settings.cache_clear()
    event = build_rabbitmq_event(CREATION_QUEUE, [{"wrapper_id": str(uuid.uuid4())}])
    with pytest.raises(ServerSelectionTimeoutError):
        generate_handler(event, FakeLambdaContext())


def test_generation_records_are_kept_for_debugging(settings: Settings, channel: Any, http_base: str) -> None:
    _, wrapper_id = create_resource(settings, f"{http_base}/data.csv")
    generate_handler(
        build_rabbitmq_event(CREATION_QUEUE, [take_message(channel, CREATION_QUEUE, wrapper_id)]),
        FakeLambdaContext(),
    )
    assert (
        PromptRecordRepository(get_database(settings)).list(wrapper_id) == []
    )  # the heuristic has no prompts


def handler_log_lines(service: str, run: Any) -> list[dict[str, Any]]:
    """The JSON lines a queue handler's Powertools logger writes while `run()` runs."""
    import io
    import logging

    (log_handler,) = logging.getLogger(service).handlers
    assert isinstance(log_handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = log_handler.setStream(stream)
    try:
        run()
    finally:
        log_handler.setStream(previous)
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_the_correlation_id_given_to_the_api_reaches_both_handlers_and_their_log_lines(
    settings: Settings, channel: Any, http_base: str
) -> None:
    from fastapi.testclient import TestClient

    from functions.api.app import app
    from shared.store.api_keys import ApiKeyRepository

    _, key = ApiKeyRepository(get_database(settings)).create(TENANT, name="tests")
    with TestClient(app) as client:
        created = client.post(
            "/resources",
            headers={"Authorization": f"Bearer {key}", "X-Correlation-Id": "ticket-981"},
            json={
                "name": "Total emissions",
                "unit": "Mt",
                "source": {"type": "csv", "url": f"{http_base}/data.csv"},
            },
        )
    assert created.status_code == 201, created.text
    wrapper_id = created.json()["wrapper_id"]

    message = take_message(channel, CREATION_QUEUE, wrapper_id)
    assert json.loads(message[2]) == {"wrapper_id": wrapper_id, "correlation_id": "ticket-981"}
    generated: dict[str, Any] = {}
    lines = handler_log_lines(
        "generate-wrapper",
        lambda: generated.update(
            generate_handler(build_rabbitmq_event(CREATION_QUEUE, [message]), FakeLambdaContext())
        ),
    )
    assert [o["action"] for o in generated["outcomes"]] == ["generated"]
    about = [line for line in lines if line.get("wrapper_id") == wrapper_id]
    assert about and all(line["correlation_id"] == "ticket-981" for line in about)

    # The generate step's hand-over carries it on to the validate function.
    validation_message = take_message(channel, VALIDATION_QUEUE, wrapper_id)
    assert json.loads(validation_message[2])["correlation_id"] == "ticket-981"
    lines = handler_log_lines(
        "validate-wrapper",
        lambda: validate_handler(
            build_rabbitmq_event(VALIDATION_QUEUE, [validation_message]), FakeLambdaContext()
        ),
    )
    (done,) = [line for line in lines if line["message"] == "wrapper ready"]
    assert done["correlation_id"] == "ticket-981" and done["wrapper_id"] == wrapper_id


@pytest.mark.parametrize(
    ("handler", "event_file"),
    [(generate_handler, "generate_wrapper.json"), (validate_handler, "validate_wrapper.json")],
    ids=["generate", "validate"],
)
def test_a_deeply_nested_body_is_dropped_with_a_log_line_not_redelivered(
    settings: Settings, caplog: pytest.LogCaptureFixture, handler: Any, event_file: str
) -> None:
    event = json.loads((Path(__file__).resolve().parents[3] / "infra" / "events" / event_file).read_text())
    [records] = event["rmqMessagesByQueue"].values()
    records[0]["data"] = base64.b64encode(b"[" * 200_000 + b"]" * 200_000).decode()
    outcome = handler(event, FakeLambdaContext())
    assert outcome["outcomes"] == [] and outcome["transient"] == []
    [rejected] = outcome["rejected"]
    assert "nested deeper than" in rejected
    assert any(
        record.getMessage() == "dropping malformed message"
        and "nested deeper" in getattr(record, "reason", "")
        for record in caplog.records
    )
