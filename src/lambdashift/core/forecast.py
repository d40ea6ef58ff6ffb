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

A time-boxed step has a clock instead: :func:`step_forecast` says what it can catch before
the clock runs out, from :func:`catch_probability`, the judge's own error evidence run over
simulated steps at the traffic given (a fixed seed: the same inputs give the same words).
"""

from __future__ import annotations

import math

from lambdashift.core import evidence as ev
from lambdashift.core.judge_policy import JudgePolicy

__all__ = ["about", "catch_probability", "low_traffic_note", "requests_to_promote", "step_forecast"]

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
    decide in time. Counts are those of the step so far, over ``elapsed_s`` seconds. A
    time-boxed step (``promote_after``) ends on its clock: its forecast says what it catches
    (:func:`step_forecast`), and this note says nothing."""
    if elapsed_s <= 0 or policy.promote_after_s is not None:
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


# --- what a judged step can catch (issue 17) ----------------------------------------------

CAUGHT = (0.05, 0.01)
"""The candidate error rates a step's forecast speaks of: 5% and 1% of requests failing."""
STABLE_FLOOR = 0.001
"""The stable's error rate assumed at least (0.1%): a stable with no error seen yet may still
fail now and then, and each of its failures dilutes the evidence against the candidate."""
RUNS = 400
"""Simulated rollouts per figure: ±2.5 points at worst, as precise as "97% of the time" needs."""
_MAX_CHUNKS = 5000


