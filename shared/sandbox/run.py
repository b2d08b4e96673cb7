"""Run untrusted parse code in a confined child process and collect its points."""

from __future__ import annotations

import ast
import atexit
import contextlib
import dataclasses
import os
import select
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.common.errors import SandboxError
from shared.common.json_text import load_json
from shared.common.settings import Settings
from shared.points.columns import gc_paused
from shared.sandbox.spare import SPARES, ChildFit, SandboxChild

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
# What the spare child preloads while it waits: what a toolkit wrapper's run asks for. Pandas is loaded by the
# child only once its run asks for it.
SPARE_PRELOAD = (*PRELOAD, *TOOLKIT_DATA_PRELOAD)
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
# What the parent keeps of the violation pipe: enough for every violation the child reports.
VIOLATION_BYTES = 65_536
# The child exits with this code when it cannot put a violation on its pipe (see child.py).
VIOLATION_EXIT = 86
# Channel lines are points, a frame header or a status: none is nested deeper than this.
CHANNEL_JSON_DEPTH = 8
# A channel line longer than this is unreadable: the parent holds no more of a line than this.
MAX_LINE_BYTES = 8 * 1024 * 1024
# How often the watchdog measures the work directory while the child runs.
DISK_POLL_SECONDS = 0.02


class SandboxLimits(BaseModel):
    """Resource limits of one sandboxed run."""

    wall_seconds: float
    cpu_seconds: int
    memory_bytes: int
    file_bytes: int
    open_files: int
    output_bytes: int
    max_points: int = 5_000_000
    disk_bytes: int = 256 * 1024 * 1024
    max_files: int = 1_000

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
            max_points=settings.sandbox_max_points,
            disk_bytes=settings.sandbox_max_disk_mb * 1024 * 1024,
            max_files=settings.sandbox_max_files,
        )


@dataclass(frozen=True)
class ColumnFrame:
    """Point columns as the child sent them, unchecked: the series it named and little-endian raw bytes."""

    count: int
    series: Any
    # Views of the one buffer the frame was read into, not copies.
    timestamps: bytes | memoryview
    values: bytes | memoryview
    codes: bytes | memoryview | None
    offsets: bytes | memoryview | None = None


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
    # The most the child added to its work directory, as the watchdog measured it.
    disk_peak_bytes: int = 0
    disk_peak_files: int = 0
    # The child process that ran the code (a spare's pid when the run took the spare).
    pid: int = 0

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


@cache
def _project_root() -> str:
    return os.path.realpath(Path(__file__).resolve().parents[2])


