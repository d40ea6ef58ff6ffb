"""Alias changes made by hand (``shift``, ``promote``, ``rollback``), kept like rollouts.

Every alias write lambdashift makes is on record with what served before it, so that
``rollback FN`` can always return the alias to the version that served before the last
change:

* a rollout's writes live in its own state: its ``stable`` version served before it;
* a change by hand is an entry of its own in the state store, a finished record whose id
  starts with the command (``shift-…``, ``promote-…``, ``rollback-…``) and whose
  ``alias_written`` event holds the traffic before and after, with the new RevisionId.

``history`` lists both, newest first. :func:`way_back` reads the newest entry for the alias
and says where ``rollback`` goes, or why it cannot (the alias was changed outside
lambdashift since, or the last change already was a rollback). :func:`refusal` says why
``rollback --to V`` must not go to V without ``--force``: V was rejected for this alias (its
newest rollout was rolled back or failed), or V is newer than what served before the last
change (that is a release, not a way back).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from lambdashift.core.machine import RolloutState
from lambdashift.errors import RolloutError
from lambdashift.model import Phase, Traffic, WeightStep

__all__ = ["KINDS", "kind_of", "left_by_lambdashift", "record_change", "refusal", "way_back"]

KINDS = ("shift", "promote", "rollback")
WRITTEN = "alias_written"
"""The kind of the event that holds a change's traffic before and after."""


def kind_of(state: RolloutState) -> str:
    """``shift``, ``promote`` or ``rollback`` for a change by hand, else ``rollout``."""
    prefix = state.rollout_id.split("-", 1)[0]
    return prefix if prefix in KINDS else "rollout"


def record_change(store: Any, function: str, alias: str, kind: str, before: Traffic,
                  after: Traffic, revision_id: str, reason: str, now: float) -> RolloutState | None:
    """Keep a change by hand as its own entry; None when ``after`` is what served already."""
    if kind not in KINDS:
        raise ValueError(f"not a change by hand: {kind!r}")
    moved_to = after.canary or after.primary
    moved_from = before.primary if before.primary != moved_to else before.canary
    if moved_from is None or moved_from == moved_to:
        return None  # nothing changed that a rollback could undo
    state = RolloutState(
        f"{kind}-{uuid.uuid4().hex[:12]}", function, alias, moved_from, moved_to,
        (WeightStep(1.0),), phase=Phase.SUCCEEDED, traffic=after, revision_id=revision_id,
        started_at=now, updated_at=now, reason=f"{kind} by hand: {before} → {after}"
                                             + (f" ({reason})" if reason else ""),
    )
    store.save(state)
    store.record_event(state.rollout_id, function, WRITTEN, {
        "by": kind, "before": before.to_dict(), "after": after.to_dict(),
        "change": f"{before} → {after}",
        "revision_id": revision_id, "reason": reason,
    })
    return state


def way_back(store: Any, function: str, alias: str, current: Traffic) -> tuple[Traffic, RolloutState]:
    """Where ``rollback`` takes an alias that no rollout owns and that serves ``current``
    alone: the version that served before lambdashift's last change, and that change.

    RolloutError, in words, when there is no way back to take: nothing on record, the
    alias changed outside lambdashift since, or the last change was a rollback already.
    """
    last = next((s for s in store.history(function, limit=50) if s.alias == alias), None)
    hint = f"; `lambdashift rollback {function} --to VERSION` goes to any published version"
    if last is None:
        raise RolloutError(f"nothing to roll back: {function}:{alias} serves {current} and no "
                           f"change by lambdashift is on record{hint}")
    kind = kind_of(last)
    if kind == "rollback" or (kind == "rollout" and last.phase in (Phase.ROLLED_BACK,
                                                                   Phase.INTERRUPTED)):
        raise RolloutError(f"nothing to roll back: the last change to {function}:{alias} was a "
                           f"rollback to {last.traffic} ({last.rollout_id}){hint}")
    before, after = _before_after(store, last)
    if after != current:
        raise RolloutError(f"{function}:{alias} serves {current}, but lambdashift's last change "
                           f"({last.rollout_id}) left it at {after}: it was changed outside "
                           f"lambdashift since, so which version is the way back is unknown{hint}")
    target = Traffic(before.primary)
    if target == current:
        raise RolloutError(f"nothing to roll back: {function}:{alias} serves {current}, as it did "
                           f"before the last change ({last.rollout_id}){hint}")
    return target, last


