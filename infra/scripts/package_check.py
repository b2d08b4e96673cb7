#!/usr/bin/env python3
"""Packaging check: the unzipped size of each Lambda function of template.yaml, built as `sam build` does.

For each AWS::Serverless::Function of the template:

* its code is built into `.cache/package-check/<Function>/code` as `sam build` builds it: a
  `BuildMethod: makefile` function by running the very same `make build-<Function>` target of the Makefile
  in CodeUri with ARTIFACTS_DIR set, any other by copying CodeUri with the exclusions of SAM's python_pip
  workflow (`.cache`, `.venv`, `.git`, `__pycache__`, ...) and installing a requirements.txt in CodeUri;
* the code must hold no development code: no `tests/`, `devtools/`, `infra/`, `examples/`, `conftest.py`,
  local state or bytecode caches;
* each of its layers defined in the template is built the way `sam build` builds it: a
  `BuildMethod: makefile` layer by running the very same `make build-<Layer>` target with ARTIFACTS_DIR set
  (so the pruning measured is the pruning deployed), a `pythonX.Y` layer by
  `pip install --platform manylinux... --only-binary=:all: -r requirements.txt`;
* the code and its layers are measured unzipped (bytes of regular files) against Lambda's 250 MB limit
  (262,144,000 bytes for the function and all its layers);
* every package named in `functions/<name>/requirements.txt` must be installed in the function's code or
  layers;
* when a CPython 3.12 interpreter is found, the function's packages and its handler module are imported
  from exactly the code + layers (+ boto3, which the Lambda runtime provides), as Lambda would; every
  module that import loads from the package must come with the runtime's bytecode, which the builds write
  (infra/scripts/compile_bytecode.py);
* the handler's cold import is timed in fresh interpreters, with the package's bytecode and without any
  (what every cold start paid before the builds wrote it), median of `--cold-runs` each.

Downloads are cached in `.cache/pip` and built layers are reused while their inputs are unchanged, so reruns
are fast. Exit status: 0 when every function fits and passes, 1 otherwise.

    python infra/scripts/package_check.py [--no-prune] [--force] [--no-smoke] [--cold-runs N] [--json FILE]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import yaml
except ImportError:  # pragma: no cover - PyYAML is in requirements.lock
    sys.exit("package_check: PyYAML is required (make install, then run it with .venv/bin/python)")

ROOT = Path(__file__).resolve().parents[2]
COMPILE_BYTECODE = ROOT / "infra" / "scripts" / "compile_bytecode.py"
CACHE = ROOT / ".cache"
WORK = CACHE / "package-check"
PIP_CACHE = CACHE / "pip"

LIMIT_BYTES = 262_144_000  # Lambda: function code + all layers, unzipped
MB = 1024 * 1024  # AWS's "250 MB" is 262,144,000 bytes = 250 MiB: sizes are printed in that unit

# Wheels for the Lambda platform, whatever the build machine runs (same flags as infra/layers/Makefile).
PIP_PLATFORM_FLAGS = [
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux2014_x86_64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
]

# aws_lambda_builders.workflows.python_pip.workflow.PythonPipWorkflow.EXCLUDED_FILES (aws-lambda-builders
# 1.67): what `sam build` leaves out when it copies a python function's CodeUri.
SAM_PYTHON_EXCLUDES = (
    ".aws-sam",
    ".chalice",
    ".git",
    ".gitignore",
    "*.pyc",
    "__pycache__",
    "*.so",
    ".Python",
    "*.egg-info",
    "*.egg",
    "pip-log.txt",
    "pip-delete-this-directory.txt",
    "htmlcov",
    ".tox",
    ".nox",
    ".coverage",
    ".cache",
    ".pytest_cache",
    ".python-version",
    ".mypy_cache",
    ".dmypy.json",
    ".pyre",
    ".env",
    ".venv",
    "venv",
    "venv.bak",
    "env.bak",
    "ENV",
    "env",
    ".vscode",
    ".idea",
)

# What a function's code must never contain: directories (at any depth) and files of development only.
# A __pycache__ holding only the runtime's bytecode of its directory's modules is the build's, not these.
DEV_DIRS = frozenset({"tests", "devtools", "infra", "examples", "docs", ".ci", ".git", ".venv", ".cache"})
PYCACHE = "__pycache__"
DEV_FILES = frozenset({"conftest.py", "Makefile", "pyproject.toml", "template.yaml", "samconfig.toml"})

# Provided by the Lambda python3.12 runtime: put on the smoke-import path after the layers, as on Lambda.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")


# ----------------------------------------------------------------------------- template loading


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a CloudFormation/SAM template, turning short-form tags into their long form.

    `!Ref X` -> {"Ref": "X"}, `!GetAtt A.B` -> {"Fn::GetAtt": ["A", "B"]}, `!Condition C` ->
    {"Condition": "C"}, any other `!Tag v` -> {"Fn::Tag": v}.
    """

    class CfnLoader(yaml.SafeLoader):
        pass

    def construct(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if suffix == "Ref":
            return {"Ref": value}
        if suffix == "Condition":
            return {"Condition": value}
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{suffix}": value}

    CfnLoader.add_multi_constructor("!", construct)
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a template")
    return document


@dataclass
class LayerSpec:
    logical_id: str
    content_uri: Path
    build_method: str | None
    makefile: Path | None


@dataclass
class FunctionSpec:
    logical_id: str
    handler: str
    runtime: str | None
    code_uri: Path
    package_type: str
    layers: list[str]
    external_layers: list[Any] = field(default_factory=list)
    build_method: str | None = None
    makefile: Path | None = None


def functions_and_layers(template: dict[str, Any]) -> tuple[list[FunctionSpec], dict[str, LayerSpec]]:
    """The functions and layers of a SAM template, with Globals.Function applied."""
    resources: dict[str, Any] = template.get("Resources") or {}
    globals_fn: dict[str, Any] = (template.get("Globals") or {}).get("Function") or {}
    layers: dict[str, LayerSpec] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        props = resource.get("Properties") or {}
        meta = resource.get("Metadata") or {}
        content = ROOT / str(props.get("ContentUri", "."))
        method = meta.get("BuildMethod")
        makefile = None
        if method == "makefile":
            context = ROOT / str(meta["ContextPath"]) if meta.get("ContextPath") else content
            makefile = context / "Makefile"
        layers[logical_id] = LayerSpec(logical_id, content, method, makefile)
    functions: list[FunctionSpec] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**globals_fn, **(resource.get("Properties") or {})}
        meta = resource.get("Metadata") or {}
        code_uri = ROOT / str(props.get("CodeUri", "."))
        method = meta.get("BuildMethod")
        makefile = None
        if method == "makefile":
            makefile = (ROOT / str(meta["ContextPath"]) if meta.get("ContextPath") else code_uri) / "Makefile"
        own, external = [], []
        for layer in props.get("Layers") or []:
            if isinstance(layer, dict) and layer.get("Ref") in layers:
                own.append(layer["Ref"])
            else:
                external.append(layer)
        functions.append(
            FunctionSpec(
                logical_id=logical_id,
                handler=str(props.get("Handler", "")),
                runtime=props.get("Runtime"),
                code_uri=code_uri,
                package_type=str(props.get("PackageType", "Zip")),
                layers=own,
                external_layers=external,
                build_method=method,
                makefile=makefile,
            )
        )
    return functions, layers


