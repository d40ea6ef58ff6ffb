"""Strategy → steps: named strategies, CodeDeploy presets, custom lists and their errors."""

from __future__ import annotations

import pytest

from lambdashift.core.strategy import (
    PRESETS,
    blue_green,
    canary,
    linear,
    parse_duration,
    parse_pause,
    parse_percent,
    preset_name,
    steps_for,
)
from lambdashift.errors import ConfigError
from lambdashift.model import (
    AnalysisStep,
    BakeStep,
    InvocationPause,
    ManualGate,
    PauseStep,
    WeightStep,
    check_steps,
)

W, P = WeightStep, PauseStep


def BOX(seconds: float) -> dict:  # noqa: N802 - reads like the step it builds
    """A judged pause's settings: it lasts ``seconds`` and ends on its clock (time-boxed)."""
    return {"min_duration": seconds, "promote_after": seconds}


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("5m", 300), ("30s", 30), ("1h", 3600), ("90", 90), ("1h30m", 5400), ("1h0m5s", 3605),
        ("2m30s", 150), (" 10s ", 10), (90, 90), (1.5, 1.5), ("0.5", 0.5),
        ("1d", 86400), ("1.5h", 5400), ("1d2h", 93600),  # what `logs --since` took before
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize("bad", ["", "m", "5 m", "1m1h", "5w", "1h1d", "-5", "0", "0s", 0, -1, True, None, [5]])
def test_parse_duration_refuses_what_is_not_a_positive_duration(bad):
    with pytest.raises(ConfigError, match=r"^rollout\.pause: must be a positive duration"):
        parse_duration(bad, "rollout.pause")


@pytest.mark.parametrize("value, fraction", [(10, 0.1), (100, 1.0), (0.5, 0.005), (33.3, 0.333)])
def test_config_weights_are_percents(value, fraction):
    assert parse_percent(value, "w") == fraction


@pytest.mark.parametrize("bad", [0, -5, 101, "10", "10%", True, None])
def test_parse_percent_refuses_out_of_range(bad):
    with pytest.raises(ConfigError, match=r"^w: must be a percent in \(0, 100\]"):
        parse_percent(bad, "w")


@pytest.mark.parametrize(
    "value, step",
    [("5m", P(300)), (90, P(90)), ("manual", ManualGate()), ({"invocations": 100}, InvocationPause(100))],
)
def test_parse_pause(value, step):
    assert parse_pause(value, "p") == step


@pytest.mark.parametrize(
    "value, message",
    [
        ({"invocations": 0}, r"p\.invocations: must be a positive integer"),
        ({"invocations": "many"}, r"p\.invocations: must be a positive integer"),
        ({"invocation": 10}, r"p: unknown key 'invocation'; did you mean 'invocations'\?"),
        ({}, "needs 'invocations'"),
        ("automatic", "positive duration"),
    ],
)
def test_parse_pause_errors(value, message):
    with pytest.raises(ConfigError, match=message):
        parse_pause(value, "p")


# --- named strategies ----------------------------------------------------------------------


def test_blue_green_checks_then_goes_all_at_once():
    assert steps_for({"strategy": "blue-green"}) == (AnalysisStep(), W(1.0))
    assert steps_for({"strategy": "blue-green", "alarms": ["errors"]}) == (
        AnalysisStep(alarms=("errors",)),
        W(1.0),
    )


def test_canary_defaults_to_ten_percent_for_five_minutes():
    assert steps_for({"strategy": "canary"}) == (W(0.1), P(300), W(1.0))


def test_canary_with_weight_pause_and_checks():
    steps = steps_for(
        {"strategy": "canary", "weight": 25, "pause": {"invocations": 500}, "alarms": ["e"],
         "analysis": {"interval": "30s", "alpha": 0.02}}
    )
    assert steps == (
        W(0.25),
        InvocationPause(500),
        AnalysisStep({"alpha": 0.02}, ("e",), 30),
        W(1.0),
    )


def test_canary_at_100_percent_is_refused():
    with pytest.raises(ConfigError, match=r"rollout\.weight: a canary weight must be below 100"):
        steps_for({"strategy": "canary", "weight": 100})


