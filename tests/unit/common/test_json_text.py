"""JSON parsed with a depth limit: deep documents refused before the recursive parser sees them."""

from __future__ import annotations

import json

import pytest

from shared.common.errors import JsonDepthError
from shared.common.json_text import MAX_JSON_DEPTH, json_depth, load_json


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("{}", 1),
        ('[[1, "[[[", {"a": [2]}]]', 4),
        ('["a\\\\", [[]]]', 3),
        ('["a\\"[", [[]]]', 3),
        ('["\\\\\\"[[", {"k": "]]]"}]', 2),
        ('["[", "x", ["]]"]]', 2),
    ],
)
def test_depth_counts_brackets_outside_strings_only(text: str, depth: int) -> None:
    assert json_depth(text) == depth
    assert json_depth(text.encode()) == depth


@pytest.mark.parametrize("kind", [str, bytes])
def test_a_document_nested_past_the_limit_is_refused_as_malformed_json(kind: type) -> None:
    text = "[" * 100_000 + "]" * 100_000
    with pytest.raises(JsonDepthError, match=f"deeper than {MAX_JSON_DEPTH} levels") as caught:
        load_json(text if kind is str else text.encode())
    assert isinstance(caught.value, ValueError)


def test_a_document_at_the_limit_parses_as_json_loads_does() -> None:
    text = "[" * MAX_JSON_DEPTH + '"]]]"' + "]" * MAX_JSON_DEPTH
    assert load_json(text) == json.loads(text)


def test_many_shallow_brackets_are_not_depth() -> None:
    document = [{"t": "2020-01-01", "v": [index, "x[y"]} for index in range(1000)]
    assert load_json(json.dumps(document).encode("utf-16")) == document


def test_a_smaller_limit_applies() -> None:
    with pytest.raises(JsonDepthError):
        load_json(b"[[[1]]]", max_depth=2)
    assert load_json(b"[[1]]", max_depth=2) == [[1]]
