"""Canary analysis end to end on the local stack, under load through the HTTP API.

A probe function's faults come from its configuration: a candidate that fails 5% of
requests is rolled back by the judge, a healthy one promoted, one 1.5× slower at p99
rolled back — each with its verdicts in ``history``. Load: a few client threads on
loopback, bounded in time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import httpx
import yaml

from tests.e2e.conftest import NotesStack
from tests.e2e.rollout_helpers import alias_traffic, history, run

ANALYSIS = {"min_duration": "2s", "min_invocations": 60, "max_wait": "90s", "on_timeout": "rollback",
            "interval": "0.5s"}


def release(stack: NotesStack, environment: dict[str, str], steps: list, *, judged: bool = True,
            **top: object) -> str:
    """Change the probe's configuration in the yaml, set the rollout (``analysis: off`` unless
    ``judged``) and top-level keys such as hooks and webhooks, publish; the new version."""
    path = stack.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    config["functions"]["probe"]["environment"] = environment
    # No bake after the switch: these tests are about the judge (test_bake_e2e.py bakes).
    config["functions"]["probe"]["rollout"] = {"strategy": "custom", "steps": steps, "bake": 0,
                                               **({} if judged else {"analysis": "off"})}
    for key in ("hooks", "webhooks"):
        config.pop(key, None)
    config.update(top)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = run(stack, "publish", "probe", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]["version"]


class Load:
    """Client threads sending GET /probe until stopped; counts answers per version and status."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url, self.stop = url, threading.Event()
        self.counts: Counter[tuple[str, int]] = Counter()
        self.failed_at: list[float] = []  # when each 5xx answer arrived (time.time())
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                resp = http.get("/probe")
                with self._lock:
                    self.counts[(resp.headers.get("x-function-version", "?"), resp.status_code)] += 1
                    if resp.status_code >= 500:
                        self.failed_at.append(time.time())

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join()


def deploy_under_load(stack: NotesStack) -> tuple[object, Load]:
    with Load(stack.api_url) as load:
        out = run(stack, "deploy", "probe", "--poll", "0.5", timeout=240)
    return out, load


def verdicts_of(stack: NotesStack) -> list[dict]:
    return [e["details"] for e in history(stack, "probe")[0]["events"] if e["kind"] == "VerdictReceived"]


def test_a_candidate_failing_5_percent_is_rolled_back_automatically(probe_stack):
    stable = alias_traffic(probe_stack, "probe")[0]
    release(probe_stack, {"FAIL_RATE": "0.05", "DELAY_MS": "4"},
            [{"weight": 20}, {"analysis": ANALYSIS}, {"weight": 100}])
    out, load = deploy_under_load(probe_stack)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
    last = history(probe_stack, "probe")[0]
    assert last["phase"] == "rolled_back"
    assert any(v["verdict"] == "rollback" for v in verdicts_of(probe_stack))
    served_failures = sum(n for (version, status), n in load.counts.items() if status >= 500)
    print(f"\n5% candidate: rolled back; requests {sum(load.counts.values())}, "
          f"failed requests (served by the candidate) {served_failures}; verdict: "
          f"{verdicts_of(probe_stack)[-1]['reasons'][:2]}")
    assert "rollback" in out.stderr and "verdict" in out.stderr


def test_a_healthy_candidate_is_promoted(probe_stack):
    release(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "4", "BUILD": "healthy"},
            [{"weight": 20}, {"analysis": ANALYSIS}, {"weight": 100}])
    version = json.loads(run(probe_stack, "status", "probe", "--json").stdout)["functions"][0]["latest"]
    out, load = deploy_under_load(probe_stack)
    assert out.returncode == 0, out.stderr
    assert alias_traffic(probe_stack, "probe") == (version, None, 0.0)
    assert verdicts_of(probe_stack)[-1]["verdict"] == "promote"
    assert sum(n for (_, status), n in load.counts.items() if status >= 500) == 0
    words = run(probe_stack, "history", "probe", "--limit", "1").stdout
    assert words.startswith("analysis steps look every 0.2 s"), words  # the default, stated


def test_a_candidate_1_5x_slower_at_p99_is_rolled_back(probe_stack):
    stable = alias_traffic(probe_stack, "probe")[0]
    release(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "4", "SLOW_FACTOR": "1.5"},
            [{"weight": 30}, {"analysis": {**ANALYSIS, "min_invocations": 200}}, {"weight": 100}])
    out, _ = deploy_under_load(probe_stack)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
    reasons = " ".join(r for v in verdicts_of(probe_stack) for r in v["reasons"])
    assert verdicts_of(probe_stack)[-1]["verdict"] == "rollback" and "latency" in reasons.lower()


