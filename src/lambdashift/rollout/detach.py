"""``deploy --detach``: a release handed to the controller, which drives it to its end.

The release is checked and planned as ``deploy`` does it; then, instead of running, each
new rollout is saved ``pending`` under its function's lock (with the release's record, so
the controller has the config), the controller function is invoked asynchronously, and the
call waits (``wait_seconds``) until the controller has taken every rollout: its lease on it,
a ``waiting`` event (a later wave, behind the functions it comes after), or an end. A
rollout nobody took stays queued: the next scheduled tick takes it, ``lambdashift resume``
drives it here, ``lambdashift rollback FN`` ends it with no alias write.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from lambdashift.core.machine import RolloutState
from lambdashift.errors import ConfigError, LambdashiftError, RolloutError
from lambdashift.rollout.release import DeployResult, Release

__all__ = ["QUEUED_EVENT", "DetachResult", "detach", "is_taken"]

QUEUED_EVENT = "queued"
"""The history event of a rollout saved for the controller by ``deploy --detach``."""
TAKEN_KINDS = ("taken", "waiting")
"""The controller's history events that say it has a rollout (``controller.tick``)."""


@dataclass
class DetachResult:
    """What ``deploy --detach`` did: the release as ``deploy`` planned it, the rollouts it
    queued (function → rollout id), who took each, and which nobody took in time."""

    deploy: DeployResult
    release_id: str = ""
    rollouts: dict[str, str] = field(default_factory=dict)
    taken: dict[str, str] = field(default_factory=dict)      # rollout id → by whom, in words
    not_taken: list[str] = field(default_factory=list)
    invoke_error: str = ""

    @property
    def exit_code(self) -> int:
        """0 every rollout taken (or nothing to do), 1 a check blocked it or one was not taken."""
        if self.deploy.blocked or self.not_taken:
            return 1
        return 0


def detach(release: Release, names: list[str] | None = None, *, to: str | None = None,
           strategy: str | None = None, check: bool = True, controller: str,
           wait_seconds: float = 30.0, clock: Callable[[], float] = time.time,
           sleep: Callable[[float], None] = time.sleep) -> DetachResult:
    """Check, plan, queue the rollouts for ``controller`` (a function name), invoke it and
    wait until it took them; see the module docstring."""
    store = release.target.store
    if not getattr(store, "shared", False):
        raise ConfigError(
            "deploy --detach hands the rollouts to the controller, which cannot read this "
            "machine's SQLite store: set `state: {store: dynamodb}` in lambdashift.yaml (the "
            "table `lambdashift controller install` creates)")
    planned = release.deploy(names, to=to, strategy=strategy, check=check,
                             around=lambda work: None)
    result = DetachResult(planned)
    if planned.blocked or planned.plan is None or not planned.plan.candidates:
        return result
    result.rollouts = _rollout_ids(release, planned.plan.candidates)
    result.release_id = release.remember(detached=True, rollouts=result.rollouts)
    _queue(release, planned.plan.candidates, result.rollouts, clock)
    ids = list(result.rollouts.values())
    try:
        release.target.api.invoke_async(controller, json.dumps({"rollouts": ids}).encode())
    except LambdashiftError as exc:
        result.invoke_error = (f"the controller function {controller} could not be invoked: "
                               f"{exc} (`lambdashift controller status` says what is missing)")
        release.progress.note(result.invoke_error)
    end = clock() + (min(wait_seconds, 3.0) if result.invoke_error else wait_seconds)
    waiting = set(ids)
    while waiting:
        for rid in sorted(waiting):
            who = is_taken(store, rid)
            if who:
                result.taken[rid] = who
                waiting.discard(rid)
        if not waiting or clock() >= end:
            break
        sleep(0.25)
    result.not_taken = sorted(waiting)
    return result


def is_taken(store: Any, rollout_id: str) -> str:
    """Who has the queued rollout, in words ("" while nobody does): the controller's
    ``taken``/``waiting`` event, or a phase past ``pending``."""
    for event in reversed(store.events(rollout_id)):
        if event.kind in TAKEN_KINDS:
            by = str(event.details.get("by", "the controller"))
            if event.kind == "taken":
                return by
            behind = ", ".join(event.details.get("behind", ())) or event.details.get("reason", "")
            return f"{by} (waiting for {behind})"
    state = store.load(rollout_id)
    if state is not None and state.phase.value != "pending":
        return f"started ({state.phase.value})"
    return ""


def _rollout_ids(release: Release, candidates: list[Any]) -> dict[str, str]:
    """function → rollout id: the unfinished one's for a rollout to resume, ``g.NAME.ID.FN``
    for a group's members (one id per group), ``r-…`` otherwise."""
    from lambdashift.rollout.group import GROUP_PREFIX

    groups: dict[str, str] = {}
    out = {}
    for c in candidates:
        if c.resume is not None:
            out[c.function] = c.resume.rollout_id
            continue
        fn = release.config.functions.get(c.function)
        group = fn.group if fn is not None else None
        if group is None:
            out[c.function] = f"r-{uuid.uuid4().hex[:12]}"
        else:
            gid = groups.setdefault(group, f"{GROUP_PREFIX}{group}.{uuid.uuid4().hex[:8]}")
            out[c.function] = f"{gid}.{c.function}"
    return out


def _queue(release: Release, candidates: list[Any], ids: dict[str, str],
           clock: Callable[[], float]) -> None:
    """Save each new rollout ``pending`` under its function's lock (no second rollout of a
    function: ``deploy``'s own precondition), and each group's start for ``resume``."""
    from lambdashift.rollout.group import group_id_of, group_name_of, log_of
    from lambdashift.store import locks

    store = release.target.store
    owner = release.owner or locks.owner_id()
    members: dict[str, dict[str, str]] = {}
    for c in candidates:
        if c.resume is not None:
            continue
        gid = group_id_of(ids[c.function])
        if gid:
            members.setdefault(gid, {})[c.function] = ids[c.function]
    for gid, group in members.items():
        store.record_event(gid, log_of(group_name_of(gid)), "group_started", {"members": group})

    def queue(c: Any) -> None:
        lease = locks.acquire(store, c.function, owner, release.config.state.lease_seconds)
        try:
            active = store.active(c.function)
            if active:
                raise RolloutError(f"{c.function} has an unfinished rollout "
                                   f"{active[0].rollout_id} ({active[0].phase.value})")
            state = RolloutState.new(ids[c.function], c.function, release.config.alias, c.stable,
                                     c.candidate, c.steps, now=clock(),
                                     release=release.release_id)
            if c.current is not None:  # the alias as planned: its RevisionId guards the start
                state = replace(state, revision_id=c.current.revision_id)
            store.save(state)
            store.record_event(state.rollout_id, c.function, QUEUED_EVENT,
                               {"by": owner, "release": release.release_id,
                                "phase": "pending", "stable": c.stable,
                                "candidate": c.candidate})
        finally:
            store.release(lease)

    # Five store calls a rollout: in parallel, or 100 functions take seconds before the
    # controller is even asked (the store is thread-safe, as deploy's threads share it).
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(queue, [c for c in candidates if c.resume is None]))
