"""A small recorder for the reliability figures the tests measure.

Each fault, crash point or bad-input test calls :func:`record` once per thing it tried;
the call appends one JSON line to ``build/reliability.jsonl`` (or the file named by
``LAMBDASHIFT_RELIABILITY_LOG``). At the end of a run of the whole tests/ directory,
tests/conftest.py calls :func:`finish_run`, which notes how the run ended and, when it was
green, keeps a copy of the log (``reliability-green.jsonl``). ``make reliability``
(``tools/reliability_report.py``) turns that copy into ``RELIABILITY.md``: running the tests
never changes a tracked file. A line never fails a test: the recorder swallows I/O errors,
because a read-only checkout must still be able to run the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LOG = ROOT / "build" / "reliability.jsonl"


def log_path() -> Path:
    """Where records go: ``LAMBDASHIFT_RELIABILITY_LOG`` when set, else build/reliability.jsonl."""
    override = os.environ.get("LAMBDASHIFT_RELIABILITY_LOG")
    return Path(override) if override else DEFAULT_LOG


def green_path() -> Path:
    """The records of the last green run of the whole suite (beside the log)."""
    return log_path().with_name("reliability-green.jsonl")


def run_path() -> Path:
    """How the last run of the whole suite ended (beside the log)."""
    return log_path().with_name("reliability-run.json")


def finish_run(*, green: bool, exitstatus: int, collected: int, failed: int) -> None:
    """Note how a run of the whole suite ended; when ``green``, keep its records.

    The copy is made at the end, so a later run of one test file, which appends to the
    log, cannot change what the green run recorded.
    """
    log, run = log_path(), run_path()
    run.parent.mkdir(parents=True, exist_ok=True)
    if green and log.is_file():
        tmp = green_path().with_suffix(".tmp")
        shutil.copyfile(log, tmp)
        os.replace(tmp, green_path())
    run.write_text(json.dumps({
        "green": green, "exitstatus": exitstatus, "collected": collected, "failed": failed,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, sort_keys=True) + "\n", encoding="utf-8")


def _current_test() -> str:
    """The test that is running; only its file while a module's fixtures are torn down."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    test = current.split(" ")[0]
    return test.split("::")[0] if current.endswith("(teardown)") else test


def record(area: str, what: str, tried: int, outcome: str, bad: int = 0) -> None:
    """Append one record: in ``area``, ``what`` was tried ``tried`` times; ``bad`` went wrong.

    ``outcome`` says in words what happened (``"0 inconsistent outcomes"``); ``bad`` is the
    count that should be 0 (inconsistent outcomes, lost writes, 5xx answers).
    """
    line = {"area": area, "what": what, "tried": int(tried), "outcome": outcome,
            "bad": int(bad), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "test": _current_test()}
    print(f"\nreliability: [{area}] {what}: tried {tried}, {outcome} (bad: {bad})")
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")
    except OSError:
        pass
