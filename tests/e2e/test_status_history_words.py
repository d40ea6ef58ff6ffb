"""After ``kill -9`` of a deploy, ``status`` says its process is gone and what to type; then
``history`` tells the rollout in one vocabulary, the deploy's words, with steps counted as
``status`` counts them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

from tests.e2e.conftest import NotesStack
from tests.e2e.rollout_helpers import new_version, run, set_rollout

#: The state machine's input events: the text history says them in words, never by name.
MACHINE_EVENTS = ("Start", "AliasWritten", "AliasWriteFailed", "PromoteRequested",
                  "RollbackRequested", "VerdictReceived", "GatePassed", "CheckFailed", "Resumed")


def test_status_after_kill_9_says_the_process_is_gone_and_history_uses_one_vocabulary(
        notes_stack: NotesStack) -> None:
    function = "notes-list"
    set_rollout(notes_stack, {"strategy": "linear", "increments": 4, "pause": "10m",
                               "analysis": "off"}, function)
    version = new_version(notes_stack, function)
    deploy = subprocess.Popen(
        [sys.executable, "-m", "lambdashift.cli.main", "deploy", function, "--to", version,
         "--poll", "0.2", "--config", str(notes_stack.root / "lambdashift.yaml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        rollout = {}
        while time.monotonic() < deadline:
            rows = json.loads(run(notes_stack, "status", function, "--json").stdout)["functions"]
            rollout = rows[0].get("rollout") or {}
            if rollout.get("step", 0) >= 2:  # pausing after the first shift
                break
            time.sleep(0.2)
        assert rollout.get("running") is True, rollout
    finally:
        os.kill(deploy.pid, signal.SIGKILL)
        deploy.wait(10)

    status = run(notes_stack, "status", function)
    assert status.returncode == 0, status.stderr
    assert f"its process ({rollout['runner']}) is gone" in status.stdout
    assert "`lambdashift resume` continues it" in status.stdout
    assert f"`lambdashift rollback {function}`" in status.stdout
    as_json = json.loads(run(notes_stack, "status", function, "--json").stdout)["functions"][0]
    assert as_json["rollout"]["running"] is False

    rollback = run(notes_stack, "rollback", function)
    assert rollback.returncode == 0, rollback.stderr
    status = run(notes_stack, "status", function)
    assert "is gone" not in status.stdout

    text = run(notes_stack, "history", function, "--limit", "1").stdout
    all_lines = text.splitlines()
    outcome = next(i for i, line in enumerate(all_lines) if line.startswith("  outcome:"))
    assert "analysis steps look" not in text  # nothing was judged: no look interval to state
    lines = all_lines[outcome + 1:]  # after the rollout's heading and outcome
    words = [re.sub(r"^\s+\d\d:\d\d:\d\d\s+(step \d+/\d+)?\s*", "", line) for line in lines]
    assert not [w for w in words if w.split(":")[0].split(" ")[0] in MACHINE_EVENTS], text
    assert not re.search(r"step=\d", text)  # no raw 0-based indexes
    assert words[0].startswith(f"started {rollout['stable']} → {version} ({rollout['steps']} steps)")
    steps = rollout["steps"]
    # The first shift is step 1 of the rollout's steps, as status counted them (it said 2 of
    # the same total while pausing after it).
    assert any(line.split()[1:3] == ["step", f"1/{steps}"] and "traffic now" in line for line in lines)
    assert words[-1].startswith("rolled back: ")
