"""Restart safety: `python -m jobs.run_wrappers` SIGKILLed in the middle of a run, then the next tick."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import RunStatus, WrapperStatus
from shared.flows.tick import tick
from shared.store.database import get_client, get_database
from shared.store.point_store import PointStore
from shared.store.runs import RunRepository
from shared.store.wrappers import WrapperRepository
from tests.integration.job_support import (
    Messages,
    ReadingsApi,
    add_wrapper,
    drain_collected,
    job_settings,
    points_of,
    readings_spec,
    serve_readings,
    start_job,
    stored_points,
    wait_for,
)

POINTS = 600
PAGE_SIZE = 150
LEASE_SECONDS = 2


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


@contextlib.contextmanager
def silent_broker() -> Iterator[str]:
    """An AMQP URL on loopback whose listener takes connections and never answers them."""
    with socket.create_server(("127.0.0.1", 0), backlog=8) as listener:
        yield f"amqp://guest:guest@127.0.0.1:{listener.getsockname()[1]}/%2F"


def kill_mid_run(settings: Settings, db: Database, api: ReadingsApi, *, moment: str) -> tuple[str, str]:
    """Start the job on a fresh wrapper and SIGKILL it at `moment`; return (resource, wrapper)."""
    resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api, size=PAGE_SIZE))
    blocked, release = threading.Event(), threading.Event()
    stack = contextlib.ExitStack()
    if moment == "during-fetch":

        def hold_third_page(query: dict[str, str]) -> None:
            if query.get("page") == "3":
                blocked.set()
                release.wait(30)

        api.on_request = hold_third_page
    else:
        # The broker is first asked for once the points are stored: one that never answers holds the job
        # there, so the kill lands after the store and before the publish, however fast the job is.
        url = stack.enter_context(silent_broker())
        settings = settings.model_copy(update={"amqp_url": SecretStr(url)})
    job = start_job(settings, lease_seconds=LEASE_SECONDS, merge_stderr=True)
    try:
        if moment == "during-fetch":
            wait_for(blocked.is_set, timeout=60, what="the job to fetch page 3")
        else:
            wait_for(
                lambda: db["points"].count_documents({"resource_id": resource_id}) > 0,
                timeout=60,
                what="points",
            )
        job.send_signal(signal.SIGKILL)
        job.wait(30)
    finally:
        stack.close()
        release.set()
        api.on_request = None
        if job.poll() is None:
            job.kill()
        if job.stdout is not None:
            job.stdout.close()
    assert job.returncode == -signal.SIGKILL
    # It really died mid-run: the run is unfinished, the lease held, the water marks unmoved.
    runs = RunRepository(db).list(wrapper_id, limit=10, offset=0).items
    assert len(runs) == 1 and runs[0].finished_at is None
    wrapper = WrapperRepository(db).get(wrapper_id)
    assert wrapper.lease_owner is not None and wrapper.high_water_mark is None
    return resource_id, wrapper_id


@pytest.mark.parametrize("moment", ["during-fetch", "after-store"])
def test_a_job_killed_mid_run_leaves_nothing_that_breaks_the_next_tick(
    settings: Settings, amqp_url: str, moment: str
) -> None:
    db = get_database(settings)
    with serve_readings() as api:
        api.grow(POINTS)
        killed_resource, killed_wrapper = kill_mid_run(settings, db, api, moment=moment)
        wrappers = WrapperRepository(db)
        lease_until = wrappers.get(killed_wrapper).lease_until
        assert lease_until is not None
        # The reference runs uninterrupted in the same tick as the one that takes the killed run over.
        reference_resource, reference_wrapper = add_wrapper(
            db, url=api.url, spec=readings_spec(api, size=PAGE_SIZE)
        )
        wait_for(lambda: utcnow() > lease_until, timeout=LEASE_SECONDS + 5, what="the lease to expire")

        result = tick(settings)
        assert sorted(o.run.wrapper_id for o in result.outcomes) == sorted(
            [killed_wrapper, reference_wrapper]
        )
        assert all(o.run.error is None and o.status == WrapperStatus.RUNNING for o in result.outcomes)
        # The killed process's run is closed as abandoned by the run that took the wrapper over.
        taken_over, killed = RunRepository(db).list(killed_wrapper, limit=10, offset=0).items
        assert (taken_over.status, killed.status) == (RunStatus.SUCCEEDED, RunStatus.ABANDONED)
        assert killed.finished_at is not None and killed.error and taken_over.run_id in killed.error
        served = api.expected()
        assert stored_points(db, killed_resource) == stored_points(db, reference_resource) == served
        for wrapper_id in (killed_wrapper, reference_wrapper):
            assert wrappers.get(wrapper_id).high_water_mark == wrappers.get(reference_wrapper).high_water_mark
        assert PointStore(db).unpublished_count(killed_resource) == 0

    # Every point reached resource_data; a batch the killed job had sent may come again (same values).
    delivered = points_of(Messages(amqp_url).wait_points(killed_resource, POINTS))
    assert sorted(set(delivered)) == served and len(delivered) >= POINTS
    assert sorted(points_of(Messages(amqp_url).wait_points(reference_resource, POINTS))) == served
    for resource_id in (killed_resource, reference_resource):
        drain_collected(amqp_url, resource_id)
