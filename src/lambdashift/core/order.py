"""Dependency order: ``after:`` lists → waves of functions that can roll out in parallel.

``waves({"notes-api": ["notes-db"], "notes-db": []})`` is ``[("notes-db",), ("notes-api",)]``:
every function comes in a later wave than everything it must come after. Cycles and
unknown names are ConfigErrors. Pure, and linear in the size of the graph.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from lambdashift.errors import ConfigError


def waves(
    after: Mapping[str, Iterable[str]], selected: Iterable[str] | None = None
) -> list[tuple[str, ...]]:
    """Group functions into waves; each wave's functions are sorted and independent.

    ``after`` maps every function to the functions that must finish their rollout first.
    With ``selected``, only those functions are placed, and an order between two of them
    that goes through unselected ones is kept (``a`` after ``b`` after ``c``: selecting
    ``a`` and ``c`` still puts ``c`` first), while unrelated ones share a wave.
    """
    deps = {name: tuple(dict.fromkeys(before)) for name, before in after.items()}
    for name, before in deps.items():
        for dep in before:
            if dep not in deps:
                raise ConfigError(f"functions.{name}.after: {_unknown(dep, deps)}")
    chosen = set(deps) if selected is None else set(selected)
    for name in sorted(chosen - set(deps)):
        raise ConfigError(_unknown(name, deps))

    # depth(n) = the most selected functions on any path of dependencies leading to n;
    # a selected function goes in wave depth(n). Every wave up to the deepest is non-empty.
    depth: dict[str, int] = {}
    for name in topological(deps):
        depth[name] = max((depth[d] + (d in chosen) for d in deps[name]), default=0)
    grouped: dict[int, list[str]] = {}
    for name in chosen:
        grouped.setdefault(depth[name], []).append(name)
    return [tuple(sorted(grouped[level])) for level in sorted(grouped)]


def topological(after: Mapping[str, Iterable[str]]) -> list[str]:
    """Every function after its dependencies (ties by name); ConfigError naming a cycle.

    Names in ``after`` lists must be keys of ``after``.
    """
    deps = {name: set(before) for name, before in after.items()}
    dependents: dict[str, list[str]] = {name: [] for name in deps}
    for name, before in deps.items():
        for dep in before:
            dependents[dep].append(name)
    waiting = {name: len(before) for name, before in deps.items()}
    ready = sorted(name for name, count in waiting.items() if count == 0)
    order: list[str] = []
    while ready:
        # Kahn's algorithm, one generation at a time so that ties come out sorted.
        order.extend(ready)
        released = []
        for name in ready:
            for dependent in dependents[name]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    released.append(dependent)
        ready = sorted(released)
    if len(order) < len(deps):
        raise ConfigError(f"dependency cycle in 'after': {' → '.join(_cycle(deps, set(order)))}")
    return order


def _cycle(deps: Mapping[str, set[str]], done: set[str]) -> list[str]:
    """One cycle among the functions Kahn's algorithm could not place, closed: [a, b, a]."""
    # Every function left over still waits for another leftover one, so walking
    # "after" edges from any of them must come back to a function already seen.
    start = min(name for name in deps if name not in done)
    path, seen = [start], {start: 0}
    while True:
        step = min(d for d in deps[path[-1]] if d not in done)
        if step in seen:
            return path[seen[step]:] + [step]
        seen[step] = len(path)
        path.append(step)


def _unknown(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown function {name!r}{hint}"
