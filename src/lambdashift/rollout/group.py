"""Groups: functions that roll out step by step together and roll back together.

``group: checkout`` on several functions (or on a ``select:`` entry) makes them one unit.
Each member is an ordinary rollout (its own record, lock, intent and step log) run by its
own engine on its own thread, so everything that makes one rollout crash-safe holds for
each member. What the group adds:

* **Lock-step.** A member's alias write that raises its candidate's weight waits until
  every other unfinished member has reached the same weight (a barrier per weight), so no
  member runs ahead onto a step the others have not been judged fit for. The first write
  of each member does not wait: members start together anyway.
* **Judged together.** The moment one member starts rolling back (a rollback verdict, a
  failed check, a failed write, ``lambdashift rollback``), every other unfinished member is
  sent a ``rollback`` signal through the store, and writes waiting at the barrier are
  refused; a member that already finished on its candidate is set back to its stable
  version. A group never ends half on new versions.
* **One outcome.** The group's result (``succeeded`` or ``rolled_back``, with every member's
  phase) is one line in the step log ``group:NAME``, which ``lambdashift history NAME`` shows.
* **Interrupted together.** With a stop asked (SIGINT/SIGTERM, ``rollout.interrupts``) a
  member waiting at the barrier does not write forward; every member's engine writes its
  stable version back, and a member that had already finished on its candidate is set back.
* **Resumable as a group.** Member rollout ids are ``g.NAME.ID.FUNCTION``: ``resume`` finds
  the unfinished members of one group and drives them as a group again, and a member that
  rolled back before the crash makes the rest roll back.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from lambdashift.config.functions import check_groups, check_same_steps  # noqa: F401 - defined there
from lambdashift.errors import AwsError, LambdashiftError, LockedError
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.interrupts import HandOver

#: The error code of a forward write the group's barrier withholds (the group rolls back).
GROUP_ROLLBACK = "GroupRollback"

GROUP_PREFIX = "g."
_ABORTING = ("rolling_back", "rolled_back", "failed")


def group_id_of(rollout_id: str) -> str | None:
    """``g.NAME.ID`` of a member's rollout id, or None for a rollout outside any group."""
    if not rollout_id.startswith(GROUP_PREFIX):
        return None
    parts = rollout_id.split(".")
    return ".".join(parts[:3]) if len(parts) >= 4 else None


def group_name_of(group_id: str) -> str:
    """``NAME`` of ``g.NAME.ID``."""
    return group_id.split(".")[1]


def log_of(name: str) -> str:
    """The step log holding a group's outcomes, one line per group rollout."""
    return f"group:{name}"


