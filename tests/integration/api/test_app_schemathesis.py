"""The OpenAPI contract, fuzzed: schemathesis runs against the real app (uvicorn, SecantusDB, RabbitMQ).

Every request it generates from the schema must get an answer that is not a server error, a request
valid by the schema must not be refused (`positive_data_acceptance`), every status must be one the
schema documents, and every method a path lacks must get a 405 with a complete `Allow`. Schemathesis
runs from its own pinned venv (infra/scripts/services.sh), bounded in examples and time.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from shared.common.settings import Settings
from shared.store.api_keys import ApiKeyRepository
from shared.store.database import get_database
from tests.integration.api.support import CREATION, DELETED, VALIDATION, Queues

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SCHEMATHESIS = sorted(ROOT.glob(".cache/schemathesis-*/bin/st"))
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
CHECKS = (
    "not_a_server_error",
    "positive_data_acceptance",
    "status_code_conformance",
    "unsupported_method",
    "allow_header_conformance",
)
MAX_EXAMPLES = int(os.environ.get("RS_TEST_FUZZ_EXAMPLES", "15"))
MAX_SECONDS = int(os.environ.get("RS_TEST_FUZZ_SECONDS", "90"))
SEED = os.environ.get("RS_TEST_FUZZ_SEED", "20261204")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the API exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail("the API did not answer /health")


@pytest.fixture
def api_url(service_env: Settings, tmp_path: Path) -> Iterator[str]:
    """The API function's app under uvicorn on loopback, on this test's database and the test broker."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_")) and "GEMINI" not in k}
    env.update(
        RS_MONGODB_URI=service_env.mongodb_uri.get_secret_value(),
        RS_MONGODB_DATABASE=service_env.mongodb_database,
        RS_AMQP_URL=service_env.amqp_url.get_secret_value(),
        # Uploads configured, so POST /uploads signs (locally: no request reaches S3).
        RS_UPLOAD_BUCKET="fuzz-uploads",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-central-1",
    )
    log = (tmp_path / "api.log").open("wb")
    command = [sys.executable, "-m", "uvicorn", "functions.api.app:app", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _create_resource(api_url: str, key: str, name: str) -> dict[str, Any]:
    body = {"name": name, "source": {"type": "csv", "url": "https://example.org/data/co2.csv"}}
    request = urllib.request.Request(
        f"{api_url}/resources",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return dict(json.loads(response.read()))


def _config(*, resource_id: str, deleted_id: str, wrapper_id: str) -> str:
    """schemathesis.toml: real ids, so that operations reach past the lookup; the hooks."""
    return f"""
hooks = "{HOOKS}"

[parameters]
"path.resource_id" = "{resource_id}"
"path.wrapper_id" = "{wrapper_id}"

# DELETE gets a resource of its own, or every later request about the first one would be a 404.
[[operations]]
include-method = "DELETE"
parameters = {{ "path.resource_id" = "{deleted_id}" }}

"""


@pytest.fixture(autouse=True)
def queues(amqp_url: str, service_env: Settings) -> Iterator[None]:
    """Afterwards, the messages the run caused leave the shared queues, on a connection of its own."""
    # Replaces the package's fixture, whose connection would sit idle through the run and be dropped.
    yield
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        helper = Queues(connection.channel(), get_database(service_env))
        for name in (CREATION, VALIDATION, DELETED):
            helper.mine(name)
    finally:
        connection.close()


def _figures(output: str) -> dict[str, int]:
    """Cases generated and unique failures, from schemathesis' summary."""
    cases = re.search(r"(\d+) generated", output)
    failures = re.search(r"(\d+) unique failures?", output)
    return {
        "cases": int(cases.group(1)) if cases else 0,
        "failures": int(failures.group(1)) if failures else 0,
    }


def test_the_fuzzer_finds_no_server_error_and_no_valid_request_refused(
    api_url: str, service_env: Settings, tmp_path: Path
) -> None:
    if not SCHEMATHESIS:
        pytest.fail("schemathesis is not installed: run the suite with `make test` (test.sh installs it)")
    db: Database = get_database(service_env)
    key = ApiKeyRepository(db).create("tenant-fuzz", name="schemathesis")[1]
    resource = _create_resource(api_url, key, "Fuzzed resource")
    deleted = _create_resource(api_url, key, "Fuzzed resource to delete")
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        _config(resource_id=resource["id"], deleted_id=deleted["id"], wrapper_id=resource["wrapper_id"])
    )
    command = [
        str(SCHEMATHESIS[-1]),
        "--config-file",
        str(config),
        "run",
        f"{api_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--header",
        f"Authorization: Bearer {key}",
        "--no-color",
        "--request-timeout",
        "10",
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS + 120, cwd=tmp_path)
    figures = _figures(result.stdout)
    summary = (
        f"schemathesis: {figures['cases']} cases, {figures['failures']} failures, "
        f"{time.monotonic() - started:.0f} s"
    )
    print(summary)
    assert result.returncode == 0, f"{summary}\n{result.stdout[-15000:]}\n{result.stderr[-3000:]}"
    assert figures["cases"] >= 100, summary  # it fuzzed, rather than merely started
