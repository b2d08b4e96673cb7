"""jobs/run_wrappers/Dockerfile, read statically (no Docker engine here): base, user, install, entrypoint."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "jobs" / "run_wrappers" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT = ["python", "-m", "jobs.run_wrappers"]
# Top-level directories the job never runs: kept out of the build context and of every COPY.
DEV_CODE = ("devtools", "tests", "infra", "examples")
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "clang", "cargo", "rustc", "git")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for instruction, args in self.instructions if instruction == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Stages of a Dockerfile: continuation lines joined, comment lines (and parser directives) dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#"):
            continue
        if not line and not pending:
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation"
    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction, args = instruction.upper(), args.strip()
        if instruction == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
            continue
        assert stages, f"{instruction} before the first FROM"
        stages[-1].instructions.append((instruction, args))
    return stages


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def copy_sources(args: str) -> list[str]:
    """Source paths of a COPY from the build context (none for --from=stage); the last path is the target."""
    flags = []
    rest = args
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        flags.append(flag)
        rest = rest.strip()
    if any(flag.startswith("--from=") for flag in flags):
        return []
    paths = exec_form(rest) if rest.startswith("[") else shlex.split(rest)
    return paths[:-1]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_parser_joins_continuations_and_skips_comments() -> None:
    parsed = parse_dockerfile(
        "# syntax=docker/dockerfile:1\nFROM python:3.12-slim AS b\nRUN a \\\n# note\n && b\nUSER 1:1\n"
    )
    assert [(s.base, s.name) for s in parsed] == [("python:3.12-slim", "b")]
    assert parsed[0].instructions == [("RUN", "a  && b"), ("USER", "1:1")]


def test_every_stage_is_python_312(stages: list[Stage]) -> None:
    assert len(stages) >= 1
    for stage in stages:
        pattern = r"python:3\.12(\.\d+)?(-slim[\w.-]*)?(@sha256:[0-9a-f]{64})?"
        assert re.fullmatch(pattern, stage.base), stage.base


def test_runtime_is_slim_and_built_from_the_builder(stages: list[Stage], runtime: Stage) -> None:
    assert "-slim" in runtime.base
    if len(stages) > 1:
        builders = {s.name for s in stages[:-1] if s.name}
        copied = [a for a in runtime.all("COPY") if a.startswith("--from=")]
        assert copied and all(a.split()[0].split("=", 1)[1] in builders for a in copied)


def test_runtime_installs_no_build_tools(runtime: Stage) -> None:
    for command in runtime.all("RUN"):
        if re.search(r"\b(apt-get|apt|apk|yum|dnf)\s+install\b", command):
            words = set(re.split(r"[\s=]+", command))
            assert not words & set(BUILD_TOOLS), command
        assert "pip install" not in command, "packages are installed in the builder, not the runtime"


def test_runs_as_a_non_root_numeric_user_before_the_entrypoint(runtime: Stage) -> None:
    keywords = [instruction for instruction, _ in runtime.instructions]
    assert "ENTRYPOINT" in keywords and "USER" in keywords
    users = runtime.all("USER")
    user = users[-1]
    # Numeric, so ECS and image scanners can tell it is not root without the image's /etc/passwd.
    assert re.fullmatch(r"\d+(:\d+)?", user), f"USER {user}"
    assert all(int(part) >= 1000 for part in user.split(":")), user
    last_user = max(i for i, k in enumerate(keywords) if k == "USER")
    assert last_user < keywords.index("ENTRYPOINT")


def test_entrypoint_is_the_job_module(runtime: Stage) -> None:
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert exec_form(entrypoint) == ENTRYPOINT
    assert not runtime.all("CMD"), "a CMD would be passed to the job as arguments"
    assert not runtime.all("HEALTHCHECK"), "a one-shot task needs no health check"


def test_project_installed_with_the_data_extra_pinned_by_the_lock(stages: list[Stage]) -> None:
    installs = [
        part.strip()
        for stage in stages
        for command in stage.all("RUN")
        for part in re.split(r"&&|;", command)
        if re.search(r"\bpip install\b", part)
    ]
    # Every install that resolves dependencies is constrained by the lock; --no-deps ones resolve nothing.
    resolving = [c for c in installs if "--no-deps" not in c]
    assert resolving, "no pip install resolves the dependencies"
    for command in resolving:
        assert re.search(r"(-c|--constraint)[ =]requirements\.lock\b", command), command
    extras = [set(m.split(",")) for c in resolving for m in re.findall(r"\.\[([\w,]+)\]", c)]
    assert any({"data", "gemini"} <= e for e in extras), resolving
    for stage in stages:
        sources = [s for args in stage.all("COPY") for s in copy_sources(args)]
        if any("requirements.lock" in c for c in stage.all("RUN")):
            assert "requirements.lock" in sources


def test_data_and_gemini_extras_exist_and_are_locked() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert {"data", "gemini"} <= set(extras)
    pinned = {
        re.sub(r"[-_.]+", "-", line.split("==", 1)[0]).lower()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    }
    for requirement in [*project["dependencies"], *extras["data"], *extras["gemini"]]:
        name = re.sub(r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]).lower()
        assert name in pinned, f"{name} is not pinned in requirements.lock"


def test_copied_paths_exist_and_are_not_dockerignored(stages: list[Stage]) -> None:
    ignored = [
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for stage in stages:
        for args in stage.all("COPY"):
            for source in copy_sources(args):
                path = source.rstrip("/")
                assert (ROOT / path).exists(), f"COPY {source}: not in the repository"
                assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), (
                    f"COPY {source}: excluded by .dockerignore"
                )


def test_dockerignore_keeps_local_state_and_dev_code_out_of_the_context() -> None:
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".venv", ".cache", ".git"} <= ignored
    assert set(DEV_CODE) <= ignored


def test_the_image_copies_no_dev_code(stages: list[Stage]) -> None:
    """Only named packages are copied: `COPY . .` would take whatever .dockerignore forgot."""
    sources = [s.rstrip("/") for stage in stages for args in stage.all("COPY") for s in copy_sources(args)]
    assert sources
    for source in sources:
        assert source not in (".", "./", "*"), f"COPY {source}: copies the whole context"
        assert source.split("/")[0] not in DEV_CODE, f"COPY {source}: development code"


def test_the_installed_packages_leave_out_dev_code() -> None:
    """`pip install .` in the image installs what pyproject's package list names: never devtools or tests."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for package in DEV_CODE:
        assert not any(fnmatch.fnmatch(package, pattern) for pattern in config["include"]), package


