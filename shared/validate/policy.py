"""Static checks of generated parse code: an AST policy and ruff. Feedback for generators, not a defence."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from shared import wrapper_toolkit

# fmt: off
ALLOWED_MODULES = frozenset(
    {
        "__future__", "json", "csv", "re", "math", "datetime", "decimal", "statistics", "io", "itertools",
        "collections", "functools", "typing", "zoneinfo", "calendar", "string", "unicodedata", "operator",
        "enum", "fractions", "numbers", "dataclasses", "shared.wrapper_toolkit", "pandas", "numpy",
        "python_calamine",
    }
)
FORBIDDEN_CALLS = frozenset(
    {
        "eval", "exec", "compile", "__import__", "open", "input", "globals", "locals", "vars", "breakpoint",
        "exit", "quit", "help", "setattr", "delattr", "memoryview", "getattr", "classmethod", "staticmethod",
        "super", "type", "object",
    }
)
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "read_pickle", "to_pickle", "read_sql", "read_sql_query", "read_sql_table", "to_sql", "read_html",
        "read_xml", "to_csv", "to_excel", "to_json", "to_parquet", "read_parquet", "read_feather",
        "to_feather", "read_hdf", "to_hdf", "read_clipboard", "to_clipboard", "read_orc", "read_stata",
        "read_sas", "read_spss", "from_path", "load", "save", "savetxt", "loadtxt", "genfromtxt", "fromfile",
        "tofile", "frame", "f_back", "f_globals", "f_locals", "gi_frame", "cr_frame", "tb_frame",
        "func_globals",
    }
)
# fmt: on


TOOLKIT = "shared.wrapper_toolkit"
# The toolkit's public surface (its __all__) is all that parse code may import from it.
TOOLKIT_NAMES = frozenset(wrapper_toolkit.__all__)


class PolicyIssue(BaseModel):
    """One rule the code breaks."""

    code: str
    message: str
    line: int | None = None
    severity: str = "error"


def check_policy(code: str) -> list[PolicyIssue]:
    """Return the policy violations of parse code (empty when it complies)."""
    try:
        tree = ast.parse(code, filename="wrapper.py")
    except SyntaxError as exc:
        return [PolicyIssue(code="syntax", message=f"syntax error: {exc.msg}", line=exc.lineno)]
    except (ValueError, MemoryError, RecursionError):
        # Null bytes (ValueError) and very deep nesting (the parser runs out of stack) are not SyntaxErrors.
        return [
            PolicyIssue(
                code="syntax", message="syntax error: the code cannot be parsed (null bytes or nesting)"
            )
        ]
    issues: list[PolicyIssue] = []
    for node in ast.walk(tree):
        issues.extend(_check_node(node))
    parse = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "parse"]
    if not parse:
        issues.append(
            PolicyIssue(code="no_parse", message="define a top-level function parse(payload, context)")
        )
    elif not _takes_payload_and_context(parse[0].args):
        issues.append(
            PolicyIssue(
                code="parse_signature", message="parse must take (payload, context)", line=parse[0].lineno
            )
        )
    return issues


def _takes_payload_and_context(args: ast.arguments) -> bool:
    """Whether the function can be called as f(payload, context)."""
    positional = len(args.posonlyargs) + len(args.args)
    required = positional - len(args.defaults)
    required_keywords = sum(default is None for default in args.kw_defaults)
    return (positional >= 2 or args.vararg is not None) and required <= 2 and required_keywords == 0


def _check_node(node: ast.AST) -> list[PolicyIssue]:
    line = getattr(node, "lineno", None)
    if isinstance(node, ast.Import):
        return [_import_issue(alias.name, line) for alias in node.names if not _module_allowed(alias.name)]
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if node.level:
            return [_import_issue("." * node.level + module, line)]
        if module == TOOLKIT:
            return [
                _toolkit_issue(alias.name, line) for alias in node.names if alias.name not in TOOLKIT_NAMES
            ]
        # `from shared import wrapper_toolkit` imports an allowed module from a package that is not allowed.
        if _module_allowed(module) or all(_module_allowed(f"{module}.{alias.name}") for alias in node.names):
            return []
        return [_import_issue(module, line)]
    if isinstance(node, ast.Name) and node.id in FORBIDDEN_CALLS:
        return [PolicyIssue(code="forbidden_name", message=f"{node.id!r} is not allowed", line=line)]
    if isinstance(node, ast.Name) and node.id.startswith("__") and node.id != "__name__":
        return [PolicyIssue(code="dunder", message=f"dunder name {node.id!r} is not allowed", line=line)]
    if isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            return [
                PolicyIssue(
                    code="private_attribute", message=f"attribute {node.attr!r} is not allowed", line=line
                )
            ]
        if node.attr in FORBIDDEN_ATTRIBUTES:
            return [
                PolicyIssue(
                    code="io_attribute",
                    message=f"attribute {node.attr!r} (file, network or frame access) is not allowed",
                    line=line,
                )
            ]
    if isinstance(node, ast.Global | ast.Nonlocal):
        return [PolicyIssue(code="global", message="global/nonlocal is not allowed", line=line)]
    if isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncFor | ast.AsyncWith):
        return [PolicyIssue(code="async", message="async code is not allowed", line=line)]
    if isinstance(node, ast.ClassDef):
        return [
            PolicyIssue(code="class", message="class definitions are not allowed; use functions", line=line)
        ]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("__"):
        return [PolicyIssue(code="dunder", message="dunder strings are not allowed", line=line)]
    return []


def _module_allowed(name: str) -> bool:
    return any(name == allowed or name.startswith(allowed + ".") for allowed in ALLOWED_MODULES) and not any(
        part.startswith("_") and part != "__future__" for part in name.split(".")
    )


def _toolkit_issue(name: str, line: int | None) -> PolicyIssue:
    return PolicyIssue(
        code="toolkit_name",
        message=f"{name!r} is not part of the toolkit (shared.wrapper_toolkit.__all__ lists what is)",
        line=line,
    )


def _import_issue(name: str, line: int | None) -> PolicyIssue:
    allowed = ", ".join(sorted(ALLOWED_MODULES - {"__future__"}))
    return PolicyIssue(
        code="import", message=f"import of {name!r} is not allowed; allowed: {allowed}", line=line
    )


LINT_ERRORS = "E9,F63,F7,F82"
LINT_WARNINGS = "F401,F841,F811"


def lint(code: str) -> list[PolicyIssue]:
    """Run `ruff check` on the code: syntax and undefined names are errors, unused names warnings."""
    try:
        from ruff.__main__ import find_ruff_bin

        ruff = str(find_ruff_bin())
    except (ImportError, FileNotFoundError):
        candidate = Path(sys.executable).with_name("ruff")
        if not candidate.exists():
            return [PolicyIssue(code="lint_unavailable", message="ruff is not installed", severity="warning")]
        ruff = str(candidate)
    command = [
        ruff,
        "check",
        "--isolated",
        "--no-cache",
        "--output-format",
        "json",
        "--select",
        f"{LINT_ERRORS},{LINT_WARNINGS}",
        "--stdin-filename",
        "wrapper.py",
        "-",
    ]
    try:
        completed = subprocess.run(
            command, input=code, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [PolicyIssue(code="lint_failed", message=f"ruff did not run: {exc}"[:300], severity="warning")]
    # Exit code 0: clean, 1: findings; anything else is ruff failing, which must not read as "no findings".
    if completed.returncode not in (0, 1):
        return [PolicyIssue(code="lint_failed", message=completed.stderr.strip()[:300], severity="warning")]
    try:
        findings = json.loads(completed.stdout or "[]")
    except json.JSONDecodeError:
        return [PolicyIssue(code="lint_failed", message=completed.stderr.strip()[:300], severity="warning")]
    warnings = tuple(LINT_WARNINGS.split(","))
    return [
        PolicyIssue(
            code=f"ruff_{item.get('code') or 'syntax'}",
            message=item.get("message", ""),
            line=(item.get("location") or {}).get("row"),
            severity="warning" if (item.get("code") or "").startswith(warnings) else "error",
        )
        for item in findings
    ]
