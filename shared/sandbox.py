"""Run untrusted parse code in a confined child process and collect its points."""

from __future__ import annotations

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
SYSTEM_READ_PATHS = ("/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/share/zoneinfo", "/etc/localtime")
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
    """The import paths the child needs, handed over explicitly because `python -I` ignores PYTHONPATH."""
    project_root = str(Path(__file__).resolve().parent.parent)
    paths = [project_root, *[p for p in sys.path if p]]
    seen: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if os.path.isdir(real) and real not in seen:
            seen.append(real)
    return seen


def _read_paths(paths: list[str]) -> list[str]:
    stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"), sys.base_prefix, sys.prefix}
    found = [*paths, *sorted(p for p in stdlib if p), *SYSTEM_READ_PATHS]
    return [p for p in dict.fromkeys(found) if os.path.exists(p)]


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
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rs-sandbox-") as work:
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
    out = _Collector(process.stdout, limits.output_bytes, keep_tail=False, on_overflow=lambda: _kill_group(process))
    err = _Collector(process.stderr, STDERR_TAIL_BYTES, keep_tail=True)
    out.start()
    err.start()
    timed_out = False
    try:
        process.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
    if out.overflow:
        timed_out = False
    _kill_group(process)
    process.wait()
    out.join(5)
    err.join(5)
    stderr_tail = err.text()
    if timed_out:
        return SandboxResult(ok=False, error=f"wall-clock limit of {limits.wall_seconds:g} s exceeded",
                             error_type="Timeout", stderr_tail=stderr_tail)
    if out.overflow:
        return SandboxResult(ok=False, error=f"output exceeded {limits.output_bytes} bytes",
                             error_type="OutputLimit", stderr_tail=stderr_tail)
    return _interpret(out.lines(), process.returncode, stderr_tail, limits)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _interpret(lines: list[bytes], returncode: int, stderr_tail: str, limits: SandboxLimits) -> SandboxResult:
    points: list[list[Any]] = []
    status: dict[str, Any] | None = None
    for line in lines:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            return SandboxResult(ok=False, error="the sandbox produced unreadable output",
                                 error_type="ProtocolError", stderr_tail=stderr_tail)
        if isinstance(item, list):
            points.append(item)
        elif isinstance(item, dict):
            status = item
    if status is None:
        return SandboxResult(ok=False, error=_death_reason(returncode, limits, stderr_tail),
                             error_type="Killed", stderr_tail=stderr_tail)
    violations = [str(v) for v in status.get("violations", [])]
    confinement = status.get("confinement", {})
    if "error" in status:
        error = status["error"]
        return SandboxResult(ok=False, error=str(error.get("message")), error_type=str(error.get("type")),
                             error_line=error.get("line"), violations=violations, confinement=confinement,
                             stderr_tail=stderr_tail)
    if violations:
        return SandboxResult(ok=False, error=f"sandbox violation: {violations[0]}", error_type="SandboxViolation",
                             violations=violations, confinement=confinement, stderr_tail=stderr_tail)
    return SandboxResult(ok=True, points=points, confinement=confinement, stderr_tail=stderr_tail)


def _death_reason(returncode: int, limits: SandboxLimits, stderr_tail: str) -> str:
    if returncode < 0:
        sig = signal.Signals(-returncode)
        if sig == signal.SIGXCPU:
            return f"CPU time limit of {limits.cpu_seconds} s exceeded"
        if sig == signal.SIGXFSZ:
            return f"file size limit of {limits.file_bytes} bytes exceeded"
        if sig == signal.SIGSYS:
            return "a forbidden system call was attempted"
        if sig == signal.SIGKILL:
            return "killed (memory limit or wall-clock limit)"
        return f"killed by {sig.name}"
    last = stderr_tail.strip().splitlines()[-1:] or ["no output"]
    if "MemoryError" in stderr_tail:
        return f"memory limit of {limits.memory_bytes // (1024 * 1024)} MB exceeded"
    return f"the sandbox process exited with code {returncode}: {last[0][:300]}"


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

    def lines(self) -> list[bytes]:
        return b"".join(self.chunks).split(b"\n")

    def text(self) -> str:
        return b"".join(self.chunks)[-self.cap :].decode("utf-8", errors="replace")
