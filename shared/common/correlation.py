"""The correlation id of the work in progress: an API request's id, carried into the messages it causes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

CORRELATION_ID_MAX_LENGTH = 128
# Ids travel in log lines and message bodies: printable tokens only, never a header injection.
_VALID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def valid_correlation_id(value: object) -> str | None:
    """The value when it is usable as a correlation id (a short printable token), else None."""
    if isinstance(value, str) and _VALID.fullmatch(value):
        return value
    return None


def current_correlation_id() -> str | None:
    """The correlation id of the current request or message, if any."""
    return _current.get()


@contextmanager
def correlated(correlation_id: str | None) -> Iterator[None]:
    """Make `correlation_id` current for the block (and the threads that copy its context)."""
    token = _current.set(valid_correlation_id(correlation_id))
    try:
        yield
    finally:
        _current.reset(token)