def handler_module(handler: str) -> str:
    """`functions.api.app.handler` -> `functions.api.app`."""
    return handler.rsplit(".", 1)[0]


def requirements_file(function: FunctionSpec) -> Path | None:
    """functions/<name>/requirements.txt of a handler `functions.<name>....`, when the handler is there."""
    parts = handler_module(function.handler).split(".")
    if len(parts) >= 2 and parts[0] == "functions":
        return function.code_uri / "functions" / parts[1] / "requirements.txt"
    return None


_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_names(path: Path, seen: set[Path] | None = None) -> list[str]:
    """Distribution names listed in a requirements file (following -r includes)."""
    seen = seen or set()
    if path in seen or not path.is_file():
        return []
    seen.add(path)
    names: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            names += requirement_names(path.parent / line.split(None, 1)[1].strip(), seen)
            continue
        if line.startswith("-"):
            continue
        match = _REQ_NAME.match(line)
        if match:
            names.append(match.group(1))
    return names


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ----------------------------------------------------------------------------- building


def log(message: str) -> None:
    print(f"[package-check] {message}", file=sys.stderr, flush=True)


def tree_bytes(path: Path) -> int:
    """Unzipped size: bytes of the regular files under path (symlinks are not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(root, name))
            total += st.st_size
    return total


def digest(paths: Iterable[Path], extra: str = "") -> str:
    sha = hashlib.sha256(extra.encode())
    for path in sorted(set(paths)):
        if path.is_file():
            sha.update(str(path.relative_to(ROOT)).encode())
            sha.update(path.read_bytes())
    return sha.hexdigest()


def pip_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PIP_CACHE_DIR"] = str(PIP_CACHE)
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return env


def layer_inputs(layer: LayerSpec) -> list[Path]:
    files = [p for p in layer.content_uri.rglob("*") if p.is_file()]
    if layer.makefile:
        files += [layer.makefile, COMPILE_BYTECODE]
    # A makefile layer may read any function's requirements (infra/layers/Makefile does).
    files += list((ROOT / "functions").glob("*/requirements*.txt"))
    return files


def build_layer(layer: LayerSpec, prune: bool, force: bool) -> Path:
    """Build a template layer into .cache/package-check/layers/<Layer>[-unpruned]/ as `sam build` does."""
    target = WORK / "layers" / (layer.logical_id + ("" if prune else "-unpruned"))
    stamp = target / ".package-check-stamp"
    # The interpreter that compiles the bytecode is an input too: a layer built without one has none.
    extra = f"prune={prune};flags={PIP_PLATFORM_FLAGS};bytecode={find_python312()}"
    key = digest(layer_inputs(layer), extra=extra)
    if not force and stamp.is_file() and stamp.read_text() == key:
        log(f"{layer.logical_id}: reusing {target.relative_to(ROOT)} (inputs unchanged)")
        return target
    if target.exists():
        shutil.rmtree(target)
    artifacts = target / "artifacts"
    artifacts.mkdir(parents=True)
    started = time.monotonic()
    if layer.build_method == "makefile":
        assert layer.makefile is not None
        env = pip_env()
        env["ARTIFACTS_DIR"] = str(artifacts)
        command = [
            "make",
            "--no-print-directory",
            "-f",
            str(layer.makefile),
            f"build-{layer.logical_id}",
            f"PRUNE={1 if prune else 0}",
            f"PYTHON={sys.executable}",
        ]
        log(f"{layer.logical_id}: {' '.join(command[:5])} (PRUNE={int(prune)})")
        subprocess.run(command, cwd=layer.content_uri, env=env, check=True)
    elif layer.build_method and layer.build_method.startswith("python"):
        requirements = layer.content_uri / "requirements.txt"
        site = artifacts / "python"
        log(f"{layer.logical_id}: pip install -r {requirements.relative_to(ROOT)} ({layer.build_method})")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-warn-conflicts",
                "--no-compile",
                *PIP_PLATFORM_FLAGS,
                "--target",
                str(site),
                "-r",
                str(requirements),
            ],
            env=pip_env(),
            check=True,
        )
        shutil.copytree(
            layer.content_uri, site, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*SAM_PYTHON_EXCLUDES)
        )
    else:
        shutil.copytree(layer.content_uri, artifacts, dirs_exist_ok=True)
    stamp.write_text(key)
    log(f"{layer.logical_id}: built in {time.monotonic() - started:.0f} s")
    return target


def build_function_code(function: FunctionSpec, target: Path | None = None) -> Path:
    """Build a function's code as `sam build` does: its makefile target, or CodeUri copied and installed."""
    target = target or WORK / function.logical_id / "code"
    if target.exists():
        shutil.rmtree(target)
    if function.build_method == "makefile":
        assert function.makefile is not None
        # SAM runs the target in a scratch copy of CodeUri; the Makefile finds the code from its own path.
        command = [
            "make",
            "--no-print-directory",
            "-f",
            str(function.makefile),
            f"build-{function.logical_id}",
        ]
        log(f"{function.logical_id}: {' '.join(command[:5])}")
        subprocess.run(
            command, cwd=function.code_uri, env={**os.environ, "ARTIFACTS_DIR": str(target)}, check=True
        )
        return target
    shutil.copytree(
        function.code_uri, target, ignore=shutil.ignore_patterns(*SAM_PYTHON_EXCLUDES), symlinks=True
    )
    manifest = function.code_uri / "requirements.txt"
    if manifest.is_file():
        log(f"{function.logical_id}: pip install -r {manifest.relative_to(ROOT)} into the function code")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-warn-conflicts",
                "--no-compile",
                *PIP_PLATFORM_FLAGS,
                "--target",
                str(target),
                "-r",
                str(manifest),
            ],
            env=pip_env(),
            check=True,
        )
    return target


