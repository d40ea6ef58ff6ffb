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
