"""The toolkit's public surface is its __all__: complete, importable, and what the Gemini prompt lists."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from shared import wrapper_toolkit
from shared.generate.gemini.prompt import toolkit_reference


def _public_definitions() -> set[str]:
    tree = ast.parse(Path(wrapper_toolkit.__file__).read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return {name for name in names if not name.startswith("_") and name != "__all__"}


# Defined in shared.points.columns, the one columns type, and part of the toolkit's contract.
REEXPORTED = {"NAIVE", "PointColumns", "PointDict"}


def test_every_public_definition_of_the_toolkit_is_in_all_and_nothing_else_is() -> None:
    assert set(wrapper_toolkit.__all__) == _public_definitions() | REEXPORTED
    assert len(wrapper_toolkit.__all__) == len(set(wrapper_toolkit.__all__))
    assert all(hasattr(wrapper_toolkit, name) for name in wrapper_toolkit.__all__)


def test_the_prompt_lists_each_toolkit_function_once_and_no_private_helper() -> None:
    reference = toolkit_reference()
    functions = [n for n in wrapper_toolkit.__all__ if inspect.isfunction(getattr(wrapper_toolkit, n))]
    listed = [line.removeprefix("- ").split("(")[0] for line in reference.splitlines()]
    assert sorted(listed) == sorted(functions)
    assert not [name for name in listed if name.startswith("_")]


def test_the_architecture_document_names_every_toolkit_export() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert [name for name in wrapper_toolkit.__all__ if f"`{name}`" not in text] == []
