"""SIGINT and SIGTERM never promote (issue 17, item 3), and `rollback --to` a rejected version
is refused (item 5): real `lambdashift deploy` processes against the local stack.

Each case starts a deploy whose canary pauses for 40 s, waits until the alias shows the
split, waits a little more (the signal comes a few seconds into the pause, as a person's
Ctrl-C or a cancelled CI job would), signals it, and checks what a user would: the alias
serves the stable version alone, `history` says `interrupted (SIGNAL)`, the exit code is
130 for SIGINT and 143 for SIGTERM.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time

from tests.e2e.conftest import NotesStack
from tests.e2e.rollout_helpers import alias_traffic, history, new_version, run, set_rollout

PAUSE = [{"weight": 10}, {"pause": "40s"}, {"weight": 100}]
INTO_THE_PAUSE = 3.0  # seconds after the split shows: "3 s into a canary pause"


def start_deploy(stack: NotesStack, fn: str, *extra: str, command: str = "deploy",
                 env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``lambdashift deploy FN --plain`` in the background, as a CI job runs it."""
    return subprocess.Popen(
        [sys.executable, "-m", "lambdashift.cli.main", command, fn, "--poll", "0.2",
         *(("--plain",) if command == "deploy" else ()), *extra,
         "--config", str(stack.root / "lambdashift.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})})


class Terminal:
    """``lambdashift deploy FN`` with stderr on a pseudo-terminal: the live view, as a person
    at a terminal sees it. A thread drains the terminal so that the view never blocks."""

    def __init__(self, stack: NotesStack, fn: str) -> None:
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lambdashift.cli.main", "deploy", fn, "--poll", "0.2",
             "--config", str(stack.root / "lambdashift.yaml")],
            stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        self._master, self._chunks = master, []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the process and its terminal are gone
                return
            if not chunk:
                return
            self._chunks.append(chunk)

    def screen(self, timeout: float = 30) -> str:
        """Everything written to the terminal, once the process is gone."""
        self._reader.join(timeout)
        os.close(self._master)
        return b"".join(self._chunks).decode(errors="replace")


def wait_until(condition, what: str, timeout: float = 90.0) -> None:  # noqa: ANN001
    """Poll ``condition`` (no fixed sleep); a generous bound only for a hung process."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def into_the_pause(stack: NotesStack, fn: str, proc: subprocess.Popen[str], stable: str,
                   candidate: str) -> None:
    """Until the alias shows the 10% split, then a few seconds more."""
    wait_until(lambda: alias_traffic(stack, fn)[:2] == (stable, candidate) or proc.poll() is not None,
               "the canary split")
    assert proc.poll() is None, proc.communicate()
    time.sleep(INTO_THE_PAUSE)  # the scenario's own clock: the signal comes mid-pause


def assert_interrupted(stack: NotesStack, fn: str, stable: str, candidate: str, signame: str) -> dict:
    assert alias_traffic(stack, fn) == (stable, None, 0.0)  # the stable version alone
    last = history(stack, fn)[0]
    assert (last["stable"], last["candidate"], last["phase"]) == (stable, candidate, "interrupted")
    assert last["reason"] == f"interrupted ({signame}): live back on version {stable}"
    assert last["interrupted"] == signame
    writes = [e["details"]["traffic"] for e in last["events"] if e["kind"] == "AliasWritten"]
    assert writes == [f"{stable} (90%) + {candidate} (10%)", f"{stable} (100%)"]  # never 100% v2
    words = run(stack, "history", fn)
    assert "interrupted  started" in words.stdout and f"interrupted ({signame})" in words.stdout
    return last


def test_sigint_3s_into_a_canary_pause_writes_stable_back_and_exits_130(notes_stack: NotesStack):
    fn = "notes-list"
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off", "steps": PAUSE})
    stable = alias_traffic(notes_stack, fn)[0]
    candidate = new_version(notes_stack, fn)
    proc = start_deploy(notes_stack, fn)
    into_the_pause(notes_stack, fn, proc, stable, candidate)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert_interrupted(notes_stack, fn, stable, candidate, "SIGINT")
    said = [line for line in err.splitlines() if "interrupted (SIGINT)" in line]
    assert len(said) == 1 and f"live back on version {stable}" in said[0], err
    assert "succeeded" not in err and "Traceback" not in err
    # An interrupted rollout is over: nothing to resume, and the next deploy starts afresh.
    assert json.loads(run(notes_stack, "status", fn, "--json").stdout)["functions"][0].get("rollout") is None


def test_sigterm_3s_into_a_judged_canary_pause_on_the_live_view_exits_143(notes_stack: NotesStack):
    fn = "notes-get"
    set_rollout(notes_stack, {"strategy": "canary", "weight": 10, "pause": "40s"})  # the judge on
    stable = alias_traffic(notes_stack, fn)[0]
    candidate = new_version(notes_stack, fn)
    term = Terminal(notes_stack, fn)  # the live view, not --plain
    into_the_pause(notes_stack, fn, term.proc, stable, candidate)
    term.proc.send_signal(signal.SIGTERM)
    term.proc.wait(timeout=90)
    screen = term.screen()
    assert term.proc.returncode == 143, screen[-2000:]
    assert_interrupted(notes_stack, fn, stable, candidate, "SIGTERM")
    assert f"interrupted (SIGTERM): live back on version {stable}" in screen
    assert "succeeded" not in screen and "Traceback" not in screen


def test_a_ci_cancel_sigint_then_sigterm_then_sigkill_ends_on_stable(notes_stack: NotesStack):
    """What a CI runner does to a cancelled job: SIGINT, SIGTERM 7.5 s later, SIGKILL 2.5 s
    after that. The first signal's write-back is done long before the second comes."""
    fn = "notes-update"
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off", "steps": PAUSE})
    stable = alias_traffic(notes_stack, fn)[0]
    candidate = new_version(notes_stack, fn)
    proc = start_deploy(notes_stack, fn)
    into_the_pause(notes_stack, fn, proc, stable, candidate)
    sent = []
    for signum, after in ((signal.SIGINT, 0.0), (signal.SIGTERM, 7.5), (signal.SIGKILL, 2.5)):
        time.sleep(after)  # the runner's schedule, not a wait for a condition
        if proc.poll() is None:
            proc.send_signal(signum)
            sent.append(signum.name)
    _, err = proc.communicate(timeout=30)
    assert sent == ["SIGINT"], (sent, err)  # it had exited after the first signal's write-back
    assert proc.returncode == 130, err
    assert_interrupted(notes_stack, fn, stable, candidate, "SIGINT")


def test_a_second_signal_during_the_write_back_exits_at_once_and_resume_finishes(notes_stack: NotesStack):
    fn = "notes-delete"
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off", "steps": PAUSE})
    stable = alias_traffic(notes_stack, fn)[0]
    candidate = new_version(notes_stack, fn)
    # The write-back sleeps 60 s before it is sent: the second signal lands during it.
    proc = start_deploy(notes_stack, fn, env={"LAMBDASHIFT_FAILPOINTS": "before_write_back:1:sleep=60"})
    into_the_pause(notes_stack, fn, proc, stable, candidate)
    proc.send_signal(signal.SIGINT)

    def rollout() -> dict:
        return json.loads(run(notes_stack, "status", fn, "--json").stdout)["functions"][0].get("rollout") or {}
    wait_until(lambda: rollout().get("phase") == "rolling_back", "the write-back to start")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)  # far below the 60 s the write-back sleeps
    assert proc.returncode == 143, err
    assert "SIGTERM during the way back after SIGINT: exiting now" in err
    # Left as after kill -9: the split, owned by an unfinished rollout that status calls resumable.
    assert alias_traffic(notes_stack, fn) == (stable, candidate, 0.1)
    left = rollout()
    assert left["phase"] == "rolling_back" and left["running"] is False
    assert "`lambdashift resume` continues it" in left["next"]
    resumed = run(notes_stack, "resume", "--poll", "0.2")
    assert resumed.returncode == 1, resumed.stderr  # the rollout did not succeed: it was interrupted
    assert_interrupted(notes_stack, fn, stable, candidate, "SIGINT")


def test_sigint_to_approve_driving_the_rollout_goes_back_to_stable(notes_stack: NotesStack):
    """`approve` drives the rollout itself when no other process does: its Ctrl-C is a stop too."""
    fn = "notes-list"
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 20}, {"pause": "manual"}, {"weight": 50},
                                        {"pause": "40s"}, {"weight": 100}]})
    stable = alias_traffic(notes_stack, fn)[0]
    candidate = new_version(notes_stack, fn)
    assert run(notes_stack, "deploy", fn, "--no-wait", "--poll", "0.2").returncode == 3
    proc = start_deploy(notes_stack, fn, command="approve")
    wait_until(lambda: alias_traffic(notes_stack, fn)[2] == 0.5 or proc.poll() is not None, "50%")
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, err
    assert alias_traffic(notes_stack, fn) == (stable, None, 0.0)
    last = history(notes_stack, fn)[0]
    assert (last["candidate"], last["phase"]) == (candidate, "interrupted")
    assert f"{fn}: interrupted, live serves {stable} (100%)" in out


