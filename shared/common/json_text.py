"""JSON text parsed with a depth limit: nesting is measured before the recursive parser sees it."""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

from shared.common.errors import JsonDepthError

# Far deeper than any document the service reads (JSON-stat, API pages, queue messages), far below the
# interpreter's recursion limit.
MAX_JSON_DEPTH = 100
_STRUCTURE = b'"[]{}'
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in _STRUCTURE)
_STRING = re.compile(rb'"[^"]*"')
# Openers become 1 and closers -1 as signed bytes, so a running sum is the nesting depth.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_depth(data: str | bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (brackets inside strings do not count)."""
    # Bytes are taken as UTF-8, where no byte of a multi-byte character is a bracket or a quote.
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Escaped backslashes go first, so that an escaped quote is what remains of `\"`; with both gone,
    # every quote left opens or closes a string.
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Two quotes side by side are an empty string or two strings joined: both hold no bracket outside one.
    raw = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = _STRING.sub(b"", raw).replace(b'"', b"")
    return max(accumulate(array("b", brackets.translate(_STEPS))), default=0)


def load_json(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads`, refusing a document nested deeper than `max_depth` with a `JsonDepthError`."""
    text = data.decode(json.detect_encoding(data), "surrogatepass") if isinstance(data, bytes) else data
    # Counting openers is cheap and settles almost every small document without measuring it.
    if text.count("[") + text.count("{") > max_depth:
        utf8 = isinstance(data, bytes) and json.detect_encoding(data).startswith("utf-8")
        if json_depth(data if utf8 else text) > max_depth:
            raise JsonDepthError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)
