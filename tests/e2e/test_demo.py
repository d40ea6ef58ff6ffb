"""``lambdashift demo --fast`` (CI's ``make demo``) tells the article's story, checks every step
of it against what happened, and its report counts every request.

One run of the whole story (about 90 s) carries most assertions; a second one, stopped at
step 2 by a failpoint, shows that a step that did not happen fails the demo (about 20 s).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from tests.e2e.conftest import NOTES, cli


def _after_the_quick_start(tmp_path: Path) -> Path:
    """A copy of examples/notes with the README quick start's edit (the tracked file stays
    as it is): notes-create's source points at v2."""
    user = tmp_path / "notes"
    shutil.copytree(NOTES, user, ignore=shutil.ignore_patterns(".lambdashift", "__pycache__", ".terraform"))
    config = user / "lambdashift.yaml"
    data = yaml.safe_load(config.read_text())
    data["functions"]["notes-create"]["source"] = "functions/create_note/v2"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return user


def test_the_fast_demo_after_the_quick_start_edit_runs_the_whole_story_from_its_pristine_copy(tmp_path):
    user = _after_the_quick_start(tmp_path)
    out = cli("demo", "--fast", "--plain", "--keep", str(tmp_path / "work"), cwd=user, timeout=400)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    # It ran from its own copy, and said that the user's edited file is not used.
    assert "lambdashift's pristine copy" in text
    assert (f"not used: {user / 'lambdashift.yaml'} differs from it: functions.notes-create.source: "
            "'functions/create_note/v2' there, 'functions/create_note/v1' in the pristine copy") in text
    assert "demo finished: all 7 steps went as described, each checked" in text
    assert "NOT AS DESCRIBED" not in text and text.count("   checked: ") == 7
    report = json.loads((user / "demo-report.json").read_text())
    assert [s["label"] for s in report["steps"]] == list("1234567")
    assert all(s["problems"] == [] and s["checked"] for s in report["steps"]) and report["failed_step"] is None
    assert str(user / "demo-report.json") in text  # the path is printed
    assert (user / "demo-timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (user / "demo-timeline.html").read_text()
    assert "<svg" in page and "<script" not in page and "http://" not in page.split("<svg", 1)[0]

    section, requests = report["lambdashift_section"], report["requests"]
    rows = report["records"]["rows"]
    assert requests["total"] == len(rows) == section["requests"] > 1000
    # Every route was exercised, and every failure came from the broken release.
    assert {r[1] for r in rows} == {"POST /notes", "GET /notes/{id}", "GET /notes", "PUT /notes/{id}",
                                    "DELETE /notes/{id}"}
    assert section["failed_outside_broken_release"] == 0 and requests["unexpected_4xx"] == 0
    broken = report["broken_release"]
    assert broken["rolled_back"] and broken["failed_requests"] == section["failed_in_broken_release"] >= 1
    failed = [r for r in rows if r[2] == 0 or r[2] >= 500 or r[2] == 429]
    assert failed and all(r[1] == "GET /notes" and r[3] == broken["version"] for r in failed)
    # The 10% canary: the observed split inside its 99.9% binomial interval.
    canary = report["canary"]
    lo, hi = canary["interval_counts"]
    assert canary["weight"] == 0.1 and lo <= canary["served_by_candidate"] <= hi and canary["inside"]
    # The article's steps, as they happened: each release's alias path, read back from the API.
    assert [(r["function"], r["outcome"], r["from"], r["to"], r["path"]) for r in report["releases"]] == [
        ("notes-create", "succeeded", "1", "2", ["1 (100%)", "2 (100%)"]),
        ("notes-get", "succeeded", "1", "2", ["1 (100%)", "1 (90%) + 2 (10%)", "2 (100%)"]),
        ("notes-update", "succeeded", "1", "2", ["1 (100%)", "2 (100%)"]),
        ("notes-list", "rolled_back", "1", "2", ["1 (100%)", "1 (75%) + 2 (25%)", "1 (100%)"])]
    assert [r["alias_after"] for r in report["releases"]] == ["2 (100%)", "2 (100%)", "2 (100%)", "1 (100%)"]
    mixed = report["mixed_fleet"]
    assert mixed["ok"] and (mixed["written_by"], mixed["read_by"]) == ("2", "1")
    pre, cold = report["prewarm_comparison"]["prewarmed"], report["prewarm_comparison"]["not_prewarmed"]
    assert pre["prewarmed"] and not cold["prewarmed"]
    assert pre["p99_switch_ms"] and cold["p99_switch_ms"]  # measured; the ratios are timing, not asserted
    # The picture's data: no bin before a switch holds a request the new version answered.
    for function in ("notes-create", "notes-get", "notes-update"):
        series = report["timeline"]["functions"][function]
        first_v2 = series["weights"][1]["t"]
        assert all(series["edges"][i] >= first_v2 for i, x in enumerate(series["rate"]["2"]) if x), function
    assert report["headline"].startswith("notes-create blue-green v1 → v2: promoted")
    # The naive redeploy, apart: its failures are its own.
    naive = report["naive"]
    assert naive["failed"] >= naive["failed_between_the_two_calls"] >= 1
    assert len(report["summary"]) >= 6 and "failed outside the broken release" in text


def test_a_step_that_did_not_happen_fails_the_demo_and_names_the_step(tmp_path, monkeypatch):
    """The failpoint ships notes-create unchanged, as the edited example once did: deploy has
    nothing to do and exits 0, and the demo must not call that a blue-green."""
    monkeypatch.setenv("LAMBDASHIFT_DEMO_FAILPOINT", "unchanged:notes-create")
    out = cli("demo", "--fast", "--plain", cwd=tmp_path, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text[-4000:]
    last = out.stdout.strip().splitlines()[-1]  # the demo's own last line (stderr has the progress)
    assert last.startswith("demo FAILED: step 2 (create blue-green) did not happen as described: "
                           "publish made no new version of notes-create"), last
    assert "the alias went 1 (100%), not 1 (100%) → 2 (100%)" in last and "the story stopped there" in last
    assert "every step went as described" not in text and "3. mixed fleet" not in text
    report = json.loads((tmp_path / "demo-report.json").read_text())
    assert report["failed_step"]["label"] == "2" and [s["label"] for s in report["steps"]] == ["1", "2"]
    assert report["headline"].startswith("DEMO FAILED at step 2 (create blue-green)")
    assert report["releases"][0]["published"] is False and report["naive"] is None


def test_an_unknown_failpoint_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMBDASHIFT_DEMO_FAILPOINT", "unchanged:notes-delete")
    out = cli("demo", "--fast", cwd=tmp_path, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "LAMBDASHIFT_DEMO_FAILPOINT" in out.stderr
    assert not (tmp_path / "demo-report.json").exists()
