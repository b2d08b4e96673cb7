"""Benchmarks of the hot paths, each against a baseline measured in the same run (`python -m devtools bench`).

Every figure is a ratio of ours to a baseline timed in the same process, on the same data, interleaved
and repeated (median): the machine is shared, so absolute times mean little. The data is generated here;
the services are the ones the tests use (infra/scripts/bench.sh starts them like infra/scripts/test.sh).
Results go to a table on stdout and to bench/results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
RESULTS = ROOT / "bench" / "results.json"
API_EVENT = ROOT / "infra" / "events" / "api_get_resource.json"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
GIB = 1024**3
MIB = 1024**2

CSV_REQUEST = {"name": "Hourly electricity consumption", "description": "metered, hourly", "unit": "kWh"}

# The cold-import candidates (also used by infra/scripts/measure_cold_import.py).
BARE_API_APP = """
from fastapi import FastAPI
from mangum import Mangum
import pymongo

app = FastAPI()


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


handler = Mangum(app, lifespan="off")
"""

IMPORT_PROBE = """
import json, sys, time
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
heavy = [m for m in ("pandas", "numpy", "google.genai", "matplotlib", "python_calamine", "openpyxl", "boto3")
         if m in sys.modules]
print(json.dumps({{"seconds": elapsed, "modules": len(sys.modules), "heavy": heavy}}))
"""

IMPORT_CANDIDATES = {
    "bare FastAPI+Mangum+pymongo": f"exec(compile({BARE_API_APP!r}, 'baseline_app', 'exec'), {{}})",
    "functions.api.app": "import functions.api.app",
}

# Peak RSS of the sandbox child, polled from /proc while a fresh interpreter runs the sandboxed parse, and of
# that interpreter, which does the job's side of a run as it goes: the points checked as they stream in, the
# series checks, and every store document made, a chunk at a time (not written: no database here).
MEMORY_PROBE = """
import json, os, sys, threading, time
from shared.source.profile import build_profile
from shared.generate.base import HeuristicGenerator
from shared.sandbox.run import SandboxLimits, run_parse
from shared.common.settings import Settings
from shared.source.read import read_source
from shared.domain.wrapper import IndicatorRequest
from shared.store.point_store import document_chunks
from shared.validate.validation import PointBuilder, check_built

settings = Settings()
request = IndicatorRequest(**json.loads(sys.argv[2]))
source = read_source(sys.argv[1], settings=settings)
draft = HeuristicGenerator().generate(build_profile(source), request).draft
peak = {}
done = threading.Event()

def watch():
    me = str(os.getpid())
    while not done.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[1] != me:
                        continue
                with open(f"/proc/{pid}/status") as handle:
                    for line in handle:
                        if line.startswith("VmHWM:"):
                            peak[pid] = max(peak.get(pid, 0), int(line.split()[1]) * 1024)
            except (OSError, IndexError):
                continue
        time.sleep(0.05)

watcher = threading.Thread(target=watch, daemon=True)
watcher.start()
limits = SandboxLimits.from_settings(settings)
builder = PointBuilder()
# As a job run: the fetched bytes are let go once the child has them; only their raw message (cut) stays.
payloads = [source.content]
del source
result = run_parse(
    draft.parse_code, payloads, context={}, limits=limits, on_points=builder.add, release_payloads=True
)
done.set()
watcher.join()
checked = check_built(builder, zone=None)
documents = sum(len(chunk) for chunk in document_chunks("bench", checked.points))
# VmHWM of this process, not ru_maxrss: Linux keeps ru_maxrss across execve, i.e. the bench's own peak.
with open("/proc/self/status") as handle:
    own_peak = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmHWM:"))
print(json.dumps({
    "ok": result.ok and not checked.issues and documents == len(checked.points),
    "error": result.error or "; ".join(issue.message for issue in checked.issues),
    "points": len(checked.points),
    "child_peak_bytes": max(peak.values(), default=0),
    "parent_peak_bytes": own_peak,
}))
"""


@dataclass
class Sizes:
    """How much data each figure uses and how often it is repeated."""

    csv_rows: int = 1_000_000
    xlsx_rows: int = 100_000
    job_points: int = 200_000
    memory_rows: tuple[int, ...] = (1_000_000, 2_000_000, 4_000_000)
    publish_points: int = 1_000_000
    store_points: int = 200_000
    api_calls: int = 1_000
    cold_imports: int = 5
    repeat: int = 3


QUICK = Sizes(
    csv_rows=1_000,
    xlsx_rows=1_000,
    job_points=1_000,
    memory_rows=(1_000, 2_000, 4_000),
    publish_points=2_000,
    store_points=1_000,
    api_calls=20,
    cold_imports=1,
    repeat=1,
)


@dataclass
class Figure:
    """One measured figure: ours against the baseline, and whether the target is met."""

    figure: str
    ours: float | None
    baseline: float | None
    ratio: float | None
    target: str
    met: bool
    unit: str = ""
    detail: str = ""
    curve: list[dict[str, Any]] = field(default_factory=list)


def rate_figure(
    name: str,
    *,
    count: int,
    ours: Sequence[float],
    baseline: Sequence[float],
    least: float,
    target: str | None = None,
    detail: str,
    also: bool = True,
) -> Figure:
    """A points/s figure from each side's seconds: met when ours/baseline reaches `least` and `also` holds."""
    ours_rate, base_rate = count / statistics.median(ours), count / statistics.median(baseline)
    ratio = ours_rate / base_rate
    return Figure(
        figure=name,
        ours=round(ours_rate),
        baseline=round(base_rate),
        ratio=round(ratio, 3),
        target=target or f"ours/baseline points/s >= {least}",
        met=ratio >= least and also,
        unit="points/s",
        detail=detail,
    )


@dataclass
class Services:
    """Where the real services are; None for a service that is not available (its figures are skipped)."""

    mongodb_uri: str | None = None
    amqp_url: str | None = None


@dataclass
class Bench:
    """The state of one run: sizes, services, a scratch directory and the figures so far."""

    sizes: Sizes
    services: Services
    work: Path
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    progress: Callable[[str], None] = lambda message: None


# --- helpers ---------------------------------------------------------------------------------------