def _before_after(store: Any, state: RolloutState) -> tuple[Traffic, Traffic]:
    """The traffic before and after a recorded change (a rollout: its stable, its end)."""
    if kind_of(state) == "rollout":
        return Traffic(state.stable), state.traffic or Traffic(state.stable)
    for event in reversed(store.events(state.rollout_id)):
        if event.kind == WRITTEN:
            return Traffic.from_dict(event.details["before"]), Traffic.from_dict(event.details["after"])
    return Traffic(state.stable), state.traffic or Traffic(state.stable)


def left_by_lambdashift(store: Any, function: str, alias: str, current: Traffic) -> RolloutState | None:
    """lambdashift's last change to the alias when it left the alias serving ``current``
    (``check`` then knows a split is the user's own ``shift``); None when the alias was
    changed outside lambdashift since, or nothing is on record."""
    last = next((s for s in store.history(function, limit=50) if s.alias == alias), None)
    if last is None or _before_after(store, last)[1] != current:
        return None
    return last


#: How many past entries of a function ``refusal`` reads for a rejection of the version.
LOOK_BACK = 500
#: The reasons (``core.machine``) of a failed rollout that say nothing about its candidate.
_NO_VERDICT = ("drift:", "could not write the alias")
#: A group member sent back because *another* member was rejected (``rollout.group``).
_GROUP_ROLLBACK = re.compile(r"\bgroup \S+(?: rolls back together)?: ")


def refusal(store: Any, function: str, alias: str, version: str, current: Traffic) -> str | None:
    """Why ``rollback FN --to version`` is refused without ``--force``, in words; None if not.

    * **Rejected**: the newest finished rollout of ``version`` on this alias was rolled back
      (by the judge, a check, a person, its group) or failed (a failed check before traffic
      included). A later success of the version lifts it. Passed over, as no verdict on the
      version: an interrupted rollout (SIGINT/SIGTERM), one that failed on drift (someone
      else changed the alias) or on an alias write AWS refused, and a group member sent back
      because another member was rejected.
    * **Not a way back**: ``version`` is newer than the version that served before the last
      change (or, with none on record, than the one serving now): that is a release, which
      ``deploy --to`` makes with its steps and its judge.
    """
    entries = [s for s in store.history(function, limit=LOOK_BACK) if s.alias == alias]
    for s in entries:
        if kind_of(s) != "rollout" or s.candidate != version or not s.phase.is_terminal:
            continue
        if s.phase is Phase.SUCCEEDED:
            break
        if (s.phase is Phase.INTERRUPTED or s.reason.startswith(_NO_VERDICT)
                or _GROUP_ROLLBACK.search(s.reason)):
            continue
        return (f"version {version} was rejected for {function}:{alias}: rollout {s.rollout_id} "
                f"{s.phase.value} ({s.reason})")
    if entries:
        baseline, since = _before_after(store, entries[0])[0].primary, f" ({entries[0].rollout_id})"
        what = "which served before the last change"
    else:
        baseline, since, what = current.primary, "", "which serves now, with no change on record"
    if _number(version) > _number(baseline):
        return (f"version {version} is newer than version {baseline}, {what}{since}: a rollback "
                f"goes back; `lambdashift deploy {function} --to {version}` rolls it out step by step")
    return None


def _number(version: str) -> int:
    return int(version) if version.isdigit() else 0
