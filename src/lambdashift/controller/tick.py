"""One controller invocation: adopt the rollouts nobody drives, drive them, hand over in time.

Each tick

1. reads the unfinished rollouts of its namespace (an idle tick costs this one Query);
2. keeps those it may manage (``ControllerSettings.functions``) whose lease nobody holds: a
   detached release's, or an orphan whose driver died (its lease expired, or it was a
   process of this host that is gone);
3. makes units of them: a group's members are driven together (``rollout.group``); a
   detached release's pending rollout waits until the functions it comes ``after:`` in the
   same release have succeeded, and ends with no alias write when one of them did not;
4. drives each unit on its own thread, with engines whose ``hand_over_at`` is the tick's
   deadline: a rollout still running then is saved where it stands and its lease let go
   (``HandOver``), so the next tick resumes it at once, as after a crash;
5. looks again when a unit ends (a later wave may be free) and every ``RESCAN_S`` (a new
   release, a new orphan), until nothing is left to drive or the deadline comes.

Every decision is one JSON line in the function's log (``say``), and every rollout it takes
gets a ``taken`` event in its history naming the controller, so ``history`` and ``status``
say who drove it. The leases are what keep overlapping ticks (and a CLI ``resume``) from
driving one rollout twice: a tick takes a rollout only through ``locks.acquire``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from lambdashift.errors import LambdashiftError, LockedError
from lambdashift.model import Phase
from lambdashift.rollout.interrupts import HandOver

__all__ = ["RESCAN_S", "TAKEN_EVENT", "WAITING_EVENT", "TickSummary", "controller_owner",
           "run_tick"]

TAKEN_EVENT = "taken"
"""The history event of a rollout the controller took (its lease, to drive it)."""
WAITING_EVENT = "waiting"
"""The history event of a detached rollout waiting for the functions it comes after."""
RESCAN_S = 5.0
"""How often a busy tick looks for new rollouts to take, besides when a unit ends."""
MAX_UNITS = 1000
"""Units driven at once by one invocation: threads that mostly sleep, as ``deploy``'s
(``rollout.deploy.MAX_PARALLEL``); more wait for a slot, saying so."""


@dataclass
class TickSummary:
    """What one tick did, by rollout id."""

    taken: list[str] = field(default_factory=list)
    ended: dict[str, str] = field(default_factory=dict)      # rollout → final phase
    handed_over: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)    # rollout → why not taken
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, as the handler returns it."""
        return {"taken": self.taken, "ended": self.ended, "handed_over": self.handed_over,
                "waiting": self.waiting, "skipped": self.skipped, "errors": self.errors,
                "seconds": round(self.seconds, 3)}


def controller_owner(settings: Any, request_id: str) -> str:
    """The leases' owner. On the local stack ``user@host pid N`` (a process of this host, so
    a killed controller's locks are freed at once, as a killed CLI's are); on AWS a name no
    other sandbox can take for a dead process of its own, so only the lease frees it."""
    if settings.is_local:
        return f"lambdashift-controller@{socket.gethostname()} pid {os.getpid()}"
    return f"lambdashift-controller (request {request_id or 'unknown'})"


