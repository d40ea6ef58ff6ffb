"""``lambdashift demo --fast`` (CI's ``make demo``) tells the article's story and its report counts it."""

from __future__ import annotations

import json

from tests.e2e.conftest import cli


def test_the_fast_demo_releases_v2_rolls_back_the_broken_release_and_reports_every_request(tmp_path):
    out = cli("demo", "--fast", "--plain", "--keep", str(tmp_path / "work"), cwd=tmp_path, timeout=400)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert "demo finished: every step went as described" in text
    report = json.loads((tmp_path / "demo-report.json").read_text())
    assert str(tmp_path / "demo-report.json") in text  # the path is printed
    assert (tmp_path / "demo-timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "demo-timeline.html").read_text()
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
    # The article's steps, in order: blue-green alone, the mixed fleet, the canary, the rollback.
    assert [(r["function"], r["outcome"]) for r in report["releases"]] == [
        ("notes-create", "succeeded"), ("notes-get", "succeeded"), ("notes-update", "succeeded"),
        ("notes-list", "rolled_back")]
    assert report["mixed_fleet"]["ok"] and report["mixed_fleet"]["read_by"] == "1"
    pre, cold = report["prewarm_comparison"]["prewarmed"], report["prewarm_comparison"]["not_prewarmed"]
    assert pre["prewarmed"] and not cold["prewarmed"]
    assert pre["p99_switch_ms"] and cold["p99_switch_ms"]  # measured; the ratios are timing, not asserted
    # The naive redeploy, apart: its failures are its own.
    naive = report["naive"]
    assert naive["failed"] >= naive["failed_between_the_two_calls"] >= 1
    assert len(report["summary"]) >= 6 and "failed outside the broken release" in text