class _Barrier:
    """Where members meet before raising their candidates' weight; see the module docstring."""

    def __init__(self, name: str, positions: dict[str, float], on_abort: Callable[[str, str], None],
                 stopped: Callable[[], bool] = lambda: False):
        self.name = name
        self._stopped = stopped
        self._cond = threading.Condition()
        self._position = dict(positions)  # the candidate's weight each member last wrote
        self._waiting: dict[str, float | None] = dict.fromkeys(positions)
        self._opened: set[float] = set()
        self._done: set[str] = set()
        self._gated: set[str] = set()  # members whose candidate passed its gate
        self._on_abort = on_abort
        self.aborted: str | None = None

    def mark_gated(self, function: str) -> None:
        """``function``'s candidate passed its gate (before a crash, for a resumed member)."""
        with self._cond:
            self._gated.add(function)
            self._cond.notify_all()

    def gate_passed(self, function: str, keep_alive: Callable[[], None]) -> str | None:
        """Wait (renewing the lease) until every member's candidate passed its gate, so that
        no member's alias is written while another's candidate may still be rejected; the
        reason the group aborted meanwhile, if it did."""
        with self._cond:
            self._gated.add(function)
            self._cond.notify_all()
            while self.aborted is None and not self._stopped() and not all(
                    m in self._gated or m in self._done for m in self._position):
                self._cond.wait(timeout=0.2)  # short: a stop is seen without a notify
                keep_alive()
            return self.aborted

    def before_write(self, function: str, weight: float, keep_alive: Callable[[], None]) -> None:
        """Wait (renewing the lease) until every member is at ``weight``; raise if aborted."""
        with self._cond:
            if self.aborted is None and self._position[function] > 0 and weight > self._position[function]:
                self._waiting[function] = weight
                self._cond.notify_all()
                while self.aborted is None and not self._ready(function, weight) \
                        and not self._stopped():
                    self._cond.wait(timeout=0.2)  # short: a stop is seen without a notify
                    keep_alive()
                self._waiting[function] = None
                if self.aborted is None and not self._stopped():
                    self._opened.add(weight)
            if self.aborted is not None and weight > 0:
                raise AwsError(f"group {self.name} rolls back together: {self.aborted}",
                               code=GROUP_ROLLBACK, operation="UpdateAlias")
            if self._stopped() and weight > self._position[function]:
                raise AwsError(f"group {self.name}: interrupted, nothing more is written forward",
                               code="Interrupted", operation="UpdateAlias")

    def _ready(self, function: str, weight: float) -> bool:
        if weight in self._opened:
            return True
        return all(other == function or other in self._done or self._position[other] >= weight
                   or self._waiting[other] == weight for other in self._position)

    def written(self, function: str, weight: float) -> None:
        with self._cond:
            self._position[function] = weight
            self._cond.notify_all()

    def finished(self, function: str) -> None:
        with self._cond:
            self._done.add(function)
            self._cond.notify_all()

    def abort(self, function: str, reason: str) -> None:
        """The first member to roll back aborts the group; the others are told once."""
        with self._cond:
            if self.aborted is not None:
                return
            self.aborted = f"{function} rolls back: {reason}"
            self._cond.notify_all()
            others = [m for m in self._position if m != function and m not in self._done]
        for other in others:
            self._on_abort(other, self.aborted)


def candidate_weight(traffic: Traffic, candidate: str) -> float:
    """The candidate's share of ``traffic``: 0 on the stable alone, 1 on the candidate alone."""
    if traffic.canary is None:
        return 1.0 if traffic.primary == candidate else 0.0
    return traffic.weight if traffic.canary == candidate else 0.0


class _MemberApi:
    """The shared Lambda API, with a member's forward writes passing the group's barrier."""

    def __init__(self, api: Any, barrier: _Barrier, candidate: str,
                 keep_alive: Callable[[], None]) -> None:
        self._api, self._barrier = api, barrier
        self._candidate = candidate
        self._keep_alive = keep_alive

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)

    def update_alias(self, function: str, alias: str, traffic: Traffic, *,
                     expected_revision: str | None) -> Any:
        weight = candidate_weight(traffic, self._candidate)
        self._barrier.before_write(function, weight, self._keep_alive)
        written = self._api.update_alias(function, alias, traffic,
                                         expected_revision=expected_revision)
        self._barrier.written(function, weight)
        return written


def run_group(name: str, planned: list[Any], engine_for: Callable[[], Any], store: Any,
              api: Any, alias: str, *, stop: Any = None) -> dict[str, Any]:
    """Run one group's members together; function → final ``RolloutState`` or exception.

    ``planned`` are ``deploy.Candidate``s: new rollouts, or the unfinished members of one
    earlier group run (``resume``), never a mix of two runs. Resuming, the driver first
    takes the group run's own lease (``_hold_resumed_group``); without it every member is
    a ``LockedError`` and nothing is touched.
    """
    held = _hold_resumed_group(name, planned, engine_for, store)
    if isinstance(held, LockedError):
        return {c.function: held for c in planned}
    try:
        return _run_group(name, planned, engine_for, store, api, alias, stop=stop)
    finally:
        if held is not None:
            store.release(held)


