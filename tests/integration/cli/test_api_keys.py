"""`resource-service api-key create`: the printed key works against the API; only its hash is stored."""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from functions.api.app import app
from shared.cli.api_keys import EXIT_UNAVAILABLE, add_api_key_commands, run_api_key
from shared.common.settings import Settings, get_settings
from shared.store.database import get_database

pytestmark = pytest.mark.integration


def parse(argv: list[str]) -> argparse.Namespace:
    """Parse as the resource-service command line will, once the sub-command is wired in."""
    parser = argparse.ArgumentParser(prog="resource-service")
    add_api_key_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_created_key_authenticates_as_its_tenant(
    service_env: Settings, amqp_channel: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_api_key(parse(["api-key", "create", "--tenant", "acme", "--name", "ci"])) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("rs_") and len(secret) > 40
    assert "acme" in err and "only this once" in err and secret not in err
    stored = get_database(service_env)["api_keys"].find_one({"tenant_id": "acme"})
    assert stored is not None and stored["name"] == "ci"
    assert secret not in json.dumps(stored, default=str)  # hashed, never stored in clear
    with TestClient(app) as client:
        response = client.post(
            "/resources",
            json={"name": "x", "source": {"type": "csv", "url": "https://example.org/x.csv"}},
            headers={"X-API-Key": secret},
        )
        assert response.status_code == 201
        resource = get_database(service_env)["resources"].find_one()
        assert resource is not None and resource["tenant_id"] == "acme"
    # Leave the shared queue as it was: take back the creation message this test caused.
    wrapper_id = response.json()["wrapper_id"]
    held = []
    while (message := amqp_channel.basic_get(queue="wrapper_creation_queue"))[0] is not None:
        method, _, body = message
        if json.loads(body).get("wrapper_id") == wrapper_id:
            amqp_channel.basic_ack(method.delivery_tag)
        else:
            held.append(method.delivery_tag)
    for tag in held:
        amqp_channel.basic_nack(tag, requeue=True)


def test_json_output(service_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_api_key(parse(["api-key", "create", "--tenant", "acme", "--json"])) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tenant_id"] == "acme" and record["name"] == "default"
    assert record["api_key"].startswith(record["prefix"])


def test_tenant_is_required_and_not_blank(service_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["api-key", "create"])
    assert run_api_key(parse(["api-key", "create", "--tenant", "  "])) == 2


def test_unreachable_database_is_a_one_line_reason(
    service_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RS_MONGODB_URI", "mongodb://127.0.0.1:1/?directConnection=true")
    monkeypatch.setenv("RS_MONGODB_SERVER_SELECTION_TIMEOUT_MS", "300")
    get_settings.cache_clear()
    assert run_api_key(parse(["api-key", "create", "--tenant", "acme"])) == EXIT_UNAVAILABLE
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: cannot store the key") and err.count("\n") == 1
