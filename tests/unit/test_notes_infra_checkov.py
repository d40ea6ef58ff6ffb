"""checkov 3.3 on the notes service's Terraform: 0 failed checks, every skip with its reason.

checkov adds about 116 MB and a minute or two of install to the test environment, so it is
not in the ``test`` extra: ``make lint`` installs it (the ``lint`` extra) into
``.venv-lint`` and runs it. This test runs checkov from there, from this interpreter or
from PATH, and is skipped when none has it; ``test_notes_infra.py`` checks without checkov
that every ``#checkov:skip`` in the HCL carries a reason.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "examples" / "notes" / "infra"


def checkov_command() -> list[str] | None:
    """How to run checkov here, or None."""
    lint = ROOT / ".venv-lint" / "bin" / "checkov"
    if lint.is_file():
        return [str(lint)]
    if importlib.util.find_spec("checkov") is not None:
        return [sys.executable, "-m", "checkov.main"]
    found = shutil.which("checkov")
    return [found] if found else None


def run_checkov() -> dict:
    command = checkov_command()
    if command is None:
        pytest.skip("checkov is not installed: `make lint` installs and runs it")
    # --skip-download: no network for policy metadata; the checks themselves ship with checkov.
    result = subprocess.run(
        [*command, "-d", str(INFRA), "--framework", "terraform", "--compact", "--skip-download",
         "-o", "json"], capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return json.loads(result.stdout)


def test_checkov_finds_nothing_unexplained_in_the_notes_terraform() -> None:
    report = run_checkov()
    summary, results = report["summary"], report["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results["failed_checks"]]
    skipped = results["skipped_checks"]
    unexplained = [c["check_id"] for c in skipped if not c["check_result"].get("suppress_comment")]
    print(f"\ncheckov {summary['checkov_version']} on examples/notes/infra: "
          f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} skipped "
          f"with a reason, {len(unexplained)} unexplained, {summary['parsing_errors']} parsing errors")
    try:
        from tests.reliability_log import record
    except ImportError:
        record = None
    if record is not None:
        record("terraform", "checkov 3.3 checks on examples/notes/infra",
               summary["passed"] + summary["failed"] + summary["skipped"],
               f"{summary['failed']} failed, {summary['skipped']} skipped with a reason",
               bad=summary["failed"] + len(unexplained))
    assert summary["parsing_errors"] == 0
    assert failed == []
    assert unexplained == []
    assert summary["passed"] > 0
