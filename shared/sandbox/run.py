"""Run untrusted parse code in a confined child process and collect its points."""

from __future__ import annotations

import ast
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.common.errors import SandboxError
from shared.common.settings import Settings
from shared.points.point import gc_paused

CHILD_SCRIPT = Path(__file__).with_name("child.py")
# numpy builds the toolkit's point columns (it cannot be imported once the child is confined).
PRELOAD = (
    "json",
    "csv",
    "re",
    "math",
    "datetime",
    "decimal",
    "statistics",
    "io",
    "numpy",
    "shared.wrapper_toolkit",
)
DATA_PRELOAD = ("pandas", "python_calamine")
# The data library the toolkit imports by itself (read_workbook): enough for code importing nothing else.
TOOLKIT_DATA_PRELOAD = ("python_calamine",)
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


@dataclass(frozen=True)
class ColumnFrame:
    """Point columns as the child sent them, unchecked: the series it named and little-endian raw bytes."""

    count: int
    series: Any
    timestamps: bytes
    values: bytes
    codes: bytes | None
    offsets: bytes | None = None


# A raw point `[timestamp, value, dimensions]` as the child wrote it, or a frame of many.
RawPoint = list[Any] | ColumnFrame


class SandboxResult(BaseModel):
    """What a sandboxed run produced: raw points, or the reason it failed, and how it was confined."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    ok: bool
    points: list[RawPoint] = Field(default_factory=list, repr=False)
    error: str | None = None
    error_type: str | None = None
    error_line: int | None = None
    violations: list[str] = Field(default_factory=list)
    confinement: dict[str, Any] = Field(default_factory=dict)
    seconds: float = 0.0
    stderr_tail: str = ""

    @property
    def point_count(self) -> int:
        """How many points the run produced (a frame counts each of its points)."""
        return sum(point.count if isinstance(point, ColumnFrame) else 1 for point in self.points)


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
    return os.path.realpath(Path(__file__).resolve().parents[2])


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
    on_points: Callable[[list[RawPoint]], None] | None = None,
) -> SandboxResult:
    """Run `parse(payload, context)` of `code` on each payload in a confined `python -I` process.

    With `on_points`, the raw points go to it in order, batch by batch as they arrive (on another thread,
    while the child still works), instead of into the result; an exception it raises is raised here.
    """
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
            "preload": [*PRELOAD, *(_data_preload(code) if preload_data_libraries else ())],
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
        result = _run_child(config_path, work_dir, limits, on_points)
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _data_preload(code: str) -> tuple[str, ...]:
    """The data libraries to load before confinement: pandas only for code that imports beyond PRELOAD."""
    # Loading pandas costs about half a second and 60 MB a run. Code whose imports are all loaded already
    # (the toolkit's wrappers) never reaches it; the toolkit itself imports only python_calamine, lazily.
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return DATA_PRELOAD
    known = {*PRELOAD, *TOOLKIT_DATA_PRELOAD, "__future__"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if node.level == 0 else [""]
        else:
            continue
        if any(module not in known for module in modules):
            return DATA_PRELOAD
    return TOOLKIT_DATA_PRELOAD


def _run_child(
    config_path: Path,
    work_dir: Path,
    limits: SandboxLimits,
    on_points: Callable[[list[RawPoint]], None] | None = None,
) -> SandboxResult:
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
    # The channel is decoded as it arrives, on the other core while the child works.
    channel = _Channel(on_points)
    out = _Collector(
        process.stdout,
        limits.output_bytes,
        keep_tail=False,
        on_overflow=lambda: _kill_group(process),
        sink=channel.feed,
    )
    err = _Collector(process.stderr, STDERR_TAIL_BYTES, keep_tail=True)
    with gc_paused():
        out.start()
        err.start()
        exited = _wait_unreaped(process.pid, limits.wall_seconds)
        _kill_group(process)
        process.wait()
        # The channel's last lines may still be in the consumer's hands: the result must not be read early.
        out.join(max(5.0, limits.wall_seconds))
        err.join(5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    if channel.consumer_error is not None:
        raise channel.consumer_error
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
    return _outcome(channel, process.returncode, stderr_tail, limits)


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


class _Channel:
    """The child's channel, read as it arrives; everything after the first line may be forged.

    JSON lines, except that a line `{"columns": {"count", "series", "coded", "clocked"}}` is followed by the
    frame's raw bytes: `count` int64 timestamps, `count` float64 values, when coded `count` int32 codes and,
    when clocked, `count` int32 UTC offsets.
    """

    def __init__(self, on_points: Callable[[list[RawPoint]], None] | None = None) -> None:
        self.points: list[RawPoint] = []
        self.confinement: dict[str, Any] | None = None
        self.violations: list[str] = []
        self.status: dict[str, Any] | None = None
        self.unreadable = False
        self.consumer_error: Exception | None = None
        self._on_points = on_points
        self._pending: list[bytes] = []
        self._frame: dict[str, Any] | None = None
        self._frame_left = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes; complete lines and frames are read now, the rest waits for its end."""
        start = 0
        while start < len(chunk) and not self.unreadable:
            if self._frame is not None:
                piece = chunk[start : start + self._frame_left]
                self._pending.append(piece)
                self._frame_left -= len(piece)
                start += len(piece)
                if not self._frame_left:
                    self._end_frame()
                continue
            end = chunk.find(b"\n", start)
            if end < 0:
                self._pending.append(chunk[start:])
                return
            line = b"".join([*self._pending, chunk[start:end]]) if self._pending else chunk[start:end]
            self._pending = []
            start = end + 1
            if line.strip():
                self._read_line(line)

    def _read_line(self, line: bytes) -> None:
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            # Reading stops at the first unreadable line: what came before it still counts.
            self.unreadable = True
            return
        if isinstance(item, dict) and "columns" in item:
            self._start_frame(item["columns"])
        else:
            self._take(item)

    def _start_frame(self, header: Any) -> None:
        count = header.get("count") if isinstance(header, dict) else None
        coded = header.get("coded") if isinstance(header, dict) else None
        clocked = header.get("clocked", False) if isinstance(header, dict) else None
        if type(count) is not int or count < 0 or type(coded) is not bool or type(clocked) is not bool:
            self.unreadable = True
            return
        self._frame = header
        self._frame_left = count * (8 + 8 + (4 if coded else 0) + (4 if clocked else 0))
        if not self._frame_left:
            self._end_frame()

    def _end_frame(self) -> None:
        header, body = self._frame or {}, b"".join(self._pending)
        self._frame, self._pending = None, []
        count = header["count"]
        codes_end = 20 * count if header["coded"] else 16 * count
        frame = ColumnFrame(
            count=count,
            series=header.get("series"),
            timestamps=body[: 8 * count],
            values=body[8 * count : 16 * count],
            codes=body[16 * count : codes_end] if header["coded"] else None,
            offsets=body[codes_end:] if header.get("clocked", False) else None,
        )
        self._add([frame])

    def _take(self, item: Any) -> None:
        if isinstance(item, list):
            self._add([item])
        elif isinstance(item, dict) and "confinement" in item and self.confinement is None:
            self.confinement = item["confinement"] if isinstance(item["confinement"], dict) else {}
        elif isinstance(item, dict) and "violation" in item:
            if str(item["violation"]) not in self.violations:
                self.violations.append(str(item["violation"]))
        elif isinstance(item, dict) and ("done" in item or "error" in item):
            self.status = item
        elif isinstance(item, dict) and isinstance(item.get("points"), list):
            self._add([point for point in item["points"] if isinstance(point, list)])

    def _add(self, points: list[RawPoint]) -> None:
        if self._on_points is None:
            self.points.extend(points)
            return
        if self.consumer_error is not None:
            return
        try:
            self._on_points(points)
        except Exception as exc:
            # Raised by the caller once the child is gone: the pipe is still drained until then.
            self.consumer_error = exc