def test_a_time_boxed_step_promotes_at_promote_after_not_an_interval_later(probe_stack):
    """promote_after 3s with a 60 s interval and more invocations than the load can bring:
    nothing can be shown, so the clock promotes, on the look the engine makes at 3 s."""
    step = {"promote_after": "3s", "interval": "60s", "min_invocations": 10**9}
    release(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "4", "BUILD": "boxed"},
            [{"weight": 20}, {"analysis": step}, {"weight": 100}])
    version = json.loads(run(probe_stack, "status", "probe", "--json").stdout)["functions"][0]["latest"]
    out, _ = deploy_under_load(probe_stack)
    assert out.returncode == 0, out.stderr
    assert alias_traffic(probe_stack, "probe") == (version, None, 0.0)
    verdicts = verdicts_of(probe_stack)
    assert [v["verdict"] for v in verdicts] == ["continue", "promote"]
    assert verdicts[-1]["reasons"][0].startswith("promote_after 3 s reached with no regression shown")
    evidence = [e["details"] for e in history(probe_stack, "probe")[0]["events"] if e["kind"] == "evidence"]
    assert 3.0 <= evidence[-1]["numbers"]["elapsed_s"] < 60.0  # the deadline's look, not the interval's


# --- the example config, unchanged: judged by default (issue 8) ------------------------------


def release_as_configured(stack: NotesStack, environment: dict[str, str]) -> str:
    """A new probe version with the example's own rollout, its bake off."""
    path = stack.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    config["functions"]["probe"]["environment"] = environment
    # The example's rollout, without its bake (the judge's tests; test_bake_e2e.py bakes).
    config["functions"]["probe"]["rollout"] = {"bake": 0}
    for key in ("hooks", "webhooks"):
        config.pop(key, None)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = run(stack, "publish", "probe", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]["version"]


def example_rollout() -> dict:
    from tests.e2e.conftest import NOTES
    return yaml.safe_load((NOTES / "lambdashift.yaml").read_text())["rollout"]


def rolled_back_within(stack: NotesStack, load: Load, what: str) -> tuple[float, int]:
    """Seconds from the first failed request to the rollback's alias write, and the failed
    requests until then (all of them: the stable fails none); printed."""
    events = history(stack, "probe")[0]["events"]
    back = next(e["at"] for e in events if e["kind"] == "rolled_back")
    failed = len(load.failed_at)
    assert failed, "the candidate never failed"
    seconds = back - min(load.failed_at)
    reason = history(stack, "probe")[0]["reason"]
    print(f"\n{what}: rolled back {seconds:.2f} s after the first failed request, after {failed} "
          f"failed requests ({sum(load.counts.values())} requests in all); {reason[:160]}")
    return seconds, failed


def test_the_example_config_is_judged_and_rolls_back_a_5_percent_failure_within_seconds(probe_stack):
    assert example_rollout() == {"strategy": "canary", "weight": 10, "pause": "30s", "bake": "15s"}
    stable = alias_traffic(probe_stack, "probe")[0]
    release_as_configured(probe_stack, {"FAIL_RATE": "0.05", "DELAY_MS": "4", "BUILD": "5pct"})
    out, load = deploy_under_load(probe_stack)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
    seconds, failed = rolled_back_within(probe_stack, load, "5% failures, example config")
    assert failed <= 10  # the figure the issue asks for; the time is printed, never asserted


def test_the_example_config_stops_a_release_whose_import_raises_before_any_traffic(probe_stack):
    """The candidate gate (issue 17): invoked by version before the first alias write, the
    release fails its init, so not one request reaches it."""
    stable = alias_traffic(probe_stack, "probe")[0]
    release_as_configured(probe_stack, {"IMPORT_FAIL": "1", "DELAY_MS": "4"})
    out, load = deploy_under_load(probe_stack)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
    assert load.failed_at == [] and "Runtime.ImportModuleError" in out.stderr
    assert history(probe_stack, "probe")[0]["reason"].startswith("check failed: pre-traffic: candidate")


def test_the_example_config_promotes_a_healthy_release_after_its_pause(probe_stack):
    version = release_as_configured(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "4", "BUILD": "ok"})
    started = time.time()
    out, load = deploy_under_load(probe_stack)
    assert out.returncode == 0, out.stderr
    assert alias_traffic(probe_stack, "probe") == (version, None, 0.0)
    last = verdicts_of(probe_stack)[-1]
    assert last["verdict"] == "promote" and "no worse" in last["reasons"][0]
    print(f"\nhealthy, example config: promoted in {time.time() - started:.0f} s; {last['reasons'][:2]}")
    assert not load.failed_at


def test_an_analysis_step_without_settings_is_the_default_judge(probe_stack):
    stable = alias_traffic(probe_stack, "probe")[0]
    release(probe_stack, {"FAIL_RATE": "0.05", "DELAY_MS": "4", "BUILD": "empty-step"},
            [{"weight": 10}, {"analysis": {}}, {"weight": 100}])
    out, load = deploy_under_load(probe_stack)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
    reasons = " ".join(verdicts_of(probe_stack)[-1]["reasons"])
    assert "no checks configured" not in out.stderr and "rollback" in reasons
    rolled_back_within(probe_stack, load, "5% failures, `- analysis: {}`")
