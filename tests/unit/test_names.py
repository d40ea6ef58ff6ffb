"""One name, one thing: no two public functions or classes of one package share a name.

Two ``steps_for`` (one parsing a ``rollout:`` mapping, one choosing a function's steps for a
deploy) or three ``InvokeApi`` protocols make a reader ask which one a call reaches. Within
each package of lambdashift's own layers, a public (not ``_``-prefixed) module-level function
or class name is defined in one module only.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import lambdashift

SRC = Path(lambdashift.__file__).resolve().parent
LAYERS = ("aws", "cli", "core", "rollout", "store")

#: Names that are a convention, one per module by design.
CONVENTIONS = {
    # Every command module adds its subcommands to the parser: cli/main.py calls each one's.
    "cli": {"register"},
}


def public_names(package: Path) -> dict[str, list[str]]:
    """Public module-level function and class name → the modules defining it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                    and not node.name.startswith("_"):
                found[node.name].append(str(path.relative_to(package)))
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_no_public_name_is_defined_in_two_modules_of_a_layer(layer):
    allowed = CONVENTIONS.get(layer, set())
    twice = {name: modules for name, modules in public_names(SRC / layer).items()
             if len(modules) > 1 and name not in allowed}
    assert twice == {}


def test_a_name_defined_twice_is_found(tmp_path):
    (tmp_path / "a.py").write_text("def steps_for():\n    pass\n\n\ndef _private():\n    pass\n")
    (tmp_path / "b.py").write_text("class steps_for:\n    pass\n\n\ndef _private():\n    pass\n")
    found = {n: m for n, m in public_names(tmp_path).items() if len(m) > 1}
    assert list(found) == ["steps_for"]
