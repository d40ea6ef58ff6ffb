"""The article's release, for real, on the embedded local stack, under live traffic.

1. ``local up``: the notes service's five functions (release v1), the HTTP API, DynamoDB.
2. Live traffic starts: creates, reads and lists, every answer counted.
3. Release v2 of notes-create alone (it stamps ``created_at``): publish, then a canary
   judged on evidence; notes-get (still v1) keeps reading every note.
4. Release v2 of notes-get (``created_at`` always there, null for v1 notes).
5. A bad release of notes-list (a bug that fails 10% of requests): the judge sees the
   candidate fail where the stable does not, and rolls it back automatically.
6. Traffic stops; every request is accounted for, by route, version and status.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from lambdashift.cli.main import main as cli
from lambdashift.loadgen import NotesLoad, Tally

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"

BUG = '''

# --- a bad release: an off-by-one in the page handling fails 10% of requests ---------
import random as _random

_handler = handler


def handler(event, context):
    if _random.random() < 0.10:
        raise IndexError("list index out of range (the bug this release ships)")
    return _handler(event, context)
'''


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


#: The judge's settings for the demo: a 2-point error margin and the p90 (instead of 1 point
#: and p99) so that a healthy release can be shown no worse within a minute of demo traffic.
ANALYSIS = {"interval": "2s", "min_duration": "10s", "min_invocations": 50, "error_margin": 0.02,
            "latency_quantile": 0.9, "latency_margin": 0.1, "max_wait": "3m", "on_timeout": "rollback"}


def _canary(percent: int) -> dict:
    return {"strategy": "custom", "steps": [{"weight": percent}, {"analysis": ANALYSIS}, {"weight": 100}]}


def _edit(config: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load(config.read_text())
    change(data)
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def _release(config: Path, function: str, source: str, percent: int) -> int:
    def change(data: dict) -> None:
        data["functions"][function]["source"] = source
        data["functions"][function]["rollout"] = _canary(percent)
    _edit(config, change)
    code = cli(["publish", function, "--config", str(config)])
    if code != 0:
        return code
    return cli(["deploy", function, "--config", str(config), "--poll", "0.5"])


def _summary(tally: Tally) -> bool:
    print(f"\n{'ROUTE':<18} {'VERSION':>7} {'STATUS':>6} {'REQUESTS':>9}")
    for (route, version, status), n in sorted(tally.answers.items()):
        print(f"{route:<18} {version:>7} {status:>6} {n:>9}")
    failed = tally.failed()
    print(f"\nrequests sent: {tally.total}; answered: {sum(tally.answers.values())}; "
          f"lost (no answer): {sum(tally.lost.values())}; unexpected 4xx: {tally.unexpected()}")
    for (route, version), n in sorted(failed.items()):
        print(f"failed (5xx): {n} on {route}, all served by version {version}")
    return not tally.lost and tally.unexpected() == 0


def run(*, keep: Path | None = None, rate: float = 80.0) -> int:
    """Run the walkthrough; 0 when every step went as the story says."""
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="lambdashift-demo-"))
    root = work / "notes"
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(NOTES, root, ignore=shutil.ignore_patterns(".lambdashift", "__pycache__", ".terraform"))
    config = root / "lambdashift.yaml"
    bad = root / "functions" / "list_notes" / "bad"
    shutil.copytree(root / "functions" / "list_notes" / "v1", bad)
    with open(bad / "index.py", "a") as out:
        out.write(BUG)
    ok = True
    try:
        _say("1. the local stack: five functions (release v1), HTTP API, DynamoDB")
        if cli(["local", "up", "--detach", "--config", str(config)]) != 0:
            return 1
        from lambdashift.local.stack import running_state
        api_url = running_state(root).api_url
        _say(f"2. live traffic: ~{rate:.0f} requests/s of creates, reads and lists to {api_url}")
        load = NotesLoad(api_url, rate=rate).start()
        time.sleep(3)
        _say("3. release v2 of notes-create alone: 25% canary, judged against v1, then 100%")
        ok &= _release(config, "notes-create", "functions/create_note/v2", 25) == 0
        _say("4. release v2 of notes-get: created_at on every note, null for notes v1 wrote")
        ok &= _release(config, "notes-get", "functions/get_note/v2", 25) == 0
        _say("5. a bad release of notes-list (fails 10% of requests): watch the judge roll it back")
        ok &= _release(config, "notes-list", "functions/list_notes/bad", 25) == 1
        time.sleep(2)
        tally = load.stop()
        _say("6. every request, by route, version and status")
        ok &= _summary(tally)
        print()
        cli(["status", "--config", str(config)])
        _say("history of notes-list (the rolled-back release)")
        cli(["history", "notes-list", "--config", str(config), "--limit", "1"])
    finally:
        cli(["local", "down", "--config", str(config)])
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("\ndemo " + ("finished: every step went as described" if ok else "FAILED: see above"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run())
