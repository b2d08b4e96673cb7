"""A batch of wrapper messages: faults a retry cures fail the batch, any other error parks the wrapper."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import AutoReconnect

from shared.common.errors import (
    BrokerError,
    GenerationError,
    RunFailedError,
    SecretUnavailableError,
    TransientBatchError,
    WorkerBusyError,
)
from shared.common.settings import Settings
from shared.domain.models import SourceType, WrapperMode, WrapperStatus
from shared.flows.batch import Step, handle_wrapper_batch
from shared.flows.steps import MessagePublisher, StepOutcome
from shared.messaging.mq_event import build_rabbitmq_event
from shared.messaging.queues import WRAPPER_CREATION_QUEUE
from shared.store.database import get_database
from shared.store.wrappers import WrapperRepository


class Log:
    """Collects what the batch logs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append(("warning", msg))

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append(("exception", msg))


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Settings:
    return Settings(
        mongodb_uri=mongodb_uri,
        mongodb_database=database_name,
        amqp_url=amqp_url,
        gemini_api_key=None,
        gemini_secret_arn=None,
    )


def raising(error: Exception) -> Step:
    def step(
        wrapper_id: str, *, db: Database, publisher: MessagePublisher, settings: Settings, owner: str
    ) -> StepOutcome:
        raise error

    return step


def generating_wrapper(settings: Settings) -> str:
    wrappers = WrapperRepository(get_database(settings))
    wrapper = wrappers.create(
        tenant_id="tenant-a",
        resource_id="r-1",
        source_type=SourceType.CSV,
        mode=WrapperMode.ONCE,
        metadata={"name": "CO2", "description": "", "unit": "ppm"},
    )
    claimed = wrappers.claim(
        wrapper.wrapper_id,
        status=WrapperStatus.PENDING,
        to=WrapperStatus.GENERATING,
        owner="worker-1",
        lease_seconds=60,
    )
    assert claimed is not None
    return claimed.wrapper_id


@pytest.mark.parametrize(
    "error",
    [
        WorkerBusyError("wrapper w is being generating by worker-2"),
        SecretUnavailableError("cannot read secret rs/gemini"),
        BrokerError("RabbitMQ nacked the message"),
        AutoReconnect("connection to the database lost"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_fault_a_retry_can_cure_fails_the_batch_for_redelivery(
    settings: Settings, error: Exception
) -> None:
    wrapper_id = generating_wrapper(settings)
    event = build_rabbitmq_event(WRAPPER_CREATION_QUEUE, [{"wrapper_id": wrapper_id}])

    with pytest.raises(TransientBatchError, match="1 message"):
        handle_wrapper_batch(event, step=raising(error), settings=settings, owner="worker-1", logger=Log())

    assert WrapperRepository(get_database(settings)).get(wrapper_id).status == WrapperStatus.GENERATING


@pytest.mark.parametrize(
    "error",
    [GenerationError("no table found"), RunFailedError("parse failed"), KeyError("total")],
    ids=lambda error: type(error).__name__,
)
def test_any_other_error_parks_the_wrapper_failed_and_the_batch_succeeds(
    settings: Settings, error: Exception
) -> None:
    wrapper_id = generating_wrapper(settings)
    event = build_rabbitmq_event(WRAPPER_CREATION_QUEUE, [{"wrapper_id": wrapper_id}])

    result = handle_wrapper_batch(
        event, step=raising(error), settings=settings, owner="worker-1", logger=Log()
    )

    assert [outcome.action for outcome in result.outcomes] == ["failed"]
    wrapper = WrapperRepository(get_database(settings)).get(wrapper_id)
    assert wrapper.status == WrapperStatus.FAILED
    assert wrapper.status_reason is not None and type(error).__name__ in wrapper.status_reason
    assert wrapper.lease_owner is None
