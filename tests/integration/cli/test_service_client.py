"""`resource-service resources|wrappers` against the real API under uvicorn (SecantusDB, RabbitMQ)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pymongo.database import Database

from devtools.local_stack import QueueBridge
from functions.api.app import app
from shared.cli.main import main
from shared.common.settings import Settings
from shared.flows.tick import tick
from shared.messaging.broker import declare_queues
from shared.messaging.queues import WRAPPER_CREATION_QUEUE
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database
from tests.integration.api.support import Queues, add_points, closed_port
from tests.support import serve_files

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CSV = b"Year,Total,Per Capita\n2018,10,1.2\n2019,11,1.3\n2020,12,1.4\n2021,13,1.5\n"


@pytest.fixture
def env(service_env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """The service's settings, loopback sources allowed, no Gemini key, no config file of the user's."""
    monkeypatch.setenv("RS_FETCH_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RS_GEMINI_API_KEY", "GEMINI_API_KEY", "RS_GEMINI_SECRET_ARN", "RS_API_URL"):
        monkeypatch.delenv(name, raising=False)
    from shared.common.settings import get_settings

    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def db(env: Settings, amqp_channel: Any) -> Iterator[Database]:
    """The test database; the creation messages of its wrappers are taken off the queue afterwards."""
    declare_queues(amqp_channel)
    database = get_database(env)
    yield database
    Queues(amqp_channel, database).mine(WRAPPER_CREATION_QUEUE)


@pytest.fixture
def api(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The API function's app under uvicorn on a loopback port; its base URL."""
    # The API prints an EMF record per request on stdout (for CloudWatch); the server shares the test's
    # stdout with the command under test, whose output these tests read.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def key(db: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    """An API key of the test tenant, in RS_API_KEY as a user would set it."""
    secret = ApiKeyRepository(db).create("acme", name="cli")[1]
    monkeypatch.setenv("RS_API_KEY", secret)
    return secret


@pytest.fixture
def source() -> Iterator[str]:
    """A CSV served on loopback."""
    with serve_files({"/emissions.csv": CSV}) as base:
        yield f"{base}/emissions.csv"