def dev_code(code: Path) -> list[str]:
    """Paths in a function's built code that only development needs (DEV_DIRS, DEV_FILES, stray bytecode)."""
    found = []
    for root, dirs, files in os.walk(code):
        here = Path(root).relative_to(code)
        for name in sorted(dirs):
            if name in DEV_DIRS or (name == PYCACHE and not runtime_bytecode_only(Path(root) / name)):
                found.append(f"{(here / name).as_posix()}/")
        dirs[:] = [name for name in dirs if name not in DEV_DIRS and name != PYCACHE]
        found += [
            (here / name).as_posix() for name in sorted(files) if name in DEV_FILES or name.endswith(".pyc")
        ]
    return found


def runtime_bytecode_only(pycache: Path) -> bool:
    """Whether a __pycache__ holds nothing but the Lambda runtime's bytecode of its directory's modules."""
    tag = "cpython-{}{}".format(*compile_bytecode().LAMBDA_PYTHON)
    for entry in pycache.iterdir():
        stem, _, suffix = entry.name.partition(f".{tag}.")
        if not entry.is_file() or suffix != "pyc" or not (pycache.parent / f"{stem}.py").is_file():
            return False
    return True


def installed_distributions(site_dirs: Iterable[Path]) -> set[str]:
    found: set[str] = set()
    for site in site_dirs:
        if not site.is_dir():
            continue
        for entry in site.iterdir():
            if entry.name.endswith(".dist-info"):
                found.add(canonical(entry.name[: -len(".dist-info")].rsplit("-", 1)[0]))
    return found


