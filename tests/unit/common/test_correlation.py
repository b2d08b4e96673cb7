"""The correlation id: only short printable tokens, current for a block, carried into hand-over messages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context

import pytest

from shared.common.correlation import correlated, current_correlation_id, valid_correlation_id
from shared.messaging.handover import wrapper_message


@pytest.mark.parametrize("value", ["req-1", "Root=1-5759e988-bd862e3fe1be46a994272793", "a" * 128])
def test_short_printable_tokens_are_correlation_ids(value: str) -> None:
    assert valid_correlation_id(value) == value


@pytest.mark.parametrize(
    "value", ["", "a" * 129, "two words", "x\r\nSet-Cookie: y", "é", None, 42, {"id": 1}]
)
def test_anything_else_is_refused(value: object) -> None:
    assert valid_correlation_id(value) is None


def test_a_correlation_id_is_current_within_its_block_only() -> None:
    assert current_correlation_id() is None
    with correlated("outer"):
        with correlated("inner"):
            assert current_correlation_id() == "inner"
        assert current_correlation_id() == "outer"
        with correlated("not a token"):
            assert current_correlation_id() is None
    assert current_correlation_id() is None


def test_worker_threads_that_copy_the_context_see_it() -> None:
    with correlated("req-7"), ThreadPoolExecutor(1) as pool:
        assert pool.submit(copy_context().run, current_correlation_id).result() == "req-7"


def test_hand_over_messages_carry_the_current_correlation_id() -> None:
    assert wrapper_message("w1") == {"wrapper_id": "w1"}
    with correlated("req-9"):
        assert wrapper_message("w1") == {"wrapper_id": "w1", "correlation_id": "req-9"}