def test_linear_makes_equal_increments_with_pauses_between():
    assert steps_for({"strategy": "linear", "increments": 4, "pause": "2m"}) == (
        W(0.25), P(120), W(0.5), P(120), W(0.75), P(120), W(1.0),
    )


def test_linear_with_uneven_increments_rounds_to_what_aws_stores():
    steps = steps_for({"strategy": "linear", "increments": 3, "pause": "manual"})
    assert steps == (W(0.333333), ManualGate(), W(0.666667), ManualGate(), W(1.0))


@pytest.mark.parametrize("bad", [1, 0, 101, 2.5, "4", True])
def test_linear_increments_are_validated(bad):
    with pytest.raises(ConfigError, match=r"rollout\.increments: must be an integer from 2 to 100"):
        steps_for({"strategy": "linear", "increments": bad})


def test_custom_steps_as_in_the_issue():
    steps = steps_for(
        {
            "strategy": "custom",
            "steps": [
                {"weight": 5},
                {"pause": {"invocations": 100}},
                {"weight": 20},
                {"pause": "5m"},
                {"alarms": ["errors", "latency"]},
                {"pause": "manual"},
                {"weight": 50},
                {"analysis": {"alpha": 0.03}},
                {"pause": 90},
                {"weight": 100},
            ],
        }
    )
    assert steps == (
        W(0.05), InvocationPause(100), W(0.2), P(300), AnalysisStep(alarms=("errors", "latency")),
        ManualGate(), W(0.5), AnalysisStep({"alpha": 0.03}), P(90), W(1.0),
    )


def test_custom_analysis_steps_inherit_rollout_level_settings():
    steps = steps_for(
        {
            "strategy": "custom",
            "analysis": {"interval": "2m", "alpha": 0.05},
            "alarms": ["errors"],
            "steps": [{"weight": 10}, {"analysis": {"alpha": 0.02}}, {"analysis": None},
                      {"alarms": ["latency"]}, {"weight": 100}],
        }
    )
    assert steps[1] == AnalysisStep({"alpha": 0.02}, ("errors",), 120)
    assert steps[2] == AnalysisStep({"alpha": 0.05}, ("errors",), 120)
    assert steps[3] == AnalysisStep({"alpha": 0.05}, ("latency",), 120)


def test_a_time_boxed_analysis_step_is_read_and_a_late_promote_after_refused_at_load():
    steps = steps_for({"strategy": "custom", "steps": [
        {"weight": 10}, {"analysis": {"promote_after": "5m"}}, {"weight": 100}]})
    assert steps[1] == AnalysisStep({"promote_after": "5m"})
    with pytest.raises(ConfigError, match=r"rollout\.steps\[1\]\.analysis: promote_after "
                                          r"\(7200 s\) must be positive and not after max_wait"):
        steps_for({"strategy": "custom", "steps": [
            {"weight": 10}, {"analysis": {"promote_after": "2h"}}, {"weight": 100}]})


def test_design_example_canary_with_explicit_steps_is_accepted():
    rollout = {"strategy": "canary", "steps": [{"weight": 10}, {"pause": "5m"}, {"weight": 100}]}
    assert steps_for(rollout) == (W(0.1), P(300), W(1.0))


