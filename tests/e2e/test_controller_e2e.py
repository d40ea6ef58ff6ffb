"""The controller for real: a Lambda function inside the local stack's emulator, called by its
EventBridge Scheduler every 2 s, drives rollouts that no lambdashift CLI process holds.

* ``deploy --detach`` of a judged canary under HTTP load returns once the controller took it;
  with no CLI process left, the controller promotes a healthy candidate and rolls back a
  failing one on the judge's evidence; ``status``, ``history``, ``watch`` and ``lambdashift
  logs lambdashift-controller`` say the controller drove it.
* Orphans: a foreground ``deploy`` killed with ``kill -9`` mid-canary is taken over by the
  controller (its holder is a dead process of this host: no lease to wait out) and finished
  on the judge's evidence; the same for a group of five with one bad member; a CI runner's
  (``LAMBDASHIFT_OWNER``) only once its lease expired.
* A detached group is driven whole by one invocation; ``approve`` and ``promote`` reach a
  rollout the controller drives.

The stack is the test's own small project (the probe function of ``tests/e2e/probe`` six
times: ``probe`` alone, ``five-a``..``five-e`` in group ``five``), shared by the module. The
in-process tick is tests/e2e/test_controller_tick.py; crashes are test_controller_crash.py.
Measured figures are printed (``-s``), never asserted: the machine is shared.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from lambdashift.controller.settings import DEFAULT_FUNCTION
from tests.e2e.conftest import PROBE, NotesStack, cli
from tests.e2e.rollout_helpers import alias_traffic, history, run

GROUP = [f"five-{m}" for m in "abcde"]
#: A judged canary quick enough for a test: 20%, the judge at least 2 s and 60 candidate
#: requests, looking every 0.5 s; then 100%. No bake (test_bake_e2e.py bakes).
ANALYSIS = {"min_duration": "2s", "min_invocations": 60, "max_wait": "90s",
            "on_timeout": "rollback", "interval": "0.5s"}
STEPS = [{"weight": 20}, {"analysis": ANALYSIS}, {"weight": 100}]


def _probe(group: str | None = None) -> dict:
    fn = {"source": "functions/probe", "handler": "index.handler", "timeout": 5,
          "environment": {"FAIL_RATE": "0", "DELAY_MS": "4"}}
    return {**fn, "group": group} if group else fn


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotesStack]:
    """``local up --detach`` with the controller on (every 2 s), state on the stack's
    DynamoDB with a 10 s lease; ``local down`` after."""
    root = tmp_path_factory.mktemp("ctl") / "project"
    shutil.copytree(PROBE, root / "functions" / "probe")
    config = {
        "alias": "live", "target": "local",
        "functions": {"probe": _probe(), **{fn: _probe("five") for fn in GROUP}},
        "routes": {f"GET /{fn}": fn for fn in ["probe", *GROUP]},
        "controller": {"enabled": True, "rate": "2 seconds"},
        "state": {"store": "dynamodb", "table": "lambdashift-state", "lease": "10s"},
        "rollout": {"strategy": "custom", "steps": STEPS, "bake": 0},
    }
    (root / "lambdashift.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    up = cli("local", "up", "--detach", "--config", str(root / "lambdashift.yaml"))
    assert up.returncode == 0, up.stderr
    assert f"controller   {DEFAULT_FUNCTION}  created, called rate(2 seconds)" in up.stderr
    state = json.loads((root / ".lambdashift" / "local.json").read_text())
    try:
        yield NotesStack(root, state["api_url"], state["lambda_endpoint"], state["dynamodb_endpoint"])
    finally:
        down = cli("local", "down", "--config", str(root / "lambdashift.yaml"))
        assert down.returncode == 0, down.stderr


# -- helpers --------------------------------------------------------------------------------


def publish(stack: NotesStack, environments: dict[str, dict[str, str]]) -> dict[str, str]:
    """Give each function its environment (plus a fresh BUILD) in the yaml and publish them:
    function → its new version, the aliases left alone."""
    path = stack.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    for fn, env in environments.items():
        config["functions"][fn]["environment"] = {"DELAY_MS": "4", **env,
                                                  "BUILD": uuid.uuid4().hex[:8]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = run(stack, "publish", *environments, "--json")
    assert out.returncode == 0, out.stderr
    return {row["function"]: row["version"] for row in json.loads(out.stdout)}


class Load:
    """Client threads sending GET to ``paths`` (each thread its own cycle) until stopped;
    counts answers per (path, status)."""

    def __init__(self, url: str, paths: list[str], threads: int = 4) -> None:
        self.url, self.stop = url, threading.Event()
        self.counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(paths[i:] + paths[:i],))
                         for i in range(threads)]

    def _run(self, paths: list[str]) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for path in itertools.cycle(paths):
                if self.stop.is_set():
                    return
                status = http.get(path).status_code
                with self._lock:
                    self.counts[(path, status)] += 1

    def failed(self) -> int:
        return sum(n for (_, status), n in self.counts.items() if status >= 500)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join()


def cli_processes(stack: NotesStack) -> list[str]:
    """Command lines of the lambdashift CLI processes of this host acting on the stack's
    config (the stack's own servers name no config: the controller runs in them)."""
    config = str(stack.root / "lambdashift.yaml")
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        words = [a.decode(errors="replace") for a in argv]
        if "lambdashift.cli.main" in words and config in words:
            found.append(" ".join(words))
    return found


class Watch:
    """``lambdashift watch FN...`` in the background, its stderr in a file.

    ``watch FN`` follows the rollouts still running when it starts: a test starts it, waits
    until it has printed each function's ``taken by`` line, and only then sends the load that
    lets the judge decide (30% failures are judged within a second of load)."""

    def __init__(self, stack: NotesStack, functions: list[str], path: Path) -> None:
        self.functions, self.path = functions, path
        with path.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lambdashift.cli.main", "watch", *functions, "--every",
                 "0.3", "--config", str(stack.root / "lambdashift.yaml")],
                stdout=subprocess.DEVNULL, stderr=err, text=True)

    @property
    def text(self) -> str:
        return self.path.read_text()

    def __enter__(self) -> Watch:
        deadline = time.monotonic() + 60
        while not all(any(fn in line and "taken by" in line for line in self.text.splitlines())
                      for fn in self.functions):
            assert self.process.poll() is None and time.monotonic() < deadline, self.text
            time.sleep(0.1)
        return self

    def wait(self, timeout: float = 120) -> int:
        """Its exit code once the rollouts ended."""
        return self.process.wait(timeout=timeout)

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:  # a failed test: stop watching (never the rollouts)
            self.process.kill()
            self.process.wait()


