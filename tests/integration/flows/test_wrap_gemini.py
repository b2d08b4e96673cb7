"""wrap_source with the Gemini generator: real SDK, local REST answers, real validation in the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest
from shared.flows.wrap import wrap_source
from shared.generate.gemini import client as gemini
from shared.source.read import SourceData, read_source

MODEL = "gemini-2.5-flash"
REQUEST = IndicatorRequest(name="CO2 emissions", unit="Mt")
EXPECTED = [("2019-01-01T00:00:00Z", 1.5), ("2020-01-01T00:00:00Z", 2.5), ("2021-01-01T00:00:00Z", 3.0)]
GOOD_CODE = """from shared.wrapper_toolkit import find_row, long_points, read_csv_grid

HEADER = ["year", "emissions"]  # columns that identify the header row


def parse(payload, context):
    \"\"\"Read the CSV payload: one row per year.\"\"\"
    grid = read_csv_grid(payload, encoding="utf-8", delimiter=",")
    return long_points(grid, header_row=find_row(grid, HEADER), time_column="year", time_format="year",
                       value_column="emissions")
"""
WRONG_COLUMN_CODE = GOOD_CODE.replace('value_column="emissions"', 'value_column="co2"')
FORBIDDEN_IMPORT_CODE = "import os\n\n" + GOOD_CODE


class FakeGemini:
    """Answers generateContent requests with queued REST responses and keeps every request."""

    def __init__(self) -> None:
        self.answers: list[httpx2.Response] = []
        self.requests: list[httpx2.Request] = []

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        assert self.answers, f"no answer queued for {request.url}"
        return self.answers.pop(0)

    def prompts(self) -> list[str]:
        bodies = [json.loads(request.content) for request in self.requests]
        return [body["contents"][0]["parts"][0]["text"] for body in bodies]


def wrapper_answer(code: str) -> httpx2.Response:
    """A generateContent response carrying a wrapper, as the Gemini REST API writes it."""
    text = json.dumps({"rationale": "long table, time in year", "parse_code": code})
    return httpx2.Response(
        200,
        json={
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 2210, "candidatesTokenCount": 198, "totalTokenCount": 2408},
            "modelVersion": MODEL,
            "responseId": "xk0kaJ2aBf6Sz7IP",
        },
    )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    """The client make_generator builds, its HTTP transport answered locally; no key from the env."""
    monkeypatch.delenv("RS_GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    fake = FakeGemini()
    real_create_client = gemini.create_client

    def create_client(settings: Settings, **_: Any) -> Any:
        return real_create_client(settings, client_args={"transport": httpx2.MockTransport(fake.handle)})

    monkeypatch.setattr(gemini, "create_client", create_client)
    monkeypatch.setattr(gemini, "RETRY_MAX_DELAY_SECONDS", 0.0)
    return fake


@pytest.fixture
def source(tmp_path: Path) -> SourceData:
    path = tmp_path / "co2.csv"
    path.write_bytes(b"year,emissions\n2019,1.5\n2020,2.5\n2021,3\n")
    return read_source(str(path), settings=Settings())


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "gemini_api_key": "test-key",
        "gemini_model": MODEL,
        "generation_max_attempts": 3,
    }
    return Settings(**{**values, **overrides})


def series(points: list[Any]) -> list[tuple[Any, float]]:
    return [(point.to_wire()["timestamp"], point.value) for point in points]


@pytest.mark.parametrize(
    ("bad_code", "error"),
    [(WRONG_COLUMN_CODE, "column 'co2' not found"), (FORBIDDEN_IMPORT_CODE, "import of 'os' is not allowed")],
    ids=["wrong-column", "forbidden-import"],
)
def test_wrap_source_regenerates_with_validation_feedback(
    fake: FakeGemini, source: SourceData, bad_code: str, error: str
) -> None:
    fake.answers = [wrapper_answer(bad_code), wrapper_answer(GOOD_CODE)]

    result = wrap_source(source, REQUEST, generator="gemini", settings=settings())

    assert [attempt.report.ok for attempt in result.attempts] == [False, True]
    assert {attempt.generator for attempt in result.attempts} == {f"gemini:{MODEL}"}
    assert error in result.attempts[0].report.feedback()
    first, second = fake.prompts()
    assert "VALIDATION_FEEDBACK" not in first
    assert "<<<VALIDATION_FEEDBACK\n" in second and error in second
    assert f"<<<PREVIOUS_CODE\n{bad_code.strip()}\n" in second
    assert result.fallback_reason is None
    assert result.draft.parse_code == GOOD_CODE
    assert series(result.points) == EXPECTED
    assert {exchange.attempt for exchange in result.exchanges} == {1, 2}


def test_gemini_failing_every_attempt_falls_back_to_heuristic(fake: FakeGemini, source: SourceData) -> None:
    fake.answers = [wrapper_answer(FORBIDDEN_IMPORT_CODE), wrapper_answer(WRONG_COLUMN_CODE)]

    result = wrap_source(source, REQUEST, generator="gemini", settings=settings(generation_max_attempts=2))

    assert len(fake.requests) == 2
    assert (
        result.fallback_reason is not None
        and "Gemini did not produce a valid wrapper" in result.fallback_reason
    )
    assert [attempt.generator for attempt in result.attempts] == [
        f"gemini:{MODEL}",
        f"gemini:{MODEL}",
        "heuristic",
    ]
    assert result.draft.generator == "heuristic"
    assert series(result.points) == EXPECTED


def test_gemini_api_error_falls_back_to_heuristic(fake: FakeGemini, source: SourceData) -> None:
    fake.answers = [
        httpx2.Response(
            403,
            json={
                "error": {
                    "code": 403,
                    "status": "PERMISSION_DENIED",
                    "message": "Method doesn't allow unregistered callers.",
                }
            },
        )
    ]

    result = wrap_source(source, REQUEST, generator="gemini", settings=settings())

    assert result.fallback_reason is not None and "403 PERMISSION_DENIED" in result.fallback_reason
    assert [exchange.role for exchange in result.exchanges] == ["system", "prompt", "error"]
    assert result.draft.generator == "heuristic"
    assert series(result.points) == EXPECTED


def test_no_key_falls_back_to_heuristic(fake: FakeGemini, source: SourceData) -> None:
    result = wrap_source(source, REQUEST, generator="gemini", settings=settings(gemini_api_key=None))

    assert result.fallback_reason is not None and "no Gemini API key" in result.fallback_reason
    assert fake.requests == []
    assert result.draft.generator == "heuristic"
    assert series(result.points) == EXPECTED
