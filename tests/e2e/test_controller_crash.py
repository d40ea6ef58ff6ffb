"""The controller killed mid-step, for real: a Lambda function in the emulator whose worker
process SIGKILLs itself at a failpoint; the next tick resumes; every outcome is consistent.
And overlapping drivers (three controller invocations and a CLI ``resume``) never drive
one rollout twice.

Failpoints (``rollout.failpoints``) count passes per *process*, and one controller process
drives every rollout it takes on threads, so one armed controller cannot say which rollout
dies where. The cases run in *lanes* instead: each lane is one notes function and one
controller function of its own made from the same zip and settings as the stack's
``lambdashift-controller`` (lane 0 is that function itself), scoped to the lane's function
with ``LAMBDASHIFT_CONTROLLER_FUNCTIONS``. A lane arms its controller
(``update_function_configuration``, the other variables kept: a new configuration, so fresh
worker processes whose counts start at 0), ``deploy FN --detach --controller LANE`` hands it
a rollout (the CLI invokes it asynchronously), the worker dies at the failpoint, the lane
sees the emulator's ``Runtime.ExitError`` for the request that took the rollout in the
controller's log, disarms it, and invokes it once more as the schedule would: that tick
resumes and ends the rollout. Five lanes run their queues of cases at once. The schedule
itself is paused here (its ticks would race the armed workers, and ``test_local_controller``
shows it fires); ticks are the CLI's Invoke and the lane's, and the last test turns the
schedule back on to be the next tick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lambdashift.controller.settings import DEFAULT_FUNCTION, ENV
from lambdashift.model import Phase
from tests.e2e.conftest import NotesStack, cli, copy_notes
from tests.e2e.controller_lanes import (
    FAILPOINTS,
    FUNCTIONS,
    STEPS,
    Case,
    Lane,
    decisions,
    lambdashift,
    open_store,
    run_case,
    run_lanes,
    schedule_state,
    taken_events,
    wait_for,
)
from tests.e2e.rollout_helpers import alias_traffic, new_version
from tests.reliability_log import record


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotesStack]:
    """The notes stack with the controller on (state on the stack's DynamoDB), its schedule
    paused: every tick in this module is an Invoke the test can name."""
    root = copy_notes(tmp_path_factory.mktemp("crash") / "notes")
    config = root / "lambdashift.yaml"
    data = yaml.safe_load(config.read_text())
    data["controller"] = {"enabled": True, "rate": "1 second"}
    data["state"] = {"store": "dynamodb", "table": "lambdashift-state", "lease": "10s"}
    data["functions"]["notes-get"]["after"] = []  # five independent lanes
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    up = cli("local", "up", "--detach", "--config", str(config))
    assert up.returncode == 0, up.stderr
    state = json.loads((root / ".lambdashift" / "local.json").read_text())
    stack = NotesStack(root, state["api_url"], state["lambda_endpoint"], state["dynamodb_endpoint"])
    schedule_state(stack, "DISABLED")
    try:
        yield stack
    finally:
        down = cli("local", "down", "--config", str(config))
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="module")
def lanes(stack: NotesStack) -> list[Lane]:
    """Lane 0 is the stack's own controller; the others are made from the same zip and
    configuration under their own names."""
    from lambdashift.controller.package import build_controller_package

    lam = stack.lam
    own = lam.get_function_configuration(FunctionName=DEFAULT_FUNCTION)
    env = {k: v for k, v in own["Environment"]["Variables"].items() if k != ENV["functions"]}
    zip_data = build_controller_package().data
    names = [DEFAULT_FUNCTION] + [f"{DEFAULT_FUNCTION}-lane{i}" for i in range(1, len(FUNCTIONS))]
    for name in names[1:]:
        lam.create_function(FunctionName=name, Code={"ZipFile": zip_data}, Runtime=own["Runtime"],
                            Handler=own["Handler"], Timeout=own["Timeout"],
                            MemorySize=own["MemorySize"], Role=own["Role"],
                            Environment={"Variables": env})
    for name in names[1:]:
        lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                                  WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return [Lane(stack, fn, name, env) for fn, name in zip(FUNCTIONS, names)]


def test_controller_killed_at_every_failpoint_is_resumed_by_the_next_tick(stack, lanes, tmp_path):
    # The census: one rollout and one rollback driven whole by a controller, every pass
    # of every failpoint counted in its worker process.
    rollout_census, rollback_census = tmp_path / "rollout.json", tmp_path / "rollback.json"
    censuses: dict[str, dict] = {}

    def count(lane: Lane, scenario: str, path: Path) -> None:
        censuses[scenario] = run_case(lane, Case(scenario), census=path)

    both = [threading.Thread(target=count, args=a) for a in
            ((lanes[0], "rollout", rollout_census), (lanes[1], "rollback", rollback_census))]
    for t in both:
        t.start()
    for t in both:
        t.join()
    forward = censuses["rollout"]["census"]
    assert forward["before_alias_write"] == forward["after_alias_write"] == 3, forward
    at_gate, whole = censuses["rollback"]["forward"], censuses["rollback"]["census"]
    assert whole.get("before_write_back") == 1 and at_gate.get("before_write_back", 0) == 0
    # A rollout's every pass; a rollback's passes after the gate (those before it are the
    # forward steps, crashed above).
    cases = [Case("rollout", p, k) for p, n in sorted(forward.items()) for k in range(1, n + 1)]
    cases += [Case("rollback", p, k) for p, n in sorted(whole.items())
              for k in range(at_gate.get(p, 0) + 1, n + 1)]
    started = time.monotonic()
    results = run_lanes(lanes, cases)
    wall = time.monotonic() - started
    bad = [r for r in results if r["problems"]]
    resumed = sorted(r["resumed_s"] for r in results if "resumed_s" in r)
    detected = sorted(r["detected_s"] for r in results if "detected_s" in r)
    print(f"\ncontroller crash matrix: {len(results)} cases ({len(lanes)} lanes, {wall:.1f} s) "
          f"over rollout passes {forward} and rollback passes {whole} (at the gate {at_gate}); "
          f"crash seen in the log after {detected[len(detected) // 2]:.2f} s (median), "
          f"resuming tick {resumed[0]:.2f}-{resumed[-1]:.2f} s (median "
          f"{resumed[len(resumed) // 2]:.2f} s); inconsistent: {len(bad)}")
    record("controller crash matrix",
           "the controller's worker SIGKILLed at each failpoint pass of a detached rollout and "
           "of a rollback, then the next tick", len(results),
           f"{len(bad)} inconsistent outcomes (alias on the saved traffic or intent; ended as "
           "the scenario says; two takes)", len(bad))
    assert len(results) == len(cases) >= 15
    assert not bad, json.dumps(bad, indent=1, default=str)
    # Only a kill after a rollout's very last save leaves nothing to resume.
    assert sum(r["over_at_crash"] for r in results) <= 2, results


def test_three_controller_ticks_and_a_cli_resume_drive_each_rollout_once(stack, lanes, tmp_path):
    """Five unfinished rollouts (three queued by ``deploy --detach`` that no controller took,
    two orphans of ``deploy`` processes killed mid-canary), then at the same moment three
    asynchronous Invokes of the controller (three worker processes) and ``lambdashift
    resume``: each rollout is driven by exactly one of the four, counted from history."""
    lanes[0].arm(**{ENV["functions"]: "*"})  # the stack's controller, as `local up` made it
    config = stack.root / "contest.yaml"
    data = yaml.safe_load((stack.root / "lambdashift.yaml").read_text())
    data["rollout"] = {"strategy": "custom", "analysis": "off", "bake": 0,
                       "steps": [{"weight": 20}, {"pause": "4s"}, {"weight": 100}]}
    # 4 s: longer than the CLI's start on a busy machine, so all four meet unfinished work.
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    # Three warm workers (three idle ticks at once), so that the ticks meet each other, not
    # only the CLI, which takes a second to start: they scan at the same instant.
    # Before any rollout is unfinished: these ticks are idle.
    warm = [threading.Thread(target=lanes[0].tick, args=("none",)) for _ in range(3)]
    for t in warm:
        t.start()
    for t in warm:
        t.join()

    candidates = {fn: new_version(stack, fn) for fn in FUNCTIONS}
    queued, orphaned = FUNCTIONS[:3], FUNCTIONS[3:]
    # Queued: handed to a controller that does not exist, so nobody has them yet.
    out = lambdashift(config, "deploy", *queued, "--detach", "--json", "--no-check",
                      "--controller", "lambdashift-nobody", "--handover-timeout", "0.1")
    assert out.returncode == 1 and "could not be invoked" in out.stderr, out.stderr
    rids = dict(json.loads(out.stdout)["rollouts"])
    killed = [subprocess.Popen(
        [sys.executable, "-m", "lambdashift.cli.main", "deploy", fn, "--no-check", "--poll",
         "0.05", "--config", str(config)], env={**os.environ,
                                                FAILPOINTS: "after_alias_write:1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for fn in orphaned]
    assert [p.wait(timeout=120) for p in killed] == [-9, -9]
    store = open_store(stack)
    for fn in orphaned:
        (state,) = store.active(fn)
        assert state.phase is Phase.PROGRESSING and alias_traffic(stack, fn)[1] == candidates[fn]
        rids[fn] = state.rollout_id
    assert len({s.rollout_id for s in store.active()}) == 5

    # The contest: all four at once.
    resume = subprocess.Popen(
        [sys.executable, "-m", "lambdashift.cli.main", "resume", "--json", "--poll", "0.05",
         "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lam = stack.lam
    requests = [lam.invoke(FunctionName=DEFAULT_FUNCTION, InvocationType="Event",
                           Payload=b"{}")["ResponseMetadata"]["RequestId"] for _ in range(3)]
    cli_out, cli_err = resume.communicate(timeout=120)
    wait_for("every rollout ended", lambda: not store.active(), timeout=120, every=0.2)
    ticks = wait_for("the three ticks' summaries",
                     lambda: d if len(d := decisions(stack, set(requests))) == 3 else None,
                     timeout=60, every=0.2)

    # Who drove what, from history alone: each `Resumed` is one drive; the `taken` event
    # just before it names the controller invocation, none names the CLI (its own lease).
    drivers: dict[str, list[str]] = {}
    for fn, rid in rids.items():
        events = store.events(rid)
        drivers[fn] = [events[i - 1].details["request_id"] if events[i - 1].kind == "taken"
                       else "cli" for i, e in enumerate(events) if e.kind == "Resumed"]
        ends = [e.kind for e in events if e.kind in ("succeeded", "rolled_back", "failed")]
        assert ends == ["succeeded"], (fn, [e.kind for e in events])
        assert alias_traffic(stack, fn) == (candidates[fn], None, 0.0)
    print("\ndrivers per rollout:", drivers)
    assert all(len(d) == 1 for d in drivers.values()), drivers  # exactly one, once
    count = Counter(d[0] for d in drivers.values())
    # What each driver says of the others: every rollout a driver did not drive it left
    # because a lease was held (the tick's `skipped`/`held`, the CLI's lock errors).
    for request, line in ticks.items():
        mine = {rid for fn, rid in rids.items() if drivers[fn] == [request]}
        assert set(line.get("ended", {})) == mine, (request, line)
        assert set(line.get("taken", [])) == mine
    cli_report = json.loads(cli_out)
    cli_mine = {fn for fn in rids if drivers[fn] == ["cli"]}
    cli_ended = {fn for fn, r in cli_report.get("rollouts", {}).items()
                 if r.get("phase") == "succeeded"}
    # (It may also report one a tick ended while it waited for the lease: not driven by it.)
    assert cli_mine <= cli_ended, (cli_report, cli_err[-2000:])
    # The CLI met the others' leases, if it came while they drove (it plans from what is
    # unfinished when it starts).
    refused = {**cli_report.get("errors", {}), **cli_report.get("locked", {})}
    assert set(refused) <= set(rids) - cli_mine, (cli_report, cli_err[-2000:])
    assert all("being rolled out by lambdashift-controller@" in why for why in refused.values())
    # Each tick left what it did not drive because someone held its lease.
    met = len(refused)
    for request, line in ticks.items():
        if line["controller"] == "idle":
            assert line["skipped"] == line["unfinished"], line  # saw some: all held
            met += line["skipped"]
        else:
            assert all("driven by" in why or "being rolled out by" in why
                       for why in line["skipped"].values()), line
            met += len(line["skipped"])
    assert met >= 1, (ticks, cli_report)  # the four met: someone was refused by a lease
    print(f"contest: 5 rollouts, drives by request: {dict(count)}; the CLI's refusals: "
          f"{len(refused)}; lease refusals seen: {met}; the ticks: "
          f"{[t['controller'] + ' ended ' + str(len(t.get('ended', {}))) for t in ticks.values()]}")
    record("controller contest", "3 controller invocations + a CLI resume over 5 unfinished "
           "rollouts at once", 5, f"{sum(len(d) != 1 for d in drivers.values())} rollouts driven "
           "other than exactly once", sum(len(d) != 1 for d in drivers.values()))


def test_the_schedules_next_tick_resumes_after_the_controller_was_killed(stack, lanes):
    """The same crash with the schedule as the next tick: ``deploy --detach``'s Invoke dies
    at the second alias write; disarmed, the schedule (every second) is turned back on, and
    its first tick takes the orphan and ends it."""
    lane = lanes[0]  # the stack's own controller, whose schedule `local up` made
    lane.arm(**{FAILPOINTS: "after_alias_write:2"})
    lane.rollout(STEPS)
    stable = alias_traffic(stack, lane.function)[0]
    candidate = new_version(stack, lane.function)
    rid, first = lane.detach()
    crash = wait_for("the controller's worker died", lambda: lane.crash_of(first), every=0.1)
    assert "signal: killed" in crash
    assert alias_traffic(stack, lane.function) == (stable, candidate, 0.5)  # step 2, owned
    lane.arm()
    t0 = time.monotonic()
    schedule_state(stack, "ENABLED")
    try:
        wait_for(f"{rid} ended", lambda: lane.store.load(rid).phase.is_terminal, timeout=60,
                 every=0.1)
        resumed = time.monotonic() - t0
    finally:
        schedule_state(stack, "DISABLED")
    assert lane.store.load(rid).phase is Phase.SUCCEEDED
    assert alias_traffic(stack, lane.function) == (candidate, None, 0.0)
    takes = taken_events(lane.store, rid)
    assert len(takes) == 2 and takes[0]["request_id"] == first, takes
    assert takes[1]["orphan"] is True and takes[1]["phase"] == "progressing"
    print(f"\nscheduled resumption: {resumed:.2f} s from the schedule on to the rollout ended")
