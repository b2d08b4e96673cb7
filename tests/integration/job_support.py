"""Helpers of the run_wrappers job tests: a growing paged JSON API, wrappers set up by hand, queue readers."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import pika
from pymongo.database import Database

from shared.common.clock import utcnow
from shared.common.settings import Settings
from shared.domain.models import (
    ResourceCreate,
    ResourceSource,
    Schedule,
    SourceType,
    WrapperMode,
    WrapperStatus,
)
from shared.domain.wrapper import FetchSpec, Pagination, SourceFormat, WaterMarkMapping
from shared.messaging.broker import declare_queues
from shared.messaging.queues import COLLECTED_DATA_QUEUE, RESOURCE_DATA_QUEUE
from shared.store.resources import ResourceRepository
from shared.store.wrappers import WrapperRepository
from tests.support import serve_loopback

ROOT = Path(__file__).resolve().parents[2]
SECANTUS = sorted(ROOT.glob(".cache/secantusdb-*/bin/secantusd-py"))
TENANT = "tenant-job"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
READINGS_CODE = """from shared.wrapper_toolkit import read_json, record_points


def parse(payload, context):
    # Hand-written, as a Gemini wrapper of this API would read it.
    return record_points(read_json(payload)["data"], time_key="time", time_format="iso", value_key="value")
