"""A candidate serves before it gets traffic, and a switch never turns requests away (issue 17,
items 1 and 6), on the local stack under paced load through the HTTP API.

One probe stack for the whole file. The broken candidates (a syntax error, an import that
raises, a handler function that does not exist) must be stopped before any alias write:
the alias's RevisionId unchanged, exit 1, the error type on the terminal, and not one
request answered by them. Then 20 blue-green switches between healthy versions under about
100 requests/s with pre-warm on: not one request answered 429 or 5xx.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter

import pytest
import yaml

from tests.e2e.conftest import NotesStack
from tests.e2e.rollout_helpers import new_version

#: The rollout of every deploy here. When the post-switch bake (issue 17 item 2) lands, add
#: ``"bake": 0`` here: these tests are about the moment of the switch, not what follows it.
BLUE_GREEN = {"strategy": "blue-green", "analysis": "off"}


_LOAD = """
import sys, threading, time, httpx, json
url, rate, threads, out, stop_file = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
seen, stop = [], threading.Event()
def run(index):
    interval = threads / rate
    next_at = time.monotonic() + index * interval / threads
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.is_set():
            sent = time.time()
            try:
                r = http.get("/probe")
                seen.append((sent, r.status_code, r.headers.get("x-function-version", "-")))
            except httpx.HTTPError:
                seen.append((sent, 0, "-"))
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                stop.wait(delay)
            else:
                next_at = time.monotonic()  # behind: no burst to catch up
workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
[w.start() for w in workers]
import os
while not os.path.exists(stop_file):
    time.sleep(0.05)
