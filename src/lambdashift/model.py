"""Plain values shared by every layer: no I/O here.

Names follow docs/concepts: a *function* has published *versions*; its *alias* carries
*traffic* (a primary version and optionally a canary version with a weight); a *rollout*
moves the alias from the *stable* version to the *candidate* in *steps*, going through
*phases*; the judge answers with a *verdict* and its reasons.

Units: weights in this module are fractions in [0, 1], as AWS's routing config has them.
Only the edges (lambdashift.yaml, the CLI) speak percent; ``core.strategy`` converts.
Invalid values raise ``ValueError``: building one is a programming error, not a user error
(user input is validated earlier, by ``config`` and ``core.strategy``, with key paths).
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

_VERSION = re.compile(r"[0-9]+")


class Verdict(enum.Enum):
    """The judge's answer about a candidate, always given with reasons."""

    PROMOTE = "promote"
    CONTINUE = "continue"
    ROLLBACK = "rollback"
    INCONCLUSIVE = "inconclusive"


class Phase(enum.Enum):
    """Where a rollout is in its life."""

    PENDING = "pending"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    PROMOTING = "promoting"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM: back on the stable version; not a verdict on the candidate

    @property
    def is_terminal(self) -> bool:
        """True once the rollout has ended and owns the alias no more."""
        return self in (Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.FAILED, Phase.INTERRUPTED)


def check_version(version: str) -> str:
    """Return ``version`` if it names a published version (digits), else raise ValueError.

    ``$LATEST`` is refused on purpose: traffic always goes to immutable versions.
    """
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ValueError(f"a version is a published version number such as '3', got {version!r}")
    return version


@dataclass(frozen=True)
class Traffic:
    """What an alias serves: ``primary`` gets ``1 - weight``, ``canary`` gets ``weight``."""

    primary: str
    canary: str | None = None
    weight: float = 0.0

    def __post_init__(self) -> None:
        check_version(self.primary)
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)):
            raise ValueError(f"weight must be a number, got {self.weight!r}")
        object.__setattr__(self, "weight", float(self.weight))
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {self.weight!r}")
        if self.canary is None:
            if self.weight != 0.0:
                raise ValueError("a weight needs a canary version")
        else:
            check_version(self.canary)
            if self.canary == self.primary:
                raise ValueError(f"canary and primary are both version {self.primary}")

    @property
    def is_split(self) -> bool:
        """True when two versions share the alias."""
        return self.canary is not None

    @property
    def versions(self) -> tuple[str, ...]:
        """The versions named by this traffic, primary first."""
        return (self.primary,) if self.canary is None else (self.primary, self.canary)

    def share_of(self, version: str) -> float:
        """The fraction of invocations that ``version`` receives (0.0 if not named)."""
        if version == self.canary:
            return self.weight
        if version == self.primary:
            return 1.0 - self.weight
        return 0.0

    def to_routing_config(self) -> dict[str, Any]:
        """AWS's ``RoutingConfig`` for UpdateAlias: ``{}`` when one version serves."""
        if self.canary is None:
            return {}
        return {"AdditionalVersionWeights": {self.canary: self.weight}}

    @classmethod
    def from_alias(
        cls, function_version: str, routing_config: Mapping[str, Any] | None = None
    ) -> Traffic:
        """Read an alias as AWS returns it (``FunctionVersion`` and ``RoutingConfig``)."""
        weights = dict((routing_config or {}).get("AdditionalVersionWeights") or {})
        if not weights:
            return cls(function_version)
        if len(weights) > 1:
            raise ValueError(f"an alias routes to at most one extra version, got {weights}")
        ((canary, weight),) = weights.items()
        return cls(function_version, str(canary), float(weight))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, the inverse of ``from_dict``."""
        return {"primary": self.primary, "canary": self.canary, "weight": self.weight}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Traffic:
        """Rebuild from ``to_dict``'s output."""
        return cls(data["primary"], data.get("canary"), data.get("weight", 0.0))

    def __str__(self) -> str:
        if self.canary is None:
            return f"{self.primary} (100%)"
        primary, canary = _percent(1.0 - self.weight), _percent(self.weight)
        return f"{self.primary} ({primary}) + {self.canary} ({canary})"


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100, 4):g}%"


