"""Plain values: traffic, steps and their serialized forms."""

from __future__ import annotations

import json

import pytest

from lambdashift.model import (
    AnalysisStep,
    InvocationPause,
    ManualGate,
    PauseStep,
    Phase,
    Traffic,
    Verdict,
    WeightStep,
    check_steps,
    format_duration,
    step_from_dict,
    step_to_dict,
)


def test_verdict_and_phase_values_are_the_documented_names():
    assert [v.value for v in Verdict] == ["promote", "continue", "rollback", "inconclusive"]
    assert {p for p in Phase if p.is_terminal} == {Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.FAILED,
                                                  Phase.INTERRUPTED}


# --- Traffic -------------------------------------------------------------------------------


def test_single_version_traffic_gives_it_everything():
    t = Traffic("3")
    assert t.share_of("3") == 1.0
    assert t.share_of("4") == 0.0
    assert not t.is_split
    assert t.versions == ("3",)
    assert t.to_routing_config() == {}


def test_split_traffic_shares_by_weight():
    t = Traffic("3", "4", 0.25)
    assert t.share_of("3") == 0.75
    assert t.share_of("4") == 0.25
    assert t.share_of("5") == 0.0
    assert t.is_split
    assert t.versions == ("3", "4")
    assert t.to_routing_config() == {"AdditionalVersionWeights": {"4": 0.25}}


def test_integer_weight_is_stored_as_float():
    assert Traffic("1", "2", 1).weight == 1.0
    assert isinstance(Traffic("1").weight, float)


@pytest.mark.parametrize(
    "args, message",
    [
        (("$LATEST",), "published version"),
        (("1", "$LATEST", 0.1), "published version"),
        (("v1",), "published version"),
        (("",), "published version"),
        ((3,), "published version"),
        (("1", "2", 1.5), r"\[0, 1\]"),
        (("1", "2", -0.1), r"\[0, 1\]"),
        (("1", "2", True), "number"),
        (("1", "2", "0.1"), "number"),
        (("1", None, 0.1), "needs a canary"),
        (("1", "1", 0.1), "both version 1"),
    ],
)
def test_invalid_traffic_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        Traffic(*args)


@pytest.mark.parametrize(
    "version, routing, expected",
    [
        ("1", None, Traffic("1")),
        ("1", {}, Traffic("1")),
        ("1", {"AdditionalVersionWeights": {}}, Traffic("1")),
        ("1", {"AdditionalVersionWeights": {"2": 0.1}}, Traffic("1", "2", 0.1)),
    ],
)
def test_traffic_from_alias(version, routing, expected):
    assert Traffic.from_alias(version, routing) == expected


def test_traffic_from_alias_refuses_two_extra_versions_and_latest():
    with pytest.raises(ValueError, match="at most one"):
        Traffic.from_alias("1", {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})
    with pytest.raises(ValueError, match="published version"):
        Traffic.from_alias("$LATEST")


@pytest.mark.parametrize("t", [Traffic("1"), Traffic("1", "2", 0.1), Traffic("10", "9", 0.333333)])
def test_traffic_round_trips_through_routing_config_and_json(t):
    assert Traffic.from_alias(t.primary, t.to_routing_config()) == t
    assert Traffic.from_dict(json.loads(json.dumps(t.to_dict()))) == t


def test_traffic_reads_well():
    assert str(Traffic("1")) == "1 (100%)"
    assert str(Traffic("1", "2", 0.1)) == "1 (90%) + 2 (10%)"


# --- steps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, text", [(0, "0s"), (30, "30s"), (300, "5m"), (3600, "1h"), (5400, "1h30m"), (3661, "1h1m1s"), (1.5, "1.5s")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_steps_read_well():
    assert str(WeightStep(0.1)) == "weight 10%"
    assert str(PauseStep(300)) == "pause 5m"
    assert str(InvocationPause(100)) == "pause until 100 invocations"
    assert str(ManualGate()) == "manual gate"
    assert str(AnalysisStep()) == "analysis (judge)"  # no settings: the judge with its defaults
    assert str(AnalysisStep(alarms=("errors",))) == "analysis (alarms errors)"
    assert str(AnalysisStep({"min_requests": 10}, ("errors",))) == "analysis (alarms errors; judge)"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: WeightStep(0), r"\(0, 1\]"),
        (lambda: WeightStep(1.1), r"\(0, 1\]"),
        (lambda: WeightStep("10"), "number"),
        (lambda: PauseStep(0), "positive"),
        (lambda: PauseStep(True), "number"),
        (lambda: InvocationPause(0), "positive"),
        (lambda: InvocationPause(1.5), "integer"),
        (lambda: AnalysisStep(alarms=("",)), "alarm names"),
        (lambda: AnalysisStep(interval=0), "positive"),
    ],
)
def test_invalid_steps_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_analysis_params_are_a_read_only_copy():
    params = {"min_requests": 10}
    step = AnalysisStep(params)
    params["min_requests"] = 99
    assert step.params["min_requests"] == 10
    with pytest.raises(TypeError):
        step.params["x"] = 1  # type: ignore[index]
    assert step == AnalysisStep({"min_requests": 10})
    assert hash(step) == hash(AnalysisStep({"other": 1}))  # params are left out of the hash


@pytest.mark.parametrize(
    "step",
    [
        WeightStep(0.1),
        WeightStep(1.0),
        PauseStep(300),
        InvocationPause(50),
        ManualGate(),
        AnalysisStep(),
        AnalysisStep({"confidence": 0.95, "nested": {"a": [1, 2]}}, ("a", "b"), 30),
    ],
)
def test_steps_round_trip_through_json(step):
    assert step_from_dict(json.loads(json.dumps(step_to_dict(step)))) == step


def test_step_from_dict_refuses_unknown_shapes():
    with pytest.raises(ValueError, match="not a serialized step"):
        step_from_dict({"jump": 1})
    with pytest.raises(TypeError):
        step_to_dict("weight 10")  # type: ignore[arg-type]


def test_check_steps_accepts_increasing_weights_ending_at_100_percent():
    check_steps((WeightStep(0.1), PauseStep(60), WeightStep(0.5), ManualGate(), WeightStep(1.0)))
    check_steps((AnalysisStep(), WeightStep(1.0)))


@pytest.mark.parametrize(
    "steps, message",
    [
        ((), "at least one"),
        ((WeightStep(0.5), WeightStep(0.5), WeightStep(1.0)), "must increase"),
        ((WeightStep(0.5), WeightStep(0.2), WeightStep(1.0)), "must increase"),
        ((WeightStep(0.5),), "last weight step"),
        ((WeightStep(1.0), PauseStep(60)), "only analysis steps may follow"),
        ((WeightStep(1.0), ManualGate()), "only analysis steps may follow"),
    ],
)
def test_check_steps_refuses_bad_shapes(steps, message):
    with pytest.raises(ValueError, match=message):
        check_steps(steps)


def test_analysis_steps_may_follow_the_promotion():
    check_steps((WeightStep(0.1), WeightStep(1.0), AnalysisStep(), AnalysisStep({"alpha": 0.05})))
