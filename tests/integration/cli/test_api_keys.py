"""`resource-service api-key create|list|revoke`: the printed key works against the API, only its hash is
stored, list never shows a secret, and a revoked key is refused."""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from functions.api.app import app
from functions.api.key_cache import api_keys
from shared.cli.api_keys import EXIT_NOT_FOUND, EXIT_UNAVAILABLE, add_api_key_commands, run_api_key
from shared.common.settings import Settings, get_settings
from shared.store.api_keys import ApiKeyRepository
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


def test_list_shows_every_key_without_its_secret(
    service_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    db = get_database(service_env)
    first, first_secret = ApiKeyRepository(db).create("acme", name="ci")
    second, second_secret = ApiKeyRepository(db).create("globex", name="dashboard")
    assert ApiKeyRepository(db).authenticate(second_secret) is not None  # used once: last used is known
    assert run_api_key(parse(["api-key", "list"])) == 0
    out, _ = capsys.readouterr()
    header, *rows = out.splitlines()
    assert header.split() == ["key_id", "prefix", "tenant", "name", "created", "last_used", "revoked"]
    assert len(rows) == 2
    by_id = {row.split()[0]: row.split() for row in rows}
    assert by_id[first.key_id][1:4] == [first.prefix + "…", "acme", "ci"]
    assert by_id[first.key_id][5:] == ["-", "no"]
    assert by_id[second.key_id][5] != "-"
    assert first_secret not in out and second_secret not in out

    assert run_api_key(parse(["api-key", "list", "--tenant", "globex", "--json"])) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [key["key_id"] for key in listed] == [second.key_id]
    assert listed[0]["last_used_at"] is not None and listed[0]["revoked"] is False
    assert "key_hash" not in listed[0] and second_secret not in json.dumps(listed)


def test_revoke_by_id_is_refused_by_the_api_at_once(
    service_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")  # the in-process API's EMF lines on stdout
    db = get_database(service_env)
    record, secret = ApiKeyRepository(db).create("acme", name="ci")
    _, other = ApiKeyRepository(db).create("acme", name="other")
    with TestClient(app) as client:
        assert client.get("/resources", headers={"X-API-Key": secret}).status_code == 200
        api_keys.clear()  # another container, or this one once its cached entry expired
        assert run_api_key(parse(["api-key", "revoke", record.key_id])) == 0
        assert "revoked key" in capsys.readouterr().err
        refused = client.get("/resources", headers={"X-API-Key": secret})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert client.get("/resources", headers={"X-API-Key": other}).status_code == 200
    assert run_api_key(parse(["api-key", "list", "--json"])) == 0
    listed = {key["key_id"]: key for key in json.loads(capsys.readouterr().out)}
    assert listed[record.key_id]["revoked"] is True and listed[record.key_id]["revoked_at"] is not None


def test_a_warm_container_forgets_a_revoked_key_within_the_cache_ttl(
    service_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = get_database(service_env)
    record, secret = ApiKeyRepository(db).create("acme", name="ci")
    clock = SimpleNamespace(now=time.monotonic())
    monkeypatch.setattr(api_keys, "clock", lambda: clock.now)
    ttl = get_settings().api_key_cache_seconds
    assert 0 < ttl <= 10
    with TestClient(app) as client:
        assert client.get("/resources", headers={"X-API-Key": secret}).status_code == 200
        assert run_api_key(parse(["api-key", "revoke", record.key_id])) == 0
        clock.now += ttl
        assert client.get("/resources", headers={"X-API-Key": secret}).status_code == 401


def test_revoking_twice_is_a_no_op_and_an_unknown_id_is_a_one_line_error(
    service_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    record, _ = ApiKeyRepository(get_database(service_env)).create("acme")
    assert run_api_key(parse(["api-key", "revoke", record.key_id, "--json"])) == 0
    first = json.loads(capsys.readouterr().out)
    assert run_api_key(parse(["api-key", "revoke", record.key_id, "--json"])) == 0
    assert json.loads(capsys.readouterr().out)["revoked_at"] == first["revoked_at"]
    assert run_api_key(parse(["api-key", "revoke", "no-such-key"])) == EXIT_NOT_FOUND
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: no API key with id 'no-such-key'") and err.count("\n") == 1


def test_list_on_an_unreachable_database_is_a_one_line_reason(
    service_env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RS_MONGODB_URI", "mongodb://127.0.0.1:1/?directConnection=true")
    monkeypatch.setenv("RS_MONGODB_SERVER_SELECTION_TIMEOUT_MS", "300")
    get_settings.cache_clear()
    assert run_api_key(parse(["api-key", "list"])) == EXIT_UNAVAILABLE
    assert run_api_key(parse(["api-key", "revoke", "some-id"])) == EXIT_UNAVAILABLE
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 2 and all(line.startswith("error: ") for line in err.splitlines())