def test_rollback_to_a_rejected_version_is_refused_without_force(notes_stack: NotesStack):
    fn = "notes-create"
    set_rollout(notes_stack, {"strategy": "custom", "steps": [{"weight": 30}, {"pause": "manual"}, {"weight": 100}]})
    stable = alias_traffic(notes_stack, fn)[0]
    candidate = new_version(notes_stack, fn)
    assert run(notes_stack, "deploy", fn, "--no-wait", "--poll", "0.2").returncode == 3
    back = run(notes_stack, "rollback", fn, "--reason", "p99 doubled on the dashboard")
    assert back.returncode == 0, back.stderr
    assert alias_traffic(notes_stack, fn) == (stable, None, 0.0)

    refused = run(notes_stack, "rollback", fn, "--to", candidate)
    assert refused.returncode == 2, refused.stderr
    assert f"version {candidate} was rejected for {fn}:live" in refused.stderr
    assert "p99 doubled on the dashboard" in refused.stderr and "--force" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 2  # the target line, then the reason
    assert alias_traffic(notes_stack, fn) == (stable, None, 0.0)  # nothing written

    alone = run(notes_stack, "rollback", fn, "--force")
    assert alone.returncode == 2 and "--force goes with --to VERSION" in alone.stderr
    forced = run(notes_stack, "rollback", fn, "--to", candidate, "--force")
    assert forced.returncode == 0, forced.stderr
    assert alias_traffic(notes_stack, fn) == (candidate, None, 0.0)
    assert history(notes_stack, fn)[0]["rollout_id"].startswith("rollback-")