def test_tmp_is_the_volume_the_task_definition_mounts(runtime: Stage) -> None:
    """The task's root filesystem is read-only: /tmp must be a volume the job's user can write."""
    volumes = [path for args in runtime.all("VOLUME") for path in exec_form(args)]
    assert "/tmp" in volumes
    user = runtime.all("USER")[-1]
    assert any(re.search(rf"\bchown\s+{re.escape(user)}\s+/tmp\b", c) for c in runtime.all("RUN")), (
        "/tmp must belong to the job's user: ECS copies the image directory's owner to the volume"
    )
    from tests.unit.test_template import _container, _package_check

    container = _container(_package_check().load_template(ROOT / "template.yaml"))
    assert container.get("User", user) == user
    if container.get("ReadonlyRootFilesystem"):
        assert "/tmp" in {m["ContainerPath"] for m in container["MountPoints"]}


def test_entrypoint_module_is_packaged() -> None:
    """`pip install .` must ship the jobs package, or `python -m jobs.run_wrappers` fails in the image."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert any(fnmatch.fnmatch("jobs.run_wrappers", pattern) for pattern in config["include"])
    main = ROOT / "jobs" / "run_wrappers" / "__main__.py"
    if not main.is_file():
        pytest.skip("jobs/run_wrappers/__main__.py is not written yet")
    assert main.read_text().strip()