@cache
def _stdlib_paths() -> tuple[str, ...]:
    # Fixed for the life of the interpreter, and sysconfig takes a while: every run and priming asks.
    paths = (sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib"))
    return tuple(os.path.realpath(p) for p in paths if p)


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


def prepare_sandbox(settings: Settings) -> None:
    """Start the spare child now, in the background, so that the coming run does not wait for its start."""
    if settings.sandbox_warm_start:
        SPARES.refill(ChildFit.current(import_paths(), SPARE_PRELOAD))


def discard_spare() -> None:
    """End the spare child, waiting for one being started; the next run starts its own."""
    SPARES.clear()


def run_parse(
    code: str,
    payloads: list[bytes],
    *,
    context: dict[str, Any],
    limits: SandboxLimits,
    preload_data_libraries: bool = True,
    audit_hook: bool = True,
    tmpfs: bool = True,
    on_points: Callable[[list[RawPoint]], None] | None = None,
    on_done: Callable[[], None] | None = None,
    warm_start: bool = True,
    release_payloads: bool = False,
) -> SandboxResult:
    """Run `parse(payload, context)` of `code` on each payload in a confined `python -I` process.

    With `on_points`, the raw points go to it in order, batch by batch as they arrive (on another thread,
    while the child still works), instead of into the result; an exception it raises is raised here. A
    caller that keeps each batch as columns holds memory bounded by `limits.max_points`. `on_done` is called
    on that thread when the child says it is done, after its last points and while it exits; the child may
    say so falsely, points may follow, and the run may still fail. Without `tmpfs`
    the watchdog alone holds the disk budget, as where the platform has no mount namespace. With
    `warm_start` the run takes the spare child when it fits, and a new spare is started afterwards. With
    `release_payloads` the list is emptied once the child has the payloads in its work directory: a caller
    that hands over its only references does not hold the source while the child parses it.
    """
    # Where Landlock is missing (Lambda), this keeps the caller's credentials out of the child's reach.
    protect_caller()
    started = time.monotonic()
    paths = import_paths()
    preload = (*PRELOAD, *(_data_preload(code) if preload_data_libraries else ()))
    fit = ChildFit.current(paths, preload)
    confinement = _confinement(paths, preload, limits, audit_hook=audit_hook, tmpfs=tmpfs)
    config = {**confinement, "context": context}
    primed = _PRIMED.take(payloads, confinement) if warm_start else None
    spare = SPARES.take(fit) if warm_start and primed is None else None

    handed_over = payloads.clear if release_payloads else None

    def run_in(child: SandboxChild) -> SandboxResult:
        return _run_in(
            child,
            code,
            payloads=payloads,
            config=config,
            limits=limits,
            on_points=on_points,
            on_done=on_done,
            on_handed_over=handed_over,
        )

    try:
        result = None
        if primed is not None:
            # Its sheets are read already: the next spare starts now, on the core its short run leaves idle.
            SPARES.refill(ChildFit.current(paths, SPARE_PRELOAD))
            try:
                with contextlib.suppress(_SpareGoneError):
                    result = _run_child(
                        primed,
                        {"code": code, "context": context},
                        limits,
                        on_points,
                        on_done=on_done,
                        on_handed_over=handed_over,
                    )
            finally:
                primed.remove_work_dir()
        if result is None and spare is not None:
            with contextlib.suppress(_SpareGoneError):
                result = run_in(spare)
        if result is None:
            # No spare, or one that died before it took its configuration: a child of the run's own.
            result = run_in(SandboxChild.start(fit))
    finally:
        if warm_start:
            SPARES.refill(ChildFit.current(paths, SPARE_PRELOAD))
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _confinement(
    paths: list[str],
    preload: tuple[str, ...],
    limits: SandboxLimits,
    *,
    audit_hook: bool,
    tmpfs: bool,
) -> dict[str, Any]:
    """A run's configuration but its context and inputs: how the child is set up and confined."""
    return {
        "sys_path": paths,
        "read_paths": _read_paths(paths),
        "preload": list(preload),
        "audit_hook": audit_hook,
        "disk_budget": {"bytes": limits.disk_bytes, "files": limits.max_files, "tmpfs": tmpfs},
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "open_files": limits.open_files,
            "core_bytes": 0,
        },
    }


def prime_sandbox(payload: bytes, *, sheets: list[str], settings: Settings) -> object | None:
    """Hand the spare child a workbook, to read its `sheets` confined while the parse code is written.

    The next run_parse of this payload alone, configured as `settings` say, takes the child and sends it
    the code; it then runs as on a spare, its read_workbook of those sheets already done. The spare is
    waited for and primed on a thread of its own, never by the caller. Returns what `discard_primed` ends.
    """
    if not settings.sandbox_warm_start or not sheets:
        return None
    protect_caller()
    paths = import_paths()
    limits = SandboxLimits.from_settings(settings)
    confinement = _confinement(paths, SPARE_PRELOAD, limits, audit_hook=True, tmpfs=True)
    return _PRIMED.start(
        payload, sheets=sheets, fit=ChildFit.current(paths, SPARE_PRELOAD), confinement=confinement
    )


def discard_primed(token: object | None) -> None:
    """End the child `prime_sandbox` primed (the `token` it returned), unless a run took it."""
    if token is not None:
        _PRIMED.discard(token)


