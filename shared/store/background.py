"""Work a flush hands to threads of its own: reading the next items ahead, handling finished ones behind.

A flush waits on RabbitMQ's confirms most of the time; MongoDB round trips done meanwhile on another
thread cost it nothing. Each helper runs one thread, keeps the order of its items, and hands its error
to the flushing thread.
"""

from __future__ import annotations

import queue as queues
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

# How long a blocked hand-over waits before it looks again whether the other side stopped.
POLL_SECONDS = 0.05


class _End:
    """Marks the end of the items read ahead."""


class _Failure:
    """Carries the reader's error to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class ReadAhead(Generic[T]):
    """Iterates `produce()` in a thread of its own, at most `ahead` items before the consumer."""

    def __init__(self, produce: Callable[[], Iterator[T]], *, ahead: int, name: str) -> None:
        if ahead < 1:
            raise ValueError("ahead must be at least 1")
        self._produce = produce
        self._items: queues.Queue[T | _End | _Failure] = queues.Queue(maxsize=ahead)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._done = False

    def __enter__(self) -> ReadAhead[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._items.get()
        if isinstance(item, _End):
            self._done = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            raise item.error
        return item

    def close(self) -> None:
        """Stop reading and wait for the thread (it closes what `produce` opened)."""
        self._stopped.set()
        while self._thread.is_alive():
            # Frees the place a blocked reader waits for, so that it sees the stop.
            try:
                self._items.get_nowait()
            except queues.Empty:
                self._thread.join(POLL_SECONDS)

    def _run(self) -> None:
        try:
            items = self._produce()
            try:
                for item in items:
                    if not self._hand_over(item):
                        return
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
        except BaseException as error:
            self._hand_over(_Failure(error))
            return
        self._hand_over(_End())

    def _hand_over(self, item: T | _End | _Failure) -> bool:
        while not self._stopped.is_set():
            try:
                self._items.put(item, timeout=POLL_SECONDS)
                return True
            except queues.Full:
                continue
        return False


class HandleBehind(Generic[T]):
    """Hands the items added to `handle` in a thread of its own, in order, `at_least` at a time (the rest
    at `close`), more when more wait.

    After `handle` fails, nothing more is handled: `add` and `close` raise its error.
    """

    def __init__(self, handle: Callable[[list[T]], None], *, at_least: int, name: str) -> None:
        if at_least < 1:
            raise ValueError("at_least must be at least 1")
        self._handle = handle
        self._at_least = at_least
        self._waiting: list[T] = []
        self._closing = False
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> HandleBehind[T]:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        # The error already raised is the one to report.
        with suppress(Exception):
            self.close()

    def add(self, item: T) -> None:
        """Queue an item behind those added before (raises the error `handle` failed with)."""
        with self._changed:
            if self._error is not None:
                raise self._error
            self._waiting.append(item)
            if len(self._waiting) >= self._at_least:
                self._changed.notify()

    def close(self) -> None:
        """Wait until every item added is handled; raise the error `handle` failed with."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            with self._changed:
                while len(self._waiting) < self._at_least and not self._closing:
                    self._changed.wait()
                if not self._waiting:
                    return
                batch, self._waiting = self._waiting, []
            try:
                self._handle(batch)
            except BaseException as error:
                with self._changed:
                    self._error = error
                    self._waiting = []
                return
