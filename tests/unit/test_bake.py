"""The bake: the pure before/after test (core.bake), its config key, and the engine driving it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from lambdashift.core.bake import (
    BakePolicy,
    Baseline,
    bake_verdict,
    clopper_pearson_upper,
    log_e_above,
    parse_bake,
)
from lambdashift.core.observations import VersionStats
from lambdashift.core.strategy import steps_for
from lambdashift.errors import ConfigError
from lambdashift.model import BakeStep, Phase, Traffic, Verdict, WeightStep, step_from_dict, step_to_dict
from lambdashift.rollout.bake import BakeAnalyzer
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.store.sqlite import SqliteStateStore

NAMES = ("v2", "v1")


def stats(n: int, failed: int, durations: list[float] | None = None) -> VersionStats:
    return VersionStats.from_durations(n, failed, 0, durations or [])


# --- the statistics -----------------------------------------------------------------------------


def test_clopper_pearson_matches_the_exact_binomial_bound():
    # 5 of 10 at 95%: Beta(6, 5)'s 95% quantile is 0.77756; 0 of n: 1 - α^(1/n).
    assert clopper_pearson_upper(5, 10, 0.05) == pytest.approx(0.77756, abs=1e-5)
    assert clopper_pearson_upper(0, 300, 0.003) == pytest.approx(1 - 0.003 ** (1 / 300))
    assert clopper_pearson_upper(0, 0, 0.01) == 1.0 and clopper_pearson_upper(7, 7, 0.01) == 1.0
    # The bound covers: P(X ≤ x | n, U) = α exactly at the bound.
    from lambdashift.core.bake import _log_cdf
    assert math.exp(_log_cdf(30, 30_000, clopper_pearson_upper(30, 30_000, 0.003))) == \
        pytest.approx(0.003, rel=1e-6)


def test_the_e_value_is_one_before_any_request_and_falls_with_successes():
    assert log_e_above(0, 0, 0.005) == 0.0
    assert log_e_above(0, 1000, 0.005) < log_e_above(0, 10, 0.005) < 0


def test_a_a_under_the_null_keeps_its_alpha_at_every_look():
    """Requests failing exactly at the null rate p*, looked at after every request for 2,000
    requests, 2,000 runs: the e-process reaches 1/α_t in at most α_t of them (Ville)."""
    rng = random.Random(17)
    policy = BakePolicy()
    _, alpha_t = policy.error_alphas
    threshold = math.log(1 / alpha_t)
    p_star, runs, fired = 0.005, 2000, 0
    for _ in range(runs):
        x = 0
        for n in range(1, 2001):
            # Between failures every factor is below 1: the e-process peaks at a failure,
            # so looking there is looking after every request.
            if rng.random() < p_star:
                x += 1
                if log_e_above(x, n, p_star) >= threshold:
                    fired += 1
                    break
    # α_t = 0.6%: 12 of 2,000 expected at most; 25 is beyond 3 standard deviations of that.
    assert fired / runs <= alpha_t + 3 * math.sqrt(alpha_t / runs), fired


def test_a_a_with_the_baseline_from_the_same_rate_rarely_rolls_back():
    """Whole bakes, plain values: baseline and candidate from the same 0.1% rate, 1,000 runs
    at 100 requests/s, 60 s looked at every second: false rollbacks ≤ α (1%)."""
    rng = random.Random(5)
    rollbacks = 0
    for _ in range(1000):
        base_n = 30_000
        base = Baseline(stats(base_n, _binomial(rng, base_n, 0.001)), 300)
        n = x = 0
        for second in range(1, 61):
            n += 100
            new = _binomial(rng, 100, 0.001)
            x += new
            if not new:  # no new failure: the evidence only fell since the last look
                continue
            j = bake_verdict(base, stats(n, x), second, names=NAMES)
            if j.verdict is Verdict.ROLLBACK:
                rollbacks += 1
                break
    assert rollbacks <= 10, rollbacks


def _binomial(rng: random.Random, n: int, p: float) -> int:
    # Poisson approximation by inversion: rare events, plain values, no numpy in unit tests.
    lam, k, prob, u = n * p, 0, math.exp(-n * p), rng.random()
    cum = prob
    while u > cum:
        k += 1
        prob *= lam / k
        cum += prob
    return k


@pytest.mark.parametrize("baseline_n", [300, 30_000])
def test_a_candidate_failing_every_request_is_rolled_back_after_a_few(baseline_n):
    base = Baseline(stats(baseline_n, baseline_n // 1000), 300)
    for n in range(1, 10):
        if bake_verdict(base, stats(n, n), 1.0, names=NAMES).verdict is Verdict.ROLLBACK:
            break
    assert n <= (2 if baseline_n >= 10_000 else 3), n


def test_a_candidate_failing_5_percent_at_100_per_s_costs_few_failed_requests():
    rng = random.Random(3)
    failed = []
    for _ in range(200):
        base = Baseline(stats(30_000, 30), 300)
        n = x = 0
        while True:
            n += 1
            if rng.random() >= 0.05:
                continue  # a success only lowers the evidence: look at failures
            x += 1
            if bake_verdict(base, stats(n, x), n / 100, names=NAMES).verdict is Verdict.ROLLBACK:
                break
        failed.append(x)
    assert sum(failed) / len(failed) <= 10


def test_the_rollback_reason_gives_both_sides_and_the_null_rate():
    j = bake_verdict(Baseline(stats(30_000, 30), 300), stats(200, 10), 2.0, names=NAMES)
    assert j.verdict is Verdict.ROLLBACK
    assert j.reasons[0].startswith("bake: v2 errors 5.0% (10/200) since the switch vs v1 0.1% "
                                   "(30/30000) in the 5 min before the switch: rollback")
    assert "1.5 × v1's bound" in j.reasons[0] and j.numbers["errors.null_rate"] > 0.002


def test_what_the_bake_can_catch_is_said_while_it_runs():
    few = bake_verdict(Baseline(stats(340, 0), 1800), stats(100, 4), 5.0, names=NAMES)
    assert few.reasons[0].startswith("baking 5 s of 1 min: rolls back on evidence that v2 fails "
                                     "more than 2.6% of requests; v2 since the switch: 100")
    tiny = bake_verdict(Baseline(stats(3, 0), 1800), stats(100, 4), 5.0, names=NAMES)
    assert "v1 served too few requests in the 30 min before the switch (3)" in tiny.reasons[0]
    assert tiny.verdict is Verdict.CONTINUE


def test_no_baseline_traffic_is_said_and_claims_nothing():
    base = Baseline(stats(0, 0), 1800)
    j = bake_verdict(base, stats(500, 500), 10.0, names=NAMES)
    assert j.verdict is Verdict.CONTINUE
    assert "v1 served no requests in the 30 min before the switch" in j.reasons[0]
    assert "no evidence either way" in j.reasons[0]
    end = bake_verdict(base, stats(500, 500), 60.0, done=True, names=NAMES)
    assert end.verdict is Verdict.PROMOTE and end.reasons[0].startswith("bake ended after 1 min "
                                                                        "without a comparison")


def test_no_candidate_traffic_is_said_and_the_bake_ends_by_time():
    base = Baseline(stats(30_000, 30), 300)
    j = bake_verdict(base, stats(0, 0), 60.0, done=True, names=NAMES)
    assert j.verdict is Verdict.PROMOTE
    assert j.reasons[0] == "bake ended after 1 min: v2 served no requests since the switch, nothing to judge"


def test_a_healthy_candidate_passes_the_bake_with_what_was_compared():
    base = Baseline(stats(30_000, 30, [3.0] * 2000), 300)
    j = bake_verdict(base, stats(6000, 5, [3.0] * 1000), 60.0, done=True, names=NAMES)
    assert j.verdict is Verdict.PROMOTE
    assert j.reasons[0].startswith("bake passed: no evidence in 1 min that v2 fails more than 0.")
    assert "no slowdown shown" in j.reasons[2]


def test_a_candidate_whose_warm_requests_are_all_slow_is_rolled_back_on_latency():
    base = Baseline(stats(30_000, 0, [3.0] * 29_700 + [4.0] * 300), 300)
    j = bake_verdict(base, stats(200, 0, [20.0] * 200), 2.0, names=NAMES)
    assert j.verdict is Verdict.ROLLBACK and "slower than" in j.reasons[0]


# --- the config key -------------------------------------------------------------------------------


def test_bake_defaults_to_60_s_when_judged_and_is_off_with_0_off_or_analysis_off():
    assert steps_for({"strategy": "blue-green"}, judge=True)[-1] == BakeStep(seconds=60)
    assert steps_for({"strategy": "LambdaAllAtOnce", "bake": "20s"}, judge=True)[-1] == \
        BakeStep(seconds=20)
    for off in (0, "0", "off", False):
        assert isinstance(steps_for({"strategy": "blue-green", "bake": off}, judge=True)[-1],
                          WeightStep)
    assert isinstance(steps_for({"strategy": "canary", "analysis": "off"}, judge=True)[-1],
                      WeightStep)
    assert steps_for({"strategy": "canary", "analysis": "off", "bake": "5s"},
                     judge=True)[-1] == BakeStep(seconds=5)
    assert parse_bake(None, "rollout.bake", judged=False) is None


@pytest.mark.parametrize("bad", ["soon", -5, True, float("nan"), float("inf"), [60], {"s": 1}])
def test_a_bad_bake_names_its_key(bad):
    with pytest.raises(ConfigError, match=r"functions.f.rollout.bake: must be a duration"):
        steps_for({"strategy": "blue-green", "bake": bad}, "functions.f.rollout", judge=True)


def test_a_bake_step_round_trips_through_the_store_form():
    step = BakeStep(seconds=20)
    assert step_from_dict(step_to_dict(step)) == step and str(step).startswith("bake 20s")


# --- the engine ---------------------------------------------------------------------------------


@dataclass
class AliasState:
    traffic: Traffic
    revision_id: str


class Alias:
    def __init__(self) -> None:
        self.state = AliasState(Traffic("1"), "rev-0")
        self.writes: list[tuple[Traffic, str | None]] = []

    def get_alias(self, function, alias):  # noqa: ANN001, ANN201
        return self.state

    def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
        assert expected_revision == self.state.revision_id  # every write is RevisionId-guarded
        self.writes.append((traffic, expected_revision))
        self.state = AliasState(traffic, f"rev-{len(self.writes)}")
        return self.state


class Metrics:
    """v1 served 100/s with 0.1% failing before t=0; v2 serves 100/s failing ``p`` after."""

    def __init__(self, p: float) -> None:
        self.p = p

    def version_stats(self, function, alias, version, since, until):  # noqa: ANN001, ANN201
        if version == "1":
            n = int(max(0.0, min(until, 0.0) - since) * 100)
            return stats(n, n // 1000)
        n = int(max(0.0, until - max(since, 0.0)) * 100)
        return stats(n, int(n * self.p))

    def next_look(self, now: float) -> float:
        return now + 0.5


def run_blue_green(tmp_path, p: float) -> tuple[object, Alias, SqliteStateStore]:  # noqa: ANN001
    now = [0.0]
    api, metrics = Alias(), Metrics(p)
    store = SqliteStateStore(tmp_path / "state.db", namespace="t", clock=lambda: now[0])
    engine = RolloutEngine(api=api, store=store, clock=lambda: now[0], owner="t",
                           sleep=lambda s: now.__setitem__(0, now[0] + s),
                           analyzer=BakeAnalyzer(metrics, store),
                           options=EngineOptions(poll_interval=1.0))
    steps = (WeightStep(1.0), BakeStep(seconds=60))
    return engine.start("f", "live", "2", steps), api, store


def test_the_engine_rolls_back_during_the_bake_with_a_guarded_write(tmp_path):
    final, api, store = run_blue_green(tmp_path, 0.5)
    assert final.phase is Phase.ROLLED_BACK and api.state.traffic == Traffic("1")
    assert [t for t, _ in api.writes] == [Traffic("2"), Traffic("1")]
    assert api.writes[1][1] == "rev-1"  # the rollback carried the switch's RevisionId
    assert "bake: v2 errors" in final.reason
    kinds = [e.kind for e in store.events(final.rollout_id)]
    assert "bake" in kinds and "bake_evidence" in kinds


def test_the_engine_ends_a_healthy_bake_when_its_time_is_over(tmp_path):
    final, api, store = run_blue_green(tmp_path, 0.0)
    assert final.phase is Phase.SUCCEEDED and api.state.traffic == Traffic("2")
    last = final.verdicts[-1]
    assert last.verdict is Verdict.PROMOTE and last.reasons[0].startswith("bake passed")
    assert last.at == pytest.approx(60.0, abs=0.5)  # ends on its clock, not a look later


class LateMetrics(Metrics):
    """As CloudWatch: the requests up to t can be read only at ``ready_at(t)``."""

    def __init__(self, p: float, clock) -> None:  # noqa: ANN001
        super().__init__(p)
        self.clock = clock
        self.baseline_reads: list[float] = []

    def ready_at(self, t: float) -> float:
        return (t // 60 + 1) * 60 + 60  # the end of t's minute, published a minute later

    def version_stats(self, function, alias, version, since, until):  # noqa: ANN001, ANN201
        if version == "1":
            self.baseline_reads.append(self.clock())
        return super().version_stats(function, alias, version, since, until)


def test_with_a_late_source_the_bake_waits_for_its_data_and_ends_when_it_is_published(tmp_path):
    now = [0.0]
    api, metrics = Alias(), LateMetrics(0.0, lambda: now[0])
    store = SqliteStateStore(tmp_path / "state.db", namespace="t", clock=lambda: now[0])
    engine = RolloutEngine(api=api, store=store, clock=lambda: now[0], owner="t",
                           sleep=lambda s: now.__setitem__(0, now[0] + s),
                           analyzer=BakeAnalyzer(metrics, store),
                           options=EngineOptions(poll_interval=1.0))
    final = engine.start("f", "live", "2", (WeightStep(1.0), BakeStep(seconds=60)))
    assert final.phase is Phase.SUCCEEDED
    # The switch at 0: its minute is published at 120, the bake's end (60) at 180.
    assert metrics.baseline_reads and min(metrics.baseline_reads) >= 120.0
    assert final.verdicts[-1].at == pytest.approx(180.0, abs=1.0)
    history = [e.details for e in store.events(final.rollout_id) if e.kind == "VerdictReceived"]
    assert any("waiting for v1's metrics up to the switch" in d["reasons"][0] for d in history)


def test_the_strategy_flag_keeps_the_configs_bake_and_hooks_look_before_the_bake(tmp_path):
    from lambdashift.config import parse_config
    from lambdashift.model import AnalysisStep
    from lambdashift.rollout.deploy import deploy_steps

    (tmp_path / "src").mkdir()
    data = {"functions": {"f": {"source": "src", "handler": "index.handler"}},
            "rollout": {"strategy": "canary", "bake": "15s"},
            "hooks": {"post_traffic": [{"http": {"path": "/"}}]}}
    config = parse_config(data, file=tmp_path / "lambdashift.yaml")
    steps = deploy_steps(config, "f", "blue-green")
    assert steps[-3:] == (WeightStep(1.0), AnalysisStep(), BakeStep(seconds=15))
    off = parse_config({**data, "rollout": {"strategy": "canary", "bake": 0}},
                       file=tmp_path / "lambdashift.yaml")
    assert deploy_steps(off, "f", "blue-green")[-2:] == (WeightStep(1.0), AnalysisStep())


def test_the_live_view_shows_the_bake_step_and_its_progress():
    import dataclasses

    from lambdashift.cli.live import step_text, wait_progress
    from lambdashift.core.machine import RolloutState

    steps = steps_for({"strategy": "blue-green", "bake": "20s"}, judge=True)
    state = dataclasses.replace(RolloutState.new("r", "f", "live", "1", "2", steps), step_index=2,
                                step_started_at=100.0, phase=Phase.PROGRESSING)
    assert step_text(state) == ("step 3/3: bake 20s (the candidate after the switch against the "
                                "stable before it)")
    assert wait_progress(state, 105.0) == (0.25, "bake, 5 s of 20 s")


def test_a_rollout_resumed_mid_bake_keeps_its_window_and_ends_on_the_same_clock(tmp_path):
    """After a crash 30 s into the bake, ``resume`` goes on from the switch, not afresh."""
    import dataclasses

    from lambdashift.core.machine import RolloutState

    now = [30.0]
    api, metrics = Alias(), Metrics(0.0)
    api.state = AliasState(Traffic("2"), "rev-1")
    store = SqliteStateStore(tmp_path / "state.db", namespace="t", clock=lambda: now[0])
    steps = (WeightStep(1.0), BakeStep(seconds=60))
    state = dataclasses.replace(RolloutState.new("r-1", "f", "live", "1", "2", steps, now=0.0),
                                phase=Phase.PROGRESSING, step_index=1, started_at=0.0,
                                step_started_at=0.0, traffic=Traffic("2"), revision_id="rev-1")
    store.save(state)
    engine = RolloutEngine(api=api, store=store, clock=lambda: now[0], owner="t",
                           sleep=lambda s: now.__setitem__(0, now[0] + s),
                           analyzer=BakeAnalyzer(metrics, store),
                           options=EngineOptions(poll_interval=1.0))
    final = engine.resume(state)
    assert final.phase is Phase.SUCCEEDED and api.writes == []
    assert final.verdicts[-1].at == pytest.approx(60.0, abs=0.5)


def test_promote_during_the_bake_ends_it_without_a_write_and_rollback_writes_back():
    import dataclasses

    from lambdashift.core.machine import (
        PromoteRequested, RolloutState, RollbackRequested, SetTraffic, transition,
    )

    steps = (WeightStep(1.0), BakeStep(seconds=60))
    baking = dataclasses.replace(RolloutState.new("r-1", "f", "live", "1", "2", steps),
                                 phase=Phase.PROGRESSING, step_index=1, started_at=0.0,
                                 step_started_at=0.0, traffic=Traffic("2"), revision_id="rev-1")
    done, actions = transition(baking, PromoteRequested(now=5.0))
    assert done.phase is Phase.SUCCEEDED and not any(isinstance(a, SetTraffic) for a in actions)
    back, actions = transition(baking, RollbackRequested("by hand", now=5.0))
    assert [a for a in actions if isinstance(a, SetTraffic)] == [
        SetTraffic("f", "live", Traffic("1"), "rev-1")]
    assert back.phase is Phase.ROLLING_BACK
