"""The tracer: Powertools' Tracer only inside Lambda with the X-Ray SDK, otherwise one that does nothing."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

import pytest

from shared.common import tracing
from shared.common.tracing import NoTracer, make_tracer, tracing_enabled


def handler(event: dict[str, Any], context: Any) -> str:
    return "answered"


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ApiFunction")
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)


@pytest.fixture
def sdk_installed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The X-Ray SDK seen as installed, and Powertools' Tracer replaced by a fake that records its service."""
    created: list[str] = []

    class FakeTracer:
        def __init__(self, service: str) -> None:
            created.append(service)

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> importlib.machinery.ModuleSpec | None:
        if name == "aws_xray_sdk":
            return importlib.machinery.ModuleSpec(name, None)
        return real_find_spec(name, *args)

    monkeypatch.setattr(tracing.importlib.util, "find_spec", find_spec)
    fake_powertools = types.ModuleType("aws_lambda_powertools")
    fake_powertools.Tracer = FakeTracer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aws_lambda_powertools", fake_powertools)
    return created


def test_outside_lambda_the_tracer_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    tracer = make_tracer("resource-service-api")
    assert isinstance(tracer, NoTracer)
    assert tracer.capture_lambda_handler(handler) is handler
    assert tracer.capture_method(handler) is handler


@pytest.mark.usefixtures("in_lambda")
def test_in_lambda_without_the_x_ray_sdk_the_tracer_does_nothing() -> None:
    assert importlib.util.find_spec("aws_xray_sdk") is None
    assert not tracing_enabled()
    assert isinstance(make_tracer("generate-wrapper"), NoTracer)


@pytest.mark.usefixtures("in_lambda")
def test_in_lambda_with_the_sdk_powertools_traces(sdk_installed: list[str]) -> None:
    assert tracing_enabled()
    tracer = make_tracer("validate-wrapper")
    assert not isinstance(tracer, NoTracer) and sdk_installed == ["validate-wrapper"]


@pytest.mark.usefixtures("in_lambda")
@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_powertools_trace_disabled_wins(
    sdk_installed: list[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", value)
    assert isinstance(make_tracer("resource-service-api"), NoTracer)
    assert sdk_installed == []
