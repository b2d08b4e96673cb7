"""The API function stays light: no data-science stack, no parsing stack, no connection at import."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import cast

from tests.unit.test_architecture import API_UNITS

ROOT = Path(__file__).resolve().parents[3]

HEAVY = ("pandas", "numpy", "google.genai", "matplotlib", "python_calamine", "openpyxl")

PROBE = """
import json, sys
import functions.api.app as api
import shared.store.database
print(json.dumps({
    "modules": sorted(sys.modules),
    "mongo_clients": len(shared.store.database._clients),
    "publisher": sys.modules.get("shared.messaging.broker") is not None
        and sys.modules["shared.messaging.broker"]._publisher is not None,
    "handler": type(api.asgi_handler).__name__,
    "lifespan": api.asgi_handler.lifespan,
}))
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _import_in_fresh_interpreter() -> dict[str, object]:
    port = _closed_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        # Unreachable services: importing must not try them (it would hang or fail here).
        "RS_MONGODB_URI": f"mongodb://127.0.0.1:{port}/?directConnection=true",
        "RS_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{port}/%2F",
    }
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def outside_api_units(modules: list[str]) -> list[str]:
    """The loaded shared.* modules that belong to none of the packages the API may import."""
    return [
        name
        for name in modules
        if name.startswith("shared.") and not any(name == u or name.startswith(f"{u}.") for u in API_UNITS)
    ]


def test_api_import_chain_avoids_heavy_libraries() -> None:
    modules = set(cast(list[str], _import_in_fresh_interpreter()["modules"]))
    assert not [name for name in HEAVY if name in modules]
    assert "boto3" not in modules  # imported on the first upload only


def test_api_import_chain_loads_only_the_packages_the_api_may_import() -> None:
    modules = cast(list[str], _import_in_fresh_interpreter()["modules"])
    assert "shared.store.wrappers" in modules
    assert outside_api_units(modules) == []


def test_the_package_rule_names_modules_of_other_packages() -> None:
    loaded = ["shared", "shared.common.settings", "shared.storefront", "shared.validate.validation", "pandas"]
    assert outside_api_units(loaded) == ["shared.storefront", "shared.validate.validation"]


def test_api_import_connects_to_nothing() -> None:
    result = _import_in_fresh_interpreter()
    assert result["mongo_clients"] == 0
    assert result["publisher"] is False
    assert (result["handler"], result["lifespan"]) == ("Mangum", "off")


GC_PROBE = """
import gc, json, sys
if sys.argv[1] == "off":
    gc.disable()
import functions.api.app
print(json.dumps({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}))
"""


def test_importing_the_api_restores_the_collector_and_freezes_what_it_built() -> None:
    states = {}
    for before in ("on", "off"):
        completed = subprocess.run(
            [sys.executable, "-c", GC_PROBE, before],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        states[before] = json.loads(completed.stdout.strip().splitlines()[-1])

    assert states["on"]["enabled"] is True
    assert states["off"]["enabled"] is False  # an importer that paused collection keeps it paused
    assert states["on"]["frozen"] > 10_000