def interleaved(
    ours: Callable[[], float], baseline: Callable[[], float], repeat: int, *, warm_up: bool = False
) -> tuple[list[float], list[float]]:
    """Run both `repeat` times, alternating which goes first, so machine load affects them alike.

    With `warm_up`, each runs once untimed first: what a first run alone pays (lazy imports, the first
    sandbox child started cold) is left out of both, as the baselines' imports are.
    """
    if warm_up:
        ours()
        baseline()
    mine: list[float] = []
    theirs: list[float] = []
    for index in range(repeat):
        if index % 2:
            theirs.append(baseline())
            mine.append(ours())
        else:
            mine.append(ours())
            theirs.append(baseline())
    return mine, theirs


def timed(action: Callable[[], object]) -> float:
    """Seconds the action took."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of the values lie (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null (request logs are still written, just not shown)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def bench_settings(**overrides: Any) -> Any:
    """Settings from the environment, with the given fields replaced."""
    from shared.common.settings import Settings

    return Settings(**overrides)


def write_long_csv(path: Path, rows: int) -> Path:
    """A long CSV of hourly UTC timestamps and values: `timestamp,value`."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    step = timedelta(hours=1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("timestamp,value\n")
        lines = []
        for index in range(rows):
            stamp = (start + index * step).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(f"{stamp},{round(50 + 40 * math.sin(index / 24) + index % 7, 3)}\n")
            if len(lines) == 10_000:
                handle.writelines(lines)
                lines = []
        handle.writelines(lines)
    return path


def long_csv(bench: Bench) -> Path:
    """The run's long CSV of `csv_rows` rows, written on first use (CSV extraction and Memory share it)."""
    path = bench.work / f"long_{bench.sizes.csv_rows}.csv"
    if not path.exists():
        write_long_csv(path, bench.sizes.csv_rows)
    return path


def write_xlsx(path: Path, rows: int) -> Path:
    """A workbook whose sheet has a 5-row preamble, a header row and `rows` rows of (datetime, value)."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("readings")
    for line in (["Hourly meter readings"], ["Source: generated by the benchmark"], [], ["Unit: kWh"], []):
        sheet.append(line)
    sheet.append(["timestamp", "value"])
    start = datetime(2000, 1, 1)
    for index in range(rows):
        sheet.append([start + timedelta(hours=index), round(50 + 40 * math.sin(index / 24) + index % 7, 3)])
    book.save(path)
    return path


def make_points(count: int) -> list[Any]:
    """Hourly points of one series."""
    from pydantic import TypeAdapter

    from shared.points.columns import gc_paused
    from shared.points.point import Point

    start = datetime(2000, 1, 1, tzinfo=UTC)
    with gc_paused():
        rows = [
            {"timestamp": start + timedelta(hours=index), "value": float(index % 1000) / 4, "dimensions": {}}
            for index in range(count)
        ]
        return TypeAdapter(list[Point]).validate_python(rows)


def wrap_file(path: Path, request: dict[str, str], settings: Any) -> Any:
    """Read a source, generate a wrapper with the heuristic generator, validate it and run it."""
    from shared.domain.wrapper import IndicatorRequest
    from shared.flows.wrap import wrap_source
    from shared.source.read import read_source

    source = read_source(str(path), settings=settings)
    return wrap_source(
        source, IndicatorRequest.model_validate(request), generator="heuristic", settings=settings
    )


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


# --- the figures -----------------------------------------------------------------------------------


def timed_wrap(path: Path, *, rows: int, figure: str) -> Callable[[], float]:
    """Time the whole wrap (generate + sandboxed validation) of a file that must yield `rows` points."""
    settings = bench_settings()

    def ours() -> float:
        started = time.perf_counter()
        result = wrap_file(path, CSV_REQUEST, settings)
        seconds = time.perf_counter() - started
        if len(result.points) != rows:
            raise RuntimeError(f"{figure} produced {len(result.points)} points, expected {rows}")
        return seconds

    return ours


def csv_extraction(bench: Bench) -> list[Figure]:
    """1M-row long CSV to validated points through the sandbox, against pandas read_csv + to_json."""
    import pandas

    rows = bench.sizes.csv_rows
    path = long_csv(bench)
    ours = timed_wrap(path, rows=rows, figure="CSV extraction")

    def baseline() -> float:
        return timed(lambda: pandas.read_csv(path).to_json(orient="records"))

    mine, theirs = interleaved(ours, baseline, bench.sizes.repeat, warm_up=True)
    detail = (
        f"{rows:,} rows, {path.stat().st_size / MIB:.1f} MiB; read_source + profile + heuristic "
        f"generate + sandboxed validation; after one untimed run of each, seconds ours {_fmt(mine)}, "
        f"pandas {_fmt(theirs)}"
    )
    return [rate_figure("CSV extraction", count=rows, ours=mine, baseline=theirs, least=1.0, detail=detail)]


# `resource-service wrap` in a fresh interpreter, as a user runs it; its own peak RSS goes to stderr.
WRAP_COMMAND = """
import json, sys
from shared.cli.main import main
code = main(["wrap", *sys.argv[1:]])
with open("/proc/self/status") as handle:
    peak = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmHWM:"))
