"""The rollout engine: drives the pure state machine against the alias, persisting as it goes.

One engine runs one rollout at a time on the calling thread; ``deploy`` runs several
engines in threads, sharing one Lambda API wrapper (and so one rate limiter) and one store.

The order that makes it crash-safe: every transition's new state is saved *before* its
actions run, so an alias write is always preceded by its intent on disk, and the write's
outcome is saved as soon as it is known. After a crash, ``resume`` reads the alias and lets
the machine reconcile it with the intent (``Resumed``). Clock and sleep are passed in, so
tests run a 30-minute rollout in milliseconds.

Interrupts: with a ``stop`` (``rollout.interrupts.StopRequest``, set by the CLI's SIGINT/SIGTERM
handler) the engine takes no step once a stop is asked. Before each step's action (a write
forward, a wait, an analysis, a gate) and before each event it feeds, it checks the stop and
feeds the machine ``Interrupted`` instead; a write forward whose intent is already on disk is
resolved as not sent. The machine then writes the stable version back, and the engine does
that write. Waits end early because the session's ``sleep`` is ``StopRequest.sleep``. Any new
step kind (a bake) is covered if it waits through ``_wait`` (or ``self.sleep``) and is an
action of the machine: it is then simply not taken, or its wait returns ``Interrupted``.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambdashift.core.machine import (
    Action,
    AliasWriteFailed,
    AliasWritten,
    AwaitGate,
    CheckFailed,
    Event,
    Finish,
    GatePassed,
    Interrupted,
    InvocationsObserved,
    MeasurementFailed,
    Notify,
    PromoteRequested,
    Resumed,
    RollbackRequested,
    RolloutState,
    RunAnalysis,
    SetTraffic,
    Start,
    Tick,
    VerdictReceived,
    Wait,
    WaitForInvocations,
    WriteFailure,
    transition,
)
from lambdashift.errors import (
    AwsError,
    LambdashiftError,
    LockedError,
    RevisionMismatchError,
    RolloutError,
)
from lambdashift.model import (
    AnalysisStep, BakeStep, Phase, Step, Traffic, Verdict, promote_index,
)
from lambdashift.store import locks
from lambdashift.rollout.failpoints import failpoint
from lambdashift.rollout.group import GROUP_ROLLBACK
from lambdashift.rollout.interrupts import HandOver


class AliasApi(Protocol):
    """What the engine needs of Lambda (``lambdashift.aws.lambda_api.LambdaApi`` has it)."""

    def get_alias(self, function: str, alias: str) -> Any: ...
    def update_alias(self, function: str, alias: str, traffic: Any, *,
                     expected_revision: str | None) -> Any: ...


class InvocationCounter(Protocol):
    """How many invocations of ``version`` came through ``alias`` in [since, until)."""

    def invocations(self, function: str, alias: str, version: str, since: float,
                    until: float) -> int: ...


class Analyzer(Protocol):
    """Evaluates an analysis step: returns ``VerdictReceived`` or ``CheckFailed``."""

    def analyze(self, state: RolloutState, step: AnalysisStep, now: float) -> Event: ...


@dataclass
class EngineOptions:
    """How the engine waits: poll interval, lease length, whether to wait at manual gates."""

    poll_interval: float = 5.0
    lease_seconds: float = 120.0
    wait_at_gates: bool = True


@dataclass
class RolloutEngine:
    """Runs rollouts for one target; every dependency is passed in."""

    api: AliasApi
    store: Any  # lambdashift.store.protocol.StateStore
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    owner: str
    counter: InvocationCounter | None = None
    analyzer: Analyzer | None = None
    notify: Callable[[RolloutState, Notify], None] = lambda state, note: None
    #: Checks (hooks) before any traffic and after the promotion: failures in words.
    pre_checks: Callable[[RolloutState], list[str]] | None = None
    post_checks: Callable[[RolloutState], list[str]] | None = None
    options: EngineOptions = field(default_factory=EngineOptions)
    #: Called before each alias write with the traffic about to be written (``rollout.prewarm``);
    #: what it returns, if anything, is recorded and notified like the machine's notices.
    prewarm: Callable[[RolloutState, Traffic], Notify | None] | None = None
    #: The process's stop request (``rollout.interrupts.StopRequest``): None, never stopped.
    stop: Any = None
    #: The candidate gate (``rollout.candidate``), run before the first alias write of every
    #: rollout: a Notify when the candidate must get no traffic (recorded, then the rollout
    #: ends with no write), else None.
    gate: Callable[[RolloutState], Notify | None] | None = None
    #: The release record a new rollout points at (``RolloutState.release``); "" for none.
    release: str = ""
    #: When (``clock`` time) to stop driving and let the rollout go for another driver to
    #: resume (``HandOver`` out of the next wait); None: drive to the end.
    hand_over_at: float | None = None
    #: Told when this engine has taken a rollout's lease to resume it (the controller records
    #: that it drives it from then on).
    on_lease: Callable[[RolloutState, Any], None] | None = None
    #: The lease held while driving a rollout, and signals taken but not yet acted on.
    _lease: Any = field(default=None, init=False, repr=False)
    _inbox: deque[Any] = field(default_factory=deque, init=False, repr=False)

    # -- entry points --------------------------------------------------------------------

    def start(self, function: str, alias: str, candidate: str, steps: tuple[Step, ...], *,
              rollout_id: str | None = None, current: Any = None) -> RolloutState:
        """Begin a rollout of ``candidate`` from what the alias serves now; run it.

        ``rollout_id`` names it (a group's members carry the group's id); default a new one.
        ``current`` is the alias as the caller just read it (``deploy`` reads every alias to
        plan): it saves a GetAlias under the 15/s quota, and is safe because the first write
        carries its RevisionId, so a change since then stops the rollout instead.
        """
        lease = locks.acquire(self.store, function, self.owner, self.options.lease_seconds)
        try:
            active = self.store.active(function)
            if active:
                raise RolloutError(
                    f"{function} has an unfinished rollout {active[0].rollout_id} "
                    f"({active[0].stable} → {active[0].candidate}, {active[0].phase.value}); "
                    "`lambdashift resume` continues it, `lambdashift rollback` ends it")
            latest = self.store.latest(function)
            if current is None or (latest is not None and latest.revision_id != current.revision_id):
                # A rollout ended since the caller read the alias (another runner's, which held
                # the lock meanwhile): that read is stale, read again.
                current = self.api.get_alias(function, alias)
            if current.traffic == Traffic(candidate) and latest is not None and \
                    latest.candidate == candidate and latest.phase is Phase.SUCCEEDED:
                return latest  # another runner rolled this very version out meanwhile
            if current.traffic.primary == candidate:
                raise RolloutError(f"{function}:{alias} already serves version {candidate}")
            refuse_unowned_split(function, alias, current.traffic)  # again, under the lock
            state = RolloutState.new(rollout_id or f"r-{uuid.uuid4().hex[:12]}", function, alias,
                                     current.traffic.primary, candidate, steps, now=self.clock(),
                                     release=self.release)
            self.store.save(state)
            first: Event = Start(current.traffic, current.revision_id, now=self.clock())
            failed = self._before_traffic(state)
            if failed is not None:  # the candidate failed before any traffic: no alias write
                first = failed
            return self._drive(state, first, lease=lease)
        finally:
            self._release(lease)

    def resume(self, state: RolloutState) -> RolloutState:
        """Continue an unfinished rollout from the alias as it is now (after a crash, a gate).

        A promote, approve or rollback asked for with ``store.send_signal`` before this call
        is taken at the first point the rollout can wait.
        """
        lease = locks.acquire(self.store, state.function, self.owner, self.options.lease_seconds)
        try:
            fresh = self.store.load(state.rollout_id) or state
            if fresh.phase.is_terminal:
                return fresh
            if self.on_lease is not None:
                self.on_lease(fresh, lease)
            early: tuple[Event, ...] = ()
            if fresh.phase is Phase.PENDING:  # saved, never started: the gate has not run yet
                # A rollback asked of a queued rollout (deploy --detach) ends it before the
                # candidate is even invoked; a promote is taken once it has started.
                asked = self._signal(fresh)
                if isinstance(asked, (RollbackRequested, Interrupted)):
                    return self._drive(fresh, asked, lease=lease)
                early = (asked,) if asked is not None else ()
                failed = self._before_traffic(fresh)
                if failed is not None:
                    return self._drive(fresh, failed, lease=lease)
            if fresh.phase is Phase.PENDING and fresh.revision_id is not None:
                # Queued with the alias as planned (deploy --detach): its first write carries
                # that RevisionId, so a change since stops the rollout, as deploy's own
                # planned read does; one GetAlias (of 5 calls a rollout) saved.
                resumed = Resumed(fresh.traffic, fresh.revision_id, now=self.clock())  # type: ignore[arg-type]
            else:
                current = self.api.get_alias(fresh.function, fresh.alias)
                resumed = Resumed(current.traffic, current.revision_id, now=self.clock())
            return self._drive(fresh, resumed, *early, lease=lease)
        finally:
            self._release(lease)

    def cancel(self, state: RolloutState, reason: str) -> RolloutState:
        """End a rollout that never started (``pending``: a detached release's later wave
        whose dependency failed) with no alias write; any other phase is left as it is."""
        lease = locks.acquire(self.store, state.function, self.owner, self.options.lease_seconds)
        try:
            fresh = self.store.load(state.rollout_id) or state
            if fresh.phase is not Phase.PENDING:
                return fresh
            return self._drive(fresh, CheckFailed(reason, now=self.clock()), lease=lease)
        finally:
            self._release(lease)

    def _before_traffic(self, state: RolloutState) -> Event | None:
        """The candidate gate, then the pre-traffic hooks: ``CheckFailed`` if either fails."""
        if self.gate is not None:
            rejected = self.gate(state)
            if rejected is not None:
                self.store.record_event(state.rollout_id, state.function, rejected.event,
                                        dict(rejected.details))
                self.notify(state, rejected)
                return CheckFailed(f"pre-traffic: {rejected.details.get('reason', rejected.event)}",
                                   now=self.clock())
        failures = self.pre_checks(state) if self.pre_checks is not None else []
        if failures:
            return CheckFailed("pre-traffic: " + "; ".join(failures), now=self.clock())
        return None

    # -- the loop ------------------------------------------------------------------------

    def _drive(self, state: RolloutState, *events: Event, lease: Any) -> RolloutState:
        self._lease = lease
        try:
            return self._loop(state, deque(events))
        except HandOver:
            # Signals taken from the store but not acted on yet (an approve kept for its
            # gate) go back, for the next driver.
            while self._inbox:
                sig = self._inbox.popleft()
                self.store.send_signal(sig.function, sig.kind, dict(sig.details))
            raise

    def _loop(self, state: RolloutState, pending: deque[Event]) -> RolloutState:
        while pending:
            event = self._or_stop(state, pending.popleft(), pending)
            state, actions = transition(state, event)
            self.store.save(state)
            failpoint("after_save")
            self._record(state, event)
            follow_ups: list[Event] = []
            for action in actions:
                stop = self._interrupt(state)
                if stop is not None and isinstance(action, _STEPS):  # stop taking steps
                    follow_ups.append(self._not_sent(action) if isinstance(action, SetTraffic)
                                      else stop)
                    break
                result = self._perform(state, action)
                if result is _STOP:
                    return state
                if result is not None:
                    follow_ups.append(result)
            # A signal or write outcome may supersede a wait: the machine orders them.
            pending.extend(follow_ups)
            if not pending and (stop := self._interrupt(state)) is not None:
                pending.append(stop)  # an event the machine ignored must not end a stopped drive
        return state

    def _interrupt(self, state: RolloutState) -> Event | None:
        """``Interrupted`` when a stop was asked and this rollout has not been told yet (nor is
        it on its way back already, which the stop must not hold up)."""
        stop = self.stop
        if stop is None or not stop.requested or state.interrupted or state.phase.is_terminal \
                or state.phase is Phase.ROLLING_BACK:
            return None
        return Interrupted(stop.signal, now=self.clock())

    def _or_stop(self, state: RolloutState, event: Event, pending: deque[Event]) -> Event:
        """The event to feed next once a stop is asked: ``Interrupted`` first, then only what
        resolves a pending write or leads back anyway (a failed check, a rollback verdict or
        signal keep their reason as the outcome); the news of a step (tick, verdict) is moot."""
        stop = self._interrupt(state)
        if stop is None or isinstance(event, Interrupted):
            return event
        if isinstance(event, (AliasWritten, AliasWriteFailed, Resumed)):
            if state.intent is None:
                return event  # reconcile with the alias first; the next step is not taken
            pending.appendleft(event)  # marked first, the write's outcome then leads back
            return stop
        back = isinstance(event, (CheckFailed, RollbackRequested)) or (
            isinstance(event, VerdictReceived) and event.verdict is Verdict.ROLLBACK)
        return event if back else stop

    def _not_sent(self, action: SetTraffic) -> Event:
        """A write forward whose intent is on disk but which a stop keeps from being sent."""
        signal = getattr(self.stop, "signal", "") or "stop"
        return AliasWriteFailed(WriteFailure.OTHER, f"not sent: interrupted ({signal})",
                                now=self.clock())

    def _perform(self, state: RolloutState, action: Action) -> Event | object | None:
        now = self.clock
        if isinstance(action, Notify):
            self.store.record_event(state.rollout_id, state.function, action.event, dict(action.details))
            self.notify(state, action)
            return None
        if isinstance(action, SetTraffic):
            self._prewarm(state, action)
            if self._interrupt(state) is not None:  # the stop came during the pre-warm
                return self._not_sent(action)
            if state.phase is Phase.ROLLING_BACK:
                failpoint("before_write_back")
            return self._write(action)
        if isinstance(action, Wait):
            return self._wait(state, lambda: now() >= action.until, lambda: Tick(now=now()),
                              until=action.until)
        if isinstance(action, WaitForInvocations):
            return self._wait_invocations(state, action)
        if isinstance(action, RunAnalysis):
            return self._analyze(state, action)
        if isinstance(action, AwaitGate):
            signal_event = self._signal(state)
            if signal_event is not None:
                return signal_event
            if not self.options.wait_at_gates:
                return _STOP
            return self._wait(state, lambda: False, lambda: Tick(now=now()))
        if isinstance(action, Finish):
            return None
        raise AssertionError(f"unknown action {action!r}")  # pragma: no cover

    def _write(self, action: SetTraffic) -> Event:
        failpoint("before_alias_write")
        try:
            written = self.api.update_alias(action.function, action.alias, action.traffic,
                                            expected_revision=action.expected_revision)
        except RevisionMismatchError as exc:
            return AliasWriteFailed(WriteFailure.REVISION_MISMATCH, str(exc), now=self.clock())
        except AwsError as exc:
            if exc.code == GROUP_ROLLBACK:  # withheld by the group's barrier: nothing was sent
                return AliasWriteFailed(WriteFailure.WITHHELD, str(exc), now=self.clock())
            # After retries gave up, the write may still have landed: look before deciding.
            # If even the read fails, the intent stays on disk and `resume` reconciles it.
            current = self.api.get_alias(action.function, action.alias)
            if current.traffic == action.traffic and current.revision_id != action.expected_revision:
                return AliasWritten(current.revision_id, current.traffic, now=self.clock())
            return AliasWriteFailed(WriteFailure.OTHER, str(exc), now=self.clock())
        failpoint("after_alias_write")
        return AliasWritten(written.revision_id, written.traffic, now=self.clock())

    def _prewarm(self, state: RolloutState, action: SetTraffic) -> None:
        if self.prewarm is None:
            return
        note = self.prewarm(state, action.traffic)
        if note is not None:
            self.store.record_event(state.rollout_id, state.function, note.event, dict(note.details))
            self.notify(state, note)

    def _wait(self, state: RolloutState, done: Callable[[], bool],
              finished: Callable[[], Event], until: float | None = None) -> Event:
        """Sleep in poll-sized slices (none past ``until``) until ``done`` or a signal from
        another terminal."""
        while True:
            signal_event = self._signal(state)
            if signal_event is not None:
                return signal_event
            if done():
                return finished()
            self._hand_over_if_due()
            self._renew()
            nap = self.options.poll_interval
            if until is not None:  # wake at the deadline (a look due in 1 s waits 1 s, not a poll)
                nap = min(nap, max(until - self.clock(), 0.01))
            if self.hand_over_at is not None:
                nap = min(nap, max(self.hand_over_at - self.clock(), 0.01))
            self.sleep(nap)

    def _wait_invocations(self, state: RolloutState, action: WaitForInvocations) -> Event:
        if self.counter is None:
            raise RolloutError(
                f"step {state.step_index + 1} waits for invocations, but this target has no "
                "metrics source")
        seen = 0

        def enough() -> bool:
            nonlocal seen
            seen = self.counter.invocations(state.function, state.alias, state.candidate,  # type: ignore[union-attr]
                                            action.since, self.clock() + 1)
            return seen >= action.invocations
        return self._wait(state, enough, lambda: InvocationsObserved(seen, now=self.clock()))

    def _analyze(self, state: RolloutState, action: RunAnalysis) -> Event:
        signal_event = self._signal(state)
        if signal_event is not None:
            return signal_event
        if isinstance(action.step, BakeStep):  # the bake has its analyzer; hooks ran before it
            if self.analyzer is None:
                return VerdictReceived(Verdict.PROMOTE, (
                    "bake skipped: this target has no metrics source to watch the candidate",),
                    now=self.clock())
            return self.analyzer.analyze(state, action.step, self.clock())
        # Only a split can be judged (both versions serving); before it or after the
        # promotion a step without settings runs the hooks, if any, and passes.
        passed = ("no traffic split to judge (the candidate has none)"
                  if state.traffic == Traffic(state.stable)
                  else "no traffic split to judge (all traffic is on the candidate)")
        full = promote_index(state.steps)
        if self.post_checks is not None and full is not None and action.step_index > full:
            failures = self.post_checks(state)  # all traffic is on the candidate now
            if failures:
                return CheckFailed("post-traffic: " + "; ".join(failures), now=self.clock())
            passed = "post-traffic checks passed"
        elif state.traffic == Traffic(state.stable) and self.pre_checks is not None:
            passed = "pre-traffic checks passed before the rollout started"
        split = state.traffic is not None and state.traffic.canary is not None
        if not action.step.params and not action.step.alarms and not split:
            return VerdictReceived(Verdict.PROMOTE, (passed,), now=self.clock())
        if self.analyzer is None:
            return CheckFailed(
                f"step {action.step_index + 1} asks for analysis, but no analyzer is configured",
                now=self.clock())
        try:
            return self.analyzer.analyze(state, action.step, self.clock())
        except AwsError as exc:  # an error, not a verdict: the machine retries, then gives up
            return MeasurementFailed(f"metrics could not be read: {exc}", now=self.clock())

    def _signal(self, state: RolloutState) -> Event | None:
        """The next signal from another terminal as an event (taken one at a time, in order);
        this process's own stop request comes first."""
        stop = self._interrupt(state)
        if stop is not None:
            return stop
        inbox = self._inbox
        inbox.extend(self.store.take_signals(state.function))
        while inbox:
            sig = inbox.popleft()
            now = self.clock()
            if sig.kind == "rollback":
                return RollbackRequested(sig.details.get("reason", "rollback requested"), now=now)
            if sig.kind == "promote":
                return PromoteRequested(now=now)
            if sig.kind == "approve":
                if state.phase is Phase.PAUSED:
                    return GatePassed(now=now)
                # Not at a gate yet: keep it for the gate it was meant for.
                inbox.appendleft(sig)
                return None
        return None

    def keep_alive(self) -> None:
        """Renew the lease if it is due: for callers that block a rollout's thread (groups);
        ``HandOver`` when this driver's time is up."""
        self._hand_over_if_due()
        self._renew()

    def _hand_over_if_due(self) -> None:
        if self.hand_over_at is not None and self.clock() >= self.hand_over_at:
            raise HandOver("this driver's time is up: the rollout is left for the next one")

    def _renew(self) -> None:
        lease = self._lease
        if lease is not None and self.clock() > lease.expires_at - self.options.lease_seconds / 2:
            try:
                self._lease = self.store.renew(lease, self.options.lease_seconds)
            except LockedError as exc:
                raise RolloutError(f"lost the rollout lock of {lease.function}: {exc}") from exc

    def _release(self, lease: Any) -> None:
        self.store.release(self._lease or lease)
        self._lease = None

    def _record(self, state: RolloutState, event: Event) -> None:
        kind = type(event).__name__
        if kind in ("Tick", "InvocationsObserved"):
            return  # too chatty for history; the step change that follows is recorded
        details: dict[str, Any] = {"phase": state.phase.value, "step": state.step_index,
                                   "traffic": str(state.traffic)}
        if hasattr(event, "reason"):
            details["reason"] = event.reason  # type: ignore[attr-defined]
        if isinstance(event, Interrupted):
            details["signal"] = event.signal
        if hasattr(event, "verdict"):
            details.update(verdict=event.verdict.value, reasons=list(event.reasons))  # type: ignore[attr-defined]
            # Verdicts reach the terminal and the webhooks like the machine's own notices.
            self.notify(state, Notify("verdict", {"verdict": event.verdict.value,  # type: ignore[attr-defined]
                                                  "reasons": list(event.reasons)}))  # type: ignore[attr-defined]
        self.store.record_event(state.rollout_id, state.function, kind, details)


def refuse_unowned_split(function: str, alias: str, traffic: Traffic) -> None:
    """A rollout starts from one version: an alias split that no rollout owns (someone's
    manual shift, a crashed tool) is refused, saying how to end it. The one wording of this
    precondition: ``deploy`` checks it when it plans (before anything starts), the engine
    again under the function's lock (the alias may have changed since)."""
    if traffic.canary is not None:
        raise LambdashiftError(
            f"{function}:{alias} is split ({traffic}) and no rollout owns it: "
            f"`lambdashift promote {function}` or `lambdashift rollback {function}` first")


#: The actions that take a step (not notices): none is taken once a stop is asked.
_STEPS = (SetTraffic, Wait, WaitForInvocations, RunAnalysis, AwaitGate)

_STOP = object()
"""Returned by an action that hands the rollout back to the caller (a gate with --no-wait)."""