@pytest.mark.parametrize(
    "rollout, message",
    [
        ({}, r"^rollout\.strategy: required"),
        ({"strategy": "canry"}, r"^rollout\.strategy: unknown strategy 'canry'; did you mean 'canary'\?"),
        ({"strategy": "LambdaCanary10Percent7Minutes"}, r"did you mean 'LambdaCanary10Percent\d+Minutes'\?"),
        ({"strategy": "canary", "wieght": 10}, r"^rollout: unknown key 'wieght'; did you mean 'weight'\?"),
        ({"strategy": "blue-green", "weight": 10}, r"^rollout: unknown key 'weight'"),
        ({"strategy": "linear", "weight": 10}, r"^rollout: unknown key 'weight'"),
        ({"strategy": "LambdaAllAtOnce", "pause": "5m"}, r"^rollout: unknown key 'pause'"),
        ({"strategy": "custom"}, r"^rollout\.steps: required by the custom strategy"),
        ({"strategy": "custom", "steps": []}, r"^rollout\.steps: must be a non-empty list"),
        ({"strategy": "custom", "steps": {"weight": 100}}, r"^rollout\.steps: must be a non-empty list"),
        ({"strategy": "canary", "weight": 5, "steps": [{"weight": 100}]}, "either 'steps' or 'weight'"),
        ({"strategy": "canary", "alarms": "errors"}, r"^rollout\.alarms: must be a list of alarm names"),
        ({"strategy": "canary", "analysis": [1]}, r"^rollout\.analysis: must be a mapping"),
        ({"strategy": "canary", "analysis": {"interval": "soon"}}, r"^rollout\.analysis\.interval: must be"),
        ("canary", r"^rollout: must be a mapping"),
    ],
)
def test_rollout_errors_name_the_key_path(rollout, message):
    with pytest.raises(ConfigError, match=message):
        steps_for(rollout)


@pytest.mark.parametrize(
    "steps, message",
    [
        ([{"weight": 0}, {"weight": 100}], r"steps\[0\]\.weight: must be a percent in \(0, 100\], got 0"),
        ([{"weight": 150}], r"steps\[0\]\.weight: must be a percent in \(0, 100\], got 150"),
        ([{"weight": 50}, {"weight": 20}, {"weight": 100}], r"steps\[1\]\.weight: weights must increase, got 20 after 50"),
        ([{"weight": 50}, {"weight": 50}, {"weight": 100}], r"steps\[1\]\.weight: weights must increase"),
        ([{"weight": 10}, {"pause": "5m"}], r"steps: the last weight step must be \{weight: 100\}"),
        ([{"weight": 100}, {"pause": "5m"}], r"steps: the last weight step must be \{weight: 100\}"),
        ([{"weight": 10}, {"pause": "5 minutes"}, {"weight": 100}], r"steps\[1\]\.pause: must be a positive duration"),
        ([{"wait": "5m"}, {"weight": 100}], r"steps\[0\]: unknown key 'wait'"),
        ([{"paus": "5m"}, {"weight": 100}], r"steps\[0\]: unknown key 'paus'; did you mean 'pause'\?"),
        ([{"weight": 10, "pause": "5m"}, {"weight": 100}], r"steps\[0\]: a step is a mapping with one key"),
        (["weight 10", {"weight": 100}], r"steps\[0\]: a step is a mapping with one key"),
        ([{"alarms": "x"}, {"weight": 100}], r"steps\[0\]\.alarms: must be a list"),
    ],
)
def test_bad_custom_steps_are_config_errors_with_the_key_path(steps, message):
    with pytest.raises(ConfigError, match=r"^functions\.notes-get\.rollout\." + message):
        steps_for({"strategy": "custom", "steps": steps}, "functions.notes-get.rollout")


# --- CodeDeploy presets --------------------------------------------------------------------

CANARY_MINUTES = {
    "LambdaCanary10Percent5Minutes": 5,
    "LambdaCanary10Percent10Minutes": 10,
    "LambdaCanary10Percent15Minutes": 15,
    "LambdaCanary10Percent30Minutes": 30,
}
LINEAR_MINUTES = {
    "LambdaLinear10PercentEvery1Minute": 1,
    "LambdaLinear10PercentEvery2Minutes": 2,
    "LambdaLinear10PercentEvery3Minutes": 3,
    "LambdaLinear10PercentEvery10Minutes": 10,
}


def test_there_are_exactly_the_nine_codedeploy_presets():
    assert set(PRESETS) == {*CANARY_MINUTES, *LINEAR_MINUTES, "LambdaAllAtOnce"}


@pytest.mark.parametrize("name, minutes", CANARY_MINUTES.items())
def test_canary_presets(name, minutes):
    expected = (W(0.1), P(minutes * 60), W(1.0))
    assert steps_for({"strategy": name}) == expected
    assert steps_for({"strategy": f"CodeDeployDefault.{name}"}) == expected