print(json.dumps({"peak_bytes": peak}), file=sys.stderr)
sys.exit(code)
"""
PANDAS_JSON_LINES = """
import sys, pandas
pandas.read_csv(sys.argv[1]).to_json(sys.argv[2], orient="records", lines=True)
"""


def wrap_command(bench: Bench) -> list[Figure]:
    """`resource-service wrap` of the 1M-row CSV into a JSON lines file, against a pandas script doing so."""
    rows = bench.sizes.csv_rows
    path = long_csv(bench)
    out = bench.work / "wrap_command.jsonl"
    peaks: list[int] = []
    request = [f"--{field}={value}" for field, value in CSV_REQUEST.items()]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(arguments: list[str]) -> tuple[float, str]:
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", *arguments], cwd=ROOT, env=environment, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if completed.returncode:
            raise RuntimeError(f"exit {completed.returncode}: {completed.stderr.strip()[-500:]}")
        with out.open("rb") as handle:
            lines = sum(1 for _ in handle)
        out.unlink()
        if lines != rows:
            raise RuntimeError(f"wrote {lines} lines, expected {rows}")
        return seconds, completed.stderr

    def ours() -> float:
        seconds, stderr = run(
            [WRAP_COMMAND, str(path), *request, "--format=jsonl", "--quiet", f"--out={out}"]
        )
        peaks.append(json.loads(stderr.strip().splitlines()[-1])["peak_bytes"])
        return seconds

    def baseline() -> float:
        return run([PANDAS_JSON_LINES, str(path), str(out)])[0]

    mine, theirs = interleaved(ours, baseline, bench.sizes.repeat, warm_up=True)
    detail = (
        f"{rows:,} rows, {path.stat().st_size / MIB:.1f} MiB, each in a fresh interpreter: read, profile, "
        f"heuristic generation, sandboxed validation and every point written; after one untimed run of each, "
        f"seconds ours {_fmt(mine)}, pandas {_fmt(theirs)}; the command's peak RSS "
        f"{max(peaks) / MIB:.0f} MiB"
    )
    return [rate_figure("Wrap command", count=rows, ours=mine, baseline=theirs, least=0.5, detail=detail)]


def xlsx_extraction(bench: Bench) -> list[Figure]:
    """100k-row sheet with a preamble to points, against a bare python-calamine read of it into rows."""
    from python_calamine import CalamineWorkbook

    rows = bench.sizes.xlsx_rows
    path = bench.work / f"sheet_{rows}.xlsx"
    if not path.exists():
        write_xlsx(path, rows)
    ours = timed_wrap(path, rows=rows, figure="XLSX extraction")

    def read_rows() -> None:
        CalamineWorkbook.from_path(str(path)).get_sheet_by_name("readings").to_python()

    def baseline() -> float:
        return timed(read_rows)

    mine, theirs = interleaved(ours, baseline, bench.sizes.repeat, warm_up=True)
    speedup = statistics.median(theirs) / statistics.median(mine)
    return [
        Figure(
            figure="XLSX extraction",
            ours=round(statistics.median(mine), 3),
            baseline=round(statistics.median(theirs), 3),
            ratio=round(speedup, 4),
            target="baseline/ours time >= 0.8",
            met=speedup >= 0.8,
            unit="s",
            detail=f"{rows:,} rows under a 5-row preamble, {path.stat().st_size / MIB:.1f} MiB; after one "
            f"untimed run of each, seconds ours {_fmt(mine)}, python-calamine {_fmt(theirs)}",
        )
    ]


def publish(bench: Bench) -> list[Figure]:
    """1M points flushed from the outbox, against a bare pika loop publishing the same ready bodies."""
    target = "ours/baseline points/s >= 0.9"
    if not bench.services.amqp_url or not bench.services.mongodb_uri:
        return [_skipped("Publish", target, "no RabbitMQ or MongoDB (pass --amqp-url and --mongodb-uri)")]
    import pika
    from pydantic import SecretStr
    from pymongo import MongoClient

    from shared.messaging.broker import APP_ID, CONTENT_TYPE, PERSISTENT, Publisher
    from shared.store.database import ensure_indexes
    from shared.store.point_store import PointStore, point_documents

    amqp_url = bench.services.amqp_url
    count = bench.sizes.publish_points
    batch = 1000
    resource_id = "bench"
    documents = point_documents(resource_id, make_points(count))
    settings = bench_settings(amqp_url=SecretStr(amqp_url))
    client: MongoClient = MongoClient(bench.services.mongodb_uri, tz_aware=True)
    bodies: list[bytes] = []

    def scratch_queue() -> str:
        return f"rs_bench_{uuid.uuid4().hex[:12]}"

    def finish(queue: str, messages: int) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            depth = channel.queue_declare(queue=queue, passive=True).method.message_count
            channel.queue_delete(queue=queue)
        finally:
            connection.close()
        if depth != messages:
            raise RuntimeError(f"scratch queue held {depth} messages, expected {messages}")

    def ours() -> float:
        queue, name = scratch_queue(), scratch_queue()
        db = client[name]
        publisher = Publisher(settings, queue_names=[queue], connection_name="resource-service-bench")
        try:
            ensure_indexes(db)
            point_store = PointStore(db)
            # The outbox as store() writes it, without the point writes this figure does not measure.
            point_store._enqueue(resource_id, documents)
            if not bodies:  # the baseline sends exactly these bytes (`interleaved` runs ours first)
                entries = point_store.outbox.find({}, {"messages": 1, "queued": 1}).sort("queued", 1)
                bodies.extend(message["body"] for entry in entries for message in entry["messages"])
            started = time.perf_counter()
            result = point_store.flush_outbox(resource_id, publisher, batch_size=batch, queue=queue)
            seconds = time.perf_counter() - started
        finally:
            publisher.close()
            client.drop_database(name)
        if (result.published, result.remaining) != (count, 0):
            raise RuntimeError(f"the flush published {result.published} points, expected {count}")
        finish(queue, result.messages)
        return seconds

    def bare() -> float:
        queue = scratch_queue()
        started = time.perf_counter()
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare(queue=queue, durable=True)
            for index, body in enumerate(bodies):
                properties = pika.BasicProperties(
                    content_type=CONTENT_TYPE,
                    delivery_mode=PERSISTENT,
                    message_id=f"bench:{index}",
                    timestamp=int(time.time()),
                    app_id=APP_ID,
                    headers={"resource_id": resource_id, "batch_index": 0, "batch_count": 1},
                )
                channel.basic_publish(
                    exchange="", routing_key=queue, body=body, properties=properties, mandatory=True
                )
            seconds = time.perf_counter() - started
        finally:
            connection.close()
        finish(queue, len(bodies))
        return seconds

    try:
        mine, theirs = interleaved(ours, bare, bench.sizes.repeat)
    finally:
        client.close()
    detail = (
        f"{count:,} points flushed from the outbox (a scratch database) in {len(bodies)} confirmed "
        f"messages of {batch}, read in one cursor, published, and deleted 25 documents at a time, to a "
        f"scratch queue per repetition (declared, then deleted); the baseline publishes the same bodies, "
        f"read from the outbox beforehand, in a bare pika loop with confirms; seconds ours {_fmt(mine)}, "
        f"bare pika {_fmt(theirs)}"
    )
    return [
        rate_figure(
            "Publish", count=count, ours=mine, baseline=theirs, least=0.9, target=target, detail=detail
        )
    ]


def store(bench: Bench) -> list[Figure]:
    """200k points stored idempotently, then again (0 new), against insert_many into a scratch collection."""
    target = "ours/baseline points/s >= 0.5 (first pass); second pass stores 0 new"
    again_target = "second/first pass seconds <= 0.25, 0 new"
    if not bench.services.mongodb_uri:
        return [
            _skipped(name, goal, "no MongoDB (pass --mongodb-uri)")
            for name, goal in (("Store", target), ("Store, second pass", again_target))
        ]
    from pymongo import MongoClient

    from shared.store.database import ensure_indexes
    from shared.store.point_store import PointStore, point_documents

    count = bench.sizes.store_points
    points = make_points(count)
    client: MongoClient = MongoClient(bench.services.mongodb_uri, tz_aware=True)
    firsts: list[float] = []
    seconds_again: list[float] = []
    new_again: list[int] = []
    baselines: list[float] = []

    def insert(collection: Any) -> float:
        documents = point_documents("bench", points)
        return timed(lambda: collection.insert_many(documents, ordered=False))

    try:
        for index in range(bench.sizes.repeat):
            name = f"rs_bench_{uuid.uuid4().hex[:10]}"
            db = client[name]
            try:
                ensure_indexes(db)
                point_store = PointStore(db)
                steps = ["ours", "bare"]
                for step in steps[index % 2 :] + steps[: index % 2]:  # alternate who goes first
                    if step == "bare":
                        baselines.append(insert(db["bench_scratch"]))
                    else:
                        started = time.perf_counter()
                        result = point_store.store("bench", points)
                        firsts.append(time.perf_counter() - started)
                        if result.new != count:
                            raise RuntimeError(f"first store pass stored {result.new} new, expected {count}")
                        started = time.perf_counter()
                        new_again.append(point_store.store("bench", points).new)
                        seconds_again.append(time.perf_counter() - started)
            finally:
                client.drop_database(name)
    finally:
        client.close()
    again_ratio = statistics.median(seconds_again) / statistics.median(firsts)
    detail = (
        f"{count:,} points; second pass new={new_again}, seconds {_fmt(seconds_again)}; first pass seconds "
        f"ours {_fmt(firsts)}, insert_many of the same documents into a scratch collection "
        f"{_fmt(baselines)} (ordered=False); a point's _id is its identity (no secondary index), the outbox "
        f"a document per stored chunk of new or revised points, messages encoded"
    )
    return [
        rate_figure(
            "Store",
            count=count,
            ours=firsts,
            baseline=baselines,
            least=0.5,
            target=target,
            detail=detail,
            also=all(new == 0 for new in new_again),
        ),
        Figure(
            figure="Store, second pass",
            ours=round(statistics.median(seconds_again), 3),
            baseline=round(statistics.median(firsts), 3),
            ratio=round(again_ratio, 3),
            target=again_target,
            met=again_ratio <= 0.25 and all(new == 0 for new in new_again),
            unit="s",
            detail=f"the same {count:,} points stored again: new={new_again}, seconds {_fmt(seconds_again)} "
            f"against the first pass {_fmt(firsts)}; each chunk's digest (point ids and values) matches the "
            f"one stored after its first pass, so no point is read back",
        ),
    ]


@contextlib.contextmanager
def serve_bytes(body: bytes, *, content_type: str) -> Iterator[str]:
    """Serve `body` at /data on a threaded loopback HTTP server; yield its URL."""
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/data"
    finally:
        server.shutdown()
        server.server_close()


def scratch_publisher(settings: Any, queue: str) -> Any:
    """A Publisher that sends every message to one scratch queue, never to the queues consumers read."""
    from shared.messaging.broker import Publisher

    class ScratchPublisher(Publisher):
        # Every publish path of Publisher ends in one of these, so a tick's points and raw payload land in
        # `queue`.
        def _publish_on(self, slot: Any, target: str, message: Any) -> None:
            super()._publish_on(slot, queue, message)

        def _window_on(self, slot: Any, target: str, messages: Any, *, on_confirmed: Any) -> None:
            super()._window_on(slot, queue, messages, on_confirmed=on_confirmed)

    return ScratchPublisher(settings, queue_names=[queue], connection_name="resource-service-bench")


def drop_queue(amqp_url: str, queue: str) -> int:
    """Delete a scratch queue; return how many messages it held."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        depth = int(channel.queue_declare(queue=queue, passive=True).method.message_count)
        channel.queue_delete(queue=queue)
    finally:
        connection.close()
    return depth


