"""The README's quick start, run as written (its traffic command included), on a copy of the
notes service: it ends on its clock, and a v2 failing 5% of requests is rolled back.

The two ``sh`` blocks of "Quick start" are taken from README.md and run by bash in a
directory laid out as the repository is (``.venv/bin/lambdashift``, ``examples/notes``), with
the one step the README gives in words done by the test: point ``notes-create``'s ``source`` at
``functions/create_note/v2``. ``set -x`` with ``$EPOCHREALTIME`` stamps each command, so the
deploy's own duration is read from the trace. The blocks start the local stack and stop it
(``local down``); a run that stops early is cleaned up by the test, and the background
``lambdashift load`` is ended with its process group.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from lambdashift.aws.clients import make_client
from lambdashift.core.strategy import parse_duration
from tests.e2e.conftest import cli, copy_notes

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
TRACE = re.compile(r"^\++ (\d+\.\d+) (.*)$")
#: The issue's bound: the quick start's deploy ends within its pause + this.
SLACK_S = 30.0
#: Injected into a copy of notes-create v2: the release that fails 5% of its requests.
FAILING = '''

import random as _random

_handler = handler


def handler(event, context):  # noqa: F811 - the test's 5%-failing release
    if _random.random() < 0.05:
        raise RuntimeError("injected failure (5% of requests)")
    return _handler(event, context)
'''


def quick_start() -> tuple[str, str]:
    """The quick start's two ``sh`` blocks: the stack and v1; shipping v2."""
    start = README.index("## Quick start")
    first, second = re.compile(r"```sh\n(.*?)```", re.S).findall(README, start)[:2]
    assert "lambdashift local up" in first
    assert re.search(r"^lambdashift load .*&", second, re.M), "the quick start sends no traffic"
    assert re.search(r"^lambdashift deploy notes-create\s+#", second, re.M)
    return first, second


def layout(tmp: Path, release: str) -> Path:
    """``tmp`` laid out as the repository (a ``.venv/bin/lambdashift`` that runs this Python,
    ``examples/notes``), ``notes-create`` pointed at ``release`` (the README's words); the
    notes directory."""
    bin_dir = tmp / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "lambdashift"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lambdashift.cli.main "$@"\n')
    shim.chmod(0o755)
    notes = copy_notes(tmp / "examples" / "notes")
    if release == "v2-failing":
        v2 = notes / "functions" / "create_note" / "v2"
        bad = notes / "functions" / "create_note" / "v2-failing"
        bad.mkdir()
        (bad / "index.py").write_text((v2 / "index.py").read_text() + FAILING)
    return notes


def run_quick_start(tmp: Path, release: str, before_down: Callable[[Path], None] | None = None
                    ) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Both blocks, in one bash, as a user pastes them; the source edit between them.
    ``before_down`` looks at a stack the blocks left running (they stopped early)."""
    notes = layout(tmp, release)
    first, second = quick_start()
    edit = (f"sed -i 's|source: functions/create_note/v1|source: functions/create_note/{release}|' "
            "lambdashift.yaml")
    script = f"PS4='+ $EPOCHREALTIME '\nset -ex\n{first}\n{edit}\n{second}"
    out, err = tmp / "stdout", tmp / "stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDASHIFT_")}
    with out.open("w") as stdout, err.open("w") as stderr:
        # Its own process group: the background load goes with it, whatever happens.
        proc = subprocess.Popen(["bash", "-c", script], cwd=tmp, stdout=stdout, stderr=stderr,
                                env=env, start_new_session=True, text=True)
        try:
            code = proc.wait(timeout=400)
            if code == 0:
                _wait_for_group(proc.pid, 40)  # the load's last line (it sends for 60 s)
        finally:
            _end_group(proc)
            try:
                if before_down is not None:
                    before_down(notes)
            finally:
                if (notes / ".lambdashift" / "local.json").exists():
                    cli("local", "down", "--config", str(notes / "lambdashift.yaml"))
    done = subprocess.CompletedProcess(script, code, out.read_text(), err.read_text())
    print(done.stderr[-6000:])
    return done, notes


def _wait_for_group(pgid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)


def _end_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def traced(stderr: str) -> list[tuple[float, str]]:
    """(when, command) for every command bash ran, in order."""
    return [(float(m[1]), m[2]) for m in map(TRACE.match, stderr.splitlines()) if m]


def deploy_seconds(stderr: str) -> float:
    """From the start of ``lambdashift deploy notes-create`` to the start of the command after
    it in the README (``status``; the background load's trace may come in between)."""
    when = {c: t for t, c in traced(stderr)}
    return when["lambdashift status"] - when["lambdashift deploy notes-create"]


def pause_of(notes: Path) -> float:
    return parse_duration(yaml.safe_load((notes / "lambdashift.yaml").read_text())["rollout"]["pause"],
                          "rollout.pause")


def test_the_quick_start_as_written_ends_within_its_pause_plus_30_s(tmp_path):
    done, notes = run_quick_start(tmp_path, "v2")
    assert done.returncode == 0, done.stderr[-3000:]
    took, pause = deploy_seconds(done.stderr), pause_of(notes)
    print(f"\nquick start: deploy took {took:.1f} s for a {pause:g} s pause (bound {pause + SLACK_S:g} s)")
    assert took <= pause + SLACK_S
    # It ended on its clock, judged, having said what it could catch at the traffic it saw.
    said = re.search(r"forecast: at ([\d.]+) v2 requests/s for 30 s, a v2 failing 5% is caught", done.stderr)
    assert said and float(said[1]) > 0, done.stderr[-3000:]
    assert "succeeded: live serves 2" in done.stderr
    history = done.stdout[done.stdout.index("succeeded"):]
    assert "forecast: at" in done.stdout and "verdict promote" in history
    load = re.search(r"load: \d+ requests .*: v1 \d+ \(\d+ failed\), v2 (\d+) \(0 failed\)", done.stdout)
    assert load and int(load[1]) > 0, done.stdout[-2000:]


def test_a_v2_failing_5_percent_is_rolled_back_under_the_same_quick_start(tmp_path):
    seen = {}

    def before_down(notes: Path) -> None:
        """The stack still runs (bash -e stopped at the deploy): the alias and history."""
        stack = json.loads((notes / ".lambdashift" / "local.json").read_text())
        lam = make_client("lambda", endpoint_url=stack["lambda_endpoint"], local=True)
        seen["alias"] = lam.get_alias(FunctionName="notes-create", Name="live")
        out = cli("history", "notes-create", "--json", "--config", str(notes / "lambdashift.yaml"))
        seen["history"] = json.loads(out.stdout)

    done, _ = run_quick_start(tmp_path, "v2-failing", before_down)
    assert done.returncode == 1, done.stderr[-3000:]  # the deploy: rolled back
    ran = [c for _, c in traced(done.stderr) if not c.startswith("lambdashift load")]  # in the background
    assert ran[-1] == "lambdashift deploy notes-create"
    assert "forecast: at" in done.stderr
    assert re.search(r"notes-create\s+rolled back: analysis: v2 errors", done.stderr), done.stderr[-3000:]
    alias = seen["alias"]
    assert alias["FunctionVersion"] == "1" and not alias.get("RoutingConfig", {}).get("AdditionalVersionWeights")
    last = seen["history"][0]
    assert last["phase"] == "rolled_back"
    assert any(e["kind"] == "forecast" for e in last["events"])
    print(f"\n5% failing v2 under the quick start: {last['reason'][:200]}")