def _hold_resumed_group(name: str, planned: list[Any], engine_for: Callable[[], Any],
                        store: Any) -> Any:
    """The lease of the group run being resumed (keyed by its group id), a ``LockedError``
    when another live driver has the run, or None for a new run (its id is new: nobody
    else can know it).

    Two drivers that found the same unfinished group (two controller invocations, a tick
    and ``resume``) would otherwise each take some members' leases and fail on the others'
    (a member's failure rolls the group back: a healthy group rolled back by a race). The
    one holding this lease re-checks that no member is held by a live driver nor ended
    meanwhile, so a group run has one driver at a time."""
    from lambdashift.store import locks

    resumed = [c.resume for c in planned if c.resume is not None]
    group_id = group_id_of(resumed[0].rollout_id) if resumed else None
    if group_id is None:
        return None
    engine = engine_for()  # its owner and lease length
    try:
        lease = locks.acquire(store, group_id, engine.owner, engine.options.lease_seconds)
    except LockedError as exc:
        return LockedError(f"group {name}: {exc}")
    for state in resumed:
        holder = store.holder(state.function)
        now = store.load(state.rollout_id)
        why = ""
        if holder is not None and not locks.holder_is_dead(holder.owner):
            why = f"{state.function} is being rolled out by {holder.owner}"
        elif now is not None and now.phase.is_terminal:
            why = f"{state.function} ended meanwhile ({now.phase.value})"
        if why:
            store.release(lease)
            return LockedError(f"group {name}: another driver has this group run: {why}")
    return lease


def _run_group(name: str, planned: list[Any], engine_for: Callable[[], Any], store: Any,
               api: Any, alias: str, *, stop: Any = None) -> dict[str, Any]:
    check_same_steps(name, {c.function: c.steps for c in planned})
    resumed = [c.resume for c in planned if c.resume is not None]
    group_id = (group_id_of(resumed[0].rollout_id) if resumed else None) or \
        f"{GROUP_PREFIX}{name}.{uuid.uuid4().hex[:8]}"
    members = {c.function: c for c in planned}
    positions = {c.function: candidate_weight(c.resume.traffic if c.resume is not None
                                              else Traffic(c.stable), c.candidate)
                 for c in planned}

    def tell(function: str, reason: str) -> None:
        store.send_signal(function, "rollback", {"reason": f"group {name}: {reason}"})

    stopped = (lambda: False) if stop is None else (lambda: stop.requested)
    barrier = _Barrier(name, positions, tell, stopped)
    for c in planned:  # a member resumed past its start passed its gate before the crash
        if c.resume is not None and c.resume.phase is not Phase.PENDING:
            barrier.mark_gated(c.function)
    earlier: dict[str, Any] = {}  # members that ended before the crash, for the outcome
    if resumed:
        # A member that ended on a rollback before the crash decides for the rest.
        for event in store.events(group_id):
            for fn, rid in dict(event.details.get("members", {})).items():
                if fn not in members:
                    state = store.load(rid)
                    if state is None:
                        continue
                    earlier[fn] = state
                    if state.phase in (Phase.ROLLED_BACK, Phase.FAILED, Phase.INTERRUPTED):
                        barrier.abort(fn, state.reason or state.phase.value)
    else:
        store.record_event(group_id, log_of(name), "group_started", {
            "members": {fn: f"{group_id}.{fn}" for fn in members}})

    def one(c: Any) -> tuple[str, Any]:
        engine = engine_for()
        engine.api = _MemberApi(api, barrier, c.candidate, engine.keep_alive)
        notify = engine.notify

        def member_notify(state: Any, note: Any) -> None:
            notify(state, note)
            if note.event in _ABORTING:
                barrier.abort(c.function, str(note.details.get("reason", note.event)))
        engine.notify = member_notify
        gate = engine.gate

        def member_gate(state: Any) -> Any:
            rejected = gate(state) if gate is not None else None
            if rejected is not None:
                return rejected
            aborted = barrier.gate_passed(c.function, engine.keep_alive)
            if aborted is None:
                return None
            from lambdashift.core.machine import Notify

            return Notify("group_stopped", {"reason": f"group {name} rolls back together: {aborted}"})
        engine.gate = member_gate
        handed_over = False
        try:
            if c.resume is not None:
                return c.function, engine.resume(c.resume)
            return c.function, engine.start(c.function, alias, c.candidate, c.steps,
                                            rollout_id=f"{group_id}.{c.function}",
                                            current=c.current)
        except HandOver as exc:
            # Not finished: the others must not take it for done and write past it.
            handed_over = True
            return c.function, exc
        except LambdashiftError as exc:
            barrier.abort(c.function, str(exc))
            return c.function, exc
        finally:
            if not handed_over:
                barrier.finished(c.function)

    with ThreadPoolExecutor(max_workers=max(1, min(64, len(planned)))) as pool:
        results = dict(pool.map(one, planned))
    handed = [r for r in results.values() if isinstance(r, HandOver)]
    if handed:
        # The driver's time is up (the controller's invocation): every member is saved where
        # it stands and the group is resumed as a group by the next driver; its outcome is
        # that driver's to record, and no member is set back.
        raise handed[0]
    ended = {**earlier, **results}
    interrupted = stopped() and any(
        isinstance(s, Exception) or s.phase is not Phase.SUCCEEDED for s in ended.values())
    if barrier.aborted is not None or interrupted:
        why = barrier.aborted or f"interrupted ({stop.signal})"
        phase = Phase.ROLLED_BACK if barrier.aborted is not None else Phase.INTERRUPTED
        for fn, state in list(ended.items()):
            if not isinstance(state, Exception) and state.phase is Phase.SUCCEEDED:
                ended[fn] = _set_back(store, api, state, why, phase,
                                      stop.signal if phase is Phase.INTERRUPTED else "")
                if fn in results:
                    results[fn] = ended[fn]
    _record_outcome(store, name, group_id, ended, barrier.aborted)
    return results


