"""Run untrusted parse code in a confined child process and collect its points."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from shared.errors import SandboxError
from shared.settings import Settings

CHILD_SCRIPT = Path(__file__).with_name("sandbox_child.py")
PRELOAD = ("json", "csv", "re", "math", "datetime", "decimal", "statistics", "io", "shared.wrapper_toolkit")
DATA_PRELOAD = ("pandas", "python_calamine")
SYSTEM_READ_PATHS = (
    "/usr/lib",
    "/lib",
    "/lib64",
    "/usr/lib64",
    "/usr/share/zoneinfo",
    "/etc/localtime",
    # pandas sizes read_csv's workers from the cgroup CPU quota; a refused probe would count as a violation.
    "/sys/fs/cgroup/cpu.max",
    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
    "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
)
STDERR_TAIL_BYTES = 16_384


class SandboxLimits(BaseModel):
    """Resource limits of one sandboxed run."""

    wall_seconds: float
    cpu_seconds: int
    memory_bytes: int
    file_bytes: int
    open_files: int
    output_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxLimits:
        """Limits as configured."""
        return cls(
            wall_seconds=settings.sandbox_wall_seconds,
            cpu_seconds=settings.sandbox_cpu_seconds,
            memory_bytes=settings.sandbox_memory_mb * 1024 * 1024,
            file_bytes=settings.sandbox_max_file_mb * 1024 * 1024,
            open_files=settings.sandbox_max_open_files,
            output_bytes=settings.sandbox_max_output_mb * 1024 * 1024,
        )


class SandboxResult(BaseModel):
    """What a sandboxed run produced: raw points, or the reason it failed, and how it was confined."""

    ok: bool
    points: list[list[Any]] = Field(default_factory=list, repr=False)
    error: str | None = None
    error_type: str | None = None
    error_line: int | None = None
    violations: list[str] = Field(default_factory=list)
    confinement: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
    stderr_tail: str = ""


def import_paths() -> list[str]:
    """The child's import path, handed over because `python -I` ignores PYTHONPATH (Lambda layers)."""
    # The child may read everything on its import path, so only the project root, the standard library and
    # directories installers put packages in are kept: not the working directory (first under `python -m`),
    # nor script or test directories.
    seen = [_project_root()]
    for path in sys.path:
        real = os.path.realpath(path) if path else ""
        if not real or real in seen or not os.path.isdir(real):
            continue
        if _in_stdlib(real) or _holds_distributions(real):
            seen.append(real)
    return seen


def _project_root() -> str:
    return os.path.realpath(Path(__file__).resolve().parent.parent)


def _stdlib_paths() -> list[str]:
    paths = (sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"))
    return [os.path.realpath(p) for p in paths if p]


def _in_stdlib(path: str) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in _stdlib_paths())


def _holds_distributions(path: str) -> bool:
    """Whether installers put packages here (site-packages, a Lambda layer, a SAM build directory)."""
    try:
        return any(name.endswith(".dist-info") for name in os.listdir(path))
    except OSError:
        return False


def _read_paths(paths: list[str]) -> list[str]:
    """What the child may read: the standard library, its import path and the system's shared libraries."""
    root = _project_root()
    readable = list(_stdlib_paths())
    for path in paths:
        # A source checkout holds more than code (.git, local settings): the child needs only `shared`.
        if path == root and not _holds_distributions(path):
            path = os.path.join(path, "shared")
        readable.append(path)
    readable.extend(SYSTEM_READ_PATHS)
    # Missing paths stay listed: the audit hook must still let a library probe them and see them missing.
    return list(dict.fromkeys(readable))


