"""The judge's policy: what the user decides, read from the ``analysis`` mapping of the config."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdashift.core import evidence as ev
from lambdashift.core.validators import parse_duration, unknown_key_error
from lambdashift.errors import ConfigError
from lambdashift.model import Verdict

__all__ = ["JudgePolicy", "PROMOTE_CHOICES", "STRICT", "TIMEBOXED", "pause_params"]

_VERDICTS = {v.value: v for v in Verdict}
STRICT = "when-shown-no-worse"
"""``promote: when-shown-no-worse``: the strict point, opt-in (promote only a candidate shown
no worse, however long that takes; a pause is then the least the step lasts)."""
TIMEBOXED = "at-end-of-pause"
"""``promote: at-end-of-pause``: the default, time-boxed point (a judged pause is the step's
``promote_after``; rollback as soon as harm is shown, else on at the end of the pause)."""
PROMOTE_CHOICES = (TIMEBOXED, STRICT)


@dataclass(frozen=True)
class JudgePolicy:
    """What the judge needs to know from the user; rates and margins are fractions (0.01 = 1%).

    ``alpha`` bounds the probability of rolling back a healthy candidate, however often the
    judge looks; ``latency_alpha_share`` of it goes to the latency test, the rest to errors.
    ``promote_alpha`` bounds the probability of promoting a candidate worse than the stable by
    more than a margin: ``error_margin`` (error-rate points) or ``latency_margin`` (extra share
    of requests slower than the stable's ``latency_quantile``). "Slower" leaves room for noise
    that no user would call a regression: the threshold is the stable's quantile plus
    ``latency_floor_ms`` or ``latency_tolerance`` of it, whichever is larger (a 0.3 ms shift
    of a 3 ms handler on a busy machine is not evidence of a bad version). The defaults are the
    *strict* operating point: with the stable at 0.1%, a candidate failing 1% (10×) or more is
    promoted at most 1% of the time. (In lambdashift.yaml a judged pause is time-boxed instead,
    with the pause as ``promote_after``: ``core.strategy.judged``; ``promote:
    when-shown-no-worse`` asks for the strict point.)

    ``promote_after_s`` (None: off) is the *time-boxed* point: once that much of the step has
    run without a rollback, promote, shown or not, as CodeDeploy's canary does, with the
    judge still rolling back on evidence before then (and the regression prior leaning to the
    large regressions that can be shown in that time, ``evidence.ERROR_ODDS_TIMEBOXED``).
    Minutes leave room for three or four failures, so at that point every one counts: the
    error evidence is a bet of only what reaching the threshold needs (``evidence.bet``), on
    chunks that wait for 30 requests or 3 failures (:attr:`error_chunk`).
    """

    alpha: float = 0.01
    latency_alpha_share: float = 0.1
    promote_alpha: float = 0.01
    error_margin: float = 0.009
    latency_quantile: float = 0.99
    latency_margin: float = 0.025
    latency_floor_ms: float = 1.0
    latency_tolerance: float = 0.1
    min_invocations: int = 100
    min_duration_s: float = 30.0
    max_wait_s: float = 3600.0
    on_timeout: Verdict = Verdict.INCONCLUSIVE
    max_error_rate: float | None = None
    max_p99_ms: float | None = None
    threshold_min_invocations: int = 100
    promote_after_s: float | None = None
    #: Metric reads that fail in a row before the rollout goes back to stable (argo's
    #: ``consecutiveErrorLimit``): one unreadable metric is not a verdict.
    consecutive_error_limit: int = 4

    def __post_init__(self) -> None:
        for name in ("alpha", "promote_alpha", "latency_quantile"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)!r}")
        if not 0 <= self.latency_alpha_share < 1:
            share = self.latency_alpha_share
            raise ValueError(f"latency_alpha_share must be in [0, 1), got {share!r}")
        for name in ("error_margin", "latency_margin"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)!r}")
        if self.latency_floor_ms < 0 or self.latency_tolerance < 0:
            raise ValueError("latency_floor_ms and latency_tolerance must be ≥ 0")
        if self.max_error_rate is not None and not 0 <= self.max_error_rate < 1:
            raise ValueError(f"max_error_rate must be in [0, 1), got {self.max_error_rate!r}")
        if self.max_p99_ms is not None and self.max_p99_ms <= 0:
            raise ValueError(f"max_p99_ms must be positive, got {self.max_p99_ms!r}")
        if self.min_invocations < 0 or self.threshold_min_invocations < 1:
            raise ValueError("min_invocations must be ≥ 0 and threshold_min_invocations ≥ 1")
        if not 0 <= self.min_duration_s <= self.max_wait_s:
            raise ValueError("need 0 ≤ min_duration_s ≤ max_wait_s")
        if self.promote_after_s is not None and not 0 < self.promote_after_s <= self.max_wait_s:
            raise ValueError(f"promote_after ({self.promote_after_s:g} s) must be positive and "
                             f"not after max_wait ({self.max_wait_s:g} s)")
        if self.consecutive_error_limit < 1:
            raise ValueError("consecutive_error_limit must be at least 1, got "
                             f"{self.consecutive_error_limit!r}")
        if self.on_timeout is Verdict.CONTINUE:
            raise ValueError("on_timeout must be promote, rollback or inconclusive")

    @property
    def error_threshold(self) -> float:
        """The error evidence that means rollback: 1 / (α's share for errors)."""
        return 1.0 / (self.alpha * (1.0 - self.latency_alpha_share))

    def slow_threshold_ms(self, stable_quantile_ms: float) -> float:
        """The duration above which a request counts as slow, given the stable's quantile."""
        return stable_quantile_ms + max(self.latency_floor_ms,
                                        self.latency_tolerance * stable_quantile_ms)

    @property
    def error_prior(self) -> ev.Mixture:
        """The prior on the error odds ratio: the time-boxed one when ``promote_after`` is set."""
        return ev.ERROR_ODDS if self.promote_after_s is None else ev.ERROR_ODDS_TIMEBOXED

    @property
    def bets(self) -> bool:
        """Whether the error evidence is a capped bet on the mixture (the time-boxed point)."""
        return self.promote_after_s is not None

    @property
    def error_chunk(self) -> tuple[int, int]:
        """An error chunk closes at a look where it holds a failure and the first number of
        requests, or the second number of failures.

        The strict point closes it at every failure. The time-boxed one waits: a failure among
        few requests says little about which version is to blame (it is worth at most N/n_c),
        and with a look after every request most chunks would be small (bench/analysis_sim.py).
        """
        return (30, 3) if self.bets else (1, 1)

    @property
    def latency_threshold(self) -> float:
        share = self.latency_alpha_share
        return 1.0 / (self.alpha * share) if share > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored with a rollout's steps), the inverse of :meth:`from_dict`."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["on_timeout"] = self.on_timeout.value
        return values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JudgePolicy:
        """Rebuild from :meth:`to_dict`'s output (built values: no parsing, no defaults)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "on_timeout" in values:
            values["on_timeout"] = Verdict(values["on_timeout"])
        return cls(**values)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], path: str = "analysis") -> JudgePolicy:
        """A policy from the ``analysis`` mapping of lambdashift.yaml; errors name the key.

        Rates and margins take fractions or percent strings (``0.01`` or ``"1%"``); durations
        take ``30s``, ``5m``, ``1h`` or seconds. ``promote: when-shown-no-worse`` (the strict
        point) overrules a ``promote_after``, also the one a judged pause gets by default.
        """
        keys = {
            "alpha": _fraction, "latency_alpha_share": _fraction, "promote_alpha": _fraction,
            "error_margin": _fraction, "latency_quantile": _fraction,
            "latency_margin": _fraction, "max_error_rate": _fraction,
            "min_invocations": _count, "threshold_min_invocations": _count,
            "min_duration": parse_duration, "max_wait": parse_duration,
            "on_timeout": _verdict, "max_p99_ms": _positive, "promote_after": parse_duration,
            "latency_floor_ms": _non_negative, "latency_tolerance": _fraction,
            "promote": _promote, "consecutive_error_limit": _count,
        }  # fmt: skip
        values: dict[str, Any] = {}
        for key, raw in params.items():
            if key not in keys:
                raise unknown_key_error(path, key, sorted(keys))
            if key == "promote":
                continue  # read last: it overrules a promote_after
            name = {"min_duration": "min_duration_s", "max_wait": "max_wait_s",
                    "promote_after": "promote_after_s"}.get(key, key)
            values[name] = keys[key](raw, f"{path}.{key}")
        if "promote" in params and _promote(params["promote"], f"{path}.promote") == STRICT:
            values.pop("promote_after_s", None)  # the strict point: no clock promotes
        try:
            return cls(**values)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None


def pause_params(seconds: float) -> dict[str, Any]:
    """A judged pause's settings: it lasts ``seconds``, then the rollout goes on unless the
    judge saw harm first (the time-boxed point: ``promote_after``). ``promote:
    when-shown-no-worse`` drops ``promote_after`` (strict: the pause is then the least the
    step lasts). ``max_wait`` grows to cover a pause longer than its default."""
    params: dict[str, Any] = {"min_duration": seconds, "promote_after": seconds}
    if seconds > JudgePolicy.max_wait_s:
        params["max_wait"] = seconds
    return params


def _fraction(value: object, path: str) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            pass
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        return float(value)
    raise ConfigError(
        f"{path}: must be a fraction in [0, 1) or a percent such as '1%', got {value!r}"
    )


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{path}: must be a non-negative integer, got {value!r}")
    return value


def _positive(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{path}: must be a positive number, got {value!r}")
    return float(value)


def _non_negative(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{path}: must be a number ≥ 0, got {value!r}")
    return float(value)


def _promote(value: object, path: str) -> str:
    if value in PROMOTE_CHOICES:
        return str(value)
    raise ConfigError(f"{path}: must be {TIMEBOXED} (the default: a judged pause ends on its "
                      f"clock) or {STRICT} (the strict point), got {value!r}")


def _verdict(value: object, path: str) -> Verdict:
    if value in ("promote", "rollback", "inconclusive"):
        return _VERDICTS[str(value)]
    raise ConfigError(f"{path}: must be promote, rollback or inconclusive, got {value!r}")