def runtime_provided_dir(force: bool) -> Path:
    """boto3 and friends as the Lambda runtime provides them (for the smoke import only; never measured)."""
    target = WORK / "lambda-runtime"
    lock = ROOT / "requirements.lock"
    pins = {}
    if lock.is_file():
        for line in lock.read_text().splitlines():
            if "==" in line:
                name, version = line.split("==", 1)
                pins[canonical(name)] = version.strip()
    wanted = [f"{name}=={pins[canonical(name)]}" if canonical(name) in pins else name for name in ("boto3",)]
    stamp = target / ".package-check-stamp"
    key = " ".join(wanted)
    if not force and stamp.is_file() and stamp.read_text() == key:
        return target
    if target.exists():
        shutil.rmtree(target)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-warn-conflicts",
            "--no-compile",
            *PIP_PLATFORM_FLAGS,
            "--target",
            str(target),
            *wanted,
        ],
        env=pip_env(),
        check=True,
    )
    stamp.write_text(key)
    return target


# ----------------------------------------------------------------------------- smoke import


def compile_bytecode() -> Any:
    """infra/scripts/compile_bytecode.py, loaded by path (a script the Makefiles run, not a package)."""
    name = "rs_compile_bytecode"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, COMPILE_BYTECODE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@functools.cache
def find_python312() -> str | None:
    """The CPython 3.12 the builds compile with, for the smoke import: $RS_PYTHON312, PATH, or pyenv's."""
    found: str | None = compile_bytecode().find_lambda_python()
    return found