def job_end_to_end(bench: Bench) -> list[Figure]:
    """One job tick of a wrapper reading a loopback CSV → store → publish, against a plain script."""
    target = "ours/baseline points/s >= 0.5"
    if not bench.services.mongodb_uri or not bench.services.amqp_url:
        return [_skipped("Job end to end", target, "no MongoDB or RabbitMQ (pass --mongodb-uri, --amqp-url)")]
    import io
    import urllib.request

    import pandas
    import pika
    from pymongo import MongoClient

    from shared.domain.models import ResourceCreate, ResourceSource, SourceType, WrapperMode, WrapperStatus
    from shared.domain.wrapper import FetchSpec, IndicatorRequest, SourceFormat
    from shared.flows.tick import tick
    from shared.generate.base import HeuristicGenerator
    from shared.messaging.broker import APP_ID, CONTENT_TYPE, PERSISTENT
    from shared.source.profile import build_profile
    from shared.source.read import read_source
    from shared.store.database import close_clients
    from shared.store.resources import ResourceRepository
    from shared.store.wrappers import WrapperRepository

    mongodb_uri, amqp_url = bench.services.mongodb_uri, bench.services.amqp_url
    count = bench.sizes.job_points
    path = write_long_csv(bench.work / f"job_{count}.csv", count)
    body = path.read_bytes()
    # The parse code the heuristic generator writes for this file, as a validated wrapper would hold it.
    settings = bench_settings()
    source = read_source(str(path), settings=settings)
    parse_code = (
        HeuristicGenerator()
        .generate(build_profile(source), IndicatorRequest.model_validate(CSV_REQUEST))
        .draft.parse_code
    )
    client: MongoClient = MongoClient(mongodb_uri, tz_aware=True)

    def tick_settings(database: str) -> Any:
        # Loopback sources are refused by the SSRF guard; the bench allows them as the tests do.
        return bench_settings(
            mongodb_uri=mongodb_uri,
            mongodb_database=database,
            amqp_url=amqp_url,
            fetch_allowed_networks=["127.0.0.1/32"],
            gemini_api_key=None,
            gemini_secret_arn=None,
        )

    def ours(url: str) -> float:
        database, queue = f"rs_bench_{uuid.uuid4().hex[:10]}", f"rs_bench_{uuid.uuid4().hex[:12]}"
        job_settings = tick_settings(database)
        publisher = scratch_publisher(job_settings, queue)
        try:
            db = client[database]
            wrappers = WrapperRepository(db)
            wrapper = wrappers.create(
                tenant_id="bench",
                resource_id="pending",
                source_type=SourceType.CSV,
                mode=WrapperMode.ONCE,
                metadata={},
            )
            resource = ResourceRepository(db).create(
                "bench",
                ResourceCreate.model_validate(
                    {**CSV_REQUEST, "source": ResourceSource(type=SourceType.CSV, url=url)}
                ),
                wrapper_id=wrapper.wrapper_id,
            )
            spec = FetchSpec(location=url, format=SourceFormat.CSV)
            wrappers.update_fields(
                wrapper.wrapper_id,
                {
                    "resource_id": resource.id,
                    "status": WrapperStatus.READY.value,
                    "fetch_spec": spec.model_dump(mode="json"),
                    "generated_code": parse_code,
                    "generator": "heuristic",
                    "next_run_at": datetime.now(UTC),
                },
            )
            started = time.perf_counter()
            result = tick(job_settings, publisher=publisher)
            seconds = time.perf_counter() - started
        finally:
            publisher.close()
            close_clients()
            client.drop_database(database)
        depth = drop_queue(amqp_url, queue)
        runs = [outcome.run for outcome in result.outcomes]
        if len(runs) != 1 or runs[0].points_new != count or runs[0].points_published != count:
            raise RuntimeError(f"the tick did not store and publish {count} points: {result.lines()}")
        if depth != math.ceil(count / job_settings.job_publish_batch_size) + len(runs[0].requests):
            raise RuntimeError(f"the scratch queue held {depth} messages")
        return seconds

    def baseline(url: str) -> float:
        database, queue = f"rs_bench_{uuid.uuid4().hex[:10]}", f"rs_bench_{uuid.uuid4().hex[:12]}"
        batch = settings.job_publish_batch_size
        started = time.perf_counter()
        with urllib.request.urlopen(url) as response:  # noqa: S310 - the bench's own loopback URL
            raw = response.read()
        frame = pandas.read_csv(io.BytesIO(raw))
        stamps = frame["timestamp"].tolist()
        values = frame["value"].tolist()
        moments = pandas.to_datetime(frame["timestamp"], utc=True).dt.to_pydatetime()
        documents = [
            {"resource_id": "bench", "timestamp": moment, "value": value}
            for moment, value in zip(moments, values, strict=True)
        ]
        client[database]["points"].insert_many(documents, ordered=False)
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = connection.channel()
            channel.confirm_delivery()
            channel.queue_declare(queue=queue, durable=True)
            batches = range(0, count, batch)
            for index, start in enumerate(batches):
                points = [
                    {"timestamp": stamp, "value": value}
                    for stamp, value in zip(
                        stamps[start : start + batch], values[start : start + batch], strict=True
                    )
                ]
                properties = pika.BasicProperties(
                    content_type=CONTENT_TYPE,
                    delivery_mode=PERSISTENT,
                    message_id=f"bench:{index}",
                    timestamp=int(time.time()),
                    app_id=APP_ID,
                    headers={"resource_id": "bench", "batch_index": index, "batch_count": len(batches)},
                )
                channel.basic_publish(
                    exchange="",
                    routing_key=queue,
                    body=json.dumps({"resource_id": "bench", "points": points}).encode(),
                    properties=properties,
                    mandatory=True,
                )
            seconds = time.perf_counter() - started
        finally:
            connection.close()
            client.drop_database(database)
        if drop_queue(amqp_url, queue) != len(batches):
            raise RuntimeError("the plain script's scratch queue lost messages")
        return seconds

    try:
        with serve_bytes(body, content_type="text/csv") as url:
            mine, theirs = interleaved(lambda: ours(url), lambda: baseline(url), bench.sizes.repeat)
    finally:
        client.close()
    detail = (
        f"{count:,} points, {len(body) / MIB:.1f} MiB CSV from a loopback HTTP server; ours: one tick "
        f"(claim, fetch, sandboxed parse, checks, idempotent store, outbox publish with confirms, raw "
        f"payload published); the plain script: urllib + pandas.read_csv + insert_many + pika publish "
        f"with confirms, same batches; seconds ours {_fmt(mine)}, script {_fmt(theirs)}"
    )
    return [
        rate_figure(
            "Job end to end", count=count, ours=mine, baseline=theirs, least=0.5, target=target, detail=detail
        )
    ]