"""


def hour(n: int) -> datetime:
    """The n-th hour after T0."""
    return T0 + timedelta(hours=n)


def iso(moment: datetime) -> str:
    """ISO 8601 with a Z, as the API serves and the broker carries timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ReadingsApi:
    """A paged JSON API of hourly readings whose data the test grows and revises between ticks.

    GET /readings?start=ISO&page=N&per_page=M answers `{"data": [{"time", "value"}], "page": N}`, oldest
    first, from `start` (inclusive). `on_request(query)` runs before each answer (to stop a broker,
    block, or change state mid-run). `required_headers` must be sent, else 401.
    """

    def __init__(self) -> None:
        self.values: dict[datetime, float] = {}
        self.requests: list[dict[str, str]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.on_request: Callable[[dict[str, str]], None] | None = None
        self.required_headers: dict[str, str] = {}
        self.lock = threading.Lock()
        self.base = ""

    def grow(self, count: int, *, value: Callable[[int], float] = lambda n: round(n * 1.5 + 0.25, 2)) -> None:
        """Serve hourly readings 0..count-1 (existing ones keep their values)."""
        with self.lock:
            for n in range(count):
                self.values.setdefault(hour(n), value(n))

    def expected(self) -> list[tuple[str, float]]:
        """Every reading served now, oldest first, as (ISO time, value)."""
        with self.lock:
            return [(iso(moment), value) for moment, value in sorted(self.values.items())]

    def answer(self, query: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes]:
        self.requests.append(query)
        self.headers_seen.append(headers)
        if self.on_request is not None:
            self.on_request(query)
        if any(headers.get(name.lower()) != value for name, value in self.required_headers.items()):
            return 401, b'{"error": "unauthorized"}'
        start = datetime.fromisoformat(query["start"].replace("Z", "+00:00")) if "start" in query else None
        page, size = int(query.get("page", "1")), int(query.get("per_page", "100"))
        with self.lock:
            rows = [(m, v) for m, v in sorted(self.values.items()) if start is None or m >= start]
        chosen = rows[(page - 1) * size : page * size]
        body = {"data": [{"time": iso(m), "value": v} for m, v in chosen], "page": page}
        return 200, json.dumps(body).encode()

    @property
    def url(self) -> str:
        """The readings endpoint."""
        return f"{self.base}/readings"


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    api: ClassVar[ReadingsApi]

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != "/readings":
            self.send_error(404)
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body = self.api.answer(dict(parse_qsl(parts.query)), headers)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serve_readings() -> Iterator[ReadingsApi]:
    """A ReadingsApi on a loopback port."""
    api = ReadingsApi()
    with serve_loopback(type("ApiHandler", (_ApiHandler,), {"api": api})) as base:
        api.base = base
        yield api


def job_settings(mongodb_uri: str, amqp_url: str, database_name: str, **overrides: Any) -> Settings:
    """Settings of a test tick: real services, loopback sources allowed, quick broker retries."""
    values: dict[str, Any] = {
        "mongodb_uri": mongodb_uri,
        "mongodb_database": database_name,
        "amqp_url": amqp_url,
        "fetch_allowed_networks": ["127.0.0.1/32"],
        "gemini_api_key": None,
        "gemini_secret_arn": None,
        "broker_connect_attempts": 2,
        "broker_backoff_seconds": 0.1,
        "broker_backoff_max_seconds": 0.2,
        "job_lease_seconds": 60,
        "job_backoff_base_seconds": 60,
        "sandbox_wall_seconds": 60,
    }
    values.update(overrides)
    return Settings(**values)


def readings_spec(
    api: ReadingsApi, *, size: int = 5, lookback_seconds: int = 7200, **extra: Any
) -> FetchSpec:
    """The fetch spec of the readings API: page numbers, and the high water mark as `start`."""
    return FetchSpec(
        location=api.url,
        format=SourceFormat.JSON,
        pagination=Pagination(kind="page_number", param="page", size_param="per_page", size=size),
        water_mark=WaterMarkMapping(start_param="start", lookback_seconds=lookback_seconds),
        **extra,
    )


def add_wrapper(
    db: Database,
    *,
    url: str,
    spec: FetchSpec,
    code: str = READINGS_CODE,
    mode: WrapperMode = WrapperMode.CONTINUOUS,
    source_type: SourceType = SourceType.API,
    schedule: Schedule | None = None,
    status: WrapperStatus = WrapperStatus.READY,
) -> tuple[str, str]:
    """A resource and a validated (ready, due now) wrapper of the spec and code: (resource, wrapper)."""
    wrappers = WrapperRepository(db)
    wrapper = wrappers.create(
        tenant_id=TENANT, resource_id="pending", source_type=source_type, mode=mode, metadata={}
    )
    resource = ResourceRepository(db).create(
        TENANT,
        ResourceCreate(
            name="Hourly readings",
            unit="gCO2/kWh",
            source=ResourceSource(type=source_type, url=url),
            schedule=schedule,
        ),
        wrapper_id=wrapper.wrapper_id,
    )
    wrappers.update_fields(
        wrapper.wrapper_id,
        {
            "resource_id": resource.id,
            "status": status.value,
            "fetch_spec": spec.model_dump(mode="json"),
            "generated_code": code,
            "generator": "manual",
            "next_run_at": utcnow(),
        },
    )
    return resource.id, wrapper.wrapper_id


def make_due(db: Database, wrapper_id: str) -> None:
    """Let the wrapper's scheduled time arrive now."""
    WrapperRepository(db).update_fields(wrapper_id, {"next_run_at": utcnow()})


class Messages:
    """Messages of one resource on a shared queue: taken (acked) by resource id, others put back."""

    def __init__(self, amqp_url: str, queue: str = RESOURCE_DATA_QUEUE) -> None:
        self.amqp_url = amqp_url
        self.queue = queue

    def take(self, resource_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(message id, body) of every ready message of the resource, acked; others are requeued."""
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            channel = connection.channel()
            declare_queues(channel, [self.queue])
            taken, others = [], []
            while True:  # unacked messages stay with this channel, so the scan ends
                method, properties, body = channel.basic_get(self.queue)
                if method is None:
                    break
                message = json.loads(body)
                if message.get("resource_id") == resource_id:
                    channel.basic_ack(method.delivery_tag)
                    taken.append((str(properties.message_id), message))
                else:
                    others.append(method.delivery_tag)
            for tag in others:
                channel.basic_nack(tag, requeue=True)
            return taken
        finally:
            connection.close()

    def wait_points(
        self, resource_id: str, count: int, *, timeout: float = 20.0
    ) -> list[tuple[str, dict[str, Any]]]:
        """Messages of the resource until they hold at least `count` points, then any stragglers."""
        deadline = time.monotonic() + timeout
        taken: list[tuple[str, dict[str, Any]]] = []
        while time.monotonic() < deadline:
            taken += self.take(resource_id)
            if sum(len(body["points"]) for _, body in taken) >= count:
                break
            time.sleep(0.2)
        time.sleep(0.3)
        return taken + self.take(resource_id)


def points_of(messages: list[tuple[str, dict[str, Any]]], *, dedupe: bool = False) -> list[tuple[str, float]]:
    """(timestamp, value) of every point in the messages, in order; dedupe drops repeated message ids."""
    seen: set[str] = set()
    points = []
    for message_id, body in messages:
        if dedupe and message_id in seen:
            continue
        seen.add(message_id)
        points += [(p["timestamp"], p["value"]) for p in body["points"]]
    return points


def drain_collected(amqp_url: str, resource_id: str) -> list[dict[str, Any]]:
    """Take the raw payload messages of a resource off collected_data."""
    return [body for _, body in Messages(amqp_url, COLLECTED_DATA_QUEUE).take(resource_id)]


def stored_points(db: Database, resource_id: str) -> list[tuple[str, float]]:
    """The resource's stored points, oldest first, as (ISO time, value)."""
    cursor = db["points"].find({"resource_id": resource_id}).sort("timestamp", 1)
    return [(iso(d["timestamp"]), d["value"]) for d in cursor]


class PrivateMongo:
    """A MongoDB wire server of one test, on a fixed port and storage, that the test stops and starts."""

    def __init__(self, storage: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.storage = storage
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """Its connection string."""
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        """Start it (again, on the same port and data) and wait until it accepts connections."""
        command = [str(SECANTUS[-1]), "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--storage-path", str(self.storage), "--log-level", "WARNING"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise AssertionError("the private MongoDB wire server did not start")

    def stop(self) -> None:
        """Stop it and wait until it is gone."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


@contextmanager
def private_mongodb(tmp_path: Path) -> Iterator[PrivateMongo]:
    """A private SecantusDB (from the test command's .cache) that is stopped at the end."""
    if not SECANTUS:
        raise AssertionError("no SecantusDB in .cache: run the suite with infra/scripts/test.sh")
    mongo = PrivateMongo(tmp_path / "mongo")
    mongo.start()
    try:
        yield mongo
    finally:
        mongo.stop()


def start_job(settings: Settings, *, lease_seconds: int, merge_stderr: bool = False) -> subprocess.Popen[str]:
    """The job as the scheduler starts it, in a process of its own, against the test's services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "POWERTOOLS_"))}
    env.update(
        RS_MONGODB_URI=settings.mongodb_uri.get_secret_value(),
        RS_MONGODB_DATABASE=settings.mongodb_database,
        RS_AMQP_URL=settings.amqp_url.get_secret_value(),
        RS_FETCH_ALLOWED_NETWORKS='["127.0.0.1/32"]',
        RS_JOB_LEASE_SECONDS=str(lease_seconds),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.run_wrappers"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