SMOKE_SCRIPT = r"""
import importlib, importlib.metadata as md, json, sys
config = json.loads(sys.argv[1])
sys.path[:0] = config["path"]
failures, imported = [], []
for dist_name in config["distributions"]:
    try:
        dist = md.distribution(dist_name)
    except md.PackageNotFoundError:
        failures.append(f"{dist_name}: not installed")
        continue
    tops = set()
    files = {"/".join(f.parts) for f in dist.files or []}
    for name in files:
        parts = name.split("/")
        first = parts[0][:-3] if len(parts) == 1 and parts[0].endswith(".py") else parts[0]
        if not first.isidentifier() or first == "__pycache__" or (len(parts) == 1 and first == parts[0]):
            continue
        if len(parts) > 2 and f"{first}/__init__.py" not in files and parts[1].isidentifier():
            tops.add(f"{first}.{parts[1]}")  # namespace package (google.genai, google.auth)
        elif len(parts) > 2 and f"{first}/__init__.py" not in files:
            continue
        else:
            tops.add(first)
    for top in sorted(tops):
        if top.startswith("_") and top != "_cffi_backend":
            continue
        try:
            importlib.import_module(top)
            imported.append(top)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"import {top} ({dist_name}): {type(exc).__name__}: {exc}")
for module in config["modules"]:
    try:
        importlib.import_module(module)
        imported.append(module)
    except Exception as exc:  # noqa: BLE001
        failures.append(f"import {module}: {type(exc).__name__}: {exc}")
for module in config["forbidden"]:
    if module in sys.modules:
        failures.append(f"{module} was imported but must not be in this function")
# What the import loaded from the package (not from the runtime's boto3) and found no bytecode for.
import os
roots = tuple(os.path.join(p, "") for p in config["bytecode_paths"])
source_only = sorted(
    name for name, module in list(sys.modules.items())
    if str(getattr(module, "__file__", None) or "").endswith(".py")
    and str(module.__file__).startswith(roots)
    and not os.path.isfile(getattr(module, "__cached__", None) or "")
)
if config.get("ruff"):
    try:
        from ruff import find_ruff_bin
        import subprocess
        out = subprocess.run([find_ruff_bin(), "--version"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            failures.append(f"ruff --version exited {out.returncode}: {out.stderr.strip()}")
    except Exception as exc:  # noqa: BLE001
        failures.append(f"ruff binary: {type(exc).__name__}: {exc}")
print(json.dumps({"imported": sorted(set(imported)), "failures": failures, "source_only": source_only}))
"""

# Packages the API function must never load (DESIGN.md: cold start, 250 MB limit).
API_FORBIDDEN = ("pandas", "numpy", "google.genai", "python_calamine", "openpyxl")


def smoke_import(
    python: str, function: FunctionSpec, path: list[Path], distributions: list[str], *, package: list[Path]
) -> list[str]:
    """Import the function's packages and handler from `path` as Lambda would; the problems found.

    `package` is the part of `path` that is deployed (code and layers), whose modules need bytecode.
    """
    module = handler_module(function.handler)
    module_file = path[0].joinpath(*module.split("."))
    modules = []
    if module_file.with_suffix(".py").is_file() or (module_file / "__init__.py").is_file():
        modules.append(module)
    else:
        log(f"{function.logical_id}: handler module {module} not written yet; importing its packages only")
    config = {
        "path": [str(p) for p in path],
        "distributions": distributions,
        "modules": modules,
        "forbidden": list(API_FORBIDDEN) if module.startswith("functions.api.") else [],
        "ruff": "ruff" in {canonical(d) for d in distributions},
        "bytecode_paths": [str(p) for p in package],
    }
    out = run_lambda_python(python, ["-c", SMOKE_SCRIPT, json.dumps(config)])
    if out.returncode != 0 or not out.stdout.strip():
        return [f"smoke import crashed (exit {out.returncode}): {out.stderr.strip()[-2000:]}"]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"{function.logical_id}: imported {', '.join(result['imported'])}")
    problems = list(result["failures"])
    source_only = result["source_only"]
    if source_only:
        shown = ", ".join(source_only[:8]) + (", ..." if len(source_only) > 8 else "")
        problems.append(
            f"{len(source_only)} modules imported without CPython 3.12 bytecode (compiled again at every "
            f"cold start): {shown}"
        )
    return problems