def measure_import(body: str) -> dict[str, Any]:
    """Run one fresh interpreter; return the import time, its wall time and what it loaded."""
    # The untimed first round writes the bytecode the timed rounds read: with PYTHONDONTWRITEBYTECODE
    # inherited, every round compiled the project's changed modules from source (the baseline's, installed
    # by pip, have their bytecode), and the figure measured the compiler.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE.format(body=body)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def cold_import_rounds(runs: int) -> list[dict[str, dict[str, Any]]]:
    """Warm the bytecode caches (untimed), then `runs` interleaved rounds of every candidate."""
    for body in IMPORT_CANDIDATES.values():
        measure_import(body)
    return [{name: measure_import(body) for name, body in IMPORT_CANDIDATES.items()} for _ in range(runs)]


def api_cold_import(bench: Bench) -> list[Figure]:
    """Import of the API handler in a fresh interpreter, against a bare FastAPI + Mangum + pymongo app."""
    rounds = cold_import_rounds(bench.sizes.cold_imports)
    base_name, ours_name = IMPORT_CANDIDATES
    theirs = [float(r[base_name]["seconds"]) for r in rounds]
    mine = [float(r[ours_name]["seconds"]) for r in rounds]
    ratio = statistics.median(mine) / statistics.median(theirs)
    heavy = rounds[0][ours_name]["heavy"]
    return [
        Figure(
            figure="API cold import",
            ours=round(statistics.median(mine), 4),
            baseline=round(statistics.median(theirs), 4),
            ratio=round(ratio, 3),
            target="ours/baseline time <= 1.1",
            met=ratio <= 1.1,
            unit="s",
            detail=f"{len(rounds)} fresh interpreters each (bytecode warm); heavy modules loaded: "
            f"{heavy or 'none'}; seconds ours {_fmt(mine)}, bare {_fmt(theirs)}",
        )
    ]


