"""!!! STOPS THE SHARED RABBITMQ BROKER !!! RabbitMQ going away in the middle of a tick loses no point.

This is the only test that runs `rabbitmqctl stop_app`; it always runs `rabbitmqctl start_app` in a
`finally` block and waits until the broker accepts connections again. Set RS_TEST_SKIP_BROKER_OUTAGE=1 to
leave the broker alone (e.g. when other suites share it at the same time).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator

import pika
import pytest
from pika.exceptions import AMQPError

from shared.common.settings import Settings
from shared.domain.models import WrapperStatus
from shared.flows.tick import tick
from shared.store.database import get_client, get_database
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    Messages,
    add_wrapper,
    drain_collected,
    hour,
    job_settings,
    make_due,
    points_of,
    readings_spec,
    serve_readings,
    stored_points,
)

POINTS = 40

pytestmark = pytest.mark.skipif(
    shutil.which("rabbitmqctl") is None or os.environ.get("RS_TEST_SKIP_BROKER_OUTAGE") == "1",
    reason="needs rabbitmqctl and permission to stop the shared test broker",
)


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


def wait_for_broker(amqp_url: str, *, timeout: float = 90.0) -> None:
    """Block until the broker accepts an AMQP connection."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pika.BlockingConnection(pika.URLParameters(amqp_url)).close()
            return
        except AMQPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_BROKER_STOPPED_during_a_tick_every_point_arrives_after_recovery(
    settings: Settings, amqp_url: str
) -> None:
    db = get_database(settings)
    with serve_readings() as api:
        api.grow(POINTS)
        resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api, size=10))
        stopped: list[bool] = []

        def stop_broker_on_page_2(query: dict[str, str]) -> None:
            if query.get("page") == "2" and not stopped:
                subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
                stopped.append(True)

        api.on_request = stop_broker_on_page_2
        try:
            outage = tick(settings)
        finally:
            subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
            subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=120)
            wait_for_broker(amqp_url)
        api.on_request = None
        assert stopped, "the broker was never stopped"

        run = outage.outcomes[0].run
        assert run.error is not None and run.error.startswith(f"{POINTS} points waiting in the outbox")
        assert run.points_new == POINTS and run.points_published == 0
        wrapper = WrapperRepository(db).get(wrapper_id)
        # Stored, not confirmed: the water marks stay, and a broker outage is not the wrapper's failure.
        assert wrapper.status == WrapperStatus.RUNNING and wrapper.high_water_mark is None
        assert wrapper.consecutive_failures == 0 and stored_points(db, resource_id) == api.expected()

        recovery = tick(settings)  # the outbox goes first
        assert recovery.outbox_published == POINTS and recovery.errors == []
        make_due(db, wrapper_id)
        rerun = tick(settings).outcomes[0].run
        assert rerun.error is None and (rerun.points_new, rerun.points_duplicate) == (0, POINTS)
        assert WrapperRepository(db).get(wrapper_id).high_water_mark == hour(POINTS - 1)

    messages = Messages(amqp_url).wait_points(resource_id, POINTS)
    delivered = points_of(messages)
    assert len(delivered) == POINTS and sorted(delivered) == api.expected()
    assert len({message_id for message_id, _ in messages}) == len(messages)
    drain_collected(amqp_url, resource_id)
