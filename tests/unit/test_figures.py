"""The figures the README quotes are the ones the benchmarks recorded (docs/figures.json)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_figures", ROOT / "bench" / "figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)  # type: ignore[union-attr]


def test_readme_figures_table_is_rendered_from_docs_figures_json() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.count(figures.START) == 1 and text.count(figures.END) == 1
    quoted = text.split(figures.START)[1].split(figures.END)[0].strip()
    assert quoted == figures.table(figures.load())
    assert quoted.count("\n") >= 3  # the table has rows: every benchmark recorded something


def test_every_benchmark_records_its_figures_with_when_and_where() -> None:
    data = figures.load()
    assert set(data) == {bench for bench, *_ in figures.ROWS}
    for entry in data.values():
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", entry["recorded"]) and entry["cores"] >= 1
        assert entry["figures"] and all(re.search(r"\d", f) for f in entry["figures"].values())


def test_the_measured_section_quotes_no_figure_outside_the_generated_table() -> None:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Measured", 1)[1].split("\n## ", 1)[0]
    outside = section.split(figures.START)[0] + section.split(figures.END)[1]
    # The demo's figures are its own generated report's (demo-report.json), row by row.
    lines = [line for line in outside.splitlines() if "demo-report.json" not in line]
    assert not re.search(r"\d+(\.\d+)?\s*(ms|%|×|invocations/s|req)", "\n".join(lines))