@dataclass
class _LambdaContext:
    function_name: str = "bench"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-central-1:123456789012:function:bench"
    aws_request_id: str = "bench"


def api_call(bench: Bench) -> list[Figure]:
    """In-process Mangum invocations of GET /resources/{id}, against a bare FastAPI route through Mangum."""
    targets = ("ours/baseline p50 <= 1.5", "ours/baseline p99 <= 1.5")
    if not bench.services.mongodb_uri:
        return [
            _skipped(f"API call {which}", target, "no MongoDB (pass --mongodb-uri)")
            for which, target in zip(("p50", "p99"), targets, strict=True)
        ]
    from bson import ObjectId
    from fastapi import FastAPI
    from mangum import Mangum

    from shared.common.settings import get_settings
    from shared.domain.models import ResourceCreate, ResourceSource, SourceType
    from shared.store.api_keys import ApiKeyRepository
    from shared.store.database import close_clients, get_client, get_database
    from shared.store.resources import ResourceRepository

    database = f"rs_bench_{uuid.uuid4().hex[:10]}"
    saved = {name: os.environ.get(name) for name in ("RS_MONGODB_URI", "RS_MONGODB_DATABASE")}
    os.environ["RS_MONGODB_URI"] = bench.services.mongodb_uri
    os.environ["RS_MONGODB_DATABASE"] = database
    get_settings.cache_clear()
    settings = get_settings()
    try:
        from functions.api.app import handler

        db = get_database(settings)
        key, secret = ApiKeyRepository(db).create("bench-tenant", name="bench")
        resource = ResourceRepository(db).create(
            key.tenant_id,
            ResourceCreate(
                name="Hourly electricity consumption",
                unit="kWh",
                description="benchmark resource",
                source=ResourceSource(type=SourceType.CSV, url="https://example.org/consumption.csv"),
            ),
            wrapper_id=str(uuid.uuid4()),
        )
        event = json.loads(API_EVENT.read_text())
        path = f"/resources/{resource.id}"
        event["rawPath"] = path
        event["requestContext"]["http"]["path"] = path
        event["pathParameters"] = {"proxy": path.lstrip("/")}
        event["headers"]["authorization"] = f"Bearer {secret}"
        context: Any = _LambdaContext()
        with quiet_stdout():
            first = handler(event, context)
        if first["statusCode"] != 200:
            raise RuntimeError(f"GET {path} answered {first['statusCode']}: {first.get('body')}")
        body = json.loads(first["body"])

        bare = FastAPI()

        @bare.get("/resources/{resource_id}")
        def get_resource(resource_id: str) -> dict[str, Any]:
            return body

        bare_handler = Mangum(bare, lifespan="off")
        if json.loads(bare_handler(event, context)["body"]) != body:
            raise RuntimeError("the bare app does not answer the same JSON")
        # Reported beside the figure: a sync route starts a worker thread per invocation, this one does not.
        bare_async = FastAPI()

        @bare_async.get("/resources/{resource_id}")
        async def get_resource_async(resource_id: str) -> dict[str, Any]:
            return body

        bare_async_handler = Mangum(bare_async, lifespan="off")

        def call(which: Any) -> float:
            started = time.perf_counter()
            response = which(event, context)
            seconds = time.perf_counter() - started
            if response["statusCode"] != 200:
                raise RuntimeError(f"GET {path} answered {response['statusCode']}")
            return seconds

        resources = db["resources"]
        resource_id = ObjectId(resource.id)

        def one_query() -> float:
            # The one query a warm call makes (ResourceRepository.get; the key comes from the container's
            # cache), timed as a call meets it: after other work, not back to back, which a server answers
            # faster because nothing had time to go idle.
            call(bare_handler)
            return timed(lambda: resources.find_one({"_id": resource_id}))

        calls = bench.sizes.api_calls
        with quiet_stdout():
            for _ in range(max(5, calls // 10)):
                call(handler)
                call(bare_handler)
            mine, theirs = interleaved(lambda: call(handler), lambda: call(bare_handler), calls)
            async_ms = [call(bare_async_handler) * 1000 for _ in range(calls)]
            query_ms = [one_query() * 1000 for _ in range(calls)]
    finally:
        with contextlib.suppress(Exception):
            get_client(settings).drop_database(database)
        close_clients()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
    figures = []
    for which, fraction, target in (("p50", 0.5, targets[0]), ("p99", 0.99, targets[1])):
        ours_ms = percentile(mine, fraction) * 1000
        base_ms = percentile(theirs, fraction) * 1000
        ratio = ours_ms / base_ms
        read = _query_share(query_ms, ours_ms=ours_ms, base_ms=base_ms, fraction=fraction)
        async_route = percentile(async_ms, fraction)
        figures.append(
            Figure(
                figure=f"API call {which}",
                ours=round(ours_ms, 3),
                baseline=round(base_ms, 3),
                ratio=round(ratio, 3),
                target=target,
                met=ratio <= 1.5,
                unit="ms",
                detail=f"{calls} interleaved calls each after a warm-up; ours authenticates the key (from "
                "MongoDB once, then from the container's cache) and reads the resource from MongoDB, the "
                "bare route (a sync `def`, as a bare route is usually written) returns the same JSON and "
                f"reads nothing; {read}; an async bare route, which starts no worker thread: "
                f"{async_route:.3f} ms",
            )
        )
    return figures


def _query_share(query_ms: Sequence[float], *, ours_ms: float, base_ms: float, fraction: float) -> str:
    """The database read's part of a call, for the figure's detail."""
    query = percentile(query_ms, fraction)
    text = f"the one MongoDB read of a warm call, timed each after a bare call: {query:.3f} ms"
    if fraction == 0.5:  # percentiles do not subtract; the medians of the two nearly do
        rest = ours_ms - query
        text += f"; ours less that read: {rest:.3f} ms, {rest / base_ms:.2f}x the bare route"
    return text


GENERATION_TARGET = "median over the files <= 1 s, max <= 3 s"
GENERATION_FILE_TARGET = "<= 3 s (median of the repetitions)"


def generation(bench: Bench) -> list[Figure]:
    """Heuristic generate + validate of each corpus file, and the median and max over the files."""
    target = GENERATION_TARGET
    if not CORPUS.is_dir():
        return [_skipped("Generation", target, f"no corpus at {CORPUS}")]
    from shared.common.errors import ResourceServiceError

    settings = bench_settings()
    figures = []
    for expected_path in sorted(CORPUS.glob("*.expected.json")):
        expected = json.loads(expected_path.read_text())
        data = CORPUS / expected["file"]
        request = {key: expected["indicator_request"].get(key, "") for key in ("name", "description", "unit")}
        seconds: list[float] = []
        points = 0
        failure = ""
        for _ in range(bench.sizes.repeat):
            started = time.perf_counter()
            try:
                result = wrap_file(data, request, settings)
            except ResourceServiceError as exc:
                # A file the generator cannot wrap yet is a finding of the run, not the end of it.
                failure = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                break
            seconds.append(time.perf_counter() - started)
            points = len(result.points)
        figures.append(_generation_figure(expected["file"], seconds, points=points, failure=failure))
    return [_generation_summary(figures), *figures]


def _generation_summary(files: list[Figure]) -> Figure:
    """The Generation figure: the median and the max of the per-file times; a file that fails misses it."""
    times = [figure.ours for figure in files if figure.ours is not None]
    failed = [figure.figure.removeprefix("Generation: ") for figure in files if figure.ours is None]
    median = statistics.median(times) if times else None
    worst = max(times) if times else None
    return Figure(
        figure="Generation",
        ours=None if median is None else round(median, 3),
        baseline=None,
        ratio=None,
        target=GENERATION_TARGET,
        met=median is not None and worst is not None and median <= 1.0 and worst <= 3.0 and not failed,
        unit="s",
        detail=f"{len(times)}/{len(files)} corpus files wrapped; max {worst or 0:.3f} s"
        + (f"; failing: {', '.join(failed)}" if failed else ""),
    )


def _generation_figure(name: str, seconds: list[float], *, points: int, failure: str) -> Figure:
    """The Generation figure of one corpus file: its median seconds, or why it fails."""
    target = GENERATION_FILE_TARGET
    if failure:
        return Figure(
            figure=f"Generation: {name}",
            ours=None,
            baseline=None,
            ratio=None,
            target=target,
            met=False,
            unit="s",
            detail=f"fails: {failure}",
        )
    median = statistics.median(seconds)
    return Figure(
        figure=f"Generation: {name}",
        ours=round(median, 3),
        baseline=None,
        ratio=None,
        target=target,
        met=median <= 3.0,
        unit="s",
        detail=f"{points:,} points; seconds {_fmt(seconds)}",
    )


def probe_memory(path: Path, rows: int) -> dict[str, Any]:
    """Peak RSS of the sandbox child and of its caller while a fresh interpreter parses the CSV."""
    completed = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path), json.dumps(CSV_REQUEST)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    probe: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if not probe["ok"] or probe["points"] != rows:
        raise RuntimeError(f"the sandboxed parse failed: {probe['error']} ({probe['points']} points)")
    return probe


def memory(bench: Bench) -> list[Figure]:
    """Peak RSS of the sandboxed parse: at `csv_rows` against the CSV's size, and its growth with the rows."""
    rows = bench.sizes.csv_rows
    path = long_csv(bench)
    size = path.stat().st_size
    curve = []
    for count in sorted({rows, *bench.sizes.memory_rows}):
        bench.progress(f"memory: {count:,} rows")
        sample = path if count == rows else write_long_csv(bench.work / f"long_{count}.csv", count)
        probe = probe_memory(sample, count)
        curve.append(
            {
                "rows": count,
                "csv_mib": round(sample.stat().st_size / MIB, 1),
                "child_peak_mib": round(probe["child_peak_bytes"] / MIB, 1),
                "parent_peak_mib": round(probe["parent_peak_bytes"] / MIB, 1),
            }
        )
        if sample != path:
            sample.unlink()
    at = {point["rows"]: point for point in curve}
    peak = at[rows]["child_peak_mib"] * MIB
    smallest, largest = at[min(bench.sizes.memory_rows)], at[max(bench.sizes.memory_rows)]
    growth = largest["child_peak_mib"] / smallest["child_peak_mib"]
    shown = "; ".join(
        f"{point['rows']:,} rows ({point['csv_mib']} MiB): child {point['child_peak_mib']} MiB, "
        f"caller {point['parent_peak_mib']} MiB"
        for point in curve
    )
    return [
        Figure(
            figure="Memory",
            ours=round(peak / MIB, 1),
            baseline=round(size / MIB, 1),
            ratio=round(peak / size, 2),
            target="peak RSS / CSV size <= 10",
            met=peak / size <= 10,
            unit="MiB",
            detail=f"sandbox child's peak RSS (VmHWM) parsing {rows:,} rows; the calling process (the job's "
            f"side: checks and store documents, the CSV let go once the child has it) peaked at "
            f"{at[rows]['parent_peak_mib']:.0f} MiB",
        ),
        Figure(
            figure="Memory growth",
            ours=largest["child_peak_mib"],
            baseline=smallest["child_peak_mib"],
            ratio=round(growth, 3),
            target=f"peak RSS at {largest['rows']:,} rows / at {smallest['rows']:,} rows <= 1.3",
            met=growth <= 1.3,
            unit="MiB",
            detail=f"sandbox child's peak RSS (VmHWM): {shown}",
            curve=curve,
        ),
    ]


FIGURES: dict[str, Callable[[Bench], list[Figure]]] = {
    "csv": csv_extraction,
    "wrap-command": wrap_command,
    "xlsx": xlsx_extraction,
    "publish": publish,
    "store": store,
    "job": job_end_to_end,
    "cold-import": api_cold_import,
    "api-call": api_call,
    "generation": generation,
    "memory": memory,
}


def _skipped(name: str, target: str, reason: str) -> Figure:
    return Figure(figure=name, ours=None, baseline=None, ratio=None, target=target, met=False, detail=reason)


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.3f}" for value in values) + "]"


