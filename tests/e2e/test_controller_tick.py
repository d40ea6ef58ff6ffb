"""The controller's tick, run in this process against a real local stack: what a controller
invocation does with detached releases, orphans and its own deadline.

The local stack serves Lambda and DynamoDB; the state store is its DynamoDB table, as the
controller's is. ``tests/e2e/test_controller_local.py`` runs the same tick as a Lambda
function inside the emulator, on the scheduler.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import yaml

from lambdashift.controller.settings import ControllerSettings
from lambdashift.controller.tick import run_tick
from tests.e2e.conftest import NotesStack
from tests.e2e.rollout_helpers import alias_traffic, history, new_version, run, set_rollout


def team_store(stack: NotesStack, lease: str = "10s") -> None:
    path = stack.root / "lambdashift.yaml"
    data = yaml.safe_load(path.read_text())
    data["state"] = {"store": "dynamodb", "table": "lambdashift-state", "lease": lease}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def settings(stack: NotesStack) -> ControllerSettings:
    return ControllerSettings(namespace="local", table="lambdashift-state", region="us-east-1",
                              dynamodb_endpoint=stack.dynamodb_endpoint,
                              lambda_endpoint=stack.lambda_endpoint, margin=0)


def tick(stack: NotesStack, seconds: float) -> tuple[dict, list[dict]]:
    said: list[dict] = []
    summary = run_tick(settings(stack), deadline=time.time() + seconds, first=[], request_id="t",
                       say=lambda decision, **d: said.append({"controller": decision, **d}))
    return summary, said


def detach(stack: NotesStack, *functions: str) -> subprocess.CompletedProcess[str]:
    # No controller function on this stack: the hand-over fails fast and the rollouts stay
    # queued, for the tick below to take.
    return run(stack, "deploy", *functions, "--detach", "--json", "--handover-timeout", "1",
               "--poll", "0.1")


def test_a_detached_release_is_queued_then_driven_to_its_end_by_a_tick(notes_stack: NotesStack):
    team_store(notes_stack)
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 50}, {"pause": "1s"}, {"weight": 100}]})
    candidate = new_version(notes_stack, "notes-list")
    out = detach(notes_stack, "notes-list")
    assert out.returncode == 1, out.stderr  # nobody took it: said, exit 1
    result = json.loads(out.stdout)
    rid = result["rollouts"]["notes-list"]
    assert result["not_taken"] == [rid] and "could not be invoked" in result["error"]
    assert alias_traffic(notes_stack, "notes-list")[0] != candidate  # queued: nothing written
    status = run(notes_stack, "status", "notes-list")
    assert "queued for the controller" in status.stdout, status.stdout

    summary, said = tick(notes_stack, 60)
    assert rid in summary["taken"] and summary["ended"][rid] == "succeeded", (summary, said)
    assert alias_traffic(notes_stack, "notes-list") == (candidate, None, 0.0)
    events = [e["kind"] for e in history(notes_stack, "notes-list")[0]["events"]]
    assert events.index("queued") < events.index("taken") < events.index("Resumed")
    text = run(notes_stack, "history", "notes-list").stdout
    assert "taken by lambdashift-controller@" in text, text

    idle, said = tick(notes_stack, 60)  # nothing left: one query, one line
    assert idle["taken"] == [] and [s["controller"] for s in said] == ["idle"]


def test_a_tick_hands_over_at_its_deadline_and_the_next_one_finishes(notes_stack: NotesStack):
    team_store(notes_stack)
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 20}, {"pause": "4s"}, {"weight": 100}]})
    candidate = new_version(notes_stack, "notes-update")
    rid = json.loads(detach(notes_stack, "notes-update").stdout)["rollouts"]["notes-update"]

    first, said = tick(notes_stack, 1.5)  # ends in the pause
    assert first["handed_over"] == [rid], (first, said)
    assert alias_traffic(notes_stack, "notes-update")[1:] == (candidate, 0.2)  # left as it was
    held = run(notes_stack, "status", "notes-update", "--json")
    row = json.loads(held.stdout)["functions"][0]
    assert row["rollout"]["phase"] == "progressing" and row["rollout"]["running"] is False

    second, said = tick(notes_stack, 60)  # at once: no lease to wait out
    assert second["ended"] == {rid: "succeeded"}, (second, said)
    assert alias_traffic(notes_stack, "notes-update") == (candidate, None, 0.0)
    takes = [e for e in history(notes_stack, "notes-update")[0]["events"] if e["kind"] == "taken"]
    assert len(takes) == 2  # one per tick, each holding the lease in turn


def test_an_orphan_of_a_killed_deploy_is_adopted_and_finished(notes_stack: NotesStack):
    team_store(notes_stack, lease="30s")
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 30}, {"pause": "3s"}, {"weight": 100}]})
    fn = "notes-delete"
    candidate = new_version(notes_stack, fn)
    cli = subprocess.Popen([sys.executable, "-m", "lambdashift.cli.main", "deploy", fn, "--config",
                            str(notes_stack.root / "lambdashift.yaml"), "--poll", "0.1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while alias_traffic(notes_stack, fn)[1] != candidate and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(cli.pid, signal.SIGKILL)  # mid-canary, holding a 30 s lease
    cli.communicate(timeout=30)

    summary, said = tick(notes_stack, 60)
    adopted = [s for s in said if s["controller"] == "take"]
    assert len(adopted) == 1 and adopted[0]["orphan"] is True, said
    assert list(summary["ended"].values()) == ["succeeded"], summary
    assert alias_traffic(notes_stack, fn) == (candidate, None, 0.0)


def test_rollback_of_a_queued_rollout_ends_it_with_no_alias_change(notes_stack: NotesStack):
    team_store(notes_stack)
    set_rollout(notes_stack, {"strategy": "canary", "analysis": "off"})
    fn = "notes-get"
    before = notes_stack.lam.get_alias(FunctionName=fn, Name="live")
    new_version(notes_stack, fn)
    rid = json.loads(detach(notes_stack, fn).stdout)["rollouts"][fn]
    out = run(notes_stack, "rollback", fn, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["phase"] == "rolled_back"
    after = notes_stack.lam.get_alias(FunctionName=fn, Name="live")
    assert after["RevisionId"] == before["RevisionId"]  # never written
    kinds = [e["kind"] for e in history(notes_stack, fn)[0]["events"]]
    assert history(notes_stack, fn)[0]["rollout_id"] == rid
    assert "AliasWritten" not in kinds and "candidate_checked" not in kinds, kinds


def test_ctrl_c_in_watch_stops_watching_only(notes_stack: NotesStack):
    team_store(notes_stack)
    set_rollout(notes_stack, {"strategy": "canary", "analysis": "off"})
    fn = "notes-list"
    new_version(notes_stack, fn)
    rid = json.loads(detach(notes_stack, fn).stdout)["rollouts"][fn]
    watch = subprocess.Popen([sys.executable, "-m", "lambdashift.cli.main", "watch", fn,
                              "--every", "0.2", "--config", str(notes_stack.root / "lambdashift.yaml")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    # Progress lines go to stderr, as deploy's do.
    reader = threading.Thread(target=lambda: lines.extend(iter(watch.stderr.readline, "")),
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not any("queued for the controller" in line for line in lines):
        assert time.monotonic() < deadline and watch.poll() is None, lines
        time.sleep(0.1)
    watch.send_signal(signal.SIGINT)
    watch.wait(timeout=30)
    reader.join(timeout=10)
    err = "".join(lines)
    assert watch.returncode == 130, err
    assert "stopped watching; the rollouts go on" in err and "Traceback" not in err
    assert history(notes_stack, fn)[0]["rollout_id"] == rid
    assert history(notes_stack, fn)[0]["phase"] == "pending"  # untouched by watching
    assert run(notes_stack, "rollback", fn).returncode == 0  # leave the stack as found
