"""Series selection written into parse code: a `--where` hint as a filter over what `parse` returns."""

from __future__ import annotations

import ast

from shared.common.errors import GenerationError

INNER_NAME = "parse_all"
WHERE_COMMENT = "# from --where: keep only the series with these dimension values"


def restrict_code(code: str, where: dict[str, str]) -> str:
    """Parse code whose `parse` keeps only the series with the dimension values in `where`."""
    if not where:
        return code
    try:
        module = ast.parse(code)
    except SyntaxError:
        return code  # validation reports the syntax error with its line
    parse = next(
        (node for node in module.body if isinstance(node, ast.FunctionDef) and node.name == "parse"), None
    )
    if parse is None:
        raise GenerationError("the parse code has no top-level parse function to apply --where to")
    taken = {name for node in module.body for name in _names(node)} & {INNER_NAME, "WHERE"}
    lines = code.splitlines()
    if taken == {INNER_NAME, "WHERE"}:
        # Code that is already filtered (a regeneration that kept the previous code's filter): new values.
        assign = next(
            node for node in module.body if isinstance(node, ast.Assign) and "WHERE" in _names(node)
        )
        lines[assign.lineno - 1 : assign.end_lineno] = [f"WHERE = {where!r}  {WHERE_COMMENT}"]
        return "\n".join(lines) + "\n"
    if taken:
        raise GenerationError(f"the parse code already defines {sorted(taken)}; cannot apply --where")
    header = lines[parse.lineno - 1]
    lines[parse.lineno - 1] = header.replace("def parse(", f"def {INNER_NAME}(", 1)
    imports = [node for node in module.body if isinstance(node, ast.Import | ast.ImportFrom)]
    at = imports[-1].end_lineno if imports and imports[-1].end_lineno else _after_docstring(module)
    lines.insert(at, "from shared.wrapper_toolkit import keep_where")
    filtered = (
        f"\n\nWHERE = {where!r}  {WHERE_COMMENT}\n\n\n"
        "def parse(payload, context):\n"
        f'    """The points of {INNER_NAME} whose dimensions have the values in WHERE."""\n'
        f"    return keep_where({INNER_NAME}(payload, context), WHERE)\n"
    )
    return "\n".join(lines).rstrip("\n") + "\n" + filtered


def _names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {target.id for target in node.targets if isinstance(target, ast.Name)}
    return set()


def _after_docstring(module: ast.Module) -> int:
    first = module.body[0] if module.body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and first.end_lineno:
        return first.end_lineno
    return 0
