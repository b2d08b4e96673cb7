"""The OpenAPI document: every error response points at the shared error shape, which is in the document."""

from __future__ import annotations

from typing import Any

from functions.api.app import create_app
from shared.common.settings import Settings

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def test_the_error_shape_is_in_the_components() -> None:
    schemas = document()["components"]["schemas"]
    assert schemas["ErrorResponse"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert schemas["ErrorBody"]["required"] == ["code", "message"]
    details = schemas["ErrorBody"]["properties"]["details"]
    assert details["items"] == {"$ref": "#/components/schemas/ErrorDetail"}
    # Written like the rest of the document: no null defaults.
    assert "default" not in schemas["ErrorDetail"]["properties"]["field"]
    assert list(schemas) == sorted(schemas)


def test_error_responses_reference_it() -> None:
    paths = document()["paths"]
    get_resource = paths["/resources/{resource_id}"]["get"]["responses"]
    for status in ("401", "404", "422", "503"):
        assert get_resource[status]["content"]["application/json"]["schema"] == ERROR_REF
    start = paths["/wrappers/{wrapper_id}/start"]["post"]["responses"]["409"]
    assert start["description"].startswith("no validated code yet")
    assert start["content"]["application/json"]["schema"] == ERROR_REF
    upload = paths["/uploads"]["post"]["responses"]["413"]
    assert upload["content"]["application/json"]["schema"] == ERROR_REF
    ready = paths["/ready"]["get"]["responses"]["503"]
    assert ready["content"]["application/json"]["schema"] == ERROR_REF


def test_the_document_is_built_once() -> None:
    app = create_app(Settings())
    assert app.openapi() is app.openapi()


def test_every_operation_that_needs_a_key_declares_both_ways_to_send_it() -> None:
    spec = document()
    assert spec["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer", "description": "an API key as a bearer token"},
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "an API key"},
    }
    secured = {
        f"{method.upper()} {path}": operation.get("security")
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }
    either = [{"HTTPBearer": []}, {"APIKeyHeader": []}]
    assert secured["GET /resources/{resource_id}"] == either
    assert secured["POST /wrappers/{wrapper_id}/start"] == either
    assert secured["POST /uploads"] == either
    assert secured["GET /resources/{resource_id}/points"] == either
    open_to_all = {"GET /health", "GET /ready"}
    assert {name for name, security in secured.items() if security is None} >= open_to_all
    assert all(
        security == either
        for name, security in secured.items()
        if name.split()[1].startswith(("/resources", "/wrappers", "/uploads"))
    )
