"""Points per second of one long run of the run_wrappers job, stage by stage.

A local paged JSON API serves N hourly points (pages of --page-size), a continuous wrapper with
hand-written parse code reads it, and one `shared.flows.tick.tick` runs it end to end: fetch through the
trusted fetcher, parse in the sandbox, validate, store in MongoDB, publish to RabbitMQ `resource_data`
in batches of 1,000 with publisher confirms (plus the raw pages to `collected_data`), move the water
marks. Then the same window is run again (every point a duplicate). Stage times come from wrapping the
runner's own calls (no change to the code measured). The run's messages are taken off the shared
queues afterwards, nobody else's.

Without --mongodb-uri it starts the pinned SecantusDB of .cache (as `infra/scripts/test.sh` installs it).
SecantusDB is a wire-protocol server written in Python, for tests: the store and outbox stages measured
on it say little about MongoDB Atlas (200,000 points: about 30 s to store, 10 s to publish here). The
stages before the database (fetch, sandboxed parse, point checks) are timed alone with --fetch-parse-only.

    .venv/bin/python infra/scripts/measure_run.py [--points 200000] [--page-size 10000] [--fetch-parse-only]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pika

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from measure_services import given, secantus  # noqa: E402

from shared.flows import run as runner  # noqa: E402
from shared.messaging.queues import COLLECTED_DATA_QUEUE, RESOURCE_DATA_QUEUE  # noqa: E402
from shared.store.database import close_clients, get_database  # noqa: E402
from shared.source.fetch_plan import fetch_pages  # noqa: E402
from shared.flows.tick import tick  # noqa: E402
from shared.domain.models import ResourceCreate, ResourceSource, SourceType, WrapperMode, WrapperStatus  # noqa: E402
from shared.store.point_store import PointStore  # noqa: E402
from shared.points.point import check_points  # noqa: E402
from shared.store.wrappers import WrapperRepository  # noqa: E402
from shared.store.resources import ResourceRepository  # noqa: E402
from shared.common.clock import utcnow  # noqa: E402
from shared.sandbox.run import SandboxLimits, run_parse  # noqa: E402
from shared.common.settings import Settings  # noqa: E402
from shared.validate.validation import to_points  # noqa: E402
from shared.domain.wrapper import FetchSpec, Pagination, SourceFormat, WaterMarkMapping  # noqa: E402

START = datetime(2000, 1, 1, tzinfo=UTC)
PARSE_CODE = """from shared.wrapper_toolkit import read_json, record_points


def parse(payload, context):
    return record_points(read_json(payload)["data"], time_key="time", time_format="iso", value_key="value")
"""


def page_body(rows: list[bytes], page: int, size: int) -> bytes:
    """One page of the API: pre-encoded rows, so serving costs little next to the run."""
    chosen = rows[(page - 1) * size : page * size]
    return b'{"page": %d, "data": [' % page + b",".join(chosen) + b"]}"


@contextmanager
def serve_api(count: int) -> Iterator[str]:
    """A paged JSON API of `count` hourly readings on loopback; yield its URL."""
    rows = [
        json.dumps(
            {"time": (START + timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%SZ"), "value": n % 997 + 0.5}
        ).encode()
        for n in range(count)
    ]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = dict(parse_qsl(urlsplit(self.path).query))
            body = page_body(rows, int(query.get("page", "1")), int(query.get("per_page", "1000")))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/readings"
    finally:
        server.shutdown()


class StageClock:
    """Seconds spent in each stage of the runner, by wrapping the functions it calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, owner: Any, name: str, stage: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)


def add_wrapper(settings: Settings, url: str, page_size: int) -> tuple[str, str]:
    """A resource with a ready continuous wrapper of the API: (resource id, wrapper id)."""
    db = get_database(settings)
    wrappers = WrapperRepository(db)
    wrapper = wrappers.create(
        tenant_id="measure",
        resource_id="-",
        source_type=SourceType.API,
        mode=WrapperMode.CONTINUOUS,
        metadata={},
    )
    resource = ResourceRepository(db).create(
        "measure",
        ResourceCreate(name="Measured readings", source=ResourceSource(type=SourceType.API, url=url)),
        wrapper_id=wrapper.wrapper_id,
    )
    spec = FetchSpec(
        location=url,
        format=SourceFormat.JSON,
        pagination=Pagination(
            kind="page_number", param="page", size_param="per_page", size=page_size, max_pages=1000
        ),
        water_mark=WaterMarkMapping(start_param="start", lookback_seconds=3600),
    )
    wrappers.update_fields(
        wrapper.wrapper_id,
        {
            "resource_id": resource.id,
            "status": WrapperStatus.READY.value,
            "fetch_spec": spec.model_dump(mode="json"),
            "generated_code": PARSE_CODE,
            "next_run_at": utcnow(),
        },
    )
    return resource.id, wrapper.wrapper_id


