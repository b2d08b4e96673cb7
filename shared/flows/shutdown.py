"""A stop request for the job (Fargate sends SIGTERM, then SIGKILL 30 s later by default).

The tick claims no further wrapper once a stop is requested, and a run checks at each stage boundary
(after the fetch, the parse, the store): it ends there as `interrupted`, its lease released and its water
marks unmoved, so the next tick takes the wrapper over at once and fetches the same window again. A fetch
may wait on a slow source for long, and it only reads: a stop that arrives during one interrupts it at
once. The parse (a sandboxed child process) and the writes always reach their boundary.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from shared.common.errors import JobStoppedError

STOPPED = "interrupted: the job was asked to stop (SIGTERM); the next tick runs the wrapper again"


class Shutdown:
    """Whether the job was asked to stop, and whether the work under way may be cut short right now."""

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._interruptible = False

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self._requested.is_set()

    def request(self) -> None:
        """Ask the job to stop; called from the signal handler, on the main thread.

        Inside an `interruptible` block the work is cut short here, by raising JobStoppedError.
        """
        self._requested.set()
        if self._interruptible:
            self._interruptible = False
            raise JobStoppedError(STOPPED)

    def check(self) -> None:
        """Raise JobStoppedError when a stop was requested (a stage boundary of a run)."""
        if self.requested:
            raise JobStoppedError(STOPPED)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A block that only reads (a fetch): a stop requested during it interrupts it at once."""
        self.check()
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False
