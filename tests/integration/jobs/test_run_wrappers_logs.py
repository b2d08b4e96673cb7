"""`python -m jobs.run_wrappers` with RabbitMQ down: stdout is JSON lines only, the broker retries too."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shared.common.settings import Settings
from shared.store.database import get_client, get_database
from shared.store.point_store import PointStore
from tests.integration.job_support import add_wrapper, job_settings, readings_spec, serve_readings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def settings(mongodb_uri: str, amqp_url: str, database_name: str) -> Iterator[Settings]:
    settings = job_settings(mongodb_uri, amqp_url, database_name)
    yield settings
    with contextlib.suppress(Exception):
        get_client(settings).drop_database(database_name)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_with_the_broker_down_every_stdout_line_is_json_with_a_timestamp(settings: Settings) -> None:
    db = get_database(settings)
    with serve_readings() as api:
        api.grow(12)
        resource_id, wrapper_id = add_wrapper(db, url=api.url, spec=readings_spec(api, size=50))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "POWERTOOLS_"))}
        env.update(
            RS_MONGODB_URI=settings.mongodb_uri.get_secret_value(),
            RS_MONGODB_DATABASE=settings.mongodb_database,
            RS_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F",
            RS_FETCH_ALLOWED_NETWORKS='["127.0.0.1/32"]',
            RS_BROKER_CONNECT_ATTEMPTS="3",
            RS_BROKER_BACKOFF_SECONDS="0.05",
            RS_BROKER_BACKOFF_MAX_SECONDS="0.1",
        )
        job = subprocess.run(
            [sys.executable, "-m", "jobs.run_wrappers"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    lines = [json.loads(text) for text in job.stdout.splitlines()]
    logs = [line for line in lines if "_aws" not in line]
    for line in logs:
        assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None, line
        assert line["service"] == "run-wrappers" and line["level"] in ("INFO", "WARNING", "ERROR")
    retries = [line for line in logs if line["message"].startswith("broker connection failed (attempt ")]
    assert [r["message"].split(")")[0] for r in retries] == [
        "broker connection failed (attempt 1 of 3",
        "broker connection failed (attempt 2 of 3",
    ]
    assert all(r["level"] == "WARNING" and r["location"].startswith("_wait_to_retry:") for r in retries)
    (run_line,) = [line for line in logs if line["message"] == "run"]
    assert run_line["wrapper_id"] == wrapper_id and "outbox" in run_line["error"]
    # The points wait in the outbox for the next tick; the EMF record says how many.
    waiting = PointStore(db).unpublished_count(resource_id)
    assert waiting == 12
    (record,) = [line for line in lines if "_aws" in line]
    assert record["OutboxDepth"] == [float(waiting)] and record["Runs"] == [1.0]