# What the functions see on Lambda, as far as an import needs: no credentials, no services.
LAMBDA_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": str(WORK),
    "LANG": "C.UTF-8",
    "RS_ENVIRONMENT": "package-check",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "package-check",
    "AWS_SECRET_ACCESS_KEY": "package-check",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "resource-service",
    "POWERTOOLS_METRICS_NAMESPACE": "ResourceService",
}


def run_lambda_python(python: str, arguments: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the interpreter as the checks do: only code + layers + runtime on the path, nothing written."""
    WORK.mkdir(parents=True, exist_ok=True)
    # -I -S: no user site, no site-packages of this interpreter, no PYTHONPATH. -B: no bytecode written into
    # the measured trees (a read-only package, as on Lambda).
    return subprocess.run(
        [python, "-I", "-S", "-B", *arguments],
        capture_output=True,
        text=True,
        env=LAMBDA_ENV,
        cwd=str(WORK),
        timeout=600,
        check=False,
    )


COLD_SCRIPT = r"""
import importlib, json, sys, time
sys.path[:0] = json.loads(sys.argv[1])
started = time.perf_counter()
importlib.import_module(sys.argv[2])
print(time.perf_counter() - started)
"""


@dataclass
class ColdImport:
    """Median seconds of the handler module's import in fresh interpreters, with and without bytecode."""

    bytecode: float
    source: float
    runs: int


def cold_import(python: str, function: FunctionSpec, path: list[Path], *, runs: int) -> ColdImport | None:
    """Time the handler's import: as packaged, and with no bytecode found (compiled from source each time)."""
    module = handler_module(function.handler)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="rs-no-bytecode-") as empty:
        # A pycache prefix with nothing in it: every module is compiled from source, as on a package
        # built without bytecode, and -B keeps the results from being written there.
        variants = {True: [], False: ["-X", f"pycache_prefix={empty}"]}
        for _ in range(runs):
            for packaged, flags in variants.items():
                out = run_lambda_python(
                    python, [*flags, "-c", COLD_SCRIPT, json.dumps(list(map(str, path))), module]
                )
                if out.returncode != 0:
                    log(f"{function.logical_id}: timed import failed: {out.stderr.strip()[-500:]}")
                    return None
                seconds[packaged].append(float(out.stdout.strip().splitlines()[-1]))
    return ColdImport(statistics.median(seconds[True]), statistics.median(seconds[False]), runs)


# ----------------------------------------------------------------------------- main


@dataclass
class Row:
    function: str
    code_bytes: int
    layer_bytes: dict[str, int]
    problems: list[str]
    cold: ColdImport | None = None

    @property
    def total(self) -> int:
        return self.code_bytes + sum(self.layer_bytes.values())


