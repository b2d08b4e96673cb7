"""The API keeps what the generator inferred on the wrapper, and takes layout hints as `source.options`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from pymongo.database import Database

from functions.api.app import app
from shared.common.settings import Settings, get_settings
from shared.flows.steps import generate_step, validate_step
from shared.messaging.broker import get_publisher
from shared.messaging.queues import WRAPPER_CREATION_QUEUE, WRAPPER_VALIDATION_QUEUE
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database
from tests.support import serve_files, take_message

pytestmark = pytest.mark.integration


def two_sheets() -> bytes:
    """A workbook whose best-matching sheet repeats a year (it cannot validate) beside a clean one."""
    book = Workbook()
    book.remove(book.active)
    best = book.create_sheet("Emissions")
    best.append(["Year", "Emissions (Mt)"])
    for row in ((2019, 10.0), (2020, 11.0), (2020, 11.5), (2021, 12.0)):
        best.append(row)
    clean = book.create_sheet("Data")
    clean.append(["Year", "Value"])
    for row in ((2019, 1.0), (2020, 2.0), (2021, 3.0)):
        clean.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def settings(service_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Service settings that let the steps fetch from the local file server."""
    monkeypatch.setenv("RS_FETCH_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def db(settings: Settings) -> Database:
    return get_database(settings)


@pytest.fixture
def headers(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {ApiKeyRepository(db).create('tenant-hints', name='tests')[1]}"}


@pytest.fixture
def base() -> Iterator[str]:
    with serve_files({"/emissions.xlsx": two_sheets()}) as url:
        yield url


def generate_and_validate(wrapper_id: str, *, settings: Settings, db: Database, channel: Any) -> None:
    publisher = get_publisher(settings)
    generate_step(wrapper_id, db=db, publisher=publisher, settings=settings, owner="test")
    validate_step(wrapper_id, db=db, publisher=publisher, settings=settings, owner="test")
    take_message(channel, WRAPPER_CREATION_QUEUE, wrapper_id)
    take_message(channel, WRAPPER_VALIDATION_QUEUE, wrapper_id)


def body(url: str, **options: Any) -> dict[str, Any]:
    return {"name": "Emissions", "unit": "Mt", "source": {"type": "xlsx", "url": url, "options": options}}


def test_the_wrapper_keeps_the_inference_and_names_the_candidate_rejected_before_it(
    settings: Settings, db: Database, headers: dict[str, str], base: str, amqp_channel: Any
) -> None:
    with TestClient(app) as client:
        created = client.post("/resources", json=body(f"{base}/emissions.xlsx"), headers=headers)
        assert created.status_code == 201, created.text
        wrapper_id = created.json()["wrapper_id"]

        generate_and_validate(wrapper_id, settings=settings, db=db, channel=amqp_channel)
        wrapper = client.get(f"/wrappers/{wrapper_id}", headers=headers).json()

    assert wrapper["status"] == "ready"
    assert "SHEET = 'Data'" in wrapper["generated_code"]
    inference = wrapper["inference"]
    assert inference["chosen"] == "sheet 'Data', value column 'Value'"
    assert 0 <= inference["confidence"] < 0.6
    assert inference["warnings"][0].startswith(
        "rejected sheet 'Emissions', value column 'Emissions (Mt)': points/duplicate_points"
    )
    assert wrapper["status_reason"].startswith("rejected sheet 'Emissions'")
    assert "variants" not in wrapper


def test_source_options_reach_the_generator_as_hints(
    settings: Settings, db: Database, headers: dict[str, str], base: str, amqp_channel: Any
) -> None:
    options = {"sheet": "data", "timezone": "Europe/Zurich", "where": {}}
    with TestClient(app) as client:
        created = client.post("/resources", json=body(f"{base}/emissions.xlsx", **options), headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["source"]["options"] == options
        wrapper_id = created.json()["wrapper_id"]

        generate_and_validate(wrapper_id, settings=settings, db=db, channel=amqp_channel)
        wrapper = client.get(f"/wrappers/{wrapper_id}", headers=headers).json()

    assert wrapper["status"] == "ready"
    assert wrapper["inference"] == {
        "confidence": 1.0,
        "chosen": "value column 'Value'",
        "alternatives": [],
        "timezone": None,
        "warnings": [],
        "pagination": None,  # a workbook has no pages and no time window
        "window": None,
    }


@pytest.mark.parametrize(
    ("options", "details"),
    [
        ({"timezone": "Mars/Olympus"}, {"body.source.options.timezone": "is not an IANA time zone"}),
        ({"zone": "CH"}, {"body.source.options.zone": "unknown hint; the hints are sheet, header_rows"}),
        (
            {"header_rows": "3", "decimal": ";"},
            {"body.source.options.header_rows": "list", "body.source.options.decimal": "'.' or ','"},
        ),
        ({"where": {"geo": ""}}, {"body.source.options.where": "needs a dimension and a value"}),
    ],
)
def test_bad_source_options_are_refused_with_422_naming_each(
    settings: Settings, headers: dict[str, str], options: dict[str, Any], details: dict[str, str]
) -> None:
    with TestClient(app) as client:
        created = client.post(
            "/resources", json=body("https://example.org/a.xlsx", **options), headers=headers
        )
        good = client.post("/resources", json=body("https://example.org/a.xlsx"), headers=headers)
        patched = client.patch(
            f"/resources/{good.json()['id']}",
            json={"source": {"type": "xlsx", "url": "https://example.org/b.xlsx", "options": options}},
            headers=headers,
        )

    for response in (created, patched):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["message"] == "source.options are not valid layout hints"
        reasons = {detail["field"]: detail["reason"] for detail in error["details"]}
        assert set(reasons) == set(details)
        for field, part in details.items():
            assert part in reasons[field]
