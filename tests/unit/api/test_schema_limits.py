"""Every limit the API enforces is in its OpenAPI document, those from settings with the settings' values."""

from __future__ import annotations

from typing import Any

from functions.api.app import create_app
from shared.common.settings import Settings


def document(**settings: Any) -> dict[str, Any]:
    return create_app(Settings(**settings)).openapi()


def query(doc: dict[str, Any], path: str, name: str, method: str = "get") -> dict[str, Any]:
    parameters = doc["paths"][path][method]["parameters"]
    return next(p["schema"] for p in parameters if p["in"] == "query" and p["name"] == name)


def test_the_page_size_limit_is_the_setting_on_every_listing() -> None:
    doc = document(api_page_size_max=120)
    for path in ("/resources", "/wrappers", "/wrappers/{wrapper_id}/runs"):
        limit = query(doc, path, "limit")
        assert (limit["minimum"], limit["maximum"]) == (1, 120), path
        assert query(doc, path, "offset")["maximum"] == 1_000_000


def test_points_page_and_offset_limits() -> None:
    doc = document()
    assert query(doc, "/resources/{resource_id}/points", "limit")["maximum"] == 10_000
    assert query(doc, "/resources/{resource_id}/points", "offset")["maximum"] == 10_000_000


def test_the_upload_size_limit_is_the_setting() -> None:
    upload = document(upload_max_bytes=5_000_000)["components"]["schemas"]["UploadRequest"]
    assert upload["properties"]["size_bytes"]["maximum"] == 5_000_000
    assert upload["properties"]["filename"]["maxLength"] == 255


def test_text_and_url_lengths() -> None:
    schemas = document()["components"]["schemas"]
    create = schemas["ResourceCreate"]["properties"]
    assert (create["name"]["minLength"], create["name"]["maxLength"]) == (1, 300)
    assert create["description"]["maxLength"] == 2000
    url = schemas["ResourceSource"]["properties"]["url"]
    assert url["maxLength"] == 2048 and url["pattern"].startswith("^")
    assert schemas["CodeReplacement"]["properties"]["parse_code"]["maxLength"] == 200_000


def test_the_idempotency_key_length() -> None:
    parameters = document()["paths"]["/resources"]["post"]["parameters"]
    header = next(p for p in parameters if p["in"] == "header" and p["name"] == "Idempotency-Key")
    schema = header["schema"]
    options = schema.get("anyOf", [schema])
    assert any(o.get("maxLength") == 255 and o.get("minLength") == 1 for o in options)
