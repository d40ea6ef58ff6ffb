"""Pre-warm: start the candidate's execution environments before traffic moves to it.

A new version has no warm environment: the first requests it gets each pay a cold start
(process start + imports, hundreds of milliseconds for a handler that imports boto3), which
shows up as a latency spike the moment an alias write moves traffic. Before every alias
write that gives a version a larger share, the :class:`Prewarmer` invokes that version
directly (by its number, never through the alias) with :data:`PREWARM_EVENT`, from as many
threads at once as the share is expected to need, so that many environments are started
and warm when the traffic arrives.

The concurrency needed comes from the alias's peak *warm* concurrency over the last
``window`` seconds (all versions together) and the version's new share: enough environments
for the share's bursts at that peak 99 times in 100 (:func:`needed`), between 1 and
``max_concurrency``; ``concurrency: N`` in the config fixes it instead. A metrics source
that cannot tell the peak (CloudWatch, as read here) gets 1 unless ``concurrency`` is set.
The peak leaves cold starts' init time out (``core.observations.peak_concurrency``): a warm environment
does not take it again, and counting it made the estimate chase cold-start bursts.

A pre-warm never takes the capacity live traffic needs: its invocations count against the
function's concurrency limit (its reserved concurrency, else the account's unreserved
concurrency, which every function of the account shares), like the live requests that keep
arriving while it runs. It starts at most ``limit - live - spare`` environments
(:func:`environments`), where ``live`` is the same peak and ``spare`` a fifth of the limit
(at least 1) for live bursts. Without that bound, 8 environments "for 100% of the traffic"
against a limit of 10, while the version serving did a cold start on every request (about
5 at once at 34 requests/s), answered 4 to 7 live requests per switch with 429.

The invocations are real: they count against the function's concurrency and are billed,
and the handler runs with an event it does not expect (handlers may return early on it).
An invocation that answers without a function error is an environment ready; the others
are not counted, and the first problem is said. A pre-warm that cannot run (throttled,
unreachable) is said and the rollout goes on: it is an optimisation, never a gate (the
gate is ``rollout.candidate``, which ran before the first alias write).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambdashift.config.prewarm import PrewarmSettings, parse_prewarm  # parsed there
from lambdashift.core.machine import Notify, RolloutState
from lambdashift.errors import LambdashiftError
from lambdashift.model import Phase, Traffic

if TYPE_CHECKING:
    from lambdashift.aws.lambda_api import InvokeApi

__all__ = ["PREWARM_EVENT", "PrewarmSettings", "Prewarmer", "environments", "growing_share", "needed",
           "parse_prewarm", "spare"]

#: The event a pre-warm invocation carries; a handler can recognise it and return at once.
PREWARM_EVENT: Mapping[str, Any] = {"lambdashift": "prewarm"}

def growing_share(before: Traffic, after: Traffic) -> tuple[str, float] | None:
    """The version whose share of the alias grows from ``before`` to ``after``, and its new
    share; None when no version gains (a write that only takes traffic away)."""
    best: tuple[str, float] | None = None
    for version in after.versions:
        new = after.share_of(version)
        if new > before.share_of(version) + 1e-9 and (best is None or new > best[1]):
            best = (version, new)
    return best


@dataclass
class Prewarmer:
    """The engine's ``prewarm`` hook: called with the rollout and the traffic about to be
    written, before the write; returns a ``Notify`` saying what it did (or None)."""

    api: InvokeApi
    settings: PrewarmSettings
    #: Peak concurrency of the alias in [since, until), if the metrics source can tell it.
    peak: Callable[[str, str, float, float], float] | None = None
    clock: Callable[[], float] = time.time
    #: The function's concurrency limit (reserved, else the account's unreserved), if known.
    limit: Callable[[str], int | None] | None = None
    _limits: dict[str, int | None] = field(default_factory=dict, init=False, repr=False)

    def __call__(self, state: RolloutState, traffic: Traffic) -> Notify | None:
        if not self.settings.enabled or state.phase is Phase.ROLLING_BACK:
            return None  # a rollback goes back to the version that is warm: never delay it
        gain = growing_share(state.traffic or Traffic(state.stable), traffic)
        if gain is None:
            return None
        version, share = gain
        live = self.live_peak(state.function, state.alias)
        limit = self._limit_of(state.function, live, share)
        wanted, count = environments(live, share, limit=limit,
                                     max_concurrency=self.settings.max_concurrency,
                                     fixed=self.settings.concurrency)
        details: dict[str, Any] = {"version": version, "share": share, "concurrency": count,
                                   "wanted": wanted, "live": live, "limit": limit, "ready": 0}
        started = time.perf_counter()
        if count:
            payload = json.dumps(dict(PREWARM_EVENT)).encode()

            def one(_: int) -> str | None:
                try:
                    result = self.api.invoke(state.function, version, payload)
                except LambdashiftError as exc:  # throttled or unreachable: say it, go on
                    return str(exc)
                if getattr(result, "function_error", None):
                    text = getattr(result, "payload", b"") or b""
                    return f"function error: {text.decode('utf-8', 'replace')[:200]}"
                return None

            with ThreadPoolExecutor(max_workers=count) as pool:
                outcomes = list(pool.map(one, range(count)))
            problems = [p for p in outcomes if p]
            details["ready"] = count - len(problems)
            if problems:
                details["problem"] = problems[0]
        details["ms"] = round((time.perf_counter() - started) * 1000)
        return Notify("prewarmed", details)

    def _limit_of(self, function: str, live: int, share: float) -> int | None:
        """The function's limit, read once per pre-warmer (one rollout) and only when more
        than one environment is wanted: on AWS each read is a control-plane call under the
        account's 15/s, and one environment always fits a limit of 3 or more."""
        if self.limit is None:
            return None
        wanted = self.settings.concurrency or needed(live, share)
        if wanted <= 1 and live <= 1:
            return None
        if function not in self._limits:
            try:
                self._limits[function] = self.limit(function)
            except LambdashiftError:
                self._limits[function] = None  # unknown: bounded by max_concurrency alone
        return self._limits[function]

    def live_peak(self, function: str, alias: str) -> int:
        """The alias's peak warm concurrency over the window; 1 when it cannot be told."""
        if self.peak is None:
            return 1
        now = self.clock()
        try:
            return max(1, math.ceil(self.peak(function, alias, now - self.settings.window, now) - 1e-9))
        except LambdashiftError:
            return 1  # metrics unavailable: one warm environment is still better than none

    def concurrency(self, function: str, alias: str, share: float) -> int:
        """Environments to start for ``share`` of the alias's traffic (no limit applied)."""
        return environments(self.live_peak(function, alias), share, limit=None,
                            max_concurrency=self.settings.max_concurrency,
                            fixed=self.settings.concurrency)[1]