def protect_caller() -> bool:
    """Make this process non-dumpable so a same-user child cannot read its /proc files (environ)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    pr_set_dumpable = 4
    return bool(ctypes.CDLL(None, use_errno=True).prctl(pr_set_dumpable, 0, 0, 0, 0) == 0)


def run_parse(
    code: str,
    payloads: list[bytes],
    *,
    context: dict[str, Any],
    limits: SandboxLimits,
    preload_data_libraries: bool = True,
    audit_hook: bool = True,
) -> SandboxResult:
    """Run `parse(payload, context)` of `code` on each payload in a confined `python -I` process."""
    # Where Landlock is missing (Lambda), this keeps the caller's credentials out of the child's reach.
    protect_caller()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rs-sandbox-", ignore_cleanup_errors=True) as work:
        work_dir = Path(work)
        code_path = work_dir / "wrapper.py"
        code_path.write_text(code, encoding="utf-8")
        payload_paths = []
        for index, payload in enumerate(payloads):
            path = work_dir / f"payload-{index}"
            path.write_bytes(payload)
            payload_paths.append(str(path))
        paths = import_paths()
        config = {
            "sys_path": paths,
            "read_paths": _read_paths(paths),
            "work_dir": str(work_dir),
            "code_path": str(code_path),
            "payload_paths": payload_paths,
            "context": context,
            "preload": [*PRELOAD, *(DATA_PRELOAD if preload_data_libraries else ())],
            "audit_hook": audit_hook,
            "limits": {
                "cpu_seconds": limits.cpu_seconds,
                "memory_bytes": limits.memory_bytes,
                "file_bytes": limits.file_bytes,
                "open_files": limits.open_files,
                "core_bytes": 0,
            },
        }
        config_path = work_dir / "config.json"
        config_path.write_text(json.dumps(config, default=str), encoding="utf-8")
        result = _run_child(config_path, work_dir, limits)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _run_child(config_path: Path, work_dir: Path, limits: SandboxLimits) -> SandboxResult:
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", str(CHILD_SCRIPT), str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=work_dir,
            env={},
            start_new_session=True,
        )
    except OSError as exc:
        raise SandboxError(f"cannot start the sandbox process: {exc}") from exc
    out = _Collector(
        process.stdout, limits.output_bytes, keep_tail=False, on_overflow=lambda: _kill_group(process)
    )
    err = _Collector(process.stderr, STDERR_TAIL_BYTES, keep_tail=True)
    out.start()
    err.start()
    exited = _wait_unreaped(process.pid, limits.wall_seconds)
    _kill_group(process)
    process.wait()
    out.join(5)
    err.join(5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    stderr_tail = err.text()
    if out.overflow:
        return SandboxResult(
            ok=False,
            error=f"output exceeded {limits.output_bytes} bytes",
            error_type="OutputLimit",
            stderr_tail=stderr_tail,
        )
    if not exited:
        return SandboxResult(
            ok=False,
            error=f"wall-clock limit of {limits.wall_seconds:g} s exceeded",
            error_type="Timeout",
            stderr_tail=stderr_tail,
        )
    return _interpret(out.data(), process.returncode, stderr_tail, limits)


def _wait_unreaped(pid: int, seconds: float) -> bool:
    """Wait up to `seconds` for the child to exit, without reaping it; True when it exited."""
    # Until the child is reaped its pid, which is its process group id, cannot be reused: killing the group
    # afterwards cannot hit an unrelated process.
    deadline = time.monotonic() + seconds
    delay = 0.001
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                return True
        except ChildProcessError:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.02)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the child's whole process group (it leads its own session), unless it has been reaped."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _interpret(data: bytes, returncode: int, stderr_tail: str, limits: SandboxLimits) -> SandboxResult:
    """Read the child's channel; every line after the first may have been forged by the untrusted code."""
    points: list[list[Any]] = []
    confinement: dict[str, Any] | None = None
    violations: list[str] = []
    status: dict[str, Any] | None = None
    # A line cut off by a kill is dropped: the exit status says what happened.
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.split(b"\n"):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            return SandboxResult(
                ok=False,
                error="the sandbox produced unreadable output",
                error_type="ProtocolError",
                confinement=confinement or {},
                stderr_tail=stderr_tail,
            )
        if isinstance(item, list):
            points.append(item)
        elif isinstance(item, dict) and "confinement" in item and confinement is None:
            confinement = item["confinement"] if isinstance(item["confinement"], dict) else {}
        elif isinstance(item, dict) and "violation" in item:
            if str(item["violation"]) not in violations:
                violations.append(str(item["violation"]))
        elif isinstance(item, dict) and ("done" in item or "error" in item):
            status = item
    if status is None:
        return SandboxResult(
            ok=False,
            error=_death_reason(returncode, limits, stderr_tail),
            error_type="Killed",
            violations=violations,
            confinement=confinement or {},
            stderr_tail=stderr_tail,
        )
    reported = status.get("violations")
    for violation in reported if isinstance(reported, list) else []:
        if str(violation) not in violations:
            violations.append(str(violation))
    if "error" in status:
        error = status["error"] if isinstance(status["error"], dict) else {"message": status["error"]}
        line_number = error.get("line")
        if isinstance(line_number, bool) or not isinstance(line_number, int):
            line_number = None
        return SandboxResult(
            ok=False,
            error=str(error.get("message")),
            error_type=str(error.get("type") or "Error"),
            error_line=line_number,
            violations=violations,
            confinement=confinement or {},
            stderr_tail=stderr_tail,
        )
    if violations:
        return SandboxResult(
            ok=False,
            error=f"sandbox violation: {violations[0]}",
            error_type="SandboxViolation",
            violations=violations,
            confinement=confinement or {},
            stderr_tail=stderr_tail,
        )
    return SandboxResult(ok=True, points=points, confinement=confinement or {}, stderr_tail=stderr_tail)


