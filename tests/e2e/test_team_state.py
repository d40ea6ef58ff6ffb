"""Team state on DynamoDB: two controller processes, one table, one rollout per function.

The notes stack's own DynamoDB endpoint holds the store (``state: {store: dynamodb}``);
the controllers are real ``lambdashift`` processes. Lease expiry is shown with owners named
by ``LAMBDASHIFT_OWNER`` (as CI runners would be): such a holder is never recognised as a
dead local process, so only the lease's expiry frees its lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import yaml

from tests.e2e.conftest import NotesStack
from tests.e2e.rollout_helpers import alias_traffic, history, new_version, run, set_rollout

FAST = ["--poll", "0.1"]


def team_store(stack: NotesStack, lease: str) -> None:
    path = stack.root / "lambdashift.yaml"
    data = yaml.safe_load(path.read_text())
    data["state"] = {"store": "dynamodb", "table": "lambdashift-state", "lease": lease}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def start(stack: NotesStack, *args: str, owner: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAMBDASHIFT_OWNER"}
    return subprocess.Popen(
        [sys.executable, "-m", "lambdashift.cli.main", *args, "--config",
         str(stack.root / "lambdashift.yaml"), *FAST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "LAMBDASHIFT_OWNER": owner} if owner else env)


def test_two_controllers_never_run_two_rollouts_of_one_function(notes_stack: NotesStack):
    team_store(notes_stack, "5s")
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",  # the lock, not the judge
                              "steps": [{"weight": 50}, {"pause": "2s"}, {"weight": 100}]})
    functions = ["notes-get", "notes-list"]
    wanted = {fn: new_version(notes_stack, fn) for fn in functions}
    a = start(notes_stack, "deploy", *functions, owner="runner-a")
    b = start(notes_stack, "deploy", *functions, owner="runner-b")
    outs = [p.communicate(timeout=120) for p in (a, b)]
    # Each runner rolls out what it locked first and reports the rest as held (exit 2).
    assert {p.returncode for p in (a, b)} <= {0, 2}, outs
    assert sum("is being rolled out by runner-" in err for _, err in outs) >= 1, outs
    for fn in functions:
        rollouts = history(notes_stack, fn)
        ours = [r for r in rollouts if r["candidate"] == wanted[fn]]
        assert len(ours) == 1, (fn, ours)  # one rollout of it, by whichever runner won its lock
        assert ours[0]["phase"] == "succeeded"
        assert alias_traffic(notes_stack, fn) == (wanted[fn], None, 0.0)
    # The state lives in the shared table, not in a file beside the config.
    assert not (notes_stack.root / ".lambdashift" / "state.db").exists()


def test_a_killed_controllers_lease_expires_and_resume_elsewhere_finishes(notes_stack: NotesStack):
    # Renewed at half its length, so a killed holder leaves 4 to 8 s: long enough for the
    # early resume to meet it on a busy machine, short enough to wait out.
    team_store(notes_stack, "8s")
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",  # the lock, not the judge
                              "steps": [{"weight": 30}, {"pause": "3s"}, {"weight": 100}]})
    fn = "notes-create"
    candidate = new_version(notes_stack, fn)
    a = start(notes_stack, "deploy", fn, owner="runner-a")
    deadline = time.monotonic() + 60
    while alias_traffic(notes_stack, fn)[1] != candidate and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alias_traffic(notes_stack, fn)[1] == candidate  # mid-rollout: 30% on the candidate
    os.kill(a.pid, signal.SIGKILL)
    a.communicate(timeout=30)

    early = run(notes_stack, "resume", *FAST, env={"LAMBDASHIFT_OWNER": "runner-b"})
    assert early.returncode == 2, early.stderr  # runner-a's lease has not expired yet
    assert "being rolled out by runner-a" in early.stderr
    assert alias_traffic(notes_stack, fn)[1] == candidate  # refused: nothing was touched
    deadline = time.monotonic() + 60
    while True:  # until the lease expires, every try is refused the same way
        late = run(notes_stack, "resume", *FAST, env={"LAMBDASHIFT_OWNER": "runner-b"})
        if late.returncode != 2 or time.monotonic() > deadline:
            break
        assert "being rolled out by runner-a" in late.stderr
        time.sleep(0.5)
    assert late.returncode == 0, late.stderr
    assert alias_traffic(notes_stack, fn) == (candidate, None, 0.0)
    rollouts = history(notes_stack, fn)
    assert rollouts[0]["candidate"] == candidate and rollouts[0]["phase"] == "succeeded"
    events = [e["kind"] for e in rollouts[0]["events"]]
    assert "Resumed" in events  # runner-b continued runner-a's rollout, it did not start anew


def test_a_group_killed_mid_rollout_resumes_as_a_group(notes_stack: NotesStack):
    path = notes_stack.root / "lambdashift.yaml"
    data = yaml.safe_load(path.read_text())
    data.pop("state", None)  # the default SQLite store: groups do not depend on the backend
    members = ["notes-update", "notes-delete"]
    for fn in members:
        data["functions"][fn]["group"] = "edits"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",  # the lock, not the judge
                              "steps": [{"weight": 20}, {"pause": "3s"}, {"weight": 100}]})
    wanted = {fn: new_version(notes_stack, fn) for fn in members}
    a = start(notes_stack, "deploy", *members, owner=None)  # user@host pid N
    deadline = time.monotonic() + 60
    while (any(alias_traffic(notes_stack, fn)[1] != wanted[fn] for fn in members)
           and time.monotonic() < deadline):
        time.sleep(0.05)
    os.kill(a.pid, signal.SIGKILL)  # both members at 20%, in their pause
    a.communicate(timeout=30)
    assert all(alias_traffic(notes_stack, fn)[1] == wanted[fn] for fn in members)

    # The holder died on this host: resume breaks its locks at once.
    resumed = run(notes_stack, "resume", *FAST)
    assert resumed.returncode == 0, resumed.stderr
    for fn in members:
        assert alias_traffic(notes_stack, fn) == (wanted[fn], None, 0.0)
        assert history(notes_stack, fn)[0]["rollout_id"].startswith("g.edits.")
    entries = run(notes_stack, "history", "edits", "--json")
    assert entries.returncode == 0, entries.stderr
    outcomes = yaml.safe_load(entries.stdout)
    assert len(outcomes) == 1 and outcomes[0]["outcome"] == "succeeded"
    assert set(outcomes[0]["members"]) == set(members)