def lock_drift(requirements: Path) -> list[str]:
    lock = ROOT / "requirements.lock"
    if not lock.is_file() or not requirements.is_file():
        return []
    pins = {}
    for line in lock.read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    drift = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = (s.strip() for s in line.split("==", 1))
            locked = pins.get(canonical(name))
            if locked and locked != version:
                drift.append(f"{name}=={version} (requirements.lock: {locked})")
    return drift


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    parser.add_argument("--no-prune", action="store_true", help="build makefile layers with PRUNE=0")
    parser.add_argument(
        "--force", action="store_true", help="rebuild layers even when their inputs are unchanged"
    )
    parser.add_argument("--no-smoke", action="store_true", help="skip the CPython 3.12 import check")
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        help="fresh interpreters per variant timing each handler's cold import (default: 3; 0 skips)",
    )
    parser.add_argument("--json", help="also write the measurements to this file")
    args = parser.parse_args(argv)

    started = time.monotonic()
    template = load_template(args.template)
    functions, layers = functions_and_layers(template)
    if not functions:
        log("no AWS::Serverless::Function in the template")
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    prune = not args.no_prune

    built: dict[str, Path] = {}
    layer_sizes: dict[str, int] = {}
    failed = False
    for name in sorted({layer for fn in functions for layer in fn.layers}):
        try:
            built[name] = build_layer(layers[name], prune, args.force)
            layer_sizes[name] = tree_bytes(built[name] / "artifacts")
        except subprocess.CalledProcessError as error:
            log(f"{name}: build failed ({error})")
            failed = True

    python312 = None if args.no_smoke else find_python312()
    if not args.no_smoke and python312 is None:
        log("no CPython 3.12 found (set RS_PYTHON312): skipping the import check")
    runtime_dir = runtime_provided_dir(args.force) if python312 else None

    rows: list[Row] = []
    for function in functions:
        problems: list[str] = []
        if function.package_type != "Zip":
            problems.append(f"PackageType {function.package_type}: not measured here (image limit is 10 GB)")
        if function.external_layers:
            problems.append(
                f"layers from outside the template cannot be measured: {function.external_layers}"
            )
        try:
            code = build_function_code(function)
        except subprocess.CalledProcessError as error:
            rows.append(Row(function.logical_id, 0, {}, [f"code build failed ({error})"]))
            continue
        shipped = dev_code(code)
        if shipped:
            problems.append(f"development code in the package: {', '.join(shipped)}")
        sizes = {name: layer_sizes.get(name, 0) for name in function.layers}
        sites = [code] + [built[name] / "artifacts" / "python" for name in function.layers if name in built]
        requirements = requirements_file(function)
        wanted: list[str] = []
        if requirements is None or not requirements.is_file():
            problems.append(
                f"no requirements file for handler {function.handler} "
                f"(expected {requirements.relative_to(ROOT) if requirements else '?'})"
            )
        else:
            wanted = requirement_names(requirements)
            missing = sorted({canonical(n) for n in wanted} - installed_distributions(sites))
            if missing:
                problems.append(f"not installed in code or layers: {', '.join(missing)}")
            for drift in lock_drift(requirements):
                log(f"{function.logical_id}: pin differs from requirements.lock: {drift}")
        code_bytes = tree_bytes(code)
        cold = None
        if python312 and runtime_dir and not failed:
            problems += smoke_import(python312, function, [*sites, runtime_dir], wanted, package=sites)
            if args.cold_runs > 0 and not problems:
                cold = cold_import(python312, function, [*sites, runtime_dir], runs=args.cold_runs)
        rows.append(Row(function.logical_id, code_bytes, sizes, problems, cold))

    variant = "pruned" if prune else "unpruned"
    header = f"{'function':<28} {'code MB':>8} {'layers MB':>10} {'total MB':>9} {'limit MB':>9}  status"
    print(f"Lambda package sizes, unzipped ({variant} layers; limit {LIMIT_BYTES:,} bytes = 250 MB)")
    print(header)
    print("-" * len(header))
    for row in rows:
        over = row.total > LIMIT_BYTES
        status = "OVER LIMIT" if over else ("FAIL" if row.problems else "ok")
        print(
            f"{row.function:<28} {row.code_bytes / MB:>8.1f} {sum(row.layer_bytes.values()) / MB:>10.1f} "
            f"{row.total / MB:>9.1f} {LIMIT_BYTES / MB:>9.1f}  {status}"
        )
        failed |= over or bool(row.problems)
    print()
    for name, size in sorted(layer_sizes.items()):
        print(f"  layer {name:<30} {size / MB:>7.1f} MB  ({size:,} bytes)")
    for row in rows:
        for problem in row.problems:
            print(f"  {row.function}: {problem}")
    if python312:
        print(f"  import check: CPython 3.12 at {python312}, code + layers + runtime boto3 only")
    for row in rows:
        if row.cold:
            print(
                f"  {row.function}: cold import of the handler {row.cold.bytecode:.2f} s with the package's "
                f"bytecode, {row.cold.source:.2f} s without ({row.cold.source / row.cold.bytecode:.1f}x; "
                f"median of {row.cold.runs} fresh interpreters each)"
            )
    print(f"  {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "variant": variant,
                    "limit_bytes": LIMIT_BYTES,
                    "functions": [
                        {
                            "function": r.function,
                            "code_bytes": r.code_bytes,
                            "layers": r.layer_bytes,
                            "total_bytes": r.total,
                            "problems": r.problems,
                            "cold_import_seconds": (
                                {"bytecode": r.cold.bytecode, "source": r.cold.source} if r.cold else None
                            ),
                        }
                        for r in rows
                    ],
                },
                indent=2,
            )
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