def test_kill_9_at_every_point_of_the_write_back_then_resume_ends_interrupted_on_stable(
        notes_stack: NotesStack, tmp_path):
    """The way back is as crash-safe as the way forward: SIGINT mid-pause, then SIGKILL at
    each failpoint pass of the write-back (the interrupt saved, the write not sent, the write
    landed but not recorded, the end saved); `resume` always ends interrupted, on stable."""
    fn = "notes-update"
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off", "steps": PAUSE})

    def interrupted_deploy(env: dict[str, str]) -> subprocess.Popen[str]:
        stable = alias_traffic(notes_stack, fn)[0]
        candidate = new_version(notes_stack, fn)
        proc = start_deploy(notes_stack, fn, env=env)
        wait_until(lambda: alias_traffic(notes_stack, fn)[:2] == (stable, candidate)
                   or proc.poll() is not None, "the canary split")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=90)
        return proc

    counts = tmp_path / "census.json"
    assert interrupted_deploy({"LAMBDASHIFT_FAILPOINT_CENSUS": str(counts)}).returncode == 130
    census = json.loads(counts.read_text())
    # Forward: Start and the 10% write; back: the interrupt and the write of the stable version.
    assert census == {"after_save": 4, "before_alias_write": 2, "after_alias_write": 2,
                      "before_write_back": 1}, census
    points = ["after_save:3", "before_write_back:1", "before_alias_write:2", "after_alias_write:2",
              "after_save:4"]
    failures = []
    for point in points:
        stable = alias_traffic(notes_stack, fn)[0]
        crashed = interrupted_deploy({"LAMBDASHIFT_FAILPOINTS": point})
        resumed = run(notes_stack, "resume", "--poll", "0.2")
        last = history(notes_stack, fn)[0]
        outcome = (crashed.returncode, alias_traffic(notes_stack, fn), last["phase"], last["reason"])
        if outcome[:3] != (-9, (stable, None, 0.0), "interrupted") or "SIGINT" not in last["reason"]:
            failures.append((point, outcome, resumed.returncode, resumed.stderr[-300:]))
    print(f"\nkill -9 during the write-back after SIGINT: {len(points)} cases, "
          f"{len(failures)} not ending interrupted on stable after resume")
    assert not failures, failures


def test_rollback_to_the_version_the_judge_just_rolled_back_is_refused(probe_stack: NotesStack):
    """Issue 17's case: right after the judge rolled v3 back, `rollback --to 3` sent 100% of
    the traffic to v3 without a word. Now: exit 2, the judge's reason, nothing written."""
    from tests.e2e.test_analysis_e2e import ANALYSIS, Load, release

    stable = alias_traffic(probe_stack, "probe")[0]
    bad = release(probe_stack, {"FAIL_RATE": "1", "DELAY_MS": "4", "BUILD": "broken"},
                  [{"weight": 20}, {"analysis": ANALYSIS}, {"weight": 100}])
    with Load(probe_stack.api_url, threads=2):
        out = run(probe_stack, "deploy", "probe", "--poll", "0.5", timeout=240)
    assert out.returncode == 1, out.stderr
    last = history(probe_stack, "probe")[0]
    assert (last["candidate"], last["phase"]) == (bad, "rolled_back") and last["reason"].startswith("analysis:")

    refused = run(probe_stack, "rollback", "probe", "--to", bad)
    assert refused.returncode == 2, refused.stderr
    assert f"version {bad} was rejected for probe:live: rollout {last['rollout_id']} rolled_back (analysis:" \
        in refused.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
