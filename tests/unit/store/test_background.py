"""Reading ahead and handling behind in threads of their own: order, bounds, errors and stopping."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from shared.store.background import HandleBehind, ReadAhead

# A bound on waiting for the other thread, so that a broken hand-over fails instead of hanging.
WAIT = 10.0


class Source:
    """Numbers produced one by one, recording how far the producer got and whether it was closed."""

    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.produced = 0
        self.closed = threading.Event()
        self.progressed = threading.Condition()

    def produce(self) -> Iterator[int]:
        try:
            for number in range(self.count):
                if number == self.fail_at:
                    raise RuntimeError(f"failed at {number}")
                yield number
                with self.progressed:
                    self.produced = number + 1
                    self.progressed.notify_all()
        finally:
            self.closed.set()

    def wait_produced(self, count: int) -> int:
        with self.progressed:
            self.progressed.wait_for(lambda: self.produced >= count, timeout=WAIT)
            return self.produced


def test_read_ahead_yields_every_item_in_order() -> None:
    source = Source(50)
    with ReadAhead(source.produce, ahead=3, name="test-reader") as items:
        assert list(items) == list(range(50))
    assert source.closed.is_set()


def test_read_ahead_reads_while_the_consumer_holds_an_item_but_no_further_than_ahead() -> None:
    source = Source(50)
    with ReadAhead(source.produce, ahead=3, name="test-reader") as items:
        assert next(items) == 0
        # Three wait in the queue and a fourth is in the producer's hands, blocked on the full queue.
        assert source.wait_produced(4) == 4
        assert source.produced == 4
        assert next(items) == 1


def test_read_ahead_raises_the_producers_error_after_the_items_before_it() -> None:
    source = Source(10, fail_at=4)
    received = []
    with ReadAhead(source.produce, ahead=2, name="test-reader") as items, pytest.raises(RuntimeError):
        for item in items:
            received.append(item)
    assert received == [0, 1, 2, 3]


def test_read_ahead_closed_early_stops_the_producer_and_closes_what_it_opened() -> None:
    source = Source(1000)
    with ReadAhead(source.produce, ahead=2, name="test-reader") as items:
        assert next(items) == 0
    assert source.closed.wait(WAIT)
    assert source.produced < 10


def test_read_ahead_needs_room_for_one_item() -> None:
    with pytest.raises(ValueError, match="ahead"):
        ReadAhead(Source(1).produce, ahead=0, name="test-reader")


class Handler:
    """Records each batch it is handed; fails on a batch holding `fail_on`."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.calls = 0
        self.fail_on = fail_on
        self.called = threading.Condition()

    def __call__(self, batch: list[int]) -> None:
        with self.called:
            self.calls += 1
            self.called.notify_all()
            if self.fail_on in batch:
                raise RuntimeError(f"failed on {self.fail_on}")
            self.batches.append(batch)

    def wait_calls(self, count: int) -> None:
        with self.called:
            assert self.called.wait_for(lambda: self.calls >= count, timeout=WAIT)


def test_handle_behind_hands_every_item_in_order_at_least_n_at_a_time_but_the_last() -> None:
    handler = Handler()
    with HandleBehind(handler, at_least=3, name="test-handler") as behind:
        for item in range(11):
            behind.add(item)
    assert [item for batch in handler.batches for item in batch] == list(range(11))
    assert all(len(batch) >= 3 for batch in handler.batches[:-1])


def test_handle_behind_handles_the_rest_at_close() -> None:
    handler = Handler()
    behind = HandleBehind(handler, at_least=5, name="test-handler")
    with behind:
        behind.add(1)
        behind.add(2)
        assert handler.batches == []
    assert handler.batches == [[1, 2]]


def test_handle_behind_handles_nothing_after_a_failure_and_raises_it() -> None:
    handler = Handler(fail_on=2)
    behind = HandleBehind(handler, at_least=2, name="test-handler")
    with pytest.raises(RuntimeError, match="failed on 2"), behind:
        behind.add(0)
        behind.add(1)
        handler.wait_calls(1)
        behind.add(2)
        behind.add(3)
        handler.wait_calls(2)
        behind.add(4)  # raises once the failure is recorded; never handled either way
    assert handler.batches == [[0, 1]]
    assert handler.calls == 2


def test_handle_behind_keeps_the_error_of_the_block_over_its_own() -> None:
    handler = Handler(fail_on=0)
    with pytest.raises(KeyError), HandleBehind(handler, at_least=1, name="test-handler") as behind:
        behind.add(0)
        raise KeyError("the block's own error")


def test_handle_behind_needs_a_batch_of_one_at_least() -> None:
    with pytest.raises(ValueError, match="at_least"):
        HandleBehind(Handler(), at_least=0, name="test-handler")
