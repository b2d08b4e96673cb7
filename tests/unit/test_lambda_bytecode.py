"""Lambda packages carry the runtime's bytecode (infra/scripts/compile_bytecode.py, package_check.py)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.unit.test_template import HANDLERS, ROOT, _built, _package_check

# PEP 552 flags of a .pyc: hash-based (bit 0), source checked on import (bit 1).
UNCHECKED_HASH = 0b01


def _compile_bytecode() -> ModuleType:
    module: ModuleType = _package_check().compile_bytecode()
    return module


def _runtime_python() -> str:
    found = _compile_bytecode().find_lambda_python()
    if found is None:
        pytest.skip("no CPython 3.12 on this machine (the Lambda packages would ship without bytecode)")
    return str(found)


def _tag() -> str:
    return "cpython-{}{}".format(*_compile_bytecode().LAMBDA_PYTHON)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = _package_check().load_template(ROOT / "template.yaml")
    return loaded


def test_the_bytecode_is_compiled_for_the_runtime_every_function_declares(template: dict[str, Any]) -> None:
    runtimes = {template["Globals"]["Function"]["Runtime"]} | {
        resource["Properties"]["Runtime"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function" and "Runtime" in resource["Properties"]
    }
    assert runtimes == {"python{}.{}".format(*_compile_bytecode().LAMBDA_PYTHON)}


@pytest.mark.parametrize("function", HANDLERS)
def test_function_code_ships_unchecked_hash_bytecode_of_every_module(function: str, tmp_path: Path) -> None:
    _runtime_python()
    code = _built(function, tmp_path / "code")
    modules = sorted(code.rglob("*.py"))
    assert modules
    for module in modules:
        compiled = module.parent / "__pycache__" / f"{module.stem}.{_tag()}.pyc"
        assert compiled.is_file(), f"no bytecode for {module.relative_to(code)}"
        flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
        assert flags == UNCHECKED_HASH, f"{compiled.relative_to(code)}: flags {flags:#04b}"
    assert _package_check().dev_code(code) == []


def test_the_runtimes_bytecode_of_a_packages_modules_is_not_dev_code(tmp_path: Path) -> None:
    cache = tmp_path / "shared" / "__pycache__"
    cache.mkdir(parents=True)
    (tmp_path / "shared" / "point.py").write_text("")
    (cache / f"point.{_tag()}.pyc").write_bytes(b"")
    assert _package_check().dev_code(tmp_path) == []
    # Another interpreter's bytecode, or bytecode of no module beside it, is the developer's.
    (cache / "point.cpython-311.pyc").write_bytes(b"")
    assert _package_check().dev_code(tmp_path) == ["shared/__pycache__/"]
    (cache / "point.cpython-311.pyc").unlink()
    (cache / f"gone.{_tag()}.pyc").write_bytes(b"")
    assert _package_check().dev_code(tmp_path) == ["shared/__pycache__/"]


def _no_interpreters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RS_PYTHON312", raising=False)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))


def test_without_a_runtime_python_the_build_warns_and_leaves_the_package_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "package"
    package.mkdir()
    (package / "module.py").write_text("VALUE = 1\n")
    _no_interpreters(monkeypatch, tmp_path)
    assert _compile_bytecode().main([str(package)]) == 0
    assert "WARNING: no CPython 3.12 found (set RS_PYTHON312)" in capsys.readouterr().err
    assert not (package / "__pycache__").exists()


def test_an_interpreter_of_another_version_is_not_taken_for_the_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_interpreters(monkeypatch, tmp_path)
    if sys.version_info[:2] == _compile_bytecode().LAMBDA_PYTHON:
        pytest.skip("the tests run on the runtime's own version")
    monkeypatch.setenv("RS_PYTHON312", sys.executable)
    assert _compile_bytecode().find_lambda_python() is None


def test_a_missing_directory_is_named_and_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _compile_bytecode().main([str(tmp_path / "absent")]) == 2
    assert f"not a directory: {tmp_path / 'absent'}" in capsys.readouterr().err


def _probe_function(package: Path) -> Any:
    """A zip function whose handler is `probe.handler` in `package`."""
    return _package_check().FunctionSpec(
        logical_id="ProbeFunction",
        handler="probe.handler",
        runtime="python3.12",
        code_uri=package,
        package_type="Zip",
        layers=[],
    )


def _smoke(package: Path, python: str) -> list[str]:
    problems: list[str] = _package_check().smoke_import(
        python, _probe_function(package), [package], [], package=[package]
    )
    return problems


def test_the_import_check_names_modules_loaded_without_bytecode(tmp_path: Path) -> None:
    python = _runtime_python()
    package = tmp_path / "package"
    package.mkdir()
    (package / "probe.py").write_text("import helper\n\ndef handler(event, context):\n    return helper.X\n")
    (package / "helper.py").write_text("X = 1\n")
    (problem,) = _smoke(package, python)
    assert (
        problem.startswith("2 modules imported without CPython 3.12 bytecode") and "helper, probe" in problem
    )
    assert _compile_bytecode().main([str(package)]) == 0
    assert _smoke(package, python) == []


def test_the_cold_import_is_timed_with_and_without_the_packages_bytecode(tmp_path: Path) -> None:
    python = _runtime_python()
    package = tmp_path / "package"
    shutil.copytree(ROOT / "infra" / "scripts", package, ignore=shutil.ignore_patterns("__pycache__"))
    (package / "probe.py").write_text(
        "import json, compile_bytecode\n\ndef handler(event, context):\n    pass\n"
    )
    assert _compile_bytecode().main([str(package)]) == 0
    timed = _package_check().cold_import(python, _probe_function(package), [package], runs=1)
    assert timed is not None and timed.runs == 1 and timed.bytecode > 0 and timed.source > 0
    # Timing from source writes nothing: the package is read-only on Lambda.
    assert json.dumps(sorted(p.name for p in (package / "__pycache__").iterdir())) == json.dumps(
        sorted(f"{p.stem}.{_tag()}.pyc" for p in package.glob("*.py"))
    )
