"""The emulator's layout (issue 20): one folder per service, no import circles.

Every import counts, at module level, inside a function or under ``TYPE_CHECKING``: an
import placed in a function to dodge a circle is still a circle. Read from the source with
``ast``, nothing imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

EMULATOR = Path(__file__).resolve().parents[2] / "src" / "lambdashift" / "emulator"
SERVICES = ("awslambda", "logs", "apigw", "scheduler", "runtime")


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = EMULATOR) -> dict[str, set[str]]:
    """Module → the modules of the same package it imports (every import statement)."""
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_emulator_module_imports_one_that_imports_it_back():
    assert circles(import_graph()) == []


def test_a_circle_through_a_function_level_import_is_found():
    """The check is not blind: a circle closed inside a function is still one."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert circles(graph) == [["a", "b"]]


def test_each_service_is_a_folder_and_only_the_servers_sit_beside_them():
    folders = sorted(p.name for p in EMULATOR.iterdir() if (p / "__init__.py").is_file())
    assert folders == sorted(SERVICES)
    assert sorted(p.name for p in EMULATOR.glob("*.py")) == [
        "__init__.py", "errors.py", "faults.py", "server.py"]


def test_the_services_depend_on_each_other_one_way():
    """Between service folders the imports go one way only (apigw → awslambda → runtime, ...)."""
    def service(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 3 and parts[2] in SERVICES else None

    between: dict[str, set[str]] = {s: set() for s in SERVICES}
    for module, targets in import_graph().items():
        for target in targets:
            a, b = service(module), service(target)
            if a and b and a != b:
                between[a].add(b)
    assert circles(between) == []
    assert between["runtime"] == set()  # the runtime knows no service: it runs snapshots


def test_the_runtime_package_init_imports_nothing():
    """A Python worker process imports ``lambdashift.emulator.runtime`` before its handler:
    the package's ``__init__`` (and the emulator's) must stay free of imports."""
    for init in (EMULATOR / "__init__.py", EMULATOR / "runtime" / "__init__.py"):
        body = ast.parse(init.read_text()).body
        assert not [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))], init