# --- the run ---------------------------------------------------------------------------------------


def machine_notes(services: Services) -> dict[str, Any]:
    """What the figures were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    packages = (
        "pandas",
        "openpyxl",
        "python-calamine",
        "pydantic",
        "pika",
        "orjson",
        "pymongo",
        "fastapi",
        "mangum",
    )
    for name in packages:
        with contextlib.suppress(PackageNotFoundError):
            versions[name] = version(name)
    notes: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1),
        "packages": versions,
    }
    if services.amqp_url:
        with contextlib.suppress(Exception):
            import pika

            connection = pika.BlockingConnection(pika.URLParameters(services.amqp_url))
            server = connection._impl.server_properties or {}  # the only place pika exposes it
            version = server.get("version", "?")
            notes["rabbitmq"] = version.decode() if isinstance(version, bytes) else str(version)
            connection.close()
    if services.mongodb_uri:
        with contextlib.suppress(Exception):
            from pymongo import MongoClient

            client: MongoClient = MongoClient(services.mongodb_uri, serverSelectionTimeoutMS=5000)
            notes["mongodb_server"] = client.server_info().get("version", "?")
            client.close()
    return notes


def run(
    names: Sequence[str], sizes: Sizes, services: Services, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Measure the named figures; return the results document."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    load_before = list(os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="rs-bench-") as work:
        bench = Bench(sizes=sizes, services=services, work=Path(work), progress=say)
        for name in names:
            say(f"{name} ...")
            figure_started = time.perf_counter()
            try:
                figures = FIGURES[name](bench)
            except Exception as exc:
                figures = [_skipped(name, "-", f"failed: {type(exc).__name__}: {exc}")]
            bench.figures += figures
            say(f"{name}: {time.perf_counter() - figure_started:.1f} s")
    machine = machine_notes(services)
    machine["load_average_before"] = load_before
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench (infra/scripts/bench.sh → python -m devtools bench)",
        "seconds": round(time.perf_counter() - started, 1),
        "sizes": asdict(sizes),
        "machine": machine,
        "notes": [
            "Every figure is ours against a baseline measured in the same run on the same data, interleaved, "
            "median of the repetitions; the machine is shared, so only ratios are compared with targets.",
            "Publish goes to a unique scratch queue per repetition (declared, then deleted), never to "
            "resource_data, which other consumers read.",
            "Store and API call use a scratch database per run, dropped at the end.",
        ],
        "figures": [asdict(figure) for figure in bench.figures],
    }


def render_table(results: dict[str, Any]) -> str:
    """The figures as an aligned text table."""
    header = ["figure", "ours", "baseline", "ratio", "target", "met"]
    rows = [header]
    for figure in results["figures"]:
        unit = f" {figure['unit']}" if figure["unit"] else ""
        rows.append(
            [
                figure["figure"],
                "-" if figure["ours"] is None else f"{figure['ours']:,}{unit}",
                "-" if figure["baseline"] is None else f"{figure['baseline']:,}{unit}",
                "-" if figure["ratio"] is None else f"{figure['ratio']:g}",
                figure["target"],
                "yes" if figure["met"] else ("skipped" if figure["ours"] is None else "NO"),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def add_bench_command(commands: Any) -> None:
    """Register `python -m devtools bench` on the CLI's sub-command parsers."""
    parser = commands.add_parser(
        "bench",
        help="measure every hot path against a baseline in the same run; write bench/results.json",
        description="Measure each hot path against a baseline timed in the same run on generated data. "
        "Publish, Store and API call need RabbitMQ and MongoDB: `make bench` starts them.",
    )
    parser.add_argument("--only", nargs="+", choices=list(FIGURES), help="only these figures")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (a smoke run)")
    parser.add_argument("--repeat", type=int, help=f"repetitions per figure (default {Sizes.repeat})")
    parser.add_argument(
        "--store-points", type=int, help=f"points of the Store figure (default {Sizes.store_points:,})"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="results file (default: bench/results.json)"
    )
    parser.add_argument(
        "--mongodb-uri", default=os.environ.get("RS_TEST_MONGODB_URI"), help=argparse.SUPPRESS
    )
    parser.add_argument("--amqp-url", default=os.environ.get("RS_TEST_AMQP_URL"), help=argparse.SUPPRESS)


def build_args(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments of `python -m devtools bench ARGV…`."""
    parser = argparse.ArgumentParser(prog="python -m devtools")
    add_bench_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["bench", *argv])


def run_bench(args: argparse.Namespace, *, sizes: Sizes | None = None) -> int:
    """`python -m devtools bench`: print the table, write the results file."""
    sizes = sizes or (QUICK if args.quick else Sizes())
    if args.repeat:
        sizes = replace(sizes, repeat=args.repeat)
    if args.store_points:
        sizes = replace(sizes, store_points=args.store_points)
    services = Services(mongodb_uri=args.mongodb_uri, amqp_url=args.amqp_url)
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    results = run(args.only or list(FIGURES), sizes, services, progress=progress)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(render_table(results))
    print(f"\nwritten to {args.out} in {results['seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_bench(build_args(sys.argv[1:])))
