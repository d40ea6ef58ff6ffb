"""``deploy --dry-run``: what each judged step of a plan can catch, at the alias's recent traffic.

The traffic is the alias's requests per second lately, from the target's metrics source (the
emulator's records on the local stack, CloudWatch or logs on AWS: ``recent_traffic``), or the
rate given with ``--rate``. Each judged step gets the candidate's share of it (the step's
weight) and says, in the judge's own words (``core.forecast.step_forecast``), what it can
catch in its time.
"""

from __future__ import annotations

import time
from typing import Any

from lambdashift.core.forecast import about, step_forecast
from lambdashift.errors import AwsError
from lambdashift.model import AnalysisStep, WeightStep
from lambdashift.rollout.forecasting import RECENT, recent_traffic

__all__ = ["forecasts"]


def _name(version: str) -> str:
    return f"v{version}" if version.isdigit() else version


def forecasts(session: Any, candidate: Any, rate: float | None) -> dict[int, str]:
    """``{step index: "forecast (…): at 4.2 v2 requests/s for 30 s, …"}`` for the judged
    steps of ``candidate`` (a ``rollout.deploy.Candidate``) that split the traffic."""
    judged = _judged_steps(candidate.steps)
    if not judged:
        return {}
    alias, metrics = session.config.alias, session.target.metrics
    stable_errors = None
    if rate is not None:
        source = f"at --rate {rate:g} requests/s to {alias}"
    elif metrics is None:
        return {i: "forecast: this target cannot tell the alias's recent traffic; "
                   "--rate 40/s says what a rate would catch" for i in judged}
    else:
        span, _ = getattr(metrics, "recent", RECENT)
        try:
            rate, stable_errors = recent_traffic(metrics, candidate.function, alias,
                                                 (candidate.stable, candidate.candidate), time.time())
        except AwsError as exc:
            return {i: f"forecast: the recent traffic could not be read ({exc}); --rate 40/s "
                       "says what a rate would catch" for i in judged}
        if rate <= 0:
            return {i: f"forecast: {alias} had no traffic in the last {about(span)}: nothing can "
                       "be caught until requests arrive (--rate 40/s says what a rate would "
                       "catch)" for i in judged}
        source = f"{alias}'s traffic in the last {about(span)}: {rate:.2g} requests/s"
    out = {}
    for index, (step, weight) in judged.items():
        policy = step.policy
        if policy is None:
            continue  # a step made by hand without a policy: nothing to forecast with
        said = step_forecast(policy, _name(candidate.candidate), rate * weight,
                             rate * (1 - weight), stable_errors)
        out[index] = f"forecast ({source}): {said}"
    return out


def _judged_steps(steps: tuple[Any, ...]) -> dict[int, tuple[AnalysisStep, float]]:
    """The judge's steps while the alias is split, with the candidate's weight then."""
    out, weight = {}, 0.0
    for index, step in enumerate(steps):
        if isinstance(step, WeightStep):
            weight = step.weight
        elif isinstance(step, AnalysisStep) and (step.params or not step.alarms) and 0 < weight < 1:
            out[index] = (step, weight)
    return out
