#!/usr/bin/env python3
"""Compile a built Lambda package's modules to bytecode for the Lambda runtime's CPython (3.12).

Lambda unpacks a package read-only, so a module without bytecode is compiled again at every cold start
and the result is thrown away: without it the API handler's import took 1.1 s instead of 0.4 s
(infra/scripts/package_check.py measures both). The bytecode must come from the runtime's own minor
version, whatever interpreter runs the build, so this finds a CPython 3.12 ($RS_PYTHON312, python3.12 on
PATH, or pyenv's) and runs its compileall. The .pyc files are `unchecked-hash` (PEP 552): a package
never changes after the build, and zip archives keep modification times only to two seconds, which
would make timestamp-checked bytecode look stale.

Without a CPython 3.12 it warns and leaves the package as it is (correct, but slow to start).
Standard library only: the Makefiles run it with whatever python3 runs `sam build`.

    python3 infra/scripts/compile_bytecode.py DIR [DIR ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# The `Runtime` of every function in template.yaml (tests/unit/test_template.py checks they agree).
LAMBDA_PYTHON = (3, 12)
INTERPRETER_ENV = "RS_PYTHON312"


def find_lambda_python() -> str | None:
    """A CPython of the Lambda runtime's minor version: $RS_PYTHON312, python3.12 on PATH, or pyenv's."""
    name = "python{}.{}".format(*LAMBDA_PYTHON)
    candidates: list[str] = []
    if os.environ.get(INTERPRETER_ENV):
        candidates.append(os.environ[INTERPRETER_ENV])
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    version_glob = "versions/{}.{}*/bin/".format(*LAMBDA_PYTHON) + name
    candidates += [str(path) for path in sorted(pyenv_root.glob(version_glob), reverse=True)]
    for candidate in candidates:
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.split() == ["cpython", *map(str, LAMBDA_PYTHON)]:
            return candidate
    return None


def compile_package(directories: list[Path], *, python: str) -> int:
    """Compile every module under `directories` with `python`; compileall's exit status."""
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash"]
    return subprocess.run([*command, *map(str, directories)], check=False).returncode


def main(argv: list[str] | None = None) -> int:
    """Compile the given directories, or warn that the package ships without bytecode."""
    directories = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    if not directories:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    missing = [str(path) for path in directories if not path.is_dir()]
    if missing:
        print(f"compile_bytecode: not a directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    python = find_lambda_python()
    version = "{}.{}".format(*LAMBDA_PYTHON)
    if python is None:
        print(
            f"compile_bytecode: WARNING: no CPython {version} found (set {INTERPRETER_ENV}): the package "
            "ships without bytecode, and every cold start compiles every module it imports",
            file=sys.stderr,
        )
        return 0
    status = compile_package(directories, python=python)
    if status != 0:
        print(
            f"compile_bytecode: CPython {version} ({python}) could not compile a module above",
            file=sys.stderr,
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
