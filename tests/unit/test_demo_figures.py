"""The demo's figures: the binomial interval, the switches, the split and the p99 windows."""

from __future__ import annotations

import math
import random

from lambdashift.demo.figures import Mark, binomial_interval, canary_split, p99, switch_latency, switches
from lambdashift.loadgen import GET, Request
from lambdashift.model import Traffic


def test_the_binomial_interval_leaves_at_most_the_tails_outside():
    n, p = 2000, 0.1
    lo, hi = binomial_interval(n, p, 0.999)

    from fractions import Fraction

    q = Fraction(1, 10)

    def cdf(k: int) -> float:  # P(X <= k), exactly
        return float(sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k + 1)))
    assert cdf(lo - 1) <= 0.0005 < cdf(lo)
    assert 1 - cdf(hi) <= 0.0005 < 1 - cdf(hi - 1)
    assert lo < 200 < hi


def test_a_fair_10_percent_split_falls_inside_its_interval_and_a_20_percent_one_does_not():
    rng = random.Random(1)
    fair = [Request(t / 100, GET, 200, "2" if rng.random() < 0.1 else "1", 5.0) for t in range(3000)]
    skewed = [Request(t / 100, GET, 200, "2" if rng.random() < 0.2 else "1", 5.0) for t in range(3000)]
    assert canary_split(fair, GET, "2", 0.1, 0, 30)["inside"] is True
    result = canary_split(skewed, GET, "2", 0.1, 0, 30)
    assert result["inside"] is False and 0.17 < result["observed"] < 0.23


def test_a_switch_is_a_change_of_a_functions_traffic_between_marks():
    marks = [Mark(1, "notes-get", "started", "", Traffic("1")),
             Mark(2, "notes-get", "prewarmed", "", Traffic("1")),
             Mark(3, "notes-get", "traffic", "", Traffic("1", "2", 0.1)),
             Mark(4, "", "step", "a demo step"),
             Mark(9, "notes-get", "succeeded", "", Traffic("2"))]
    found = switches(marks)
    assert [(m.t, str(before), str(m.traffic)) for m, before in found] == [
        (3, "1 (100%)", "1 (90%) + 2 (10%)"), (9, "1 (90%) + 2 (10%)", "2 (100%)")]


def test_the_switch_p99_compares_the_seconds_after_a_switch_with_the_seconds_before():
    before = [Request(i / 10, GET, 200, "1", 10.0) for i in range(100)]          # 0..10 s
    after = [Request(10 + i / 10, GET, 200, "2", 10.0) for i in range(100)]      # 10..20 s
    after[3] = after[3]._replace(ms=500.0)  # one cold start among 100 requests: the max
    after[4] = after[4]._replace(ms=400.0)
    row = switch_latency(before + after, GET, 10.0, window=10, baseline=10)
    assert row["p99_steady_ms"] == 10.0 and row["p99_switch_ms"] == 400.0 and row["ratio"] == 40.0
    assert p99([]) is None
