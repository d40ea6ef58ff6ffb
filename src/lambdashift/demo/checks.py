"""What each step of the demo says will happen, checked against what did.

Pure functions of what the demo recorded (a release's record, the clients' requests, the
canary's split, the mixed fleet's answers, the naive section's figures): each returns the
ways the step did not happen as described, in words, so that the demo can name the step
and what happened instead. An empty list: the step went as described. No clock, no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from lambdashift.loadgen import Request
from lambdashift.model import Traffic


def path(*traffic: Traffic) -> list[str]:
    """An alias's expected path, in the words the release record keeps."""
    return [str(t) for t in traffic]


def release(rel: dict[str, Any], *, outcome: str, exit_code: int, through: list[str],
            prewarmed: bool) -> list[str]:
    """A release went ``through`` those alias states and ended ``outcome`` with ``exit_code``,
    pre-warmed or not, and the alias afterwards is the last of ``through``."""
    f, problems = rel["function"], []
    if not rel["published"]:
        problems.append(f"publish made no new version of {f} (its latest stayed {rel['to']})")
    if rel["outcome"] != outcome:
        ran = ("no rollout ran" if rel["outcome"] == "none"
               else f"its rollout ended {rel['outcome']}" + (f" ({rel['reason']})" if rel["reason"] else ""))
        problems.append(f"{ran}, not {outcome}")
    if rel["exit_code"] != exit_code:
        problems.append(f"deploy exited {rel['exit_code']}, not {exit_code}")
    if rel["path"] != through:
        problems.append(f"the alias went {' → '.join(rel['path'])}, not {' → '.join(through)}")
    if rel["alias_after"] != through[-1]:
        problems.append(f"live serves {rel['alias_after']} afterwards, not {through[-1]}")
    if rel["outcome"] != "none" and rel["prewarmed"] != prewarmed:  # no rollout: nothing to pre-warm
        problems.append(f"the candidate was {'' if rel['prewarmed'] else 'not '}pre-warmed")
    return problems


def serving(requests: Iterable[Request], route: str, version: str, *, what: str,
            required: bool = True) -> list[str]:
    """Every answered request of ``route`` was served by ``version`` (and, when ``required``,
    there was one)."""
    served = Counter(r.version for r in requests if r.route == route and r.status and not r.failed)
    if not served and required:
        return [f"no {what} request was answered to show which version serves it"]
    others = {v: n for v, n in served.items() if v != version}
    if others:
        by = ", ".join(f"{n} by v{v}" for v, n in sorted(others.items()))
        return [f"of {sum(served.values())} {what} requests answered since, {by} (expected v{version} alone)"]
    return []


def failures(requests: Iterable[Request], *, allowed: tuple[str, str] | None = None) -> list[str]:
    """No request failed and none got an unexpected 4xx, except failures on the ``allowed``
    (route, version): the broken release's own."""
    failed = [r for r in requests if r.failed and (r.route, r.version) != allowed]
    odd = [r for r in requests if r.unexpected]
    problems = []
    if failed:
        where = Counter(f"{r.route} (v{r.version}, {r.status or 'no answer'})" for r in failed)
        problems.append(f"{len(failed)} request(s) failed: " + ", ".join(f"{n} on {k}" for k, n in where.most_common(3)))
    if odd:
        where = Counter(f"{r.route} ({r.status})" for r in odd)
        problems.append(f"{len(odd)} unexpected 4xx: " + ", ".join(f"{n} on {k}" for k, n in where.most_common(3)))
    return problems


def canary(split: dict[str, Any] | None, *, share: float) -> list[str]:
    """The candidate's observed share of the reads lies within the 99.9% binomial interval
    of the alias's weight."""
    if not split or not split["requests"]:
        return [f"no read was answered while the alias gave the candidate {share:.0%}"]
    if not split["inside"]:
        lo, hi = split["interval_counts"]
        return [f"v{split['candidate']} served {split['served_by_candidate']} of {split['requests']} reads "
                f"({split['observed']:.1%}), outside the 99.9% interval {lo}–{hi} of a {share:.0%} share"]
    return []


def mixed(m: dict[str, Any], *, writer: str, reader: str) -> list[str]:
    """A note written by notes-create ``writer`` was read by notes-get ``reader``, created_at intact."""
    problems = []
    if m.get("written_by") != writer:
        problems.append(f"the note was written by notes-create v{m.get('written_by')}, not v{writer}")
    if m.get("read_by") != reader:
        problems.append(f"it was read by notes-get v{m.get('read_by')} (status {m.get('read_status')}), not v{reader}")
    if not m.get("ok"):
        problems.append(f"created_at did not pass through (written {m.get('created_at_written')!r}, "
                        f"read {m.get('created_at_read')!r})")
    return problems


def naive(n: dict[str, Any]) -> list[str]:
    """The in-place redeploy failed requests between its two calls, then served release 2."""
    problems = []
    if not n["failed_between_the_two_calls"]:
        problems.append("no request failed between UpdateFunctionCode and UpdateFunctionConfiguration")
    if not n["answered_by_release_2_at_the_end"]:
        problems.append("release 2 did not answer after UpdateFunctionConfiguration")
    return problems


def first_failed(steps: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The first step that did not happen as described (None: every step did)."""
    return next((s for s in steps if s.get("problems")), None)
