"""The dependency rule, read from the source: every first-party import points down the stages."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("shared", "functions", "jobs", "devtools")
FIRST_PARTY = (*CHECKED, "tests")

# Stage of each unit (the longest dotted prefix of a module names its unit): a module may import its own
# unit and any unit of a lower rank. Units of one rank are independent of each other unless listed below.
RANKS = {
    "shared.common": 0,
    "shared.domain": 1,
    "shared.points": 2,
    "shared.wrapper_toolkit": 3,
    "shared.source": 3,
    "shared.sandbox": 3,
    "shared.store": 3,
    "shared.messaging": 3,
    "shared.validate": 4,
    "shared.generate": 5,
    "shared.flows": 6,
    "shared.cli": 7,
    "functions.api": 7,
    "functions.generate_wrapper": 7,
    "functions.validate_wrapper": 7,
    "functions": 7,
    "jobs": 7,
    "devtools": 8,
    "tests": 9,
}

# The root package shared/__init__.py sits below everything: importing any stage from it would load that
# stage wherever shared is imported.
ROOT_PACKAGES = {"shared": 0}

# Edges between units of the same rank that the design wants, each with its reason.
SIBLING_EDGES = {
    # The point store queues new points in its outbox and publishes them with the broker's Publisher.
    ("shared.store", "shared.messaging"),
    # The profile shows a source as the toolkit will read it (same grid readers, same decoding).
    ("shared.source", "shared.wrapper_toolkit"),
    # The sandbox child imports the toolkit so parse code finds it already loaded and confined.
    ("shared.sandbox", "shared.wrapper_toolkit"),
}

# The API function's cold start and package stay small: no parsing, generation or flows behind it.
API_UNITS = ("shared.common", "shared.domain", "shared.points", "shared.store", "shared.messaging")


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    imported: str
    reason: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.imported}: {self.reason}"


def unit_of(module: str) -> str | None:
    """The unit of RANKS a dotted module belongs to (None outside the first-party packages)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in RANKS:
            return prefix
    return None


def imported_modules(source: str, module: str, *, is_package: bool) -> list[tuple[int, str]]:
    """Every module an import statement names, at any depth (lazy imports too), with its line."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from shared import wrapper_toolkit` imports the module shared.wrapper_toolkit.
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in FIRST_PARTY]


def violations(module: str, source: str, *, is_package: bool = False) -> list[Violation]:
    """The imports of one module that point against the dependency rule."""
    own = unit_of(module) or module
    ranks = {**RANKS, **ROOT_PACKAGES}
    assert own in ranks, f"{module} belongs to no stage of RANKS"
    found = []
    for line, name in imported_modules(source, module, is_package=is_package):
        target = unit_of(name)
        if target == own:
            continue
        if target is None:
            reason = "it belongs to no stage of RANKS"
        elif own == "functions.api" and target.startswith("shared.") and target not in API_UNITS:
            reason = f"the API may import only {', '.join(API_UNITS)}"
        elif RANKS[target] > ranks[own]:
            reason = f"{target} (rank {RANKS[target]}) is above {own} (rank {ranks[own]})"
        elif RANKS[target] == ranks[own] and (own, target) not in SIBLING_EDGES:
            reason = f"{own} and {target} are siblings (rank {RANKS[target]}) without an allowed edge"
        else:
            continue
        if reason:
            found.append(Violation(module, line, name, reason))
    return found


def product_modules() -> list[tuple[str, Path]]:
    modules = []
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules.append((name, path))
    return modules


def test_every_module_imports_along_the_dependency_rule() -> None:
    modules = product_modules()
    assert len(modules) > 50
    found = [
        str(v)
        for name, path in modules
        for v in violations(name, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py")
    ]
    assert not found, "imports against the dependency rule:\n" + "\n".join(found)


def test_every_module_belongs_to_a_stage() -> None:
    assert [name for name, _ in product_modules() if unit_of(name) is None] == list(ROOT_PACKAGES)


def test_every_sibling_edge_is_used_and_joins_units_of_one_rank() -> None:
    used = {
        (unit_of(name), unit_of(target))
        for name, path in product_modules()
        for _, target in imported_modules(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        )
    }
    for source, target in SIBLING_EDGES:
        assert RANKS[source] == RANKS[target], (source, target)
        assert (source, target) in used, f"{source} -> {target} is allowed but no longer exists"


def test_an_import_up_the_stages_is_caught_even_inside_a_function() -> None:
    source = (
        "import json\n\n\ndef save():\n    from shared.generate.base import Exchange\n    return Exchange\n"
    )
    (violation,) = violations("shared.store.repositories", source)
    assert (violation.module, violation.line, violation.imported) == (
        "shared.store.repositories",
        5,
        "shared.generate.base.Exchange",
    )
    assert "shared.generate (rank 5) is above shared.store (rank 3)" in str(violation)


def test_a_sibling_import_needs_an_allowed_edge() -> None:
    assert violations("shared.store.point_store", "from shared.messaging.broker import Publisher\n") == []
    (violation,) = violations("shared.messaging.broker", "from shared.store import database\n")
    assert "siblings" in violation.reason


def test_an_import_of_a_package_outside_the_stages_is_caught() -> None:
    (violation,) = violations("shared.flows.tick", "from shared.newstage import thing\n")
    assert "no stage" in violation.reason
    (violation,) = violations("shared", "from shared.flows import tick\n", is_package=True)
    assert "above shared" in violation.reason


def test_relative_imports_are_resolved_against_the_package() -> None:
    assert violations("shared.flows", "from . import run\n", is_package=True) == []
    (violation,) = violations("shared.validate.policy", "from ..flows import wrap\n")
    assert violation.imported == "shared.flows.wrap"


@pytest.mark.parametrize("module", ["shared.validate.validation", "shared.flows.wrap", "shared.generate"])
def test_the_api_may_not_import_the_parsing_side(module: str) -> None:
    (violation,) = violations("functions.api.routes.data", f"import {module}\n")
    assert "the API may import only" in violation.reason


def test_the_api_may_import_its_own_package_and_the_light_units() -> None:
    source = "from functions.api import errors\nfrom shared.store import database\nimport shared.points\n"
    assert violations("functions.api.routes.data", source) == []


@pytest.mark.parametrize("target", ["devtools.bench", "tests.support"])
def test_product_code_never_imports_dev_code(target: str) -> None:
    for module in ("shared.flows.tick", "functions.generate_wrapper.handler", "jobs.run_wrappers"):
        assert [v.imported for v in violations(module, f"import {target}\n")] == [target]
