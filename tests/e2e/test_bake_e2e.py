"""The bake end to end: blue-green switches on the local stack under ~100 requests/s.

A candidate that fails 5% of its HTTP requests, and one that fails all of them, pass the
pre-traffic checks (they fail users, not a direct invocation) and take all the traffic at
the switch; the bake compares them with the stable's requests before the switch and rolls
back before its time is over. The failed requests are counted by the client and printed.
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

RATE = 100.0  # requests/s, paced over THREADS client threads
THREADS = 4
BAKE = "20s"


class PacedLoad:
    """GET /probe at about ``rate`` requests/s until stopped; counts answers per status."""

    def __init__(self, url: str, rate: float = RATE, threads: int = THREADS) -> None:
        self.url, self.stop = url, threading.Event()
        self.interval = threads / rate
        self.counts: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        due = time.monotonic() + i * self.interval / THREADS
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self.stop.is_set():
                due += self.interval
                resp = http.get("/probe")
                with self._lock:
                    self.counts[(resp.headers.get("x-function-version", "?"), resp.status_code)] += 1
                self.stop.wait(max(0.0, due - time.monotonic()))

    @property
    def failed(self) -> int:
        with self._lock:
            return sum(n for (_, status), n in self.counts.items() if status >= 500)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def __enter__(self) -> PacedLoad:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self._threads:
            t.join()


def publish(stack: NotesStack, environment: dict[str, str], bake: str = BAKE) -> str:
    """A new probe version, rolled out blue-green with a bake."""
    path = stack.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    config["functions"]["probe"]["environment"] = environment
    config["functions"]["probe"]["rollout"] = {"strategy": "blue-green", "bake": bake}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = run(stack, "publish", "probe", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)[0]["version"]


def deploy_under_load(stack: NotesStack, environment: dict[str, str], warm_up: float, what: str,
                      bake: str = BAKE):  # noqa: ANN201
    """Publish, then deploy under the paced load after ``warm_up`` seconds of it (the stable's
    baseline); the deploy's output, the failed requests after the warm-up, the history."""
    publish(stack, environment, bake)
    with PacedLoad(stack.api_url) as load:
        time.sleep(warm_up)
        before = load.failed  # the stable fails none; counted anyway
        out = run(stack, "deploy", "probe", "--poll", "0.5", timeout=240)
        time.sleep(0.5)  # the answers in flight at the rollback
    last = history(stack, "probe")[0]
    failed = load.failed - before
    print(f"\n{what}: {last['phase']} after {failed} failed requests ({load.total} requests "
          f"at ~{RATE:g}/s in all); {last['reason'][:220]}")
    return out, failed, last


def baked(stack: NotesStack, environment: dict[str, str], warm_up: float, what: str):  # noqa: ANN201
    """Deploy under load; the bake must roll it back: the output, failed requests, history."""
    stable = alias_traffic(stack, "probe")[0]
    out, failed, last = deploy_under_load(stack, environment, warm_up, what)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(stack, "probe") == (stable, None, 0.0)
    assert last["phase"] == "rolled_back"
    # Rolled back by the bake (at its end a bake promotes), with both sides in the reason.
    assert last["reason"].startswith("analysis: bake: v"), last["reason"]
    assert "since the switch vs" in last["reason"] and "before the switch" in last["reason"]
    kinds = [e["kind"] for e in last["events"]]
    assert "bake" in kinds and kinds.index("bake") > kinds.index("AliasWritten")
    return out, failed, last


def test_blue_green_of_a_5_percent_failure_is_rolled_back_during_the_bake(probe_stack):
    # 20 s of the stable first: a baseline of ~2,000 requests bounds its rate near 0.3%.
    out, failed, last = baked(probe_stack, {"FAIL_RATE": "0.05", "FAIL_HTTP_ONLY": "1",
                                            "DELAY_MS": "4", "BUILD": "bake-5pct"},
                              warm_up=20.0, what="blue-green, 5% failing, bake")
    assert 0 < failed <= 10  # the figure for ~100 requests/s
    assert "bake" in out.stderr and "rolled back" in out.stderr
    words = run(probe_stack, "history", "probe", "--limit", "1").stdout
    assert "bake for 20 s: v" in words and "rolled_back" in words


def test_blue_green_of_a_release_failing_every_request_is_rolled_back_after_a_few(probe_stack):
    # The stable's requests of the test before are its baseline (the last 30 min).
    out, failed, last = baked(probe_stack, {"FAIL_RATE": "1", "FAIL_HTTP_ONLY": "1",
                                            "DELAY_MS": "4", "BUILD": "bake-all"},
                              warm_up=3.0, what="blue-green, every request failing, bake")
    assert 0 < failed <= 30  # a few looks' worth at 100/s; printed above


def test_blue_green_of_a_healthy_release_passes_its_bake_and_says_what_it_compared(probe_stack):
    """The A/A case on the real stack: same code, a new version; the bake ends by time."""
    out, failed, last = deploy_under_load(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "4",
                                                        "BUILD": "bake-healthy"},
                                          warm_up=3.0, what="blue-green, healthy, bake", bake="8s")
    assert out.returncode == 0, out.stderr
    assert last["phase"] == "succeeded" and failed == 0
    verdicts = [e["details"] for e in last["events"] if e["kind"] == "VerdictReceived"]
    assert verdicts[-1]["verdict"] == "promote"
    assert verdicts[-1]["reasons"][0].startswith("bake passed: no evidence in 8 s that v"), \
        verdicts[-1]["reasons"]
