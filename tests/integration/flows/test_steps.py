"""The queue steps read a resource's `source.options` as layout hints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shared.common.settings import Settings, get_settings
from shared.domain.models import ResourceCreate, ResourceSource, SourceType, WrapperMode, WrapperStatus
from shared.flows.steps import generate_step
from shared.messaging.broker import get_publisher
from shared.messaging.queues import WRAPPER_VALIDATION_QUEUE
from shared.store.database import get_database
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository
from tests.support import serve_files, take_message

pytestmark = pytest.mark.integration

CSV = b"Year;Land;Wert\n2020;DE;1,5\n2021;DE;2,5\n2020;FR;3\n2021;FR;4\n"


@pytest.fixture
def settings(service_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Service settings that let the steps fetch from the local file server."""
    monkeypatch.setenv("RS_FETCH_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def base() -> Iterator[str]:
    with serve_files({"/wert.csv": CSV}) as url:
        yield url


def generated(settings: Settings, url: str, options: dict[str, Any]) -> str:
    """Store a resource with these options as they are (no API check), run the generate step on it."""
    db = get_database(settings)
    wrapper = WrapperRepository(db).create(
        tenant_id="t", resource_id="pending", source_type=SourceType.CSV, mode=WrapperMode.ONCE, metadata={}
    )
    source = ResourceSource(type=SourceType.CSV, url=url, options=options)
    resource = ResourceRepository(db).create(
        "t", ResourceCreate(name="Wert", source=source), wrapper_id=wrapper.wrapper_id
    )
    db["generated_wrappers"].update_one(
        {"wrapper_id": wrapper.wrapper_id}, {"$set": {"resource_id": resource.id}}
    )
    generate_step(
        wrapper.wrapper_id, db=db, publisher=get_publisher(settings), settings=settings, owner="test"
    )
    return wrapper.wrapper_id


def test_a_where_option_is_written_into_the_generated_code(
    settings: Settings, base: str, amqp_channel: Any
) -> None:
    wrapper_id = generated(settings, f"{base}/wert.csv", {"where": {"Land": "FR"}})
    take_message(amqp_channel, WRAPPER_VALIDATION_QUEUE, wrapper_id)

    wrapper = WrapperRepository(get_database(settings)).get(wrapper_id)

    assert wrapper.status == WrapperStatus.VALIDATING
    assert "WHERE = {'Land': 'FR'}" in (wrapper.generated_code or "")


def test_stored_options_that_are_no_hints_fail_the_wrapper_with_the_reason(
    settings: Settings, base: str
) -> None:
    wrapper_id = generated(settings, f"{base}/wert.csv", {"zone": "CH"})

    wrapper = WrapperRepository(get_database(settings)).get(wrapper_id)

    assert wrapper.status == WrapperStatus.FAILED
    assert (wrapper.status_reason or "").startswith(
        "invalid source.options: zone: unknown hint; the hints are"
    )


def test_a_sheet_option_on_a_csv_fails_the_wrapper_naming_why(settings: Settings, base: str) -> None:
    wrapper_id = generated(settings, f"{base}/wert.csv", {"sheet": "Data"})

    wrapper = WrapperRepository(get_database(settings)).get(wrapper_id)

    assert wrapper.status == WrapperStatus.FAILED
    assert wrapper.status_reason == "sheet 'Data': a csv source has no sheets"
