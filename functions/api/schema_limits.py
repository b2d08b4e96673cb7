"""Limits that come from settings, written into the OpenAPI document from the same settings.

Limits fixed in code are pydantic `Field`/`Query` constraints, so FastAPI checks and documents them as
one. The page size and the upload size are settings (RS_API_PAGE_SIZE_MAX, RS_UPLOAD_MAX_BYTES): their
checks read the setting, and their schemas name it (`x-maximum-from`), so that the document states the
value the check applies and a client or a fuzzer generating from the schema never sends a value that
is refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from functions.api.dependencies import MAXIMUM_FROM
from shared.common.settings import Settings


def with_setting_limits(node: Any, settings: Settings) -> None:
    """Set `maximum` wherever a schema in `node` names its setting (in place, at any depth)."""
    if isinstance(node, dict):
        setting = node.get(MAXIMUM_FROM)
        if isinstance(setting, str):
            node["maximum"] = getattr(settings, setting)
        for value in node.values():
            with_setting_limits(value, settings)
    elif isinstance(node, list):
        for value in node:
            with_setting_limits(value, settings)


def install_schema_limits(app: FastAPI, settings: Settings) -> None:
    """Make the app's OpenAPI document state the limits that `settings` set."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            with_setting_limits(document, settings)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
