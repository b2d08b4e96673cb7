"""Sandbox child processes, and the one spare kept started so that a run does not wait for its start.

A child is `python -I -S child.py` with an empty environment, in a session of its own, with its own work
directory, pipes and descriptors. It is told at once where to import from and what to preload, preloads it,
then waits, blocking, on its stdin for the configuration of its one run. A spare is such a child started
ahead: a run takes it when it is alive and was started for the same interpreter, import path and temporary
directory, and preloaded nothing the run did not ask for. End of file on its stdin ends a spare that is never
used, whether the parent discarded it or exited; the parent also kills it at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from shared.common.errors import SandboxError

CHILD_SCRIPT = Path(__file__).with_name("child.py")
# The child's whole environment. glibc's malloc maps each block-sized numpy array afresh and hands it back on
# free, so a streamed parse page-faulted about 250 MB in for a 1M-row CSV (a third of its time): arrays up to
# 32 MiB come from the heap instead, and freed memory stays for the next block. Other C libraries ignore it.
CHILD_ENVIRONMENT = {
    "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"
}
# How long interpreter exit waits for a spare being started before it discards the slot.
EXIT_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class ChildFit:
    """What a child is started for: interpreter, import path, where work directories go, preloaded modules."""

    executable: str
    sys_path: tuple[str, ...]
    temp_root: str
    preload: tuple[str, ...]

    @classmethod
    def current(cls, sys_path: list[str], preload: tuple[str, ...] | list[str]) -> ChildFit:
        """A fit for this process as it is now configured."""
        return cls(sys.executable, tuple(sys_path), tempfile.gettempdir(), tuple(preload))

    def same_place(self, other: ChildFit) -> bool:
        """Whether both are for the same interpreter, import path and temporary directory."""
        return (self.executable, self.sys_path, self.temp_root) == (
            other.executable,
            other.sys_path,
            other.temp_root,
        )

    def serves(self, run: ChildFit) -> bool:
        """Whether a child started for this fit can take a run that needs `run`: it preloaded nothing more."""
        return self.same_place(run) and set(self.preload) <= set(run.preload)


class SandboxChild:
    """One started child: its process, its work directory and the parent's ends of its pipes."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        work: tempfile.TemporaryDirectory[str],
        *,
        fit: ChildFit,
        report: tuple[int, int],
        start: tuple[int, int],
        spare: bool,
    ) -> None:
        self.process = process
        self.fit = fit
        self.spare = spare
        self._work = work
        # (the parent's end, the number the child knows it by); the child's ends are closed in the parent.
        self.report_read, self.violation_fd = report
        self.start_write, self.start_fd = start

    @classmethod
    def start(cls, fit: ChildFit, *, spare: bool = False) -> SandboxChild:
        """Start a child that preloads `fit.preload` and then waits for its run's configuration."""
        work = tempfile.TemporaryDirectory(
            prefix="rs-sandbox-", dir=fit.temp_root, ignore_cleanup_errors=True
        )
        # Violations travel on a pipe of their own: the untrusted code can add to it but cannot take anything
        # back, since every byte on it fails the run (see child.py).
        report_read, report_write = os.pipe()
        # The child waits on this one, when it mounted a tmpfs, until the parent holds the tmpfs open.
        start_read, start_write = os.pipe()
        try:
            process = subprocess.Popen(
                # -S: the import path comes from the parent, so site's work (about 12 ms) is not needed.
                [fit.executable, "-I", "-S", str(CHILD_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work.name,
                env=dict(CHILD_ENVIRONMENT),
                start_new_session=True,
                pass_fds=(report_write, start_read),
            )
        except OSError as exc:
            os.close(report_read)
            os.close(start_write)
            work.cleanup()
            raise SandboxError(f"cannot start the sandbox process: {exc}") from exc
        finally:
            os.close(report_write)
            os.close(start_read)
        child = cls(
            process,
            work,
            fit=fit,
            report=(report_read, report_write),
            start=(start_write, start_read),
            spare=spare,
        )
        child._write({"sys_path": list(fit.sys_path), "preload": list(fit.preload), "work_dir": work.name})
        return child

    @property
    def work_dir(self) -> Path:
        """The child's working directory, where its run's inputs go (and a tmpfs over them, in the child)."""
        return Path(self._work.name)

    @property
    def pid(self) -> int:
        """The child's process id, also its process group and session id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the child has not exited (a spare that died is reaped here)."""
        return self.process.poll() is None

    def send(self, config: dict[str, Any], *, last: bool = True) -> bool:
        """Hand the child its run's configuration and, when `last`, close its stdin; False when it is gone.

        Not `last`: a primed child's configuration, its code and context to follow (see run.prime_sandbox).
        """
        message = {**config, "violation_fd": self.violation_fd, "start_fd": self.start_fd}
        sent = self._write(message)
        stdin = self.process.stdin
        if last and stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        return sent

    def _write(self, message: dict[str, Any]) -> bool:
        stdin: IO[bytes] | None = self.process.stdin
        if stdin is None or stdin.closed:
            return False
        try:
            stdin.write(json.dumps(message, default=str).encode() + b"\n")
            stdin.flush()
        except OSError:  # BrokenPipeError: the child exited
            return False
        return True

    def remove_work_dir(self) -> None:
        """Remove the work directory and what the run left in it."""
        self._work.cleanup()

    def discard(self) -> None:
        """End a child that was never handed a run: its process group, pipes and work directory."""
        stdin = self.process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        if self.process.returncode is None:
            # Not reaped yet, so the group id is still the child's own.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._close_parent_ends()
        self.remove_work_dir()

    def forget(self) -> None:
        """In a forked process: let go of the parent's child without touching it, closing the copied ends."""
        self._close_parent_ends()

    def _close_parent_ends(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        for fd in (self.report_read, self.start_write):
            with contextlib.suppress(OSError):
                os.close(fd)


class SpareSlot:
    """At most one spare child, handed to one run only; its successor is started on a thread of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: SandboxChild | None = None
        self._starting: threading.Thread | None = None
        self._closed = False

    def take(self, fit: ChildFit) -> SandboxChild | None:
        """The spare, now the caller's alone, when it is alive and serves `fit`; else None.

        A spare for another interpreter, import path or temporary directory, or one that died, is discarded;
        one that only preloaded more than this run asked for stays for the next run. A spare being started
        is waited for: it is further along than a child started now.
        """
        self.ready()
        with self._lock:
            spare = self._spare
            if spare is None or (spare.fit.same_place(fit) and not spare.fit.serves(fit)):
                return None
            self._spare = None
        if spare.fit.serves(fit) and spare.alive():
            return spare
        spare.discard()
        return None

    def refill(self, fit: ChildFit) -> None:
        """Start a spare for `fit` in the background, unless one is there or being started."""
        with self._lock:
            if self._closed or self._spare is not None or self._starting is not None:
                return
            thread = threading.Thread(
                target=self._start_spare, args=(fit,), name="sandbox-spare", daemon=True
            )
            self._starting = thread
        thread.start()

    def _start_spare(self, fit: ChildFit) -> None:
        spare = None
        try:
            spare = SandboxChild.start(fit, spare=True)
        except (SandboxError, OSError):
            pass  # no pipes or work directory to be had: the next run starts its own child, or says why not
        finally:
            with self._lock:
                self._starting = None
                kept = spare is not None and self._spare is None and not self._closed
                if kept:
                    self._spare = spare
            if spare is not None and not kept:
                spare.discard()

    def ready(self, timeout: float | None = None) -> SandboxChild | None:
        """The spare, once one being started is in place (without taking it); None when there is none."""
        with self._lock:
            thread = self._starting
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            return self._spare

    def clear(self, timeout: float | None = None) -> None:
        """Discard the spare, after waiting for one being started."""
        self.ready(timeout)
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.discard()

    def close(self) -> None:
        """At interpreter exit: start no more spares and end the one there is."""
        with self._lock:
            self._closed = True
        self.clear(EXIT_WAIT_SECONDS)

    def forget(self) -> None:
        """In a forked process: the spare belongs to the parent, so it is dropped here, never used."""
        self._lock = threading.Lock()
        spare, self._spare, self._starting = self._spare, None, None
        if spare is not None:
            spare.forget()


SPARES = SpareSlot()
atexit.register(SPARES.close)
os.register_at_fork(after_in_child=SPARES.forget)
