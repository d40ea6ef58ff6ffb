"""The reliability recorder and RELIABILITY.md generator: one line per record, latest wins."""

from __future__ import annotations

from tests import reliability_log
from tools.reliability_report import read_records, render, write_report


def test_record_appends_one_json_line_per_call_to_the_overridden_log(tmp_path, monkeypatch):
    log = tmp_path / "sub" / "r.jsonl"
    monkeypatch.setenv("LAMBDASHIFT_RELIABILITY_LOG", str(log))
    reliability_log.record("faults", "429 on control plane", 40, "0 split aliases")
    reliability_log.record("faults", "dropped connections", 7, "2 lost", bad=2)
    assert len(log.read_text().splitlines()) == 2


def test_the_report_keeps_the_latest_record_per_kind_and_sums_the_bad(tmp_path, monkeypatch):
    log = tmp_path / "r.jsonl"
    monkeypatch.setenv("LAMBDASHIFT_RELIABILITY_LOG", str(log))
    reliability_log.record("a", "x", 1, "first", bad=5)
    reliability_log.record("a", "x", 3, "second")
    reliability_log.record("b", "y", 2, "fine")
    log.write_text(log.read_text() + '{"torn line\n')
    records = read_records(log)
    assert [(r["what"], r["tried"]) for r in records] == [("x", 3), ("y", 2)]
    page = render(records)
    assert "Bad outcomes in all: **0**" in page and "| a | x | 3 | second | 0 |" in page


def test_no_records_leaves_the_report_alone(tmp_path):
    out = tmp_path / "RELIABILITY.md"
    assert write_report(tmp_path / "missing.jsonl", out) is False
    assert not out.exists()


def test_the_headline_sums_each_figure_over_its_areas():
    records = [{"area": "crash matrix", "what": "a", "tried": 10, "outcome": "", "bad": 0},
               {"area": "faults", "what": "b", "tried": 5, "outcome": "", "bad": 1},
               {"area": "fuzz: notes API", "what": "c", "tried": 7, "outcome": "", "bad": 0}]
    page = render(records)
    assert "**inconsistent outcomes: 1** (of 15 tried)" in page
    assert "**5xx answers or tracebacks from bad input: 0** (of 7 tried)" in page
    assert "**lost writes" not in page  # no area of it ran