stop.set()
[w.join() for w in workers]
json.dump(seen, open(out, "w"))
"""


class PacedLoad:
    """``threads`` clients, in a process of their own (the deploys must not slow them down),
    sending GET /probe at ``rate`` requests/s in all; each request kept as (sent at, status,
    X-Function-Version), status 0 for a request that got no answer."""

    def __init__(self, url: str, workdir, *, rate: float = 100.0, threads: int = 4) -> None:  # noqa: ANN001
        self.url, self.rate, self.threads = url, rate, threads
        self._out, self._stop = workdir / "load.json", workdir / "load.stop"
        self._stop.unlink(missing_ok=True)
        self.seen: list[tuple[float, int, str]] = []
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PacedLoad:
        self._process = subprocess.Popen([sys.executable, "-c", _LOAD, self.url, str(self.rate),
                                          str(self.threads), str(self._out), str(self._stop)])
        time.sleep(1.5)  # the clients are sending, with warm environments, before the first switch
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.touch()
        assert self._process is not None and self._process.wait(timeout=60) == 0
        self.seen = [tuple(r) for r in json.loads(self._out.read_text())]  # type: ignore[misc]

    def statuses(self) -> Counter[int]:
        return Counter(status for _, status, _ in self.seen)

    def achieved(self) -> float:
        """Requests per second actually sent (the machine is shared: printed, not asserted)."""
        if len(self.seen) < 2:
            return 0.0
        return len(self.seen) / (max(t for t, _, _ in self.seen) - min(t for t, _, _ in self.seen))


def lambdashift(stack: NotesStack, capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    """``lambdashift ARGS --config <the copy>`` in this process (``cli.main.main``, what the
    console script runs): (exit code, stdout, stderr). A fresh interpreter per command cost
    more than the command itself on a shared 2-core machine."""
    from lambdashift.cli.main import main

    capsys.readouterr()
    code = main([*args, "--config", str(stack.root / "lambdashift.yaml")])
    out = capsys.readouterr()
    return code, out.out, out.err


def release(stack: NotesStack, capsys, source: str | None = None, handler: str = "index.handler",  # noqa: ANN001
            smoke: object = None, prewarm: bool = True, **environment: str) -> tuple[str, str]:
    """Point the probe at ``source`` (a directory under functions/, default the probe's own)
    with this handler and environment, blue-green, and publish; (version, publish's stderr)."""
    path = stack.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    probe = config["functions"]["probe"]
    probe.update(source=f"functions/{source or 'probe'}", handler=handler,
                 environment={"FAIL_RATE": "0", "DELAY_MS": "4", **environment})
    probe["rollout"] = dict(BLUE_GREEN, **({"smoke": smoke} if smoke is not None else {}))
    config["prewarm"] = prewarm
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    code, stdout, stderr = lambdashift(stack, capsys, "publish", "probe", "--json")
    assert code == 0, stderr
    return json.loads(stdout)[0]["version"], stderr


def broken_copy(stack: NotesStack, name: str, edit) -> str:  # noqa: ANN001
    """functions/<name>: the probe's code changed by ``edit(source) -> source``."""
    target = stack.root / "functions" / name
    if not target.exists():
        shutil.copytree(stack.root / "functions" / "probe", target)
        index = target / "index.py"
        index.write_text(edit(index.read_text()))
    return name


BROKEN = {
    "syntax error": (lambda s: s + "\n\ndef half_written(event:\n", "index.handler",
                     "Runtime.UserCodeSyntaxError", "does not compile"),
    "import raises": (lambda s: "import settings_this_release_forgot\n" + s, "index.handler",
                      "Runtime.ImportModuleError", None),
    "missing handler": (lambda s: s, "index.hander",
                        "Runtime.HandlerNotFound", "defines no 'hander' (did you mean 'handler'?)"),
}
#: The check runs with pre-warming off too (then it is the one invocation before traffic).
PREWARM_OFF = {"missing handler"}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_candidate_that_cannot_serve_gets_no_alias_write_and_no_request(probe_stack, capsys, case):
    edit, handler, error_type, publish_warning = BROKEN[case]
    healthy, _ = release(probe_stack, capsys)
    lam = probe_stack.lam
    if lam.get_alias(FunctionName="probe", Name="live")["FunctionVersion"] != healthy:
        assert lambdashift(probe_stack, capsys, "deploy", "probe", "--plain", "--no-check")[0] == 0
    source = broken_copy(probe_stack, case.replace(" ", "-"), edit)
    candidate, published = release(probe_stack, capsys, source, handler, prewarm=case not in PREWARM_OFF)
    if publish_warning:  # publish says it, and publishes anyway (the code may be right on AWS)
        assert publish_warning in published, published
    before = lam.get_alias(FunctionName="probe", Name="live")
    with PacedLoad(probe_stack.api_url, probe_stack.root) as load:
        code, _, stderr = lambdashift(probe_stack, capsys, "deploy", "probe", "--plain")
    after = lam.get_alias(FunctionName="probe", Name="live")
    by_candidate = sum(1 for _, _, version in load.seen if version == candidate)
    with capsys.disabled():  # the figures, whatever captures the commands' output
        print(f"\n{case}: exit {code}; {len(load.seen)} requests at {load.achieved():.0f}/s, "
              f"statuses {dict(load.statuses())}, answered by v{candidate}: {by_candidate}")
    assert code == 1, stderr
    assert after["RevisionId"] == before["RevisionId"] and after["FunctionVersion"] == healthy
    assert by_candidate == 0 and load.statuses() == Counter({200: len(load.seen)})
    assert error_type in stderr and "stopped before any traffic" in stderr
    assert "    | " in stderr  # the failed invocation's log lines, under the reason
    code, stdout, _ = lambdashift(probe_stack, capsys, "history", "probe", "--json")
    last = json.loads(stdout)[0]
    assert (last["candidate"], last["phase"]) == (candidate, "rolled_back")
    assert last["reason"].startswith(f"check failed: pre-traffic: candidate version {candidate} ")
    rejected = [e for e in last["events"] if e["kind"] == "candidate_rejected"]
    assert rejected and rejected[0]["details"]["error_type"] == error_type
    assert not [e for e in last["events"] if e["kind"] in ("AliasWritten", "prewarmed")]
    _, words, _ = lambdashift(probe_stack, capsys, "history", "probe", "--limit", "1")
    assert f"→ {candidate}  rejected before traffic" in words and error_type in words, words


def test_twenty_blue_green_switches_under_100_requests_per_second_turn_no_request_away(
        probe_stack, capsys):
    release(probe_stack, capsys)
    if lambdashift(probe_stack, capsys, "deploy", "probe", "--plain")[0] != 0:
        pytest.fail("the probe's healthy version could not be deployed")
    switches, prewarmed = 20, []
    took = []
    with PacedLoad(probe_stack.api_url, probe_stack.root, rate=100.0) as load:
        for _ in range(switches):
            version = new_version(probe_stack, "probe")  # through boto3: faster than `publish`
            started = time.monotonic()
            code, _, stderr = lambdashift(probe_stack, capsys, "deploy", "probe", "--plain", "--no-check")
            took.append(time.monotonic() - started)
            assert code == 0, stderr
            assert probe_stack.lam.get_alias(FunctionName="probe", Name="live")["FunctionVersion"] == version
            prewarmed += [line.split("probe", 1)[-1].strip() for line in stderr.splitlines()
                          if "pre-warmed" in line]
    statuses = load.statuses()
    refused = sum(n for status, n in statuses.items() if status == 429 or status >= 500 or status == 0)
    with capsys.disabled():
        print(f"\n{switches} blue-green switches, {len(load.seen)} requests at {load.achieved():.0f}/s: "
              f"{refused} answered 429, 5xx or nothing ({dict(statuses)}); a deploy took "
              f"{sorted(took)[len(took) // 2]:.1f} s (median); pre-warms: "
              f"{Counter(line.split(' environment')[0].split(': ')[-1] for line in prewarmed)} "
              f"(environments ready: times); last: {prewarmed[-1]}")
    assert len(prewarmed) == switches  # pre-warm on, once per switch
    assert refused == 0


def test_a_smoke_request_checks_the_candidates_answer_before_any_traffic(probe_stack, capsys):
    healthy, _ = release(probe_stack, capsys)
    if probe_stack.lam.get_alias(FunctionName="probe", Name="live")["FunctionVersion"] != healthy:
        assert lambdashift(probe_stack, capsys, "deploy", "probe", "--plain", "--no-check")[0] == 0
    wrong = {"name": "probe answers", "event": {"rawPath": "/probe"},
             "expect": {"statusCode": 200, "body": {"ok": False}}}
    candidate, _ = release(probe_stack, capsys, smoke=wrong, BUILD="smoke")
    code, _, stderr = lambdashift(probe_stack, capsys, "deploy", "probe", "--plain", "--no-check")
    assert code == 1 and "SmokeMismatch: answer.body.ok is true, expected false" in stderr, stderr
    assert probe_stack.lam.get_alias(FunctionName="probe", Name="live")["FunctionVersion"] == healthy
    release(probe_stack, capsys, smoke={**wrong, "expect": {"statusCode": 200, "body": {"ok": True}}},
            BUILD="smoke")  # the same code: the same version, its smoke now right
    code, _, stderr = lambdashift(probe_stack, capsys, "deploy", "probe", "--plain", "--no-check")
    assert code == 0, stderr
    assert probe_stack.lam.get_alias(FunctionName="probe", Name="live")["FunctionVersion"] == candidate
