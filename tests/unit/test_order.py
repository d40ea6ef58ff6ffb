"""Dependency order: waves, cycles, unknown names, subsets, and a large graph."""

from __future__ import annotations

import random
import time

import pytest

from lambdashift.core.order import topological, waves
from lambdashift.errors import ConfigError

# The notes service: writers first, then the readers that expect the new data shape.
NOTES = {
    "notes-create": [],
    "notes-update": ["notes-create"],
    "notes-delete": [],
    "notes-get": ["notes-create", "notes-update"],
    "notes-list": ["notes-get"],
}


def test_notes_functions_in_waves():
    assert waves(NOTES) == [
        ("notes-create", "notes-delete"),
        ("notes-update",),
        ("notes-get",),
        ("notes-list",),
    ]


def test_independent_functions_share_one_sorted_wave():
    assert waves({"b": [], "a": [], "c": []}) == [("a", "b", "c")]


def test_no_functions_no_waves():
    assert waves({}) == []
    assert waves(NOTES, selected=[]) == []


def test_duplicate_after_entries_are_harmless():
    assert waves({"a": ["b", "b"], "b": []}) == [("b",), ("a",)]


def test_a_subset_keeps_the_order_among_its_functions():
    # notes-list → notes-get → notes-update → notes-create: with get and update unselected,
    # list still comes after create.
    assert waves(NOTES, selected=["notes-list", "notes-create"]) == [("notes-create",), ("notes-list",)]


def test_a_subset_does_not_wait_for_unrelated_or_unselected_functions():
    assert waves(NOTES, selected=["notes-list", "notes-delete"]) == [("notes-delete", "notes-list")]
    assert waves(NOTES, selected=["notes-get"]) == [("notes-get",)]


@pytest.mark.parametrize(
    "graph, cycle",
    [
        ({"notes-a": ["notes-b"], "notes-b": ["notes-a"]}, "notes-a → notes-b → notes-a"),
        ({"a": ["a"]}, "a → a"),
        ({"x": [], "a": ["b"], "b": ["c"], "c": ["a", "x"]}, "a → b → c → a"),
        # Only the cycle is named, not the functions that merely depend on it.
        ({"z": ["m"], "m": ["n"], "n": ["m"]}, "m → n → m"),
    ],
)
def test_cycles_are_config_errors_naming_the_cycle(graph, cycle):
    with pytest.raises(ConfigError, match=f"^dependency cycle in 'after': {cycle}$"):
        waves(graph)


def test_unknown_names_in_after_are_config_errors_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"^functions\.notes-get\.after: unknown function 'notes-crate'; did you mean 'notes-create'\?"):
        waves({"notes-create": [], "notes-get": ["notes-crate"]})


def test_unknown_selected_names_are_config_errors():
    with pytest.raises(ConfigError, match=r"unknown function 'notes-lst'; did you mean 'notes-list'\?"):
        waves(NOTES, selected=["notes-lst"])


def test_topological_order_is_deterministic():
    assert topological(NOTES) == ["notes-create", "notes-delete", "notes-update", "notes-get", "notes-list"]


def random_dag(n: int, seed: int, max_deps: int = 4) -> dict[str, list[str]]:
    rng = random.Random(seed)
    names = [f"fn-{i:04d}" for i in range(n)]
    # Edges only to earlier names: acyclic by construction; names shuffled into the dict.
    graph = {name: rng.sample(names[:i], min(i, rng.randint(0, max_deps))) for i, name in enumerate(names)}
    items = list(graph.items())
    rng.shuffle(items)
    return dict(items)


def check_waves(graph, result, selected=None):
    chosen = set(graph) if selected is None else set(selected)
    position = {name: i for i, wave in enumerate(result) for name in wave}
    assert set(position) == chosen and sum(map(len, result)) == len(chosen)
    assert all(wave == tuple(sorted(wave)) and wave for wave in result)

    def ancestors(name, seen=None):
        seen = set() if seen is None else seen
        for dep in graph[name]:
            if dep not in seen:
                seen.add(dep)
                ancestors(dep, seen)
        return seen

    for name in chosen:
        earlier = ancestors(name) & chosen
        assert all(position[d] < position[name] for d in earlier)
        # Tight: a function not in the first wave has a selected ancestor in the wave before.
        if position[name] > 0:
            assert any(position[d] == position[name] - 1 for d in earlier)


@pytest.mark.parametrize("seed", range(5))
def test_random_graphs_of_200_functions(seed):
    graph = random_dag(200, seed)
    check_waves(graph, waves(graph))
    subset = random.Random(seed).sample(sorted(graph), 50)
    check_waves(graph, waves(graph, subset), subset)


def test_a_thousand_functions_are_ordered_fast():
    graph = random_dag(1000, 42, max_deps=6)
    started = time.perf_counter()
    result = waves(graph)
    subset_result = waves(graph, selected=sorted(graph)[::3])
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, elapsed
    assert sum(map(len, result)) == 1000 and sum(map(len, subset_result)) == 334
    order = {name: i for i, wave in enumerate(result) for name in wave}
    assert all(order[d] < order[name] for name, deps in graph.items() for d in deps)


def test_a_chain_of_a_thousand_functions_needs_no_recursion():
    chain = {f"fn-{i:04d}": [f"fn-{i - 1:04d}"] if i else [] for i in range(1000)}
    assert len(waves(chain)) == 1000
    cyclic = chain | {"fn-0000": ["fn-0999"]}
    with pytest.raises(ConfigError, match="^dependency cycle in 'after': fn-0000 → fn-0999 → fn-0998"):
        waves(cyclic)
