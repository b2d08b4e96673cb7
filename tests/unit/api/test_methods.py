"""`OPTIONS` answers with every method of a path, and a 405's `Allow` lists them all (no database needed)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from functions.api.app import create_app
from shared.common.settings import Settings

RESOURCE = "/resources/6761a2f0c3d4e5f601234567"


def client() -> TestClient:
    return TestClient(create_app(Settings()))


def allow(header: str) -> list[str]:
    return [method.strip() for method in header.split(",")]


def test_options_on_a_resource_lists_get_patch_and_delete() -> None:
    response = client().options(RESOURCE)
    assert response.status_code == 204
    assert allow(response.headers["Allow"]) == ["GET", "PATCH", "DELETE", "OPTIONS"]
    assert response.content == b""


def test_options_on_a_collection_lists_get_and_post() -> None:
    response = client().options("/resources")
    assert response.status_code == 204
    assert allow(response.headers["Allow"]) == ["GET", "POST", "OPTIONS"]


def test_options_needs_no_api_key_and_an_unknown_path_stays_404() -> None:
    test_client = client()
    assert test_client.options("/wrappers/w/code").headers["Allow"] == "PUT, OPTIONS"
    assert test_client.options("/nowhere").status_code == 404


def test_a_405_allows_every_method_the_path_has() -> None:
    response = client().put(RESOURCE, json={})
    assert response.status_code == 405
    assert allow(response.headers["Allow"]) == ["GET", "PATCH", "DELETE", "OPTIONS"]
    error = response.json()["error"]
    assert error["code"] == "method_not_allowed"
    assert "PATCH" in error["message"] and "DELETE" in error["message"]


def test_a_405_on_a_post_only_path() -> None:
    response = client().get("/wrappers/w/start")
    assert response.status_code == 405
    assert allow(response.headers["Allow"]) == ["POST", "OPTIONS"]
