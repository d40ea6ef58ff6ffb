"""Strategy → steps: turn a ``rollout:`` mapping of lambdashift.yaml into a tuple of steps.

Pure: no I/O. Config and CLI speak *percent* (``weight: 10`` is 10%); the steps this module
returns carry *fractions* (``WeightStep(0.1)``), as ``Traffic`` and AWS do.

Strategies (``strategy:``)::

    blue-green   checks at 0%, then 100% at once           keys: analysis, alarms
    canary       weight W, pause, [checks], 100%           keys: weight (10), pause (5m), steps
    linear       N equal increments, each followed by      keys: increments (10), pause (1m), steps
                 a pause [and checks], then 100%
    custom       the ``steps`` list as written             keys: steps (required)
    LambdaCanary10Percent5Minutes ... LambdaAllAtOnce      the nine CodeDeploy presets, by name,
                                                           with or without ``CodeDeployDefault.``

Every strategy also accepts ``analysis`` (a mapping: ``alarms``, ``interval``, judge
parameters) and ``alarms`` (a list): they become the checks run after each pause; and
``bake`` (a duration, 60 s when judged; ``0`` or ``off`` for none): after the switch to
100%, the candidate is watched that long against the stable's behaviour before it. ``steps``
is accepted with canary and linear too (the name then only labels the list), so that the
short ``strategy: canary, steps: [...]`` form works; it excludes the generating keys.

A custom step is a one-key mapping: ``{weight: 10}``, ``{pause: 5m}``, ``{pause: 90}``,
``{pause: {invocations: 100}}``, ``{pause: manual}``, ``{analysis: {...}}`` or
``{alarms: [name, ...]}``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lambdashift.core.bake import parse_bake
from lambdashift.core.judge_policy import JudgePolicy, pause_params
from lambdashift.core.validators import parse_duration, parse_percent, unknown_key_error
from lambdashift.errors import ConfigError
from lambdashift.model import (
    AnalysisStep,
    BakeStep,
    InvocationPause,
    ManualGate,
    PauseStep,
    Step,
    WeightStep,
    check_steps,
)

STRATEGIES = ("blue-green", "canary", "linear", "custom")
"""The strategies named by their shape; the CodeDeploy presets come on top."""

_PRESET_PREFIX = "CodeDeployDefault."
_COMMON_KEYS = ("strategy", "analysis", "alarms", "bake")
_KEYS = {
    "blue-green": _COMMON_KEYS,
    "canary": (*_COMMON_KEYS, "weight", "pause", "steps"),
    "linear": (*_COMMON_KEYS, "increments", "pause", "steps"),
    "custom": (*_COMMON_KEYS, "steps"),
}
_STEP_KEYS = ("weight", "pause", "analysis", "alarms")


def parse_pause(value: object, path: str) -> Step:
    """A pause: a duration, ``{invocations: N}``, or ``manual`` (a gate)."""
    if value == "manual":
        return ManualGate()
    if isinstance(value, Mapping):
        if set(value) != {"invocations"}:
            extra = next((k for k in value if k != "invocations"), None)
            if extra is not None:
                raise unknown_key_error(path, extra, ["invocations"])
            raise ConfigError(f"{path}: a pause mapping needs 'invocations'")
        count = value["invocations"]
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ConfigError(f"{path}.invocations: must be a positive integer, got {count!r}")
        return InvocationPause(count)
    return PauseStep(parse_duration(value, path))


def parse_alarms(value: object, path: str) -> tuple[str, ...]:
    """A list of CloudWatch alarm names."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{path}: must be a list of alarm names, got {value!r}")
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{path}[{index}]: must be an alarm name, got {name!r}")
    return tuple(value)


def parse_analysis(
    value: object, path: str, *, defaults: AnalysisStep | None = None
) -> AnalysisStep:
    """An analysis step from a mapping: ``alarms`` and ``interval`` are ours, the rest the judge's.

    ``defaults`` (the rollout-level analysis) is merged under it: keys given here win.
    """
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: must be a mapping (alarms, interval, judge settings)")
    base = defaults or AnalysisStep()
    params = {**base.params, **{k: v for k, v in value.items() if k not in ("alarms", "interval")}}
    alarms = parse_alarms(value["alarms"], f"{path}.alarms") if "alarms" in value else base.alarms
    interval = base.interval
    if "interval" in value:
        interval = parse_duration(value["interval"], f"{path}.interval")
    JudgePolicy.from_params(params, path)  # a bad judge setting fails at load, naming its key
    return AnalysisStep(params, alarms, interval)