@dataclass(frozen=True)
class _Priming:
    """A payload handed to a spare ahead of its code: the thread priming it, then the child it primed."""

    thread: threading.Thread
    payload: bytes
    confinement: dict[str, Any]
    child: SandboxChild | None = None

    def serves(self, payloads: list[bytes], confinement: dict[str, Any]) -> bool:
        """Whether a run of these payloads, configured so, is the one this child was primed for."""
        return (
            len(payloads) == 1
            and (payloads[0] is self.payload or payloads[0] == self.payload)
            and confinement == self.confinement
        )


class _PrimedSlot:
    """At most one primed child, primed on a thread of its own once the spare is there.

    Only a run of the payload it was primed for takes it or waits for it: other runs pass it by.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._priming: _Priming | None = None

    def start(
        self, payload: bytes, *, sheets: list[str], fit: ChildFit, confinement: dict[str, Any]
    ) -> object:
        """Prime the spare for `payload` in the background, in place of any child primed before."""
        self.discard()
        thread = threading.Thread(target=self._prime, args=(sheets, fit), name="sandbox-prime", daemon=True)
        with self._lock:
            self._priming = _Priming(thread, payload, confinement)
        thread.start()
        return thread

    def _prime(self, sheets: list[str], fit: ChildFit) -> None:
        with self._lock:
            priming = self._priming
        if priming is None or priming.thread is not threading.current_thread():
            return
        child = SPARES.take(fit)
        if child is None:
            return
        path = child.work_dir / "payload-0"
        try:
            path.write_bytes(priming.payload)
        except OSError:
            child.discard()
            return
        config = {**priming.confinement, "work_dir": str(child.work_dir), "payload_paths": [str(path)]}
        if not child.send({**config, "prime": {"sheets": sheets}}, last=False):
            child.discard()
            return
        with self._lock:
            kept = self._priming is priming
            if kept:
                self._priming = dataclasses.replace(priming, child=child)
        if not kept:
            child.discard()

    def _settle(self, thread: threading.Thread) -> SandboxChild | None:
        """The child primed by `thread`, once it is done, now the caller's alone (None if it primed none)."""
        thread.join()
        with self._lock:
            priming = self._priming
            if priming is None or priming.thread is not thread:
                return None
            self._priming = None
        return priming.child

    def take(self, payloads: list[bytes], confinement: dict[str, Any]) -> SandboxChild | None:
        """The primed child when it was primed for these payloads and this configuration; else None."""
        with self._lock:
            priming = self._priming
        if priming is None or not priming.serves(payloads, confinement):
            return None
        child = self._settle(priming.thread)
        if child is None or child.alive():
            return child
        child.discard()
        return None

    def discard(self, token: object | None = None) -> None:
        """Discard the primed child (only the one `start` returned `token` for, if given)."""
        with self._lock:
            priming = self._priming
        if priming is None or (token is not None and priming.thread is not token):
            return
        child = self._settle(priming.thread)
        if child is not None:
            child.discard()

    def forget(self) -> None:
        """In a forked process: the child belongs to the parent, so it is dropped here, never used."""
        self._lock = threading.Lock()
        priming, self._priming = self._priming, None
        if priming is not None and priming.child is not None:
            priming.child.forget()


_PRIMED = _PrimedSlot()
atexit.register(_PRIMED.discard)
os.register_at_fork(after_in_child=_PRIMED.forget)


def _run_in(
    child: SandboxChild,
    code: str,
    *,
    payloads: list[bytes],
    config: dict[str, Any],
    limits: SandboxLimits,
    on_points: Callable[[list[RawPoint]], None] | None,
    on_done: Callable[[], None] | None = None,
    on_handed_over: Callable[[], None] | None = None,
) -> SandboxResult:
    """Put the inputs in the child's work directory and run it there."""
    work_dir = child.work_dir
    try:
        code_path = work_dir / "wrapper.py"
        code_path.write_text(code, encoding="utf-8")
        payload_paths = _write_payloads(work_dir, payloads)
    except BaseException:
        child.discard()  # never handed a run, it would wait for one until this process ends
        raise
    run_config = {
        **config,
        "work_dir": str(work_dir),
        "code_path": str(code_path),
        "payload_paths": payload_paths,
    }
    try:
        return _run_child(
            child, run_config, limits, on_points, on_done=on_done, on_handed_over=on_handed_over
        )
    finally:
        child.remove_work_dir()


