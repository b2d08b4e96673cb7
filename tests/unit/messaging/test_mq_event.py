"""Amazon MQ for RabbitMQ events: the sample events, malformed messages, and build → parse round trips."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pika
import pytest
from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent

from shared.messaging.broker import PERSISTENT, WrapperMessage, encode_payload, message_id_for
from shared.messaging.mq_event import build_rabbitmq_event, parse_rabbitmq_event
from shared.messaging.queues import WRAPPER_CREATION_QUEUE, WRAPPER_VALIDATION_QUEUE

EVENTS = Path(__file__).resolve().parents[3] / "infra" / "events"
BASIC_PROPERTY_KEYS = {
    "contentType",
    "contentEncoding",
    "headers",
    "deliveryMode",
    "priority",
    "correlationId",
    "replyTo",
    "expiration",
    "messageId",
    "timestamp",
    "type",
    "userId",
    "appId",
    "clusterId",
    "bodySize",
}
# The Amazon MQ RabbitMQ sample event of the AWS Lambda documentation.
AWS_SAMPLE_EVENT: dict[str, Any] = {
    "eventSource": "aws:rmq",
    "eventSourceArn": (
        "arn:aws:mq:us-west-2:112556298976:broker:pizzaBroker:b-9bcfa592-423a-4942-879d-eb284b418fc8"
    ),
    "rmqMessagesByQueue": {
        "pizzaQueue::/": [
            {
                "basicProperties": {
                    "contentType": "text/plain",
                    "contentEncoding": None,
                    "headers": {
                        "header1": {"bytes": [118, 97, 108, 117, 101, 49]},
                        "header2": {"bytes": [118, 97, 108, 117, 101, 50]},
                        "numberInHeader": 10,
                    },
                    "deliveryMode": 1,
                    "priority": 34,
                    "correlationId": None,
                    "replyTo": None,
                    "expiration": "60000",
                    "messageId": None,
                    "timestamp": "Jan 1, 1970, 12:33:41 AM",
                    "type": None,
                    "userId": "AIDACKCEVSQ6C2EXAMPLE",
                    "appId": None,
                    "clusterId": None,
                    "bodySize": 80,
                },
                "redelivered": False,
                "data": "eyJ0aW1lb3V0IjowLCJkYXRhIjoiQ1pybWYwR3c4T3Y0YnFMUXhENEUifQ==",
            }
        ]
    },
}


def load_event(name: str) -> dict[str, Any]:
    """Read one of the infra/events files."""
    return json.loads((EVENTS / name).read_text())


def message_record(data: str, *, message_id: str = "m-1", redelivered: bool = False) -> dict[str, Any]:
    """A message of an event with the given base64 `data`."""
    event = build_rabbitmq_event(WRAPPER_CREATION_QUEUE, [b"{}"])
    record = copy.deepcopy(event["rmqMessagesByQueue"][f"{WRAPPER_CREATION_QUEUE}::/"][0])
    record["basicProperties"]["messageId"] = message_id
    record["redelivered"] = redelivered
    record["data"] = data
    return record


@pytest.mark.parametrize(
    ("name", "queue"),
    [("generate_wrapper.json", WRAPPER_CREATION_QUEUE), ("validate_wrapper.json", WRAPPER_VALIDATION_QUEUE)],
)
def test_sample_events_parse_to_one_wrapper_message(name: str, queue: str) -> None:
    event = load_event(name)

    messages = parse_rabbitmq_event(event)

    assert len(messages) == 1
    message = messages[0]
    assert message.ok, message.error
    assert (message.queue, message.vhost, message.redelivered) == (queue, "/", False)
    wrapper = WrapperMessage.model_validate(message.body)
    assert len(wrapper.wrapper_id) == 36
    assert message.message_id == message_id_for(queue, encode_payload(wrapper))


@pytest.mark.parametrize("name", ["generate_wrapper.json", "validate_wrapper.json"])
def test_sample_events_have_the_aws_shape(name: str) -> None:
    event = load_event(name)

    assert event["eventSource"] == "aws:rmq"
    assert event["eventSourceArn"].startswith("arn:aws:mq:")
    (key,) = event["rmqMessagesByQueue"]
    assert key.endswith("::/")
    (record,) = event["rmqMessagesByQueue"][key]
    assert set(record) == {"basicProperties", "redelivered", "data"}
    assert set(record["basicProperties"]) == BASIC_PROPERTY_KEYS
    assert record["basicProperties"]["bodySize"] == len(base64.b64decode(record["data"]))
    assert record["basicProperties"]["deliveryMode"] == PERSISTENT
    # Powertools reads it the same way.
    powertools = RabbitMQEvent(event)
    assert powertools.rmq_messages_by_queue[key][0].json_data == json.loads(base64.b64decode(record["data"]))


def test_aws_sample_event_parses_with_headers_decoded() -> None:
    (message,) = parse_rabbitmq_event(AWS_SAMPLE_EVENT)

    assert message.ok
    assert (message.queue, message.vhost, message.message_id) == ("pizzaQueue", "/", None)
    assert message.body == {"timeout": 0, "data": "CZrmf0Gw8Ov4bqLQxD4E"}
    assert message.headers == {"header1": "value1", "header2": "value2", "numberInHeader": 10}


def test_malformed_messages_are_reported_one_by_one() -> None:
    good = base64.b64encode(b'{"wrapper_id": "a"}').decode()
    event = build_rabbitmq_event(WRAPPER_CREATION_QUEUE, [])
    event["rmqMessagesByQueue"][f"{WRAPPER_CREATION_QUEUE}::/"] = [
        message_record(good, message_id="good-1"),
        message_record("!!not base64!!", message_id="bad-base64"),
        message_record(base64.b64encode(b"{not json").decode(), message_id="bad-json"),
        message_record(base64.b64encode(b"\xff\xfe\x00garbage").decode(), message_id="bad-utf8"),
        {"redelivered": True},
        message_record(good, message_id="good-2"),
    ]

    messages = parse_rabbitmq_event(event)

    assert [message.message_id for message in messages] == [
        "good-1",
        "bad-base64",
        "bad-json",
        "bad-utf8",
        None,
        "good-2",
    ]
    assert [message.ok for message in messages] == [True, False, False, False, False, True]
    assert "base64" in (messages[1].error or "")
    assert "JSON" in (messages[2].error or "")
    assert "JSON" in (messages[3].error or "")
    assert messages[4].error and messages[4].redelivered
    assert messages[0].body == messages[5].body == {"wrapper_id": "a"}
    assert all(message.body is None for message in messages[1:5])


def test_not_a_rabbitmq_event_is_refused() -> None:
    with pytest.raises(ValueError, match="not an Amazon MQ for RabbitMQ event"):
        parse_rabbitmq_event({"Records": []})


def test_build_then_parse_round_trip() -> None:
    bodies = [{"wrapper_id": f"w-{index}", "note": "ünïcode"} for index in range(3)]

    event = build_rabbitmq_event(WRAPPER_VALIDATION_QUEUE, bodies, vhost="prod")
    messages = parse_rabbitmq_event(json.loads(json.dumps(event)))

    assert list(event["rmqMessagesByQueue"]) == [f"{WRAPPER_VALIDATION_QUEUE}::prod"]
    assert [message.body for message in messages] == bodies
    assert {message.vhost for message in messages} == {"prod"}
    assert [message.message_id for message in messages] == [
        message_id_for(WRAPPER_VALIDATION_QUEUE, encode_payload(body)) for body in bodies
    ]


def test_build_keeps_properties_headers_and_redelivered_flag() -> None:
    properties = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id="run-7:0",
        timestamp=2021,
        headers={"batch_index": 0, "resource_id": "r-1"},
        correlation_id="c-1",
    )
    method = pika.spec.Basic.GetOk(delivery_tag=1, redelivered=True, exchange="", routing_key="resource_data")

    event = build_rabbitmq_event(
        "resource_data",
        [(method, properties, b'{"resource_id": "r-1", "points": []}'), (properties, b"[1, 2]")],
    )
    records = event["rmqMessagesByQueue"]["resource_data::/"]
    first, second = parse_rabbitmq_event(event)

    assert records[0]["basicProperties"]["headers"]["resource_id"] == {"bytes": list(b"r-1")}
    assert records[0]["basicProperties"]["timestamp"] == "Jan 1, 1970, 12:33:41 AM"
    assert records[0]["basicProperties"]["correlationId"] == "c-1"
    assert (first.redelivered, second.redelivered) == (True, False)
    assert first.message_id == second.message_id == "run-7:0"
    assert first.headers == {"batch_index": 0, "resource_id": "r-1"}
    assert first.body == {"resource_id": "r-1", "points": []}
    assert second.body == [1, 2]


def test_a_deeply_nested_body_is_a_malformed_message_not_a_recursion_error() -> None:
    event = json.loads((EVENTS / "generate_wrapper.json").read_text())
    [record] = event["rmqMessagesByQueue"]["wrapper_creation_queue::/"]
    record["data"] = base64.b64encode(b'{"wrapper_id": ' + b"[" * 200_000 + b"]" * 200_000 + b"}").decode()
    [message] = parse_rabbitmq_event(event)
    assert not message.ok and message.body is None
    assert message.error is not None and "nested deeper than" in message.error