class _Draws:
    """Uniform numbers from a fixed seed (splitmix64): the forecast is a pure function of its
    inputs, the same figure every time it is asked."""

    def __init__(self, seed: int) -> None:
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def uniform(self) -> float:
        """A number in (0, 1)."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return ((z ^ (z >> 31)) >> 11) * 2.0**-53 + 2.0**-54

    def geometric(self, p: float) -> int:
        """Requests up to and including the next event, each an event with probability p."""
        if p >= 1:
            return 1
        return int(math.log(self.uniform()) / math.log1p(-p)) + 1

    def binomial(self, n: int, p: float) -> int:
        """Events among n requests (a normal approximation once there are many)."""
        if n <= 0 or p <= 0:
            return 0
        if p >= 1:
            return n
        mean = n * p
        if min(mean, n - mean) > 30:
            u1, u2 = self.uniform(), self.uniform()
            z = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
            return min(n, max(0, round(mean + z * math.sqrt(mean * (1 - p)))))
        count, at = 0, self.geometric(p)
        while at <= n:
            count, at = count + 1, at + self.geometric(p)
        return count


def catch_probability(policy: JudgePolicy, candidate_rate: float, stable_rate: float,
                      candidate_errors: float, stable_errors: float, seconds: float, *,
                      runs: int = RUNS, seed: int = 17) -> float:
    """How often the judge's error test rolls back, within ``seconds``, a candidate failing
    ``candidate_errors`` of its requests against a stable failing ``stable_errors``, at these
    request rates (per second): the judge's own evidence (its chunks, prior, bet and
    threshold) over ``runs`` simulated steps, looking after every request as on the local
    stack. Errors only: a latency regression is caught besides."""
    total = (candidate_rate + stable_rate) * seconds
    if candidate_rate <= 0 or seconds <= 0 or total < 1:
        return 0.0
    share = candidate_rate / (candidate_rate + stable_rate)
    fail = share * candidate_errors + (1 - share) * stable_errors
    if fail <= 0:
        return 0.0
    blame = share * candidate_errors / fail  # a failure is the candidate's with this chance
    ok_share = share * (1 - candidate_errors) / (1 - fail) if fail < 1 else 0.0
    draws = _Draws(seed)
    caught = sum(_one_step(policy, draws, round(total), fail, blame, ok_share)
                 for _ in range(runs))
    return caught / runs


def _one_step(policy: JudgePolicy, draws: _Draws, total: int, fail: float, blame: float,
              ok_share: float) -> bool:
    """One simulated step: chunks close as the judge closes them (``error_chunk``)."""
    prior, odds = policy.error_prior, ev.ERROR_ODDS.points
    log_threshold = math.log(policy.error_threshold)
    log_e = [0.0] * len(odds)
    wealth = 0.0
    min_requests, max_failures = policy.error_chunk
    start = 0
    for _ in range(_MAX_CHUNKS):
        at, failures = start + draws.geometric(fail), 1
        while at - start < min_requests and failures < max_failures:
            following = at + draws.geometric(fail)
            if following - start > min_requests:
                at = start + min_requests
                break
            at, failures = following, failures + 1
        if at > total:
            return False
        n = at - start
        x = draws.binomial(failures, blame)
        n_c = x + draws.binomial(n - failures, ok_share)
        chunk = (n_c, x, n - n_c, failures - x)
        if policy.bets:
            wealth, lrs = ev.bet(wealth, prior.log_weights, log_e, chunk, odds, log_threshold)
            log_e = [a + b for a, b in zip(log_e, lrs)]
        else:
            lrs = ev.split_log_lrs(*chunk[::2], *chunk[1::2], odds)
            log_e = [a + b for a, b in zip(log_e, lrs)]
            wealth = ev.mixture_log_e(prior.log_weights, log_e)
        if wealth >= log_threshold - 1e-9:
            return True
        start = at
    return False


def _per_s(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"


def _share(p: float) -> str:
    if p >= 0.995:
        return "over 99%"
    if p < 0.005:
        return "under 1%"
    return f"{100 * p:.0f}%"


def step_forecast(policy: JudgePolicy, name: str, candidate_rate: float, stable_rate: float,
                  stable_errors: float | None = None, seconds: float | None = None) -> str:
    """What a judged step can catch at this traffic, in one sentence, e.g. ``at 4.2 v2
    requests/s for 30 s, a v2 failing 5% is caught 97% of the time, one failing 1% 31%``.

    ``seconds`` is how long the step has left (its ``promote_after`` by default); the stable
    is assumed to fail at ``stable_errors`` (its recent rate), at least :data:`STABLE_FLOOR`.
    A strict step (no ``promote_after``) says how long showing a healthy candidate takes.
    """
    if candidate_rate <= 0:
        return f"no {name} traffic yet: nothing can be caught until requests arrive"
    p0 = max(stable_errors or 0.0, STABLE_FLOOR)
    rate = f"at {_per_s(candidate_rate)} {name} requests/s"
    horizon = policy.promote_after_s if seconds is None else seconds
    if horizon is None:  # the strict point: no clock, a promise instead
        need = requests_to_promote(policy, stable_rate / candidate_rate, p0)
        worse = f"{100 * (p0 + policy.error_margin):.2g}%"
        caught = (f"a {name} failing {worse} or more is rolled back at least "
                  f"{100 * (1 - policy.promote_alpha):g}% of the time")
        if need is None:
            return f"{rate}, {name} cannot be shown no worse at {name}'s error rate; {caught}"
        wait = max(need / candidate_rate, policy.min_duration_s)
        return (f"{rate}, a healthy {name} is shown no worse in about {about(wait)} ({need} "
                f"requests; at most {about(policy.max_wait_s)}); {caught}")
    found = [(p, catch_probability(policy, candidate_rate, stable_rate, p, p0, horizon))
             for p in CAUGHT if p > 2 * p0]
    if not found:
        return (f"{rate} for {about(horizon)}: the stable fails {100 * p0:.2g}% itself, "
                "only a far worse candidate can be caught")
    first, *rest = found
    words = [f"a {name} failing {100 * first[0]:g}% is caught {_share(first[1])} of the time"]
    words += [f"one failing {100 * p:g}% {_share(q)}" for p, q in rest]
    return f"{rate} for {about(horizon)}, " + ", ".join(words)