def _write_payloads(work_dir: Path, payloads: list[bytes]) -> list[str]:
    """Write each payload to a file of the work directory; their paths, in order."""
    # A function of its own: no variable of the run's frame keeps a payload once the list lets it go.
    paths = []
    for index, payload in enumerate(payloads):
        path = work_dir / f"payload-{index}"
        path.write_bytes(payload)
        paths.append(str(path))
    return paths


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
    child: SandboxChild,
    config: dict[str, Any],
    limits: SandboxLimits,
    on_points: Callable[[list[RawPoint]], None] | None = None,
    *,
    on_done: Callable[[], None] | None = None,
    on_handed_over: Callable[[], None] | None = None,
) -> SandboxResult:
    """Hand the child its configuration and see the run through; `on_handed_over` once it has them."""
    watch = _DiskWatch(child.work_dir, max_bytes=limits.disk_bytes, max_files=limits.max_files)
    if not child.send(config) and child.spare:
        child.discard()
        raise _SpareGoneError
    if on_handed_over is not None:
        # Past the one retry (a spare gone before it took its configuration): the inputs are not needed again.
        on_handed_over()
    process, work_dir = child.process, child.work_dir
    start = _Start(child.start_write)
    # Readers and the watchdog kill from their threads; the lock keeps a kill from racing the reaping,
    # after which the process group id may belong to someone else.
    reaping = threading.Lock()

    def kill() -> None:
        with reaping:
            _kill_group(process)

    def confined(report: dict[str, Any]) -> None:
        try:
            if str(report.get("disk", "")).startswith("tmpfs"):
                watch.attach(f"/proc/{process.pid}/root{work_dir}")
        finally:
            start.release()

    # The channel is decoded as it arrives, on the other core while the child works.
    channel = _Channel(
        on_points,
        on_done=on_done,
        max_points=limits.max_points,
        on_budget=kill,
        on_confinement=confined,
    )
    out = _Collector(
        process.stdout,
        limits.output_bytes,
        keep_tail=False,
        on_overflow=kill,
        sink=channel.feed,
    )
    err = _Collector(process.stderr, STDERR_TAIL_BYTES, keep_tail=True)
    report = _Collector(open(child.report_read, "rb", buffering=0), VIOLATION_BYTES, keep_tail=False)  # noqa: SIM115
    watch.on_exceeded = kill
    with gc_paused():
        out.start()
        err.start()
        report.start()
        watch.start()
        exited = _wait_unreaped(process.pid, limits.wall_seconds)
        kill()
        start.release()
        watch.finish()
        with reaping:
            process.wait()
        # The channel's last lines may still be in the consumer's hands: the result must not be read early.
        out.join(max(5.0, limits.wall_seconds))
        err.join(5)
        report.join(5)
    for stream in (process.stdout, process.stderr, report.stream):
        if stream is not None:
            stream.close()
    if channel.consumer_error is not None:
        raise channel.consumer_error
    result = _verdict(
        channel,
        process.returncode,
        err.text(),
        limits,
        exited=exited,
        overflow=out.overflow,
        budget=watch.exceeded or channel.budget_exceeded,
        reported=_reported_violations(report.data(), overflow=report.overflow),
    )
    result.disk_peak_bytes, result.disk_peak_files = watch.peak_bytes, watch.peak_files
    result.pid = process.pid
    return result


class _SpareGoneError(SandboxError):
    """The spare exited before it took its run's configuration: the run starts a child of its own."""


