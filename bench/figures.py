"""The figures the docs quote, written by the benchmarks themselves, never typed by hand.

``python bench/X.py --record`` (``make bench`` passes it) stores the run's figures in
``docs/figures.json`` under the benchmark's name, with when, on how many cores, under what load average and how,
then rewrites the table between ``<!-- figures:start -->`` and ``<!-- figures:end -->`` in
README.md from the whole file. tests/unit/test_figures.py checks that the table is what
the file renders, so a figure in the README always comes from a recorded run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures.json"
README = ROOT / "README.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"

#: Row order and wording of the README table: (benchmark, figure key, what, how).
ROWS = (
    ("emulator_invoke", "throughput", "emulator warm invoke",
     "`bench/emulator_invoke.py`, {client}, keep-alive, medians of {rounds} rounds of {seconds:g} s "
     "per runtime, warm Invoke of a version through the Lambda API"),
    ("emulator_invoke", "cold_start", "emulator cold start", "same run"),
    ("emulator_invoke", "cpu", "emulator CPU time per warm invocation",
     "same run, the emulator process's user + system time (`/proc`) over wrk's request count"),
    ("list_scaling", "list_ratio", "notes list, first page, {large:,} vs {small:,} notes",
     "`bench/list_scaling.py` on the stack's DynamoDB"),
    ("scale", "deploy", "`deploy` across {functions:,} functions under the {rate:g} requests/s quota",
     "`bench/scale.py --functions {functions}`: a canary (10%, {pause}, 50%, {pause}, 100%) as one "
     "`lambdashift deploy` process on the emulator at `--control-plane-rate {rate:g}`; the "
     "functions are created before, without the quota, outside the measured window"),
    ("analysis_sim", "judge", "judge vs CodeDeploy-style canary",
     "`bench/analysis_sim.py`, {rollouts} seeded rollouts per scenario "
     "([docs/analysis.md](docs/analysis.md))"),
    ("bake_sim", "bake", "bake after the switch to 100% vs an alarm on Errors > 0",
     "`bench/bake_sim.py`, {runs} seeded A/A switches per case, {bad_runs} per failing case "
     "([docs/analysis.md](docs/analysis.md#bake))"),
)


def load() -> dict[str, Any]:
    """Every benchmark's last recorded figures."""
    try:
        return json.loads(FIGURES.read_text())
    except FileNotFoundError:
        return {}


def record(bench: str, figures: dict[str, str], settings: dict[str, Any]) -> None:
    """Store one run's figures (already worded: ``"1,950 invocations/s"``), then the README."""
    data = load()
    data[bench] = {"recorded": time.strftime("%Y-%m-%d", time.gmtime()),
                   "cores": os.cpu_count(), "load": round(os.getloadavg()[0], 1),
                   "settings": settings, "figures": figures}
    FIGURES.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    update_readme()
    print(f"recorded in {FIGURES.relative_to(ROOT)} and README.md")


def table(data: dict[str, Any]) -> str:
    """The README's table of figures, from ``data`` (docs/figures.json)."""
    lines = ["| what | figure | how |", "|---|---|---|"]
    for bench, key, what, how in ROWS:
        entry = data.get(bench)
        if not entry or key not in entry["figures"]:
            continue
        settings = entry.get("settings", {})
        lines.append(f"| {what.format(**settings)} | {entry['figures'][key]} "
                     f"| {how.format(**settings)}; {entry['cores']} cores, load average "
                     f"{entry.get('load', '?')} (a shared machine: figures move with it), "
                     f"{entry['recorded']} |")
    return "\n".join(lines)


def update_readme() -> None:
    """Rewrite the figures table of README.md from docs/figures.json."""
    text = README.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    README.write_text(f"{head}{START}\n{table(load())}\n{END}{tail}")
