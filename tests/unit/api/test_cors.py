"""The app's own CORS (local runs): preflights allow the headers the API reads, answers expose its own."""

from __future__ import annotations

from fastapi.testclient import TestClient

from functions.api.app import create_app
from shared.common.settings import Settings

ORIGIN = "http://localhost:5173"


def client() -> TestClient:
    return TestClient(create_app(Settings(api_cors_origins=[ORIGIN])))


def test_a_preflight_allows_idempotency_key_and_the_key_headers() -> None:
    response = client().options(
        "/resources",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-api-key, content-type, idempotency-key",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-api-key", "content-type", "idempotency-key"} <= allowed
    methods = {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"PATCH", "DELETE"} <= methods


def test_a_preflight_for_patch_on_a_resource_is_allowed() -> None:
    response = client().options(
        "/resources/6761a2f0c3d4e5f601234567",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"},
    )
    assert response.status_code == 200


def test_answers_expose_location_and_idempotency_replayed() -> None:
    response = client().get("/health", headers={"Origin": ORIGIN})
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"location", "idempotency-replayed", "x-request-id"} <= exposed


def test_without_origins_there_are_no_cors_headers() -> None:
    response = TestClient(create_app(Settings())).get("/health", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers
