"""How long a healthy candidate needs to be promoted, from the traffic seen so far: pure.

The judge promotes once the candidate's error rate is shown no worse than the stable's
within ``error_margin``: the candidate's upper confidence bound minus the stable's lower
one falls below the margin (``core.judge``). How many requests that takes depends on the
error rate and on the split, not on the candidate's luck, so it can be worked out at the
first look: assume both versions keep failing at the stable's rate seen so far, and find
the smallest number of candidate requests for which the two bounds are close enough.
Divided by the candidate's request rate, that is the time to a promotion, at best (the
latency test, when it runs, can need more). :func:`low_traffic_note` says it in words when
it is more than ``max_wait``.
"""

from __future__ import annotations

import math

from lambdashift.core import evidence as ev
from lambdashift.core.judge_policy import JudgePolicy

__all__ = ["about", "low_traffic_note", "requests_to_promote"]

_MAX_REQUESTS = 10**9


def about(seconds: float) -> str:
    """``45 s``, ``22 min``, ``1.5 h``: as precise as a forecast deserves."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _close_enough(n: int, ratio: float, rate: float, policy: JudgePolicy) -> bool:
    """The judge's non-inferiority test after ``n`` candidate requests (as ``judge._bounds``:
    the candidate gets 80% of ``promote_alpha``, the stable 20%)."""
    m = max(1, round(n * ratio))
    upper = ev.upper_bound(round(rate * n), n, 0.8 * policy.promote_alpha)
    lower = ev.lower_bound(round(rate * m), m, 0.2 * policy.promote_alpha)
    return upper - lower < policy.error_margin


def requests_to_promote(policy: JudgePolicy, ratio: float, error_rate: float) -> int | None:
    """Candidate requests needed to show it no worse, if both versions fail at
    ``error_rate`` and the stable serves ``ratio`` requests per candidate request; None when
    no number of requests would do (an error rate too high for the margin)."""
    if not math.isfinite(ratio) or ratio <= 0 or not 0 <= error_rate < 1:
        return None
    low, high = 0, 16
    while not _close_enough(high, ratio, error_rate, policy):
        low, high = high, high * 2
        if high > _MAX_REQUESTS:
            return None
    while high - low > max(1, high // 100):  # 1% is precise enough for "about N minutes"
        mid = (low + high) // 2
        if _close_enough(mid, ratio, error_rate, policy):
            high = mid
        else:
            low = mid
    return max(high, policy.min_invocations)


def low_traffic_note(policy: JudgePolicy, name: str, candidate: int, stable: int,
                     stable_errors: int, elapsed_s: float) -> str | None:
    """``low traffic: at 0.8 v2 requests/s, showing v2 no worse within 0.9 points needs
    about 13 min (612 requests); max_wait is 10 min (then inconclusive)``, or None when the traffic can
    decide in time. Counts are those of the step so far, over ``elapsed_s`` seconds."""
    if elapsed_s <= 0:
        return None
    limit = f"max_wait is {about(policy.max_wait_s)} (then {policy.on_timeout.value})"
    if candidate == 0:
        return (f"low traffic: {name} has had no request in {about(elapsed_s)}; "
                f"nothing can be shown until it does; {limit}")
    rate = candidate / elapsed_s
    margin = f"{100 * policy.error_margin:g} points"
    need = requests_to_promote(policy, stable / candidate, stable_errors / stable if stable else 0.0)
    if need is None:
        return (f"low traffic: at {rate:.2g} {name} requests/s, {name} cannot be shown no worse "
                f"within {margin} at the stable's error rate; {limit}")
    seconds = max(need / rate, policy.min_duration_s)
    if seconds <= policy.max_wait_s:
        return None
    return (f"low traffic: at {rate:.2g} {name} requests/s, showing {name} no worse within "
            f"{margin} needs about {about(seconds)} ({need} requests); {limit}")