def _canary_weight(percent: object, path: str) -> float:
    fraction = parse_percent(percent, path)
    if fraction == 1.0:
        raise ConfigError(f"{path}: a canary weight must be below 100, got {percent!r}")
    return fraction


def _check_increments(increments: object, path: str) -> None:
    valid = isinstance(increments, int) and not isinstance(increments, bool)
    if not valid or not 2 <= increments <= 100:  # type: ignore[operator]
        raise ConfigError(f"{path}: must be an integer from 2 to 100, got {increments!r}")


# --- strategies --------------------------------------------------------------------------


def blue_green(check: AnalysisStep | None = None) -> tuple[Step, ...]:
    """Checks while the candidate has no traffic, then 100% at once."""
    return (check or AnalysisStep(), WeightStep(1.0))


def canary(
    percent: float = 10, wait: Step | None = None, check: AnalysisStep | None = None
) -> tuple[Step, ...]:
    """``percent`` to the candidate, ``wait`` (5 minutes by default), optional checks, then 100%."""
    steps: list[Step] = [WeightStep(_canary_weight(percent, "weight")), wait or PauseStep(300)]
    if check is not None:
        steps.append(check)
    return (*steps, WeightStep(1.0))


def linear(
    increments: int = 10, wait: Step | None = None, check: AnalysisStep | None = None
) -> tuple[Step, ...]:
    """``increments`` equal steps to 100%, each but the last followed by ``wait`` and checks."""
    _check_increments(increments, "increments")
    steps: list[Step] = []
    for i in range(1, increments):
        steps += [WeightStep(round(i / increments, 6)), wait or PauseStep(60)]
        if check is not None:
            steps.append(check)
    return (*steps, WeightStep(1.0))


def _presets() -> dict[str, tuple[Step, ...]]:
    presets: dict[str, tuple[Step, ...]] = {"LambdaAllAtOnce": (WeightStep(1.0),)}
    for minutes in (5, 10, 15, 30):
        presets[f"LambdaCanary10Percent{minutes}Minutes"] = canary(10, PauseStep(minutes * 60))
    for minutes in (1, 2, 3, 10):
        unit = "Minute" if minutes == 1 else "Minutes"
        presets[f"LambdaLinear10PercentEvery{minutes}{unit}"] = linear(10, PauseStep(minutes * 60))
    return presets


PRESETS: Mapping[str, tuple[Step, ...]] = _presets()
"""CodeDeploy's predefined Lambda deployment configurations, by name (without prefix)."""


def preset_name(name: str) -> str | None:
    """The canonical preset name for ``name`` (prefix ``CodeDeployDefault.`` allowed), or None."""
    bare = name[len(_PRESET_PREFIX):] if name.startswith(_PRESET_PREFIX) else name
    return bare if bare in PRESETS else None