def format_duration(seconds: float) -> str:
    """``5400`` → ``1h30m``; the inverse of ``core.strategy.parse_duration`` for whole seconds."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest = int(seconds)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


# --- steps: one instruction of a rollout -----------------------------------------------


@dataclass(frozen=True)
class WeightStep:
    """Send ``weight`` (a fraction in (0, 1]) of the traffic to the candidate."""

    weight: float

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)):
            raise ValueError(f"weight must be a number, got {self.weight!r}")
        object.__setattr__(self, "weight", float(self.weight))
        if not 0.0 < self.weight <= 1.0:
            raise ValueError(f"a weight step needs a weight in (0, 1], got {self.weight!r}")

    def __str__(self) -> str:
        return f"weight {_percent(self.weight)}"


@dataclass(frozen=True)
class PauseStep:
    """Wait ``seconds`` before the next step."""

    seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise ValueError(f"seconds must be a number, got {self.seconds!r}")
        object.__setattr__(self, "seconds", float(self.seconds))
        if self.seconds <= 0:
            raise ValueError(f"a pause must be positive, got {self.seconds!r}")

    def __str__(self) -> str:
        return f"pause {format_duration(self.seconds)}"


@dataclass(frozen=True)
class InvocationPause:
    """Wait for ``invocations`` calls of the candidate: on low traffic, time proves little."""

    invocations: int

    def __post_init__(self) -> None:
        if isinstance(self.invocations, bool) or not isinstance(self.invocations, int):
            raise ValueError(f"invocations must be an integer, got {self.invocations!r}")
        if self.invocations <= 0:
            raise ValueError(f"invocations must be positive, got {self.invocations!r}")

    def __str__(self) -> str:
        return f"pause until {self.invocations} invocations"


@dataclass(frozen=True)
class ManualGate:
    """Wait for a person to run ``lambdashift promote``."""

    def __str__(self) -> str:
        return "manual gate"


@dataclass(frozen=True)
class AnalysisStep:
    """Ask for a verdict on the candidate before going on.

    ``alarms`` are CloudWatch alarm names that must not be in ALARM; ``params`` is an opaque
    mapping for the judge (its issue defines the keys); ``interval`` is how long to wait
    before asking again when the verdict is *continue* (not enough data yet): None (the
    default) looks as soon as the metrics source can have new data (every second on the
    local stack, after each CloudWatch period is published on AWS).

    ``policy`` is the judge's policy built from ``params`` over the config's ``analysis:``
    defaults, once, when the steps are made (``core.strategy.with_policies``); it travels
    with the step (and is stored with a rollout), so nothing parses ``params`` again. It is
    derived data: two steps with the same settings compare equal whatever their policies.
    """

    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    alarms: tuple[str, ...] = ()
    interval: float | None = None
    #: A ``core.judge_policy.JudgePolicy`` (typed loosely: that module imports this one).
    policy: Any = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        # A read-only copy, so that a step shared between rollouts cannot be changed by one.
        object.__setattr__(self, "params", types.MappingProxyType(dict(self.params)))
        object.__setattr__(self, "alarms", tuple(self.alarms))
        if not all(isinstance(a, str) and a for a in self.alarms):
            raise ValueError(f"alarm names must be non-empty strings, got {self.alarms!r}")
        if self.interval is None:
            return
        if isinstance(self.interval, bool) or not isinstance(self.interval, (int, float)):
            raise ValueError(f"interval must be a number, got {self.interval!r}")
        object.__setattr__(self, "interval", float(self.interval))
        if self.interval <= 0:
            raise ValueError(f"interval must be positive, got {self.interval!r}")

    def __str__(self) -> str:
        parts = []
        if self.alarms:
            parts.append("alarms " + ", ".join(self.alarms))
        if self.params or not self.alarms:  # no settings at all: the judge's defaults
            parts.append("judge")
        return "analysis" + (f" ({'; '.join(parts)})" if parts else "")


@dataclass(frozen=True)
class BakeStep(AnalysisStep):
    """After the switch to 100%: watch the candidate for ``seconds`` against the stable's
    behaviour just before the switch (``core.bake``), rolling back on evidence.

    An analysis step to the state machine (a verdict per look; promote ends it); the
    engine gives it to the bake's analyzer instead of the judge.
    """

    seconds: float = 60.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)):
            raise ValueError(f"seconds must be a number, got {self.seconds!r}")
        object.__setattr__(self, "seconds", float(self.seconds))
        if self.seconds <= 0:
            raise ValueError(f"a bake must last a positive time, got {self.seconds!r}")

    def __str__(self) -> str:
        return (f"bake {format_duration(self.seconds)} (the candidate after the switch against "
                "the stable before it)")


Step = Union[WeightStep, PauseStep, InvocationPause, ManualGate, AnalysisStep]
"""One instruction of a rollout (a ``BakeStep`` is an ``AnalysisStep``)."""


def step_to_dict(step: Step) -> dict[str, Any]:
    """JSON-safe form of a step (fractions, seconds), the inverse of ``step_from_dict``."""
    if isinstance(step, WeightStep):
        return {"weight": step.weight}
    if isinstance(step, PauseStep):
        return {"pause": step.seconds}
    if isinstance(step, InvocationPause):
        return {"invocations": step.invocations}
    if isinstance(step, ManualGate):
        return {"gate": "manual"}
    if isinstance(step, BakeStep):
        return {"bake": step.seconds}
    if isinstance(step, AnalysisStep):
        return {
            "analysis": dict(step.params),
            "alarms": list(step.alarms),
            "interval": step.interval,
        }
    raise TypeError(f"not a step: {step!r}")


def step_from_dict(data: Mapping[str, Any]) -> Step:
    """Rebuild a step from ``step_to_dict``'s output (not from lambdashift.yaml: see strategy)."""
    if "weight" in data:
        return WeightStep(data["weight"])
    if "pause" in data:
        return PauseStep(data["pause"])
    if "invocations" in data:
        return InvocationPause(data["invocations"])
    if "gate" in data:
        return ManualGate()
    if "bake" in data:
        return BakeStep(seconds=data["bake"])
    if "analysis" in data:
        return AnalysisStep(
            data["analysis"], tuple(data.get("alarms", ())), data.get("interval")
        )
    raise ValueError(f"not a serialized step: {dict(data)!r}")


def check_steps(steps: tuple[Step, ...]) -> None:
    """Raise ValueError unless the weights increase strictly up to a weight 1.0 step, which
    only analysis steps (post-traffic checks, a bake) may follow.

    The state machine relies on this shape: the weight 1.0 step is the one that promotes.
    """
    if not steps:
        raise ValueError("a rollout needs at least one step")
    previous = 0.0
    for index, step in enumerate(steps):
        if isinstance(step, WeightStep):
            if step.weight <= previous:
                raise ValueError(
                    f"step {index}: weights must increase, {_percent(step.weight)} "
                    f"after {_percent(previous)}"
                )
            previous = step.weight
    full = promote_index(steps)
    if full is None:
        raise ValueError(f"the last weight step must be 100%, got {steps[-1]}")
    after = [s for s in steps[full + 1:] if not isinstance(s, AnalysisStep)]
    if after:
        raise ValueError(f"only analysis steps may follow the 100% step, got {after[0]}")


def promote_index(steps: tuple[Step, ...]) -> int | None:
    """The index of the weight 1.0 step (the promotion), or None if there is none."""
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        if isinstance(step, WeightStep):
            return index if step.weight == 1.0 else None
    return None
