"""What a judged step can catch at the traffic it sees, said when the step starts.

:class:`StepForecaster` is called by the analyzer on each look of a step that has not been
forecast yet. At the step's first look it reads the alias's traffic just before the step
began (:func:`recent_traffic`: the candidate's share of it is the weight just written) and
says, with the judge's own forecast (``core.forecast.step_forecast``), what the step can
catch in its time: ``forecast: at 4.2 v2 requests/s for 30 s, a v2 failing 5% is caught 97%
of the time, one failing 1% 31%``. With no traffic it says so. A time-boxed step says it
once more, with its own rates for the time left, when its traffic turns out other than it
was before the step (none, or 2× more or less). Each sentence is a ``forecast`` event in
``history``.
``deploy --dry-run`` uses :func:`recent_traffic` the same way (or a ``--rate``).
"""

from __future__ import annotations

from typing import Any

from lambdashift.core.forecast import step_forecast
from lambdashift.core.judge import JudgePolicy, VersionStats
from lambdashift.core.machine import RolloutState
from lambdashift.errors import AwsError

__all__ = ["FORECAST", "StepForecaster", "parse_rate", "recent_traffic"]

FORECAST = "forecast"
"""The kind of the store events that carry a step's forecast."""
RECENT = (60.0, 10.0)
"""How far back "recent traffic" reaches and how late the source's data is, in seconds, for a
source that does not say (``recent`` on the source: the emulator's records are immediate,
CloudWatch publishes minutes late; log events arrive seconds late)."""
#: A time-boxed step says it again, with its own rates, once it has this much time or requests,
#: when it started without traffic or its traffic is not what it was before it (2× either way).
AGAIN_AFTER_S, AGAIN_REQUESTS, AGAIN_FACTOR = 10.0, 50, 2.0


def recent_traffic(metrics: Any, function: str, alias: str, versions: tuple[str, ...],
                   now: float) -> tuple[float, float | None]:
    """Requests per second through the alias lately (every version in ``versions``) and the
    error rate of the first of them (None without requests): from the target's metrics.

    From a source with immediate data (no lag: the emulator's records), the rate is the
    larger of the whole span's and its last third's, so that traffic begun a moment ago (a
    load started just before ``deploy``) is not averaged away."""
    span, lag = getattr(metrics, "recent", RECENT)
    until = now - lag
    rate, stable = 0.0, None
    for part in ((1.0, 1 / 3) if lag == 0 else (1.0,)):
        requests, first = 0, None
        for version in dict.fromkeys(versions):
            stats = metrics.version_stats(function, alias, version, until - span * part, until)
            requests += stats.trials
            if first is None:
                first = (stats.failures, stats.trials)
        rate = max(rate, requests / (span * part))
        if part == 1.0 and first and first[1]:
            stable = first[0] / first[1]
    return rate, stable


def parse_rate(text: str) -> float:
    """Requests per second from ``40``, ``40/s``, ``600/min`` or ``3000/h``; ValueError else."""
    number, _, unit = text.strip().partition("/")
    per = {"": 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0,
           "minute": 60.0, "h": 3600.0, "hour": 3600.0}.get(unit.strip().lower())
    value = float(number)  # ValueError for words
    if per is None or not value >= 0 or value == float("inf"):
        raise ValueError(f"not a rate: {text!r} (try 40/s, 600/min)")
    return value / per


def _name(version: str) -> str:
    return f"v{version}" if version.isdigit() else version


class StepForecaster:
    """Says once per step (twice when it starts without traffic) what the step can catch."""

    def __init__(self, metrics: Any, store: Any | None = None) -> None:
        self.metrics = metrics
        self.store = store
        self._said: dict[tuple[str, int], float | None] = {}  # step → candidate rate said

    def note(self, state: RolloutState, index: int, policy: JudgePolicy, since: float,
             candidate: VersionStats, stable: VersionStats, elapsed: float) -> str | None:
        """``forecast: …`` when this look should say it, else None (recorded in the store)."""
        key = (state.rollout_id, index)
        if key not in self._said:
            weight = state.traffic.weight if state.traffic and state.traffic.canary else 0.0
            try:
                rate, stable_errors = recent_traffic(self.metrics, state.function, state.alias,
                                                     (state.stable, state.candidate), since)
            except AwsError:
                return None  # a forecast is words; the look itself reports unreadable metrics
            candidate_rate, stable_rate = rate * weight, rate * (1 - weight)
        elif self._said[key] is None or policy.promote_after_s is None:
            return None  # said twice; or strict: the low-traffic note speaks of its own traffic
        elif candidate.trials and (elapsed >= AGAIN_AFTER_S or candidate.trials >= AGAIN_REQUESTS):
            candidate_rate, stable_rate = candidate.trials / elapsed, stable.trials / elapsed
            stable_errors = stable.failures / stable.trials if stable.trials else None
            before = self._said[key] or 0.0
            if before / AGAIN_FACTOR <= candidate_rate <= before * AGAIN_FACTOR:
                self._said[key] = None  # as forecast: nothing new to say
                return None
        else:
            return None
        seconds = None
        if policy.promote_after_s is not None:
            seconds = max(policy.promote_after_s - elapsed, 0.0)
        text = "forecast: " + step_forecast(policy, _name(state.candidate), candidate_rate,
                                            stable_rate, stable_errors, seconds)
        self._said[key] = candidate_rate if key not in self._said else None
        if self.store is not None:
            self.store.record_event(state.rollout_id, state.function, FORECAST,
                                    {"step": index, "reason": text})
        return text