def _set_back(store: Any, api: Any, state: Any, why: str, phase: Phase = Phase.ROLLED_BACK,
              signal: str = "") -> Any:
    """A member that finished on its candidate before the group failed: back to stable."""
    reason = f"group rolled back after this member finished: {why}"
    try:
        written = api.update_alias(state.function, state.alias, Traffic(state.stable),
                                   expected_revision=state.revision_id)
    except LambdashiftError as exc:
        store.record_event(state.rollout_id, state.function, "group_rollback_failed",
                           {"reason": f"{reason}; the write failed: {exc}"})
        return exc
    back = replace(state, phase=phase, interrupted=signal, traffic=Traffic(state.stable),
                   revision_id=written.revision_id, reason=reason)
    store.save(back)
    store.record_event(state.rollout_id, state.function, "RolledBackWithGroup",
                       {"phase": back.phase.value, "traffic": str(back.traffic), "reason": reason})
    return back


def _record_outcome(store: Any, name: str, group_id: str, results: Mapping[str, Any],
                    aborted: str | None) -> None:
    members = {}
    for fn, r in sorted(results.items()):
        if isinstance(r, Exception):
            members[fn] = {"phase": "error", "reason": str(r)}
        else:
            members[fn] = {"phase": r.phase.value, "rollout_id": r.rollout_id,
                           "stable": r.stable, "candidate": r.candidate, "reason": r.reason}
    phases = {m["phase"] for m in members.values()}
    if phases & {"paused", "progressing", "pending", "rolling_back", "promoting"}:
        return  # a gate (--no-wait) or a lost lock: the outcome is `resume`'s to record
    outcome = "succeeded" if phases == {"succeeded"} else "rolled_back"
    if "interrupted" in phases and not phases & {"rolled_back", "failed", "error"}:
        outcome = "interrupted"
    store.record_event(log_of(name), log_of(name), "group_outcome", {
        "group_id": group_id, "outcome": outcome, "reason": aborted or "", "members": members})