def _verdict(
    channel: _Channel,
    returncode: int,
    stderr_tail: str,
    limits: SandboxLimits,
    *,
    exited: bool,
    overflow: bool,
    budget: str | None,
    reported: list[str],
) -> SandboxResult:
    """The result of a run: what the parent saw itself comes first, what the child wrote last."""
    confinement = channel.confinement or {}
    if budget is not None:
        return SandboxResult(
            ok=False,
            error=budget,
            error_type="BudgetExceeded",
            violations=[f"sandbox: {budget}", *reported],
            confinement=confinement,
            stderr_tail=stderr_tail,
        )
    if overflow:
        return SandboxResult(
            ok=False,
            error=f"output exceeded {limits.output_bytes} bytes",
            error_type="OutputLimit",
            confinement=confinement,
            stderr_tail=stderr_tail,
        )
    if not exited:
        return SandboxResult(
            ok=False,
            error=f"wall-clock limit of {limits.wall_seconds:g} s exceeded",
            error_type="Timeout",
            confinement=confinement,
            stderr_tail=stderr_tail,
        )
    if returncode == VIOLATION_EXIT:
        reported = reported or ["sandbox: a violation whose report the code tampered with"]
        return SandboxResult(
            ok=False,
            error=f"sandbox violation: {reported[0]}",
            error_type="SandboxViolation",
            violations=reported,
            confinement=confinement,
            stderr_tail=stderr_tail,
        )
    result = _outcome(channel, returncode, stderr_tail, limits, reported=reported)
    if result.ok and returncode != 0:
        # A status the code forged before ending the process some other way.
        return SandboxResult(
            ok=False,
            error=_death_reason(returncode, limits, stderr_tail),
            error_type="Killed",
            confinement=confinement,
            stderr_tail=stderr_tail,
        )
    return result


def _reported_violations(data: bytes, *, overflow: bool) -> list[str]:
    """The violations on the child's violation pipe; any byte on it is one, readable or not."""
    violations: list[str] = []
    for line in data.splitlines():
        try:
            item = load_json(line, max_depth=CHANNEL_JSON_DEPTH)
        except (ValueError, UnicodeDecodeError):
            item = None
        text = item.get("violation") if isinstance(item, dict) else None
        text = str(text) if text is not None else "sandbox: an unreadable violation report"
        if text not in violations:
            violations.append(text)
    if overflow and not violations:
        violations.append("sandbox: an unreadable violation report")
    return violations