def spare(limit: int) -> int:
    """Concurrency a pre-warm leaves free beyond the live peak: a fifth of the limit, at least 1."""
    return max(1, math.ceil(limit / 5))


def environments(live: int, share: float, *, limit: int | None, max_concurrency: int,
                 fixed: int | None = None) -> tuple[int, int]:
    """(wanted, to start): the environments ``share`` of a traffic running ``live``
    invocations at once needs (or ``fixed``), between 1 and ``max_concurrency``; and as many
    of them as fit under ``limit`` beside the live traffic and a :func:`spare` (0 when none
    fit: the candidate gate's own environment is then the only warm one)."""
    wanted = fixed if fixed is not None else max(1, min(max_concurrency, needed(live, share)))
    if limit is None:
        return wanted, wanted
    return wanted, max(0, min(wanted, limit - live - spare(limit)))


def needed(peak: int, share: float, *, miss: float = 0.01) -> int:
    """Environments for ``share`` of a traffic that runs ``peak`` invocations at once: the
    smallest n such that, when each of the ``peak`` goes to this version with probability
    ``share`` (how an alias splits), more than n land on it together less than ``miss`` of
    the time. ``peak × share`` alone would leave the share's bursts to cold starts."""
    if share >= 1.0 or peak <= 1:
        return max(1, peak)
    above = 1.0  # P(X > n), X ~ Binomial(peak, share)
    for n in range(peak + 1):
        above -= math.comb(peak, n) * share**n * (1 - share) ** (peak - n)
        if above < miss:
            return max(1, n)
    return peak