@pytest.mark.parametrize("name, minutes", LINEAR_MINUTES.items())
def test_linear_presets_take_ten_increments(name, minutes):
    steps = steps_for({"strategy": f"CodeDeployDefault.{name}"})
    weights = [s.weight for s in steps if isinstance(s, WeightStep)]
    assert weights == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert [s for s in steps if isinstance(s, PauseStep)] == [P(minutes * 60)] * 9
    assert steps == steps_for({"strategy": name})


def test_all_at_once_preset():
    assert steps_for({"strategy": "LambdaAllAtOnce"}) == (W(1.0),)
    assert steps_for({"strategy": "CodeDeployDefault.LambdaAllAtOnce"}) == (W(1.0),)
    assert steps_for({"strategy": "LambdaAllAtOnce", "alarms": ["e"]}) == (AnalysisStep(alarms=("e",)), W(1.0))


def test_presets_with_alarms_check_after_each_pause():
    steps = steps_for({"strategy": "LambdaCanary10Percent5Minutes", "alarms": ["errors"]})
    assert steps == (W(0.1), P(300), AnalysisStep(alarms=("errors",)), W(1.0))


def test_preset_name():
    assert preset_name("CodeDeployDefault.LambdaAllAtOnce") == "LambdaAllAtOnce"
    assert preset_name("LambdaAllAtOnce") == "LambdaAllAtOnce"
    assert preset_name("lambdaallatonce") is None
    assert preset_name("canary") is None


def test_python_builders():
    assert blue_green() == (AnalysisStep(), W(1.0))
    assert canary(20, ManualGate()) == (W(0.2), ManualGate(), W(1.0))
    assert linear(2) == (W(0.5), P(60), W(1.0))


def test_every_generated_step_list_has_the_shape_the_machine_needs():
    rollouts = [{"strategy": name} for name in PRESETS] + [
        {"strategy": "blue-green"},
        {"strategy": "canary", "weight": 0.5},
        {"strategy": "canary", "weight": 99.9},
        *({"strategy": "linear", "increments": n} for n in range(2, 101)),
    ]
    for rollout in rollouts:
        check_steps(steps_for(rollout))


@pytest.mark.parametrize("text,seconds", [("0.5s", 0.5), ("2m0.5s", 120.5), ("1.25", 1.25)])
def test_durations_may_have_fractional_seconds(text, seconds):
    assert parse_duration(text, "rollout.pause") == seconds


def test_analysis_steps_may_follow_the_100_percent_step_in_config():
    steps = steps_for({"strategy": "custom", "steps": [{"weight": 10}, {"weight": 100},
                                                       {"analysis": {"alpha": 0.05}}]})
    assert steps[-1] == AnalysisStep({"alpha": 0.05})


BAKE = BakeStep(seconds=60)


# --- judged by default (issue 8) -----------------------------------------------------------------


def test_judged_turns_every_pause_of_a_split_into_a_look():
    steps = steps_for({"strategy": "canary", "pause": "2m", "alarms": ["errs"]}, judge=True)
    # The judged rollout ends with the default bake after its switch to 100%.
    assert steps == (W(0.1), AnalysisStep(BOX(120.0), ("errs",)), W(1.0), BAKE)
    custom = {"strategy": "custom", "steps": [{"weight": 10}, {"pause": {"invocations": 50}},
                                              {"analysis": {"alpha": "1%"}}, {"weight": 100}]}
    assert steps_for(custom, judge=True) == (
        W(0.1), AnalysisStep({"min_invocations": 50, "alpha": "1%"}), W(1.0), BAKE)


def test_judged_adds_a_look_where_a_split_has_none_and_leaves_gates_and_bare_traffic_alone():
    custom = {"strategy": "custom", "steps": [{"pause": "1m"}, {"weight": 10}, {"alarms": ["a"]},
                                              {"weight": 50}, {"pause": "manual"}, {"weight": 100},
                                              {"analysis": {}}]}
    assert steps_for(custom, judge=True) == (
        P(60), W(0.1), AnalysisStep(alarms=("a",)), AnalysisStep(), W(0.5), ManualGate(), W(1.0),
        AnalysisStep(), BAKE)


