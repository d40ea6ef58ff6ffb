"""The low-traffic forecast agrees with the judge it forecasts (issue 8)."""

from __future__ import annotations

import pytest

from lambdashift.core.forecast import about, low_traffic_note, requests_to_promote
from lambdashift.core.judge import JudgePolicy, VersionStats, judge
from lambdashift.model import Verdict


@pytest.mark.parametrize("ratio, rate", [(9, 0.0), (9, 0.001), (1, 0.0), (4, 0.002)])
def test_the_judge_promotes_at_the_forecast_number_of_requests_and_not_well_before(ratio, rate):
    policy = JudgePolicy(latency_alpha_share=0)
    need = requests_to_promote(policy, ratio, rate)
    assert need is not None

    def verdict(n: int) -> Verdict:
        m = round(n * ratio)
        c, s = VersionStats(n, round(rate * n), version="2"), VersionStats(m, round(rate * m), version="1")
        return judge(c, s, 3600.0 - 1, policy).verdict
    assert verdict(round(need * 1.03)) is Verdict.PROMOTE
    if rate == 0:  # with failures, rounding them makes the bound step, not slide: "about" N
        assert verdict(round(need * 0.9)) is Verdict.CONTINUE


def test_enough_traffic_gives_no_note_and_none_says_so():
    policy = JudgePolicy()
    assert low_traffic_note(policy, "v2", 2000, 18000, 0, 10.0) is None
    assert low_traffic_note(policy, "v2", 0, 100, 0, 10.0).startswith("low traffic: v2 has had no request in 10 s")
    assert about(45) == "45 s" and about(1320) == "22 min" and about(9000) == "2.5 h"


# --- what a time-boxed step can catch (issue 17 item 4) --------------------------------------------

from lambdashift.core.forecast import catch_probability, step_forecast  # noqa: E402


def boxed(seconds: float) -> JudgePolicy:
    return JudgePolicy(min_duration_s=seconds, promote_after_s=seconds)


def test_the_forecast_sentence_for_given_rates():
    assert step_forecast(boxed(30), "v2", 4.2, 37.8) == (
        "at 4.2 v2 requests/s for 30 s, a v2 failing 5% is caught 96% of the time, one failing 1% 11%")
    assert step_forecast(boxed(300), "v2", 10, 90) == (
        "at 10 v2 requests/s for 5 min, a v2 failing 5% is caught over 99% of the time, "
        "one failing 1% over 99%")
    assert step_forecast(boxed(30), "v2", 0.1, 0.9) == (
        "at 0.1 v2 requests/s for 30 s, a v2 failing 5% is caught under 1% of the time, "
        "one failing 1% under 1%")


def test_no_traffic_is_said_in_words():
    assert step_forecast(boxed(30), "v7", 0, 50) == (
        "no v7 traffic yet: nothing can be caught until requests arrive")


def test_a_stable_that_fails_much_itself_leaves_only_far_worse_candidates_to_catch():
    said = step_forecast(boxed(60), "v2", 5, 45, stable_errors=0.02)
    assert said.startswith("at 5 v2 requests/s for 60 s, a v2 failing 5% is caught")
    assert "one failing 1%" not in said  # 1% is no regression against a stable failing 2%
    assert step_forecast(boxed(60), "v2", 5, 45, stable_errors=0.03) == (
        "at 5 v2 requests/s for 60 s: the stable fails 3% itself, only a far worse candidate "
        "can be caught")


def test_the_strict_point_says_how_long_a_healthy_candidate_takes_and_what_it_promises():
    said = step_forecast(JudgePolicy(), "v2", 1.0, 9.0)
    need = requests_to_promote(JudgePolicy(), 9.0, 0.001)
    assert said == (f"at 1 v2 requests/s, a healthy v2 is shown no worse in about {about(need)} "
                    f"({need} requests; at most 60 min); a v2 failing 1% or more is rolled back "
                    "at least 99% of the time")


@pytest.mark.parametrize("rate, p1, low, high", [
    # bench/analysis_sim.py, time-boxed 5 min, looks after every request, 10% canary, stable
    # 0.1% (docs/analysis.md): 1/s p1=5% 19.0%; 10/s p1=1% 42.6%, p1=5% 99.99%; 100/s p1=1% 99.95%
    (1, 0.05, 0.12, 0.27), (10, 0.01, 0.34, 0.51), (10, 0.05, 0.98, 1.0), (100, 0.01, 0.98, 1.0),
])
def test_the_catch_probability_agrees_with_the_bench_of_the_same_judge(rate, p1, low, high):
    p = catch_probability(boxed(300), rate * 0.1, rate * 0.9, p1, 0.001, 300)
    assert low <= p <= high


def test_a_healthy_candidate_is_rarely_caught_and_more_time_catches_more():
    assert catch_probability(boxed(300), 1, 9, 0.001, 0.001, 300) <= 0.03  # alpha is 1%
    short, long = (catch_probability(boxed(s), 1, 9, 0.05, 0.001, s) for s in (30, 300))
    assert short < long
    assert catch_probability(boxed(30), 1, 9, 0.05, 0.001, 30) == short  # a fixed seed: same words