def take_messages(amqp_url: str, resource_id: str) -> dict[str, int]:
    """Take this run's messages off resource_data and collected_data; count them and their points."""
    counts = {"messages": 0, "points": 0, "raw": 0}
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    for queue in (RESOURCE_DATA_QUEUE, COLLECTED_DATA_QUEUE):
        others = []
        while True:
            method, _, body = channel.basic_get(queue)
            if method is None:
                break
            message = json.loads(body)
            if message.get("resource_id") != resource_id:
                others.append(method.delivery_tag)
                continue
            channel.basic_ack(method.delivery_tag)
            if queue == RESOURCE_DATA_QUEUE:
                counts["messages"] += 1
                counts["points"] += len(message["points"])
            else:
                counts["raw"] += 1
        for tag in others:
            channel.basic_nack(tag, requeue=True)
    connection.close()
    return counts


def run_once(settings: Settings, wrapper_id: str, label: str) -> dict[str, Any]:
    """One tick, timed; the figures of the wrapper's run in it."""
    clock = StageClock()
    stages = [
        (runner, "fetch_pages", "fetch"),
        (runner, "run_parse", "parse (sandbox)"),
        (PointStore, "store", "store"),
        (PointStore, "flush_outbox", "publish (outbox)"),
    ]
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in stages]
    for owner, name, stage in stages:
        clock.wrap(owner, name, stage)
    try:
        started = time.perf_counter()
        result = tick(settings)
        wall = time.perf_counter() - started
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    outcome = next(o for o in result.outcomes if o.run.wrapper_id == wrapper_id)
    run = outcome.run
    if run.error:
        sys.exit(f"{label}: the run failed: {run.error}")
    return {
        "run": label,
        "points": run.points_fetched,
        "new": run.points_new,
        "duplicate": run.points_duplicate,
        "published": run.points_published,
        "pages": run.pages,
        "bytes": run.bytes_fetched,
        "seconds": round(wall, 2),
        "points_per_second": round(run.points_fetched / wall),
        "stages": {stage: round(seconds, 2) for stage, seconds in clock.seconds.items()},
    }


def measure_fetch_and_parse(count: int, page_size: int) -> dict[str, Any]:
    """The stages before any database: fetch every page, parse in the sandbox, check the points."""
    with serve_api(count) as url:
        spec = FetchSpec(
            location=url,
            format=SourceFormat.JSON,
            pagination=Pagination(
                kind="page_number", param="page", size_param="per_page", size=page_size, max_pages=10_000
            ),
        )
        settings = Settings(fetch_allowed_networks=["127.0.0.1/32"])
        stages: dict[str, float] = {}
        started = time.perf_counter()
        fetched = fetch_pages(spec, settings=settings)
        stages["fetch"] = time.perf_counter() - started
        mark = time.perf_counter()
        context = {"indicator": {}, "source": {}, "high_water_mark": None, "low_water_mark": None}
        result = run_parse(
            PARSE_CODE, fetched.payloads(), context=context, limits=SandboxLimits.from_settings(settings)
        )
        stages["parse (sandbox)"] = time.perf_counter() - mark
        mark = time.perf_counter()
        points, issues = to_points(result.points)
        check_points(points)
        stages["validate points"] = time.perf_counter() - mark
        wall = time.perf_counter() - started
    if not result.ok or issues or len(points) != count:
        sys.exit(f"fetch and parse failed: {result.error or issues[:1]}")
    return {
        "run": "fetch + parse + validate only",
        "points": len(points),
        "pages": len(fetched.pages),
        "bytes": fetched.bytes_fetched,
        "seconds": round(wall, 2),
        "points_per_second": round(len(points) / wall),
        "stages": {stage: round(seconds, 2) for stage, seconds in stages.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=10_000)
    parser.add_argument("--mongodb-uri", help="default: start the pinned SecantusDB of .cache")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument(
        "--fetch-parse-only",
        action="store_true",
        help="time only the stages before the database (no MongoDB, no RabbitMQ)",
    )
    args = parser.parse_args()
    # A terminated measurement still takes its messages off the shared queues and stops its server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    if args.fetch_parse_only:
        print(json.dumps(measure_fetch_and_parse(args.points, args.page_size)))
        return
    with (
        secantus() if args.mongodb_uri is None else given(args.mongodb_uri) as uri,
        serve_api(args.points) as url,
    ):
        settings = Settings(
            mongodb_uri=uri,
            mongodb_database=f"rs_measure_{uuid.uuid4().hex[:8]}",
            amqp_url=args.amqp_url,
            fetch_allowed_networks=["127.0.0.1/32"],
            job_lease_seconds=3600,
        )
        resource_id, wrapper_id = add_wrapper(settings, url, args.page_size)
        try:
            figures = [run_once(settings, wrapper_id, "first run (all new)")]
            # The same window again: from the high water mark only the last hour would be fetched.
            WrapperRepository(get_database(settings)).update_fields(
                wrapper_id, {"high_water_mark": None, "next_run_at": utcnow()}
            )
            figures.append(run_once(settings, wrapper_id, "second run (all duplicates)"))
        finally:
            delivered = take_messages(args.amqp_url, resource_id)
            get_database(settings).client.drop_database(settings.mongodb_database)
            close_clients()
    for figure in figures:
        print(json.dumps(figure))
    print(json.dumps({"delivered": delivered}))


if __name__ == "__main__":
    main()