def test_every_preset_with_a_split_is_judged_and_analysis_off_is_not():
    for name, plain in PRESETS.items():
        steps = steps_for({"strategy": name}, judge=True)
        assert not any(isinstance(s, PauseStep) for s in steps), name
        assert steps_for({"strategy": name, "analysis": "off"}, judge=True) == plain
    assert steps_for({"strategy": "blue-green"}, judge=True) == (*blue_green(), BAKE)


# --- time-boxed by default (issue 17 item 4) -----------------------------------------------------


def policies(rollout: dict) -> list:
    from lambdashift.core.judge_policy import JudgePolicy

    return [JudgePolicy.from_params(s.params) for s in steps_for(rollout, judge=True)
            if isinstance(s, AnalysisStep) and s.params]


@pytest.mark.parametrize("rollout, seconds", [
    ({"strategy": "canary", "weight": 10, "pause": "30s"}, [30.0]),
    ({"strategy": "canary"}, [300.0]),
    ({"strategy": "linear", "increments": 3, "pause": "1m"}, [60.0, 60.0]),
    ({"strategy": "custom", "steps": [{"weight": 5}, {"pause": "45s"}, {"weight": 50},
                                      {"pause": "2m"}, {"weight": 100}]}, [45.0, 120.0]),
    ({"strategy": "canary", "pause": "20s", "analysis": {"alpha": "5%"}}, [20.0]),
])
def test_a_judged_pause_is_time_boxed_with_the_pause_as_its_horizon(rollout, seconds):
    found = policies(rollout)
    assert [p.promote_after_s for p in found] == seconds
    assert [p.min_duration_s for p in found] == seconds  # it lasts the pause, then goes on
    assert all(p.bets for p in found)  # the time-boxed evidence (evidence.bet), not the strict one


@pytest.mark.parametrize("where", ["rollout", "step"])
def test_promote_when_shown_no_worse_is_the_strict_point(where):
    strict = {"promote": "when-shown-no-worse"}
    if where == "rollout":
        rollout = {"strategy": "canary", "pause": "30s", "analysis": strict}
    else:
        rollout = {"strategy": "custom", "steps": [{"weight": 10}, {"pause": "30s"},
                                                   {"analysis": strict}, {"weight": 100}]}
    (policy,) = policies(rollout)
    assert policy.promote_after_s is None and not policy.bets
    assert policy.min_duration_s == 30.0  # the pause is then the least the step lasts


def test_the_strict_key_is_checked_and_named_when_wrong():
    with pytest.raises(ConfigError, match=r"rollout.analysis.promote: must be at-end-of-pause .* "
                                          r"or when-shown-no-worse"):
        steps_for({"strategy": "canary", "analysis": {"promote": "strict"}}, judge=True)


@pytest.mark.parametrize("name, minutes", [
    ("LambdaCanary10Percent5Minutes", [5]), ("CodeDeployDefault.LambdaCanary10Percent30Minutes", [30]),
    ("LambdaLinear10PercentEvery1Minute", [1] * 9), ("LambdaLinear10PercentEvery10Minutes", [10] * 9),
])
def test_codedeploy_presets_keep_their_clocks(name, minutes):
    assert [p.promote_after_s for p in policies({"strategy": name})] == [60.0 * m for m in minutes]


def test_a_pause_longer_than_the_default_max_wait_stretches_it():
    (policy,) = policies({"strategy": "canary", "pause": "2h"})
    assert policy.promote_after_s == policy.max_wait_s == 7200.0


def test_a_pause_for_invocations_and_an_explicit_analysis_step_keep_no_clock():
    custom = {"strategy": "custom", "steps": [{"weight": 10}, {"pause": {"invocations": 50}},
                                              {"weight": 20}, {"analysis": {"max_wait": "10m"}},
                                              {"weight": 100}]}
    assert [p.promote_after_s for p in policies(custom)] == [None, None]
