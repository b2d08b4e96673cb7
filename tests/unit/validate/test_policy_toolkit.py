"""Parse code may import from the toolkit only what its __all__ exports."""

from __future__ import annotations

from shared.validate.policy import PolicyIssue, check_policy

PARSE = "\n\ndef parse(payload, context):\n    return []\n"


def _issues(imports: str) -> list[PolicyIssue]:
    return check_policy(imports + PARSE)


def test_importing_exported_toolkit_functions_passes() -> None:
    assert _issues("from shared.wrapper_toolkit import long_points, read_csv_grid") == []


def test_importing_a_private_toolkit_helper_is_refused_with_its_name() -> None:
    issues = _issues("from shared.wrapper_toolkit import _gc_paused")
    assert [(issue.code, issue.line) for issue in issues] == [("toolkit_name", 1)]
    assert "'_gc_paused'" in issues[0].message


def test_importing_a_module_the_toolkit_merely_imports_is_refused() -> None:
    assert [issue.code for issue in _issues("from shared.wrapper_toolkit import gc, re")] == [
        "toolkit_name",
        "toolkit_name",
    ]


def test_a_star_import_from_the_toolkit_is_refused() -> None:
    assert [issue.code for issue in _issues("from shared.wrapper_toolkit import *")] == ["toolkit_name"]