def parse_steps(value: object, path: str, *, check: AnalysisStep | None = None) -> tuple[Step, ...]:
    """A custom step list; ``check`` supplies defaults for its analysis steps."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{path}: must be a non-empty list of steps such as {{weight: 10}}")
    steps: list[Step] = []
    last_weight, last_index = 0.0, 0
    for index, item in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ConfigError(
                f"{where}: a step is a mapping with one key (weight, pause, analysis or alarms), "
                f"got {item!r}"
            )
        ((key, arg),) = item.items()
        if key not in _STEP_KEYS:
            raise unknown_key_error(where, key, _STEP_KEYS)
        where = f"{where}.{key}"
        if key == "weight":
            weight = parse_percent(arg, where)
            if weight <= last_weight:
                raise ConfigError(
                    f"{where}: weights must increase, got {arg!r} after "
                    f"{last_weight * 100:g} at step {last_index}"
                )
            last_weight, last_index = weight, index
            steps.append(WeightStep(weight))
        elif key == "pause":
            steps.append(parse_pause(arg, where))
        elif key == "analysis":
            steps.append(parse_analysis(arg, where, defaults=check))
        else:
            base = check or AnalysisStep()
            steps.append(AnalysisStep(base.params, parse_alarms(arg, where), base.interval))
    try:
        check_steps(tuple(steps))
    except ValueError:
        raise ConfigError(
            f"{path}: the last weight step must be {{weight: 100}}, and only analysis steps "
            f"(post-traffic checks) may follow it; got {value[-1]!r} last") from None
    return tuple(steps)


def analysis_off(value: object) -> bool:
    """True for ``analysis: off`` (YAML reads a bare ``off`` as false): nothing is judged."""
    return value is False or (isinstance(value, str) and value.strip().lower() == "off")


def judged(steps: tuple[Step, ...], check: AnalysisStep | None = None) -> tuple[Step, ...]:
    """The steps with the candidate judged wherever it has part of the traffic.

    While the alias is split (after a weight step below 100), a timed pause becomes an
    analysis step that lasts as long and then goes on unless the judge saw harm (the
    time-boxed point: ``min_duration`` and ``promote_after`` both the pause; the strict point
    with ``promote: when-shown-no-worse``), and a pause for N invocations one that needs them
    (``min_invocations``), both with the rollout's ``check`` (its judge settings, alarms and
    interval). CodeDeploy presets are pauses too: they keep their clocks. A pause followed by an analysis step is merged into that
    step (its own settings win). A split with no look at all (no analysis step other than
    alarms alone, no manual gate) gets an analysis step with the defaults before the next
    weight. Nothing changes before the first weight step (no candidate traffic to judge) or
    after the weight 100 step.
    """
    base = check or AnalysisStep()
    out: list[Step] = []
    weight, looked, held = 0.0, True, None  # held: a pause waiting to be merged

    def flush() -> None:
        nonlocal held, looked
        if held is not None:
            out.append(AnalysisStep({**held, **base.params}, base.alarms, base.interval))
            held, looked = None, True

    for step in steps:
        split = 0 < weight < 1
        if isinstance(step, WeightStep):
            flush()
            if split and not looked:
                out.append(base)
            weight, looked = step.weight, False
            out.append(step)
        elif split and isinstance(step, (PauseStep, InvocationPause)):
            flush()
            held = (pause_params(step.seconds) if isinstance(step, PauseStep)
                    else {"min_invocations": step.invocations})
        elif split and isinstance(step, AnalysisStep) and held is not None:
            out.append(AnalysisStep({**held, **step.params}, step.alarms, step.interval))
            held, looked = None, True
        else:
            flush()
            if isinstance(step, ManualGate) or (isinstance(step, AnalysisStep)
                                                and (step.params or not step.alarms)):
                looked = True
            out.append(step)
    flush()
    return tuple(out)


def with_policies(steps: tuple[Step, ...], defaults: Mapping[str, Any] | None = None,
                  path: str = "rollout") -> tuple[Step, ...]:
    """The steps with each analysis step's judge policy built: its ``params`` over
    ``defaults`` (the config's top-level ``analysis:``). The one place a policy is built from
    settings; ConfigError naming the step when they do not make a valid policy (a pause
    longer than ``max_wait`` does not). A bake has no judge policy (``core.bake``)."""
    out: list[Step] = []
    for index, step in enumerate(steps):
        if isinstance(step, AnalysisStep) and not isinstance(step, BakeStep):
            where = f"{path}: step {index + 1} ({step})" if step.params else "analysis"
            step = _with_policy(step, defaults, where)
        out.append(step)
    return tuple(out)


def analysis_step(params: Mapping[str, Any] | None = None, alarms: tuple[str, ...] = (),
                  interval: float | None = None, *, defaults: Mapping[str, Any] | None = None,
                  path: str = "analysis") -> AnalysisStep:
    """An analysis step with its policy built (as :func:`with_policies` does), for callers
    that make steps by hand (a script, the demo, tests) rather than from a ``rollout:``
    mapping; errors name ``path``."""
    return _with_policy(AnalysisStep(params or {}, alarms, interval), defaults, path)


def _with_policy(step: AnalysisStep, defaults: Mapping[str, Any] | None,
                 where: str) -> AnalysisStep:
    return replace(step, policy=JudgePolicy.from_params({**(defaults or {}), **step.params},
                                                        where))


def steps_for(rollout: Mapping[str, Any], path: str = "rollout", *,
              judge: bool = False, defaults: Mapping[str, Any] | None = None,
              ) -> tuple[Step, ...]:
    """The steps of a ``rollout:`` mapping; ConfigError naming the key path when it is wrong.

    With ``judge`` (what lambdashift.yaml gets unless it says ``analysis: off``) the steps
    are :func:`judged`; ``analysis: off`` in the mapping itself turns that off. Each analysis
    step carries its built policy (``defaults`` under its own settings). A ``path``
    that is a flag (``--strategy``) names the strategy itself: the error then says
    ``--strategy: unknown strategy``, the flag the user typed.
    """
    steps = _plain_steps(rollout, path)
    judge = judge and not analysis_off(rollout.get("analysis"))
    if judge:
        steps = judged(steps, _rollout_check(rollout, path))
    steps = with_policies(steps, defaults, path)
    bake = parse_bake(rollout.get("bake"), f"{path}.bake", judged=judge)
    return steps if bake is None else (*steps, BakeStep(seconds=bake))


def _plain_steps(rollout: Mapping[str, Any], path: str) -> tuple[Step, ...]:
    named = path if path.startswith("--") else f"{path}.strategy"
    if not isinstance(rollout, Mapping):
        raise ConfigError(f"{path}: must be a mapping with a 'strategy'")
    strategy = rollout.get("strategy")
    if strategy is None:
        # A key no strategy knows is likelier a typo of 'strategy' than a forgotten one.
        known = tuple(dict.fromkeys(k for keys in _KEYS.values() for k in keys))
        for key in rollout:
            if key not in known:
                raise unknown_key_error(path, key, known)
    if not isinstance(strategy, str):
        raise ConfigError(
            f"{path}.strategy: required, one of {', '.join(STRATEGIES)} or a CodeDeploy preset"
        )
    preset = preset_name(strategy)
    if strategy not in STRATEGIES and preset is None:
        names = [*STRATEGIES, *PRESETS]
        close = difflib.get_close_matches(strategy.removeprefix(_PRESET_PREFIX), names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"{named}: unknown strategy {strategy!r}{hint} "
            f"(expected {', '.join(STRATEGIES)} or a CodeDeploy preset such as "
            "LambdaCanary10Percent5Minutes)"
        )
    allowed = _COMMON_KEYS if preset else _KEYS[strategy]
    for key in rollout:
        if key not in allowed:
            raise unknown_key_error(path, key, allowed)

    check = _rollout_check(rollout, path)
    if preset is not None:
        return _with_check(PRESETS[preset], check)
    if strategy == "blue-green":
        return blue_green(check)
    if "steps" in rollout:
        clash = [k for k in ("weight", "pause", "increments") if k in rollout]
        if clash:
            given = ", ".join(repr(k) for k in clash)
            raise ConfigError(f"{path}: give either 'steps' or {given}, not both")
        return parse_steps(rollout["steps"], f"{path}.steps", check=check)
    if strategy == "custom":
        raise ConfigError(f"{path}.steps: required by the custom strategy")
    wait = parse_pause(rollout["pause"], f"{path}.pause") if "pause" in rollout else None
    if strategy == "canary":
        weight = rollout.get("weight", 10)
        _canary_weight(weight, f"{path}.weight")  # here, for the error's key path
        return canary(weight, wait, check)
    increments = rollout.get("increments", 10)
    _check_increments(increments, f"{path}.increments")
    return linear(increments, wait, check)



def _rollout_check(rollout: Mapping[str, Any], path: str) -> AnalysisStep | None:
    """The rollout-level checks (``analysis`` and ``alarms``), or None when neither is given
    (``analysis: off`` counts as not given)."""
    analysis = rollout.get("analysis")
    if analysis_off(analysis):
        analysis = None
    if analysis is None and "alarms" not in rollout:
        return None
    check = parse_analysis(analysis, f"{path}.analysis")
    if "alarms" in rollout:
        alarms = parse_alarms(rollout["alarms"], f"{path}.alarms")
        check = AnalysisStep(check.params, (*check.alarms, *alarms), check.interval)
    return check


def _with_check(steps: tuple[Step, ...], check: AnalysisStep | None) -> tuple[Step, ...]:
    """A preset's steps with ``check`` after each pause (or before the jump, for all-at-once)."""
    if check is None:
        return steps
    if len(steps) == 1:
        return (check, *steps)
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if isinstance(step, PauseStep):
            out.append(check)
    return tuple(out)