def _interpret(data: bytes, returncode: int, stderr_tail: str, limits: SandboxLimits) -> SandboxResult:
    """Read the child's whole channel output; see `_Channel`."""
    channel = _Channel()
    channel.feed(data)
    return _outcome(channel, returncode, stderr_tail, limits)


def _outcome(channel: _Channel, returncode: int, stderr_tail: str, limits: SandboxLimits) -> SandboxResult:
    """The result of a run from its channel and exit status; a line cut off by a kill was never read."""
    if channel.unreadable:
        return SandboxResult(
            ok=False,
            error="the sandbox produced unreadable output",
            error_type="ProtocolError",
            confinement=channel.confinement or {},
            stderr_tail=stderr_tail,
        )
    points, confinement, violations, status = (
        channel.points,
        channel.confinement,
        channel.violations,
        channel.status,
    )
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
        self,
        stream: Any,
        cap: int,
        *,
        keep_tail: bool,
        on_overflow: Callable[[], None] | None = None,
        sink: Callable[[bytes], None] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.on_overflow = on_overflow
        self.sink = sink
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
            if self.sink is not None:
                self.sink(chunk)
            else:
                self.chunks.append(chunk)

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def text(self) -> str:
        return b"".join(self.chunks)[-self.cap :].decode("utf-8", errors="replace")
