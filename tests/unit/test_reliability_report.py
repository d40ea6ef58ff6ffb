"""The reliability recorder and RELIABILITY.md generator: one line per record, latest wins."""

from __future__ import annotations

from pathlib import Path

from tests import reliability_log
from tools.reliability_report import last_run_refusal, read_records, render, write_report

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_green_whole_run_keeps_its_records_apart_from_later_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMBDASHIFT_RELIABILITY_LOG", str(tmp_path / "reliability.jsonl"))
    reliability_log.record("faults", "x", 3, "fine")
    reliability_log.finish_run(green=True, exitstatus=0, collected=10, failed=0)
    reliability_log.record("faults", "x", 1, "a later run of one file", bad=1)  # appends to the log
    green = reliability_log.green_path()
    assert [r["tried"] for r in read_records(green)] == [3]
    assert last_run_refusal(reliability_log.run_path(), green) is None


def test_the_report_refuses_a_red_or_missing_whole_run_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMBDASHIFT_RELIABILITY_LOG", str(tmp_path / "reliability.jsonl"))
    run, green = reliability_log.run_path(), reliability_log.green_path()
    assert "no run of the whole suite" in last_run_refusal(run, green)
    reliability_log.record("faults", "x", 3, "fine")
    reliability_log.finish_run(green=False, exitstatus=1, collected=10, failed=2)
    assert not green.exists()
    assert "was not green (exit 1, 2 failed)" in last_run_refusal(run, green)


def test_running_tests_never_writes_the_tracked_report():
    """Only `make reliability` writes RELIABILITY.md: the test session hooks do not."""
    import inspect

    import tests.conftest as conftest

    hooks = inspect.getsource(conftest.pytest_sessionfinish) + inspect.getsource(conftest.pytest_sessionstart)
    assert "write_report" not in hooks and "RELIABILITY" not in hooks
    assert "tools/reliability_report.py" in (ROOT / "Makefile").read_text()