def run_tick(settings: Any, *, deadline: float, first: list[str], request_id: str,
             say: Callable[..., None], clock: Callable[[], float] = time.time,
             open_store: Callable[[Any], Any] | None = None,
             open_target: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Adopt, drive and hand over until ``deadline`` (``clock`` time); the summary.

    ``first`` are rollout ids a caller (``deploy --detach``) waits to see taken: one that
    must wait for others says so in its history at once. ``open_store`` and
    ``open_target`` default to ``connections``' controller openers.
    """
    from lambdashift import connections

    started = clock()
    store = (open_store or connections.open_controller_store)(settings)
    tick = _Tick(settings, store, deadline=deadline, first=set(first), request_id=request_id,
                 say=say, clock=clock, open_target=open_target or connections.open_controller_target)
    try:
        tick.run()
    finally:
        tick.close()
        store.close()
    tick.summary.seconds = clock() - started
    if not (tick.summary.taken or tick.summary.waiting or tick.summary.errors):
        say("idle", request_id=request_id, namespace=settings.namespace,
            unfinished=tick.seen, skipped=len(tick.summary.skipped),
            seconds=round(tick.summary.seconds, 3))
    else:
        say("tick_done", request_id=request_id, **tick.summary.as_dict())
    return tick.summary.as_dict()


class _Tick:
    """One invocation's state: the store, releases read, units running, the summary."""

    def __init__(self, settings: Any, store: Any, *, deadline: float, first: set[str],
                 request_id: str, say: Callable[..., None], clock: Callable[[], float],
                 open_target: Callable[..., Any]) -> None:
        self.settings, self.store, self.deadline = settings, store, deadline
        self.first, self.request_id, self.say, self.clock = first, request_id, say, clock
        self.open_target = open_target
        self.owner = controller_owner(settings, request_id)
        self.summary = TickSummary()
        self.seen = 0
        self._releases: dict[str, Any] = {}
        self._libraries: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._targets: dict[tuple[Any, ...], Any] = {}
        self._webhooks: list[Any] = []
        self._busy: set[str] = set()
        self._told_waiting: set[str] = set()

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> None:
        running: dict[Future[Any], list[Any]] = {}
        with ThreadPoolExecutor(max_workers=MAX_UNITS, thread_name_prefix="unit") as pool:
            while True:
                if self.clock() < self.deadline:
                    # The rollouts a caller waits for (deploy --detach) get the free slots first.
                    units = sorted(self._units(self.store.active()), key=lambda u: not any(
                        s.rollout_id in self.first for s in u.states))
                    for unit in units:
                        if len(running) >= MAX_UNITS:
                            self._defer(unit)
                            continue
                        self._busy.update(s.rollout_id for s in unit.states)
                        running[pool.submit(self._drive, unit)] = unit.states
                if not running:
                    return
                done, _ = wait(list(running), timeout=RESCAN_S, return_when=FIRST_COMPLETED)
                for future in done:  # a unit ended (or RESCAN_S passed): look again
                    for state in running.pop(future):
                        self._busy.discard(state.rollout_id)

    def _defer(self, unit: _Unit) -> None:
        """A unit beyond ``MAX_UNITS``: taken when a slot frees, and said so once, so that
        ``deploy --detach`` knows the controller has it."""
        for state in unit.states:
            if state.rollout_id in self._told_waiting:
                continue
            self._told_waiting.add(state.rollout_id)
            self.summary.waiting.append(state.rollout_id)
            why = f"a free slot: this invocation drives {MAX_UNITS} units at once"
            self.say("waiting", function=state.function, rollout=state.rollout_id, reason=why)
            self.store.record_event(state.rollout_id, state.function, WAITING_EVENT,
                                    {"by": self.owner, "behind": [], "reason": why,
                                     "request_id": self.request_id})

    def _units(self, active: list[Any]) -> list[_Unit]:
        """The units this tick can take now out of the unfinished rollouts."""
        from lambdashift.rollout.group import group_id_of
        from lambdashift.store.locks import holder_is_dead

        self.seen = max(self.seen, len(active))
        groups: dict[str, _Unit] = {}
        units: list[_Unit] = []
        blocked_groups: set[str] = set()
        for state in active:
            rid = state.rollout_id
            if rid in self._busy:
                continue
            if not self.settings.manages(state.function):
                self._skip(rid, f"{state.function} is not among the functions this controller "
                                "manages (LAMBDASHIFT_CONTROLLER_FUNCTIONS)")
                continue
            held = self.store.holder(state.function)
            gid = group_id_of(rid)
            if held is not None and not holder_is_dead(held.owner):
                self.summary.skipped.setdefault(rid, f"driven by {held.owner}")
                if gid:
                    blocked_groups.add(gid)
                continue
            release = self._release(state)
            if release is None:
                continue
            if state.phase is Phase.PENDING and not self._may_start(state, release):
                continue
            if gid:
                groups.setdefault(gid, _Unit(release, [], gid)).states.append(state)
            else:
                units.append(_Unit(release, [state], None))
        # A group is taken whole or not at all: its members advance in lock-step.
        units += [u for gid, u in groups.items() if gid not in blocked_groups]
        return units

    def _skip(self, rid: str, why: str) -> None:
        if rid not in self.summary.skipped:
            self.summary.skipped[rid] = why
            self.say("skip", rollout=rid, reason=why)

    def _release(self, state: Any) -> Any:
        """The stored release a rollout runs with (read once per tick), or None: skipped."""
        from lambdashift.rollout.release_record import load_release

        if not state.release:
            self._skip(state.rollout_id, "started without a stored release (by a lambdashift "
                                         "before the controller): `lambdashift resume` drives it")
            return None
        if state.release not in self._releases:
            try:
                self._releases[state.release] = load_release(self.store, state.release)
            except LambdashiftError as exc:
                self._releases[state.release] = None
                self.say("error", release=state.release, error=str(exc))
        release = self._releases[state.release]
        if release is None:
            self._skip(state.rollout_id, f"its release {state.release} has no readable record")
        return release

    def _may_start(self, state: Any, release: Any) -> bool:
        """A pending rollout of a detached release: True when the functions it comes after
        (in the same release) have all succeeded; ended here when one of them did not."""
        fn = release.config.functions.get(state.function)
        deps = [d for d in (fn.after if fn is not None else ()) if d in release.rollouts]
        waiting = []
        for dep in deps:
            ended = self.store.load(release.rollouts[dep])
            if ended is None or not ended.phase.is_terminal:
                waiting.append(dep)
            elif ended.phase is not Phase.SUCCEEDED:
                self._cancel(state, release, f"not started: {dep}, which it comes after, "
                                             f"ended {ended.phase.value}")
                return False
        if waiting:
            if state.rollout_id not in self._told_waiting:
                self._told_waiting.add(state.rollout_id)
                self.summary.waiting.append(state.rollout_id)
                self.say("waiting", function=state.function, rollout=state.rollout_id,
                         behind=waiting)
                self.store.record_event(state.rollout_id, state.function, WAITING_EVENT,
                                        {"by": self.owner, "behind": waiting,
                                         "request_id": self.request_id})
            return False
        return True

    def _cancel(self, state: Any, release: Any, reason: str) -> None:
        try:
            ended = self._engine(release).cancel(state, reason)
        except LambdashiftError as exc:
            self.summary.errors[state.rollout_id] = str(exc)
            return
        self.summary.ended[state.rollout_id] = ended.phase.value
        self.say("cancel", function=state.function, rollout=state.rollout_id, reason=reason,
                 phase=ended.phase.value)

    # -- driving ------------------------------------------------------------------------------

    def _engine(self, release: Any) -> Any:
        """A fresh engine for ``release``, handing over at the deadline, recording takes."""
        engine = self._library_release(release).engine()
        engine.hand_over_at = self.deadline
        engine.on_lease = self._taken
        return engine

    def _library_release(self, stored: Any) -> Any:
        """One library ``Release`` per stored release (its engines are per thread; the target,
        its clients and its webhook queue are shared, as ``deploy``'s are)."""
        with self._lock:  # units of one release start on several threads at once
            if stored.release_id not in self._libraries:
                self._libraries[stored.release_id] = self._new_library_release(stored)
            return self._libraries[stored.release_id]

    def _new_library_release(self, stored: Any) -> Any:
        from lambdashift.rollout.release import Release

        key = (stored.config.metrics, stored.api_url, stored.dev_url)
        if key not in self._targets:
            self._targets[key] = self.open_target(self.settings, self.store, stored.config.metrics,
                                                  api_url=stored.api_url, dev_url=stored.dev_url)
        webhooks = None
        if stored.config.webhooks:
            from lambdashift.rollout.webhooks import WebhookNotifier

            webhooks = WebhookNotifier.from_settings(stored.config.webhooks)
            if webhooks is not None:
                self._webhooks.append(webhooks)
        return Release(stored.config, self._targets[key], poll=stored.poll, webhooks=webhooks,
                       progress=_LogProgress(self.say), owner=self.owner,
                       release_id=stored.release_id)

    def _taken(self, state: Any, lease: Any) -> None:
        """Told by the engine once it holds the lease: the history says who drives now."""
        orphan = state.phase is not Phase.PENDING
        previous = lease.taken_over_from.owner if lease.taken_over_from is not None else ""
        self.store.record_event(state.rollout_id, state.function, TAKEN_EVENT, {
            "by": self.owner, "driver": "controller", "request_id": self.request_id,
            "phase": state.phase.value, "orphan": orphan, "from": previous})
        self.summary.taken.append(state.rollout_id)
        self.say("take", function=state.function, rollout=state.rollout_id,
                 phase=state.phase.value, step=state.step_index + 1, orphan=orphan,
                 previous=previous)

    def _drive(self, unit: _Unit) -> None:
        try:
            if unit.group_id is None:
                results = {unit.states[0].function: self._engine(unit.release).resume(unit.states[0])}
            else:
                results = self._drive_group(unit)
        except HandOver:
            for s in unit.states:
                self.summary.handed_over.append(s.rollout_id)
                self.say("hand_over", function=s.function, rollout=s.rollout_id,
                         reason="this invocation's time is up: the next tick resumes it")
            return
        except LockedError as exc:  # another driver took it between the look and the lease
            for s in unit.states:
                self.summary.skipped[s.rollout_id] = str(exc)
            self.say("held", rollouts=[s.rollout_id for s in unit.states], reason=str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one unit's failure must not end the tick
            for s in unit.states:
                self.summary.errors[s.rollout_id] = f"{type(exc).__name__}: {exc}"
            self.say("error", rollouts=[s.rollout_id for s in unit.states],
                     error=f"{type(exc).__name__}: {exc}")
            return
        ids = {s.function: s.rollout_id for s in unit.states}
        for function, result in results.items():
            if isinstance(result, LockedError):  # another driver has the group run
                self.summary.skipped[ids[function]] = str(result)
                self.say("held", rollouts=[ids[function]], reason=str(result))
            elif isinstance(result, Exception):  # by rollout id, as every other entry
                self.summary.errors[ids[function]] = str(result)
                self.say("error", function=function, rollout=ids[function], error=str(result))
            else:
                self.summary.ended[result.rollout_id] = result.phase.value
                self.say("ended" if result.phase.is_terminal else "left", function=function,
                         rollout=result.rollout_id, phase=result.phase.value,
                         reason=result.reason)

    def _drive_group(self, unit: _Unit) -> dict[str, Any]:
        from lambdashift.rollout.deploy import Candidate
        from lambdashift.rollout.group import group_name_of, run_group

        members = [Candidate(s.function, s.stable, s.candidate, s.steps, resume=s)
                   for s in unit.states]
        library = self._library_release(unit.release)

        def engine_for() -> Any:
            engine = library.engine()
            engine.hand_over_at = self.deadline
            engine.on_lease = self._taken
            return engine
        return run_group(group_name_of(unit.group_id), members, engine_for, self.store,
                         library.target.api, unit.release.config.alias)

    def close(self) -> None:
        """Deliver what the webhooks queued (bounded: a dead URL cannot hold the tick)."""
        for webhooks in self._webhooks:
            webhooks.close(5.0)


@dataclass
class _Unit:
    """What one thread drives: one rollout, or a group's unfinished members."""

    release: Any
    states: list[Any]
    group_id: str | None


class _LogProgress:
    """A release's progress as decision lines in the controller's log."""

    def __init__(self, say: Callable[..., None]) -> None:
        self._say = say

    def notify(self, state: Any, note: Any) -> None:
        """An engine notice (a step, a verdict and its reasons, a write). A look that says
        continue is left out: one a second per rollout would bury the decisions (``history``
        counts them)."""
        if note.event == "verdict" and note.details.get("verdict") == "continue":
            return
        self._say(note.event, **{**dict(note.details), "function": state.function,
                                 "rollout": state.rollout_id, "step": state.step_index + 1,
                                 "traffic": str(state.traffic)})

    def line(self, function: str, text: str) -> None:
        """A line about one function."""
        self._say("line", function=function, text=text)

    def note(self, text: str) -> None:
        """A line about the release."""
        self._say("note", text=text)