@pytest.fixture
def bridge(env: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The generate and validate functions, fed from the real queues as the MQ trigger would."""
    # Their metrics are printed to stdout, where this test reads the command line's output.
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    stop = threading.Event()
    queue_bridge = QueueBridge(env, echo=lambda _: None)
    thread = threading.Thread(
        target=queue_bridge.run, args=(stop,), kwargs={"poll_seconds": 0.2}, daemon=True
    )
    thread.start()
    yield
    stop.set()
    thread.join(60)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command line in this process; (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_command(argv: list[str], *, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the command line as its own process."""
    command = [sys.executable, "-m", "shared.cli.main", *argv]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def one_line(err: str) -> str:
    """The only line of stderr, which must be an error sentence and no traceback."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("resource-service: error: ") and "Traceback" not in err
    return lines[0]


def create(capsys: pytest.CaptureFixture[str], api: str, url: str, *extra: str) -> tuple[int, Any, str]:
    argv = ["resources", "create", "--api", api, "--name", "Total emissions", "--unit", "Mt", "--url", url]
    code, out, err = cli(capsys, *argv, "--json", *extra)
    return code, json.loads(out) if out else None, err


def test_create_list_show_and_delete_a_resource(
    api: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, resource, _ = create(capsys, api, "https://example.org/data/co2.csv", "--where", "geo=DE")
    assert code == 0
    assert resource["source"] == {
        "type": "csv",
        "url": "https://example.org/data/co2.csv",
        "options": {"where": {"geo": "DE"}},
    }

    code, out, err = cli(capsys, "resources", "list", "--api", api)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["ID", "NAME", "SOURCE", "STATUS", "UNIT", "FIRST", "LAST", "CREATED"]
    assert (
        row.startswith(resource["id"]) and "Total emissions" in row and " pending " in row and " Mt " in row
    )
    assert err == "1–1 of 1 resources\n"
    code, out, _ = cli(capsys, "resources", "list", "--api", api, "--json", "--name", "nothing like it")
    assert json.loads(out) == {"items": [], "total": 0, "limit": 50, "offset": 0}

    code, out, _ = cli(capsys, "resources", "show", resource["id"], "--api", api)
    fields = {name: value.strip() for name, value in (line.split(":", 1) for line in out.splitlines())}
    assert (
        fields.items()
        >= {
            "id": resource["id"],
            "status": "pending",
            "points": "0",
            "source": "csv https://example.org/data/co2.csv",
            "options": '{"where": {"geo": "DE"}}',
        }.items()
    )
    code, out, _ = cli(capsys, "resources", "show", resource["id"], "--api", api, "--json")
    shown = json.loads(out)
    assert shown["resource"] == resource and shown["wrapper"]["status"] == "pending"
    assert shown["availability"] == {"first": None, "last": None, "count": 0}

    code, out, err = cli(capsys, "resources", "delete", resource["id"], "--api", api)
    assert (code, out) == (0, "") and "deleted resource" in err
    code, out, err = cli(capsys, "resources", "show", resource["id"], "--api", api)
    assert code == 1 and out == ""
    assert one_line(err).startswith("resource-service: error: the API answered 404: ")


def test_points_every_page_filtered_in_each_format(
    api: str, key: str, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _, resource, _ = create(capsys, api, "https://example.org/data/co2.csv")
    add_points(db, resource["id"])  # 2019–2021 for CH and DE
    base = ["resources", "points", resource["id"], "--api", api, "--page-size", "2"]

    code, out, err = cli(capsys, *base, "--format", "jsonl")
    points = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(points) == 6 and err == "6 points\n"
    assert points[0] == {"timestamp": "2019-01-01T00:00:00Z", "value": 4.5, "dimensions": {"country": "CH"}}

    code, out, _ = cli(capsys, *base, "--format", "csv", "--dimension", "Country=de", "--from", "2020-01-01")
    assert list(csv.reader(io.StringIO(out))) == [
        ["timestamp", "value", "country"],
        ["2020-01-01T00:00:00Z", "7.7", "DE"],
        ["2021-01-01T00:00:00Z", "8.1", "DE"],
    ]

    code, out, _ = cli(capsys, *base, "--to", "2020-01-01", "--limit", "1")
    assert [line.split() for line in out.splitlines()] == [
        ["timestamp", "value", "country"],
        ["2019-01-01T00:00:00Z", "4.5", "CH"],
    ]

    # A window that ends before it starts holds no points: an empty page, not an error.
    code, out, _ = cli(capsys, *base, "--from", "2021-01-01", "--to", "2020-01-01")
    assert code == 0 and out.splitlines()[1:] == []


def test_create_wait_follows_the_real_flow_to_ready_then_the_wrapper_commands_control_it(
    api: str, key: str, source: str, bridge: None, env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, resource, err = create(capsys, api, source, "--wait", "--timeout", "120")
    assert code == 0, err
    progress = [line.split("] ", 1)[1] for line in err.splitlines()]
    assert progress[-1] == f"wrapper {resource['wrapper_id']}: ready"
    assert len(progress) == len(set(progress))  # each status once
    wrapper_id = resource["wrapper_id"]

    code, out, _ = cli(capsys, "wrappers", "show", wrapper_id, "--api", api)
    assert "status:" in out and "ready" in out and "generator:" in out and "heuristic" in out
    assert "validation:      ok: 4 points in 1 series" in out
    code, out, _ = cli(capsys, "wrappers", "show", wrapper_id, "--api", api, "--json")
    assert "def parse(" in json.loads(out)["generated_code"]

    code, out, _ = cli(capsys, "wrappers", "start", wrapper_id, "--api", api)
    assert code == 0 and out.startswith(f"wrapper {wrapper_id}: running, next run ")
    tick(env)  # the scheduled job's tick: the wrapper is due, so it runs now
    capsys.readouterr()
    code, out, err = cli(capsys, "wrappers", "runs", wrapper_id, "--api", api)
    header, run = out.splitlines()
    assert header.split()[:8] == [
        "STARTED",
        "TRIGGER",
        "SECONDS",
        "PAGES",
        "FETCHED",
        "NEW",
        "REVISED",
        "PUBLISHED",
    ]
    cells = run.split()
    assert cells[2] == "start" and cells[4:9] == ["1", "4", "4", "0", "4"] and cells[-1] == "-"
    assert err == "1 of 1 runs\n"
    code, out, _ = cli(capsys, "resources", "points", resource["id"], "--api", api, "--json")
    assert [json.loads(line)["value"] for line in out.splitlines()] == [10, 11, 12, 13]

    code, out, _ = cli(capsys, "wrappers", "stop", wrapper_id, "--api", api, "--json")
    assert code == 0 and json.loads(out)["status"] == "stopped"
    code, out, err = cli(capsys, "wrappers", "run-now", wrapper_id, "--api", api)
    assert code == 1 and "409" in one_line(err) and "start it" in err
    code, out, err = cli(capsys, "wrappers", "backfill", wrapper_id, "--from", "2999-01-01", "--api", api)
    assert code == 1 and "422" in one_line(err)
    cli(capsys, "wrappers", "start", wrapper_id, "--api", api)
    code, out, _ = cli(
        capsys, "wrappers", "backfill", wrapper_id, "--from", "2019-01-01", "--api", api, "--json"
    )
    backfilled = json.loads(out)
    assert backfilled["status"] == "running" and backfilled["high_water_mark"].startswith("2019-01-01")


def test_create_wait_ends_non_zero_with_the_reason_when_the_wrapper_fails(
    api: str, key: str, bridge: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve_files({"/words.csv": b"name,colour\napple,red\npear,green\n"}) as base:
        code, resource, err = create(capsys, api, f"{base}/words.csv", "--wait", "--timeout", "120")
    assert code == 5
    *progress, error = err.splitlines()
    said = f"wrapper {resource['wrapper_id']}: failed ("
    reason = progress[-1].split(said, 1)[1].removesuffix(")")
    assert "no series found" in reason
    assert (
        error
        == f"resource-service: error: wrapper {resource['wrapper_id']} failed: {' '.join(reason.split())}"
    )


def test_create_wait_gives_up_on_a_wrapper_that_stays_pending(
    api: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, resource, err = create(
        capsys, api, "https://example.org/data/co2.csv", "--wait", "--timeout", "1.5"
    )
    assert code == 7
    progress, error = err.splitlines()[:-1], err.splitlines()[-1]
    assert [line.split("] ", 1)[1] for line in progress] == [f"wrapper {resource['wrapper_id']}: pending"]
    assert re.fullmatch(
        f"resource-service: error: wrapper {resource['wrapper_id']} is still pending after [23] s; follow it "
        f"with `resource-service wrappers show {resource['wrapper_id']}`",
        error,
    )


def test_a_bad_key_is_one_line_and_a_non_zero_exit(
    api: str, key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RS_API_KEY", "rs_not_a_key")
    code, out, err = cli(capsys, "resources", "list", "--api", api)
    assert code == 1 and out == ""
    assert one_line(err) == (
        "resource-service: error: the API refused the key (401): the API key is not valid; "
        "check RS_API_KEY or api_key in the config file"
    )


def test_the_key_and_url_come_from_the_config_file(
    api: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RS_API_KEY")
    config = tmp_path / ".config" / "resource-service" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'api_url = "{api}"\napi_key = "{key}"\n')
    code, out, _ = cli(capsys, "resources", "list", "--json")
    assert code == 0 and json.loads(out)["total"] == 0


def test_an_unreachable_api_is_one_line(key: str, capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    code, out, err = cli(capsys, "wrappers", "show", "w1", "--api", f"http://127.0.0.1:{port}")
    assert code == 6 and out == ""
    assert (
        one_line(err)
        == f"resource-service: error: cannot reach the API at http://127.0.0.1:{port}: connection refused"
    )


def test_an_api_that_does_not_answer_times_out_in_one_line(
    key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RS_API_TIMEOUT_SECONDS", "0.5")
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code, _, err = cli(capsys, "resources", "list", "--api", url)
    assert code == 6
    assert one_line(err) == f"resource-service: error: the API at {url} did not answer within 0.5 s"


def test_the_installed_command_prints_a_table_and_fails_without_a_traceback(
    api: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, resource, _ = create(capsys, api, "https://example.org/data/co2.xlsx")
    listed = run_command(["resources", "list", "--api", api], env=dict(os.environ))
    assert listed.returncode == 0, listed.stderr
    assert resource["id"] in listed.stdout and " xlsx " in listed.stdout
    refused = run_command(
        ["resources", "show", "nope", "--api", api], env={**os.environ, "RS_API_KEY": "rs_x"}
    )
    assert refused.returncode == 1 and refused.stdout == ""
    one_line(refused.stderr)
