"""``watch``'s live view fed from the store: the rows ``deploy`` shows, from a rollout that
another process drives (its saved state and its step log)."""

from __future__ import annotations

import io

from rich.console import Console

from lambdashift.cli.live import LiveReporter
from lambdashift.cli.watch import _print_new
from lambdashift.core.machine import RolloutState
from lambdashift.core.strategy import steps_for
from lambdashift.model import Phase, Traffic
from lambdashift.store.sqlite import SqliteStateStore


def test_the_view_shows_the_stored_rollouts_step_traffic_verdict_and_outcome(tmp_path):
    store = SqliteStateStore(tmp_path / "s.db", namespace="t")
    steps = steps_for({"strategy": "canary", "weight": 10, "pause": "5m"})
    state = RolloutState.new("r-1", "orders", "live", "3", "4", steps, now=0.0)
    store.save(state)
    moved = RolloutState("r-1", "orders", "live", "3", "4", steps, phase=Phase.PROGRESSING,
                         step_index=1, traffic=Traffic("3", "4", 0.1), started_at=1.0)
    store.save(moved)
    store.record_event("r-1", "orders", "taken", {"by": "lambdashift-controller (request 9)"})
    store.record_event("r-1", "orders", "VerdictReceived",
                       {"verdict": "continue", "reasons": ["waiting: 12/100 v4 invocations"],
                        "step": 1})
    out = io.StringIO()
    view = LiveReporter(console=Console(file=out, force_terminal=True, width=200))
    seen: dict[str, int] = {}
    _print_new(store, moved, seen, view)
    table = Console(file=io.StringIO(), width=200, record=True)
    table.print(view.render())
    text = table.export_text()
    assert "orders" in text and "3 (90%) + 4 (10%)" in text
    assert "waiting: 12/100 v4 invocations" in text  # the judge's last word, in its cell
    assert "taken by lambdashift-controller (request 9)" in out.getvalue()  # a line above

    done = RolloutState("r-1", "orders", "live", "3", "4", steps, phase=Phase.SUCCEEDED,
                        step_index=len(steps) - 1, traffic=Traffic("4"), reason="live serves 4")
    store.save(done)
    _print_new(store, done, seen, view)
    table = Console(file=io.StringIO(), width=200, record=True)
    table.print(view.render())
    assert "succeeded: live serves 4" in table.export_text()
    assert seen == {"r-1": 2}  # each history line printed once
