"""The benchmark scripts run (small sizes) and print their ratios: they must not rot.

Figures are never asserted here (the machine is shared and noisy); the benchmarks
themselves print ratios against a reference measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str) -> str:
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_emulator_invoke_bench_prints_each_runtime_against_its_floor_and_targets():
    text = bench("bench/emulator_invoke.py", "--seconds", "1", "--connections", "2", "--rounds", "1")
    for runtime in ("python", "node", "provided"):
        assert f"  {runtime} " in text
    assert "added over the floor" in text and "ratio to python" in text and "targets:" in text


def test_list_scaling_bench_prints_the_gsi_and_scan_ratios():
    text = bench("bench/list_scaling.py", "--small", "20", "--large", "200", "--repeats", "3")
    assert "target GSI ratio <= 1.5" in text and "scan" in text


def test_source_delay_bench_prints_each_sources_blast_radius_beside_codedeploys():
    text = bench("bench/source_delay_sim.py", "--quick")
    assert "lambdashift/logs" in text and "lambdashift/metrics" in text and "codedeploy" in text
    assert "the failed requests of codedeploy (target" in text


def test_scale_bench_prints_calls_throttles_memory_and_its_ratio():
    text = bench("bench/scale.py", "--functions", "4", "--pause", "0.2s", "--poll", "0.1")
    assert "4 rollouts succeeded" in text and "throttled (429):" in text
    assert "peak memory" in text and text.strip().splitlines()[-1].startswith("ratio ")


def test_bake_bench_prints_false_rollbacks_and_failed_requests_beside_the_alarm():
    text = bench("bench/bake_sim.py", "--quick")
    assert "A/A switches" in text and "alarm" in text and "failed before rollback" in text
    assert "target: A/A false rollbacks ≤ 1%" in text