def _death_reason(returncode: int, limits: SandboxLimits, stderr_tail: str) -> str:
    if returncode < 0:
        try:
            sig = signal.Signals(-returncode)
        except ValueError:
            return f"killed by signal {-returncode}"
        if sig == signal.SIGXCPU:
            return f"CPU time limit of {limits.cpu_seconds} s exceeded"
        if sig == signal.SIGXFSZ:
            return f"file size limit of {limits.file_bytes} bytes exceeded"
        if sig == signal.SIGSYS:
            return "a forbidden system call was attempted"
        if sig == signal.SIGKILL:
            return "killed by SIGKILL (the CPU hard limit or the system running out of memory)"
        return f"killed by {sig.name}"
    last = stderr_tail.strip().splitlines()[-1:] or ["no output"]
    if "MemoryError" in stderr_tail:
        return f"memory limit of {limits.memory_bytes // (1024 * 1024)} MB exceeded"
    return f"the sandbox process exited with code {returncode} without a result: {last[0][:300]}"


class _Collector(threading.Thread):
    """Drain a pipe, keeping at most `cap` bytes (the head, or the tail for logs)."""

    def __init__(
        self, stream: Any, cap: int, *, keep_tail: bool, on_overflow: Callable[[], None] | None = None
    ) -> None:
        super().__init__(daemon=True)
        self.on_overflow = on_overflow
        self.stream = stream
        self.cap = cap
        self.keep_tail = keep_tail
        self.chunks: list[bytes] = []
        self.size = 0
        self.overflow = False

    def run(self) -> None:
        while True:
            chunk = self.stream.read1(1 << 20) if hasattr(self.stream, "read1") else self.stream.read(1 << 20)
            if not chunk:
                break
            if self.keep_tail:
                self.chunks.append(chunk)
                self.size += len(chunk)
                while self.size > self.cap and len(self.chunks) > 1:
                    self.size -= len(self.chunks.pop(0))
                continue
            if self.overflow:
                continue
            self.size += len(chunk)
            if self.size > self.cap:
                self.overflow = True
                self.chunks.clear()
                if self.on_overflow is not None:
                    self.on_overflow()
                continue
            self.chunks.append(chunk)

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def text(self) -> str:
        return b"".join(self.chunks)[-self.cap :].decode("utf-8", errors="replace")