def watch_release(stack: NotesStack, release: str) -> subprocess.CompletedProcess[str]:
    """``lambdashift watch --release ID --json``: the release's rollouts, ended or not."""
    return run(stack, "watch", "--release", release, "--json", "--every", "0.3", timeout=150)


def quiet(text: str) -> None:
    """``watch`` words what ``history`` words: no raw evidence ("verdict continue: no reason
    given"), no input event beside the note that says it (``alias written`` beside
    ``traffic now``), no look that said continue."""
    assert "verdict continue" not in text and "alias written" not in text, text


def taken_event(rollout: dict) -> dict:
    takes = [e for e in rollout["events"] if e["kind"] == "taken"]
    assert takes, [e["kind"] for e in rollout["events"]]
    return takes[-1]


def decisions(stack: NotesStack, rollout_id: str, until: str, timeout: float = 60) -> list[dict]:
    """The controller's decision lines about ``rollout_id`` from ``lambdashift logs
    lambdashift-controller``, once one says ``until`` (the emulator hands a function's log
    lines to its Logs API when the invocation ends, which follows the rollout's end)."""
    deadline = time.monotonic() + timeout
    while True:
        out = run(stack, "logs", DEFAULT_FUNCTION, "--since", "10m", "--json")
        assert out.returncode == 0, out.stderr
        found = []
        for line in out.stdout.splitlines():
            try:
                said = json.loads(json.loads(line)["message"])
            except ValueError:
                continue  # START, END, REPORT
            if isinstance(said, dict) and rollout_id in (said.get("rollout"), *said.get("ended", ())):
                found.append(said)
        if any(s["controller"] == until for s in found) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def detach(stack: NotesStack, *functions: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``deploy FN... --detach --json``; the result and how long the command took."""
    started = time.monotonic()
    out = run(stack, "deploy", *functions, "--detach", "--json", "--poll", "0.2", timeout=120)
    return out, time.monotonic() - started


# -- deploy --detach: the controller drives the canary to its end -----------------------------


def test_a_detached_healthy_canary_under_load_is_promoted_by_the_controller_alone(stack, tmp_path):
    candidate = publish(stack, {"probe": {"FAIL_RATE": "0"}})["probe"]
    with Load(stack.api_url, ["/probe"]) as load:
        out, seconds = detach(stack, "probe")
        print(f"\ndeploy --detach (healthy): returned in {seconds:.2f} s, exit {out.returncode}")
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        rid = result["rollouts"]["probe"]
        assert result["not_taken"] == [] and result["taken"][rid].startswith(f"{DEFAULT_FUNCTION}@")
        # The CLI is gone: only the controller inside the emulator can finish this rollout.
        assert cli_processes(stack) == []
        status = run(stack, "status", "probe")
        assert f"probe: rollout {rid}: driven by the controller ({DEFAULT_FUNCTION}@" \
            in status.stdout, status.stdout  # the judge needs seconds of this load: still running
        with Watch(stack, ["probe"], tmp_path / "watch.err") as follower:
            code = follower.wait()
    assert code == 0, follower.text
    assert f"probe: {rid} " in follower.text and "succeeded: live serves" in follower.text
    quiet(follower.text)
    assert alias_traffic(stack, "probe") == (candidate, None, 0.0)
    assert load.failed() == 0, load.counts
    again = watch_release(stack, result["release"])  # ended: said at once, with its code
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rollouts"][rid]["phase"] == "succeeded"

    last = history(stack, "probe")[0]
    assert last["rollout_id"] == rid and last["phase"] == "succeeded"
    assert last["verdicts"][-1]["verdict"] == "promote"
    assert taken_event(last)["details"]["orphan"] is False
    queued = next(e["at"] for e in last["events"] if e["kind"] == "queued")
    print(f"queued → taken by the controller: {taken_event(last)['at'] - queued:.2f} s; "
          f"taken → promoted: {last['updated_at'] - taken_event(last)['at']:.1f} s")
    text = run(stack, "history", "probe", "--limit", "1").stdout
    assert f"taken by {DEFAULT_FUNCTION}@" in text and "queued for the controller by" in text
    said = [s["controller"] for s in decisions(stack, rid, until="ended")]
    assert said[0] == "take" and "verdict" in said and said[-1] in ("ended", "tick_done"), said
    assert "ended" in said


def test_a_detached_failing_canary_is_rolled_back_on_the_judges_evidence(stack, tmp_path):
    stable = alias_traffic(stack, "probe")[0]
    publish(stack, {"probe": {"FAIL_RATE": "0.3"}})
    out, seconds = detach(stack, "probe")
    print(f"\ndeploy --detach (failing): returned in {seconds:.2f} s, exit {out.returncode}")
    assert out.returncode == 0, out.stderr
    rid, release = json.loads(out.stdout)["rollouts"]["probe"], json.loads(out.stdout)["release"]
    assert cli_processes(stack) == []
    with Watch(stack, ["probe"], tmp_path / "watch.err") as follower, \
            Load(stack.api_url, ["/probe"]) as load:
        code = follower.wait()
    followed = follower.text
    assert code == 1, followed  # as deploy would have said
    assert f"probe: {rid} " in followed and "rolled_back" in followed
    quiet(followed)
    # A CI job that detaches and then watches the release gets its exit code even when
    # the controller decided before `watch` started (`watch FN` would find nothing running).
    gate = watch_release(stack, release)
    assert gate.returncode == 1, gate.stderr
    assert json.loads(gate.stdout)["rollouts"][rid]["phase"] == "rolled_back"
    assert "taken by" in gate.stderr and "rolled back" in gate.stderr.lower()
    late = run(stack, "watch", "probe")
    assert late.returncode == 0 and "nothing is rolling out for probe" in late.stderr
    unknown = run(stack, "watch", "--release", "rel-000000000000")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "no release rel-000000000000 in the state store" in unknown.stderr
    assert alias_traffic(stack, "probe") == (stable, None, 0.0)

    last = history(stack, "probe")[0]
    assert last["rollout_id"] == rid and last["phase"] == "rolled_back"
    verdict = last["verdicts"][-1]
    assert verdict["verdict"] == "rollback" and "error" in " ".join(verdict["reasons"]).lower()
    assert any(e["kind"] == "evidence" for e in last["events"])  # the judge's numbers, stored
    print(f"failing 30%: rolled back after {load.failed()} failed requests of "
          f"{sum(load.counts.values())}; {verdict['reasons'][0][:120]}")
    text = run(stack, "history", "probe", "--limit", "1").stdout
    assert f"taken by {DEFAULT_FUNCTION}@" in text and "rolled_back" in text
    said = [s["controller"] for s in decisions(stack, rid, until="ended")]
    assert "take" in said and "verdict" in said and "ended" in said, said


# -- orphans: a foreground deploy killed with kill -9 ------------------------------------------


def kill_mid_canary(stack: NotesStack, wanted: dict[str, str],
                    owner: str | None = None) -> tuple[float, int]:
    """Start ``deploy FN...`` in the foreground (no load yet: the judge has nothing to decide
    on), ``kill -9`` it once every alias sends 20% to its candidate; when it was killed, and
    its pid. ``owner``: its ``LAMBDASHIFT_OWNER`` (a CI runner's name)."""
    env = {k: v for k, v in os.environ.items() if k != "LAMBDASHIFT_OWNER"}
    cli = subprocess.Popen([sys.executable, "-m", "lambdashift.cli.main", "deploy", *wanted,
                            "--config", str(stack.root / "lambdashift.yaml"), "--poll", "0.1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**env, "LAMBDASHIFT_OWNER": owner} if owner else env)
    deadline = time.monotonic() + 60
    while any(alias_traffic(stack, fn)[1] != c for fn, c in wanted.items()):
        assert cli.poll() is None and time.monotonic() < deadline, cli.communicate(timeout=30)
        time.sleep(0.05)
    killed_at = time.time()
    os.kill(cli.pid, signal.SIGKILL)
    cli.communicate(timeout=30)
    assert cli.returncode == -signal.SIGKILL and cli_processes(stack) == []
    return killed_at, cli.pid


def wait_taken(stack: NotesStack, function: str, rollout_id: str | None = None,
               timeout: float = 60) -> dict:
    """The rollout of ``function`` once the controller took it (its ``taken`` event)."""
    deadline = time.monotonic() + timeout
    while True:
        last = history(stack, function)[0]
        assert rollout_id is None or last["rollout_id"] == rollout_id
        if any(e["kind"] == "taken" for e in last["events"]):
            return last
        assert time.monotonic() < deadline, [e["kind"] for e in last["events"]]
        time.sleep(0.2)


def test_a_killed_foreground_deploy_is_adopted_by_the_controller_and_promoted(stack, tmp_path):
    candidate = publish(stack, {"probe": {"FAIL_RATE": "0"}})["probe"]
    killed_at, pid = kill_mid_canary(stack, {"probe": candidate})
    taken = wait_taken(stack, "probe")
    event = taken_event(taken)
    print(f"\nkill -9 mid-canary: taken by the controller {event['at'] - killed_at:.2f} s after "
          "the kill (lease 10 s, a tick every 2 s)")
    assert event["details"]["orphan"] is True
    assert event["details"]["from"].endswith(f" pid {pid}")  # the killed CLI, named
    assert event["details"]["by"].startswith(f"{DEFAULT_FUNCTION}@")
    assert alias_traffic(stack, "probe")[1:] == (candidate, 0.2)  # taken where it stood
    with Watch(stack, ["probe"], tmp_path / "watch.err") as follower, \
            Load(stack.api_url, ["/probe"]) as load:
        code = follower.wait()
    assert code == 0, follower.text
    assert alias_traffic(stack, "probe") == (candidate, None, 0.0)
    last = history(stack, "probe")[0]
    assert last["rollout_id"] == taken["rollout_id"] and last["phase"] == "succeeded"
    assert last["verdicts"][-1]["verdict"] == "promote" and load.failed() == 0
    kinds = [e["kind"] for e in last["events"]]
    assert "queued" not in kinds and kinds.index("taken") < kinds.index("Resumed")
    text = run(stack, "history", "probe", "--limit", "1").stdout
    assert "an orphan: its driver" in text and "was gone" in text, text


def test_a_killed_ci_runners_deploy_is_adopted_once_its_lease_expires(stack, tmp_path):
    """A deploy named by ``LAMBDASHIFT_OWNER`` (a CI runner, maybe on another machine) is
    never taken for a dead process of this host: the controller skips it, as held, until its
    lease expires, and takes it at its next tick after that (lease + one tick)."""
    from lambdashift.connections import open_controller_store
    from lambdashift.controller.settings import ControllerSettings

    candidate = publish(stack, {"probe": {"FAIL_RATE": "0"}})["probe"]
    killed_at, pid = kill_mid_canary(stack, {"probe": candidate}, owner="ci-runner-7")
    store = open_controller_store(ControllerSettings(
        namespace="local", table="lambdashift-state", region="us-east-1",
        dynamodb_endpoint=stack.dynamodb_endpoint, lambda_endpoint=stack.lambda_endpoint))
    try:
        held = store.holder("probe")  # its last renewal: a killed process renews no more
    finally:
        store.close()
    assert held is not None and held.owner == f"ci-runner-7 pid {pid}"
    taken = wait_taken(stack, "probe", timeout=90)
    event = taken_event(taken)
    print(f"\nkill -9 of a CI runner's deploy: taken {event['at'] - killed_at:.2f} s after the "
          f"kill, {event['at'] - held.expires_at:.2f} s after its lease expired (lease 10 s, "
          "renewed at half; a tick every 2 s)")
    assert event["at"] >= held.expires_at  # never while the runner's lease was good
    assert event["details"]["orphan"] is True and event["details"]["from"] == held.owner
    with Watch(stack, ["probe"], tmp_path / "watch.err") as follower, \
            Load(stack.api_url, ["/probe"]):
        code = follower.wait()
    assert code == 0, follower.text
    assert alias_traffic(stack, "probe") == (candidate, None, 0.0)
    assert history(stack, "probe")[0]["phase"] == "succeeded"


def test_a_killed_group_of_five_with_one_bad_member_ends_all_five_on_stable(stack, tmp_path):
    stables = {fn: alias_traffic(stack, fn)[0] for fn in GROUP}
    wanted = publish(stack, {fn: {"FAIL_RATE": "0.3" if fn == "five-c" else "0"}
                             for fn in GROUP})
    killed_at, pid = kill_mid_canary(stack, wanted)
    taken = {fn: wait_taken(stack, fn) for fn in GROUP}
    events = [taken_event(r) for r in taken.values()]
    print(f"\ngroup of 5 killed mid-canary: all taken "
          f"{max(e['at'] for e in events) - killed_at:.2f} s after the kill")
    assert len({r["rollout_id"].rsplit(".", 1)[0] for r in taken.values()}) == 1  # one group
    assert all(e["details"]["orphan"] and e["details"]["from"].endswith(f" pid {pid}")
               for e in events), events
    # One driver for the whole group: every member taken by the same controller invocation.
    assert len({e["details"]["request_id"] for e in events}) == 1, events
    # Most of the load on the bad member: its evidence is what ends the group.
    paths = ["/five-c"] * 3 + [f"/{fn}" for fn in GROUP if fn != "five-c"]
    with Watch(stack, GROUP, tmp_path / "watch.err") as follower, \
            Load(stack.api_url, paths) as load:
        code = follower.wait()
    assert code == 1, follower.text
    for fn in GROUP:
        assert alias_traffic(stack, fn) == (stables[fn], None, 0.0), fn  # every alias on stable
        assert history(stack, fn)[0]["phase"] == "rolled_back", fn
    bad = history(stack, "five-c")[0]
    assert bad["verdicts"][-1]["verdict"] == "rollback"
    print(f"group: rolled back after {load.failed()} failed requests of "
          f"{sum(load.counts.values())}; {bad['verdicts'][-1]['reasons'][0][:120]}")
    out = run(stack, "history", "five", "--json")
    assert out.returncode == 0, out.stderr
    entry = json.loads(out.stdout)[0]
    assert entry["outcome"] == "rolled_back" and set(entry["members"]) == set(GROUP)
    assert all(m["phase"] == "rolled_back" for m in entry["members"].values()), entry


def test_a_detached_group_of_five_is_driven_whole_by_one_controller_invocation(stack):
    """deploy --detach invokes the controller while the schedule calls it every 2 s: the
    invocations that find the group together leave it to one (the group run's lease), which
    drives all five members in lock-step to the end."""
    path = stack.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    for fn in GROUP:  # the lock-step and the single driver, not the judge
        config["functions"][fn]["rollout"] = {
            "strategy": "custom", "analysis": "off", "bake": 0,
            "steps": [{"weight": 20}, {"pause": "2s"}, {"weight": 100}]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        wanted = publish(stack, {fn: {"FAIL_RATE": "0"} for fn in GROUP})
        out, seconds = detach(stack, *GROUP)
        print(f"\ndeploy --detach of a group of 5: returned in {seconds:.2f} s")
        assert out.returncode == 0, out.stderr
        release = json.loads(out.stdout)["release"]
        assert watch_release(stack, release).returncode == 0
    finally:
        config = yaml.safe_load(path.read_text())
        for fn in GROUP:
            config["functions"][fn].pop("rollout")
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    for fn in GROUP:
        assert alias_traffic(stack, fn) == (wanted[fn], None, 0.0), fn
    rollouts = [history(stack, fn)[0] for fn in GROUP]
    takes = [e for r in rollouts for e in r["events"] if e["kind"] == "taken"]
    assert len(takes) == 5 and len({e["details"]["request_id"] for e in takes}) == 1, takes
    entry = json.loads(run(stack, "history", "five", "--json").stdout)[0]
    assert entry["outcome"] == "succeeded" and set(entry["members"]) == set(GROUP)


# -- steering a rollout the controller drives, from any machine with the store ---------------


def test_approve_and_promote_reach_the_rollout_the_controller_drives(stack):
    """A detached release waits at a manual gate in the controller; ``approve`` and
    ``promote`` are signals in the store, acted on by the controller that holds the lease."""
    path = stack.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    config["functions"]["probe"]["rollout"] = {
        "strategy": "custom", "analysis": "off", "bake": 0,  # the gate, not the judge
        "steps": [{"weight": 10}, {"pause": "manual"}, {"weight": 50}, {"pause": "10m"},
                  {"weight": 100}]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        candidate = publish(stack, {"probe": {"FAIL_RATE": "0"}})["probe"]
        out, _ = detach(stack, "probe")
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        deadline = time.monotonic() + 60
        while json.loads(run(stack, "status", "probe", "--json").stdout)["functions"][0].get(
                "rollout", {}).get("phase") != "paused":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert alias_traffic(stack, "probe")[1:] == (candidate, 0.1)

        approved = run(stack, "approve", "probe")
        assert approved.returncode == 0, approved.stderr
        assert f"asked the rollout run by {DEFAULT_FUNCTION}@" in approved.stderr  # not driven here
        deadline = time.monotonic() + 60
        while alias_traffic(stack, "probe")[1:] != (candidate, 0.5):
            assert time.monotonic() < deadline, alias_traffic(stack, "probe")
            time.sleep(0.1)
        promoted = run(stack, "promote", "probe")  # skips the 10 min pause
        assert promoted.returncode == 0, promoted.stderr
        assert f"asked the rollout run by {DEFAULT_FUNCTION}@" in promoted.stderr
        assert watch_release(stack, result["release"]).returncode == 0
        assert alias_traffic(stack, "probe") == (candidate, None, 0.0)
        assert cli_processes(stack) == []
        text = run(stack, "history", "probe", "--limit", "1").stdout
        assert "gate passed: approved by hand" in text and "succeeded" in text, text
    finally:  # the module's judged canary again
        config = yaml.safe_load(path.read_text())
        config["functions"]["probe"].pop("rollout")
        path.write_text(yaml.safe_dump(config, sort_keys=False))