class _Start:
    """The parent's end of the start pipe: one byte lets a waiting child run the parse code."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            with contextlib.suppress(OSError):  # a child already gone
                os.write(self._fd, b"s")
            os.close(self._fd)
            self._fd = None


class _DiskWatch(threading.Thread):
    """The disk budget of the work directory, measured while the child runs and after; over it, a kill."""

    # Where the child mounted a size-capped tmpfs on it (see child.py), the kernel holds the budget and this
    # reads the tmpfs's own counts, through a descriptor that keeps it alive after the child is gone.
    # Otherwise (Lambda) it walks the directory and counts what the child added to the inputs: bytes
    # allocated (a sparse file counts what it holds) and entries (files, directories, links); between two
    # measurements the child can write at most one poll interval's worth, and no file beyond the file-size
    # rlimit.

    def __init__(self, root: Path, *, max_bytes: int, max_files: int) -> None:
        super().__init__(daemon=True)
        self.root = str(root)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.on_exceeded: Callable[[], None] = lambda: None
        self.exceeded: str | None = None
        self.peak_bytes = 0
        self.peak_files = 0
        self._stop_event = threading.Event()
        self._base_bytes, self._base_files = self._measure(limit=None)
        self._mounted: int | None = None
        self._finished = False
        self._mount_lock = threading.Lock()

    def attach(self, path: str) -> None:
        """Measure the tmpfs mounted at `path` (as seen through the child's /proc root) too."""
        with self._mount_lock:
            if self._finished:
                return  # the child is gone (the wall clock ran out before it said how it was confined)
            try:
                self._mounted = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError as exc:
                self._exceed(f"disk budget: the work directory cannot be measured ({exc.strerror})")

    def run(self) -> None:
        while not self._stop_event.wait(DISK_POLL_SECONDS) and self.exceeded is None:
            self.check()

    def finish(self) -> None:
        """Stop watching, after a last measurement of what the child left."""
        self._stop_event.set()
        if self.is_alive():
            self.join()
        with self._mount_lock:
            self._finished = True
            if self.exceeded is None:
                self.check()
            if self._mounted is not None:
                os.close(self._mounted)
                self._mounted = None

    def check(self) -> None:
        """Measure once; record and act on a budget exceeded."""
        try:
            used, files = self._measure(limit=self._base_files + self.max_files)
        except OSError as exc:
            # A directory the parent cannot read (chmod 000, a path too long) cannot be within budget.
            self._exceed(f"disk budget: the work directory cannot be measured ({exc.strerror})")
            return
        added_bytes, added_files = max(0, used - self._base_bytes), max(0, files - self._base_files)
        if self._mounted is not None:
            usage = os.fstatvfs(self._mounted)
            added_bytes += (usage.f_blocks - usage.f_bfree) * usage.f_frsize
            added_files += usage.f_files - usage.f_ffree - 1  # the root directory
        self.peak_bytes = max(self.peak_bytes, added_bytes)
        self.peak_files = max(self.peak_files, added_files)
        if added_files > self.max_files:
            self._exceed(f"file budget of {self.max_files} files and directories exceeded")
        elif added_bytes > self.max_bytes:
            self._exceed(f"disk budget of {self.max_bytes // (1024 * 1024)} MB exceeded")

    def _exceed(self, reason: str) -> None:
        self.exceeded = reason
        self.on_exceeded()

    def _measure(self, *, limit: int | None) -> tuple[int, int]:
        """Bytes allocated and entries under the root; stops counting past `limit` entries."""
        used = files = 0
        pending = [self.root]
        while pending:
            try:
                entries = os.scandir(pending.pop())
            except FileNotFoundError:
                continue  # removed since it was listed
            with entries:
                for entry in entries:
                    try:
                        stat = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    files += 1
                    used += stat.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
            if limit is not None and files > limit:
                break
        return used, files


def _wait_unreaped(pid: int, seconds: float) -> bool:
    """Wait up to `seconds` for the child to exit, without reaping it; True when it exited."""
    # Until the child is reaped its pid, which is its process group id, cannot be reused: killing the group
    # afterwards cannot hit an unrelated process.
    deadline = time.monotonic() + seconds
    # A pidfd turns readable the moment the child exits; without one, polling notices it up to 20 ms late.
    pidfd = _open_pidfd(pid)
    waiter = None
    if pidfd is not None:
        waiter = select.poll()
        waiter.register(pidfd, select.POLLIN)
    delay = 0.001
    try:
        while True:
            try:
                if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is not None:
                    return True
            except ChildProcessError:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if waiter is not None:
                waiter.poll(remaining * 1000)
            else:
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.02)
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _open_pidfd(pid: int) -> int | None:
    """A descriptor that turns readable when the process exits, where the kernel has them (Linux 5.3)."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        return int(pidfd_open(pid))
    except OSError:
        return None


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
    when clocked, `count` int32 UTC offsets. The parent counts the points itself: past `max_points` it
    stops reading, records why and calls `on_budget` (which kills the child).
    """

    def __init__(
        self,
        on_points: Callable[[list[RawPoint]], None] | None = None,
        *,
        on_done: Callable[[], None] | None = None,
        max_points: int | None = None,
        on_budget: Callable[[], None] = lambda: None,
        on_confinement: Callable[[dict[str, Any]], None] = lambda report: None,
    ) -> None:
        self.points: list[RawPoint] = []
        self.confinement: dict[str, Any] | None = None
        self.violations: list[str] = []
        self.status: dict[str, Any] | None = None
        self.unreadable = False
        self.consumer_error: Exception | None = None
        self.budget_exceeded: str | None = None
        self.count = 0
        self._max_points = max_points
        self._on_budget = on_budget
        self._on_confinement = on_confinement
        self._on_points = on_points
        self._on_done = on_done
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._frame: dict[str, Any] | None = None
        # A frame's body is read into one buffer of its announced size: no list of chunks joined later.
        self._body = bytearray()
        self._filled = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes; complete lines and frames are read now, the rest waits for its end."""
        start = 0
        while start < len(chunk) and not self.unreadable and self.budget_exceeded is None:
            if self._frame is not None:
                piece = chunk[start : start + len(self._body) - self._filled]
                self._body[self._filled : self._filled + len(piece)] = piece
                self._filled += len(piece)
                start += len(piece)
                if self._filled == len(self._body):
                    self._end_frame()
                continue
            end = chunk.find(b"\n", start)
            if end < 0:
                self._pending.append(chunk[start:])
                self._pending_bytes += len(chunk) - start
                self.unreadable = self._pending_bytes > MAX_LINE_BYTES
                return
            line = b"".join([*self._pending, chunk[start:end]]) if self._pending else chunk[start:end]
            self._pending, self._pending_bytes = [], 0
            start = end + 1
            if line.strip():
                self._read_line(line)

    def _read_line(self, line: bytes) -> None:
        try:
            item = load_json(line, max_depth=CHANNEL_JSON_DEPTH)
        except (ValueError, UnicodeDecodeError):
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
        # Refused on the header's word, before a byte of the body is held.
        if not self._within_budget(count):
            return
        self._frame = header
        self._body = bytearray(count * (8 + 8 + (4 if coded else 0) + (4 if clocked else 0)))
        self._filled = 0
        if not self._body:
            self._end_frame()

    def _within_budget(self, count: int) -> bool:
        if self._max_points is not None and self.count + count > self._max_points:
            self.budget_exceeded = f"points budget of {self._max_points} points exceeded"
            self._on_budget()
            return False
        self.count += count
        return True

    def _end_frame(self) -> None:
        header, body = self._frame or {}, memoryview(self._body)
        self._frame, self._body = None, bytearray()
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
            if self._within_budget(1):
                self._add([item])
        elif isinstance(item, dict) and "confinement" in item and self.confinement is None:
            self.confinement = item["confinement"] if isinstance(item["confinement"], dict) else {}
            self._on_confinement(self.confinement)
        elif isinstance(item, dict) and "violation" in item:
            if str(item["violation"]) not in self.violations:
                self.violations.append(str(item["violation"]))
        elif isinstance(item, dict) and ("done" in item or "error" in item):
            self.status = item
            if "done" in item and self._on_done is not None and self.consumer_error is None:
                try:
                    self._on_done()
                except Exception as exc:
                    self.consumer_error = exc
        elif isinstance(item, dict) and isinstance(item.get("points"), list):
            points: list[RawPoint] = [point for point in item["points"] if isinstance(point, list)]
            if self._within_budget(len(points)):
                self._add(points)

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


def _outcome(
    channel: _Channel,
    returncode: int,
    stderr_tail: str,
    limits: SandboxLimits,
    *,
    reported: list[str] | None = None,
) -> SandboxResult:
    """The result of a run from its channel and exit status; a line cut off by a kill was never read."""
    # `reported` are the violations of the violation pipe: with any, the run fails, whatever the channel says.
    if channel.unreadable:
        return SandboxResult(
            ok=False,
            error="the sandbox produced unreadable output",
            error_type="ProtocolError",
            confinement=channel.confinement or {},
            stderr_tail=stderr_tail,
        )
    points, confinement, status = channel.points, channel.confinement, channel.status
    violations = list(dict.fromkeys([*(reported or []), *channel.violations]))
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
