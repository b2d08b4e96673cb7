"""A request body over 2 MiB is answered 413 in the error shape, whether or not it declares its length."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.api.body_limit import REQUEST_BODY_MAX_BYTES
from shared.common.settings import Settings

PATH = "/wrappers/w/code"
JSON = {"Content-Type": "application/json"}


def client() -> TestClient:
    return TestClient(create_app(Settings()))


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    body = b'{"parse_code": "' + b"a" * REQUEST_BODY_MAX_BYTES + b'"}'
    response = client().put(PATH, content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "2 MiB" in response.json()["error"]["message"]
    assert response.headers["X-Request-ID"]


def test_a_streamed_body_is_stopped_when_it_passes_the_limit() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b"a" * (1024 * 1024)

    response = client().put(PATH, content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_the_largest_body_a_schema_allows_fits() -> None:
    # 200,000 control characters, each escaped as \u00XX: 1.2 MB of JSON, under the limit; read, then 401.
    response = client().put(PATH, json={"parse_code": "\x01" * 200_000})
    assert response.status_code == 401


def test_the_limit_is_documented() -> None:
    responses = create_app(Settings()).openapi()["paths"]["/wrappers/{wrapper_id}/code"]["put"]["responses"]
    assert "2 MiB" in responses["413"]["description"]
