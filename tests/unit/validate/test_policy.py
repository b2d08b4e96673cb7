"""The static policy and lint of generated parse code (feedback for generators, not a defence)."""

from __future__ import annotations

import textwrap

import pytest

from shared.validate.policy import check_policy, lint

GOOD = textwrap.dedent("""
    import json
    import re
    from datetime import datetime

    import pandas as pd
    from shared import wrapper_toolkit
    from shared.wrapper_toolkit import long_points, read_csv_grid

    def parse(payload, context):
        grid = read_csv_grid(payload)
        names = [re.sub(r"\\s+", " ", cell) for cell in grid[0]]
        frame = pd.DataFrame(grid[1:], columns=names)
        meta = json.loads(context.get("meta") or "{}")
        start = datetime(2000, 1, 1)
        wrapper_toolkit.clean_header(names[0])
        yield from long_points(grid, header_row=0, time_column="year", time_format="year", value_column="v")
        yield {"timestamp": start, "value": float(len(frame) + len(meta)), "dimensions": {}}
""")


def codes(code: str) -> set[str]:
    """The issue codes of the policy check of dedented code."""
    return {issue.code for issue in check_policy(textwrap.dedent(code))}


def wrapped(body: str) -> str:
    """A statement inside an otherwise valid parse function."""
    return "def parse(payload, context):\n" + textwrap.indent(textwrap.dedent(body), "    ")


def test_a_normal_wrapper_passes() -> None:
    assert check_policy(GOOD) == []


@pytest.mark.parametrize(
    "statement",
    [
        "import os",
        "import sys",
        "import subprocess",
        "import socket",
        "import importlib",
        "import builtins",
        "import ctypes",
        "import pathlib",
        "from os import path",
        "from . import secrets",
        "from .. import x",
        "from shared import settings",
        "import shared.sandbox.run",
        "import pandas._libs",
    ],
)
def test_imports_outside_the_allow_list_are_rejected(statement: str) -> None:
    issues = check_policy(statement + "\n" + wrapped("return []"))
    assert [issue.code for issue in issues] == ["import"]
    assert issues[0].line == 1
    assert "allowed:" in issues[0].message


@pytest.mark.parametrize(
    "name", ["eval", "exec", "compile", "__import__", "open", "getattr", "globals", "type"]
)
def test_dangerous_builtins_are_rejected(name: str) -> None:
    found = codes(wrapped(f"return {name}('x')"))
    assert found & {"forbidden_name", "dunder"}


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("().__class__", "private_attribute"),
        ("parse.__globals__", "private_attribute"),
        ("__builtins__", "dunder"),
        ("payload._private", "private_attribute"),
        ("'__class__'", "dunder"),
    ],
)
def test_dunder_and_private_access_is_rejected(expression: str, code: str) -> None:
    assert code in codes(wrapped(f"return [{expression}]"))


@pytest.mark.parametrize("attribute", ["read_pickle", "to_csv", "to_pickle", "read_sql", "f_globals"])
def test_pandas_io_and_frame_attributes_are_rejected(attribute: str) -> None:
    code = "import pandas as pd\n" + wrapped(f"return pd.{attribute}(payload)")
    assert "io_attribute" in codes(code)


def test_missing_parse_is_rejected() -> None:
    assert codes("def transform(payload, context):\n    return []\n") == {"no_parse"}


@pytest.mark.parametrize(
    "signature",
    ["parse(payload)", "parse()", "parse(payload, context, extra)", "parse(payload, context, *, flag)"],
)
def test_a_parse_that_cannot_take_payload_and_context_is_rejected(signature: str) -> None:
    assert codes(f"def {signature}:\n    return []\n") == {"parse_signature"}


@pytest.mark.parametrize(
    "signature", ["parse(payload, context)", "parse(payload, context=None)", "parse(*args)"]
)
def test_a_parse_callable_with_payload_and_context_is_accepted(signature: str) -> None:
    assert codes(f"def {signature}:\n    return []\n") == set()


@pytest.mark.parametrize(
    "code", ["def parse(payload, context)\n    return []\n", "x = (\n", "\x00", "-" * 100_000 + "1"]
)
def test_unparsable_code_is_a_syntax_issue_not_a_crash(code: str) -> None:
    issues = check_policy(code)
    assert [issue.code for issue in issues] == ["syntax"]
    assert issues[0].severity == "error"


def test_classes_globals_and_async_are_rejected() -> None:
    code = """
        class Row:
            pass

        counter = 0

        def parse(payload, context):
            global counter
            return []

        async def helper():
            return 1
    """
    assert {"class", "global", "async"} <= codes(code)


def test_lint_flags_undefined_names_as_errors_and_unused_imports_as_warnings() -> None:
    issues = lint(
        "import json\nimport re\n\n\ndef parse(payload, context):\n    return [undefined_helper(payload)]\n"
    )
    by_code = {issue.code: issue for issue in issues}
    assert by_code["ruff_F821"].severity == "error"
    assert by_code["ruff_F821"].line == 6
    assert "undefined_helper" in by_code["ruff_F821"].message
    assert by_code["ruff_F401"].severity == "warning"
    assert {issue.line for issue in issues if issue.code == "ruff_F401"} == {1, 2}


def test_lint_reports_syntax_errors_as_errors() -> None:
    issues = lint("def parse(payload, context):\n    return (\n")
    assert issues
    assert all(issue.severity == "error" for issue in issues)


def test_lint_passes_a_normal_wrapper() -> None:
    assert lint(GOOD) == []
