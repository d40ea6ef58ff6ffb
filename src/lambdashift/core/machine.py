"""The rollout state machine: ``transition(state, event) -> (state, actions)``, pure.

The engine feeds events (what happened, with the caller's ``now``) and executes actions
(plain data, like Chalice's plan instructions). Nothing here reads a clock or calls AWS.

Crash safety rests on the *intent*: every ``SetTraffic`` comes with a state whose ``intent``
records the write. The engine persists that state *before* writing the alias, then feeds
``AliasWritten`` / ``AliasWriteFailed`` and persists the outcome. After a crash, ``Resumed``
reconciles the intent with what the alias actually serves: equal to the intent, the write
happened; equal to the previous traffic (and revision), it did not and is re-issued; anything
else is *drift* (someone else changed the alias) and the rollout fails without writing.

Invalid-event policy, in that order:

1. In a terminal phase every event is ignored: the rollout owns nothing any more, and late
   events (a tick, a verdict) are normal in a concurrent engine.
2. While an intent is pending, only ``AliasWritten``, ``AliasWriteFailed`` and ``Resumed``
   are accepted; anything else raises ``InvalidEvent`` (an intent is always resolved before
   the rollout does anything else). ``Interrupted`` is the exception: a signal does not wait
   for a write, so it only marks the rollout, and the write's outcome then leads back.
3. Observations that arrive when nothing waits for them (``Tick``, ``InvocationsObserved``,
   ``VerdictReceived``) are stale and ignored.
4. Commands and outcomes that contradict the state (``Start`` twice, ``AliasWritten`` with no
   intent or other traffic, ``GatePassed`` away from a gate, ``PromoteRequested`` before the
   start or while rolling back) raise ``InvalidEvent``: they reveal a bug or a user mistake.

``InvalidEvent`` never changes anything: the caller keeps its state.

Interrupts never promote: after ``Interrupted`` the rollout takes no further step, whatever
it was doing (a pause, an analysis, a gate, a post-traffic step with all traffic on the
candidate); it writes the stable version back (RevisionId-guarded like every write) and ends
in the phase ``interrupted``, which says nothing against the candidate. A rollout already
rolling back for its own reason keeps that reason and outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from lambdashift.core.state import (
    Action,
    AliasWriteFailed,
    AliasWritten,
    AwaitGate,
    CheckFailed,
    Event,
    Finish,
    GatePassed,
    Intent,
    Interrupted,
    InvalidEvent,
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
    VerdictRecord,
    Wait,
    WaitForInvocations,
    WriteFailure,
)
from lambdashift.model import (
    AnalysisStep,
    InvocationPause,
    ManualGate,
    PauseStep,
    Phase,
    Traffic,
    Verdict,
    WeightStep,
    promote_index,
)

# The machine's data lives in core.state; import it from here, the machine's one front door.
__all__ = sorted(
    [
        "Action", "AliasWriteFailed", "AliasWritten", "AwaitGate", "CheckFailed", "Event",
        "Finish", "GatePassed", "Intent", "Interrupted", "InvalidEvent", "InvocationsObserved",
        "MeasurementFailed", "Notify",
        "PromoteRequested", "Resumed", "RollbackRequested", "RolloutState", "RunAnalysis",
        "SetTraffic", "Start", "Tick", "VerdictReceived", "VerdictRecord", "Wait",
        "WaitForInvocations", "WriteFailure", "plan", "transition",
    ]
)

Result = tuple[RolloutState, tuple[Action, ...]]
DEFAULT_LOOK_SECONDS = 60.0
"""The wait between looks when neither the step nor the metrics source says (a bare analyzer)."""
DEFAULT_ERROR_LIMIT = 4
"""Measurement errors in a row that end a step whose policy does not say (a bake's)."""
ERROR_BACKOFF_SECONDS = 5.0
"""The first wait after a measurement error; it doubles with each error in a row, up to
:data:`ERROR_BACKOFF_MAX`, so that a throttled metrics API gets room to recover."""
ERROR_BACKOFF_MAX = 60.0
_OUTCOMES = (AliasWritten, AliasWriteFailed, Resumed)  # the events that resolve an intent
_WHILE_WRITING = (*_OUTCOMES, Interrupted)  # what a pending intent accepts


def transition(state: RolloutState, event: Event) -> Result:
    """The state after ``event`` and the actions the engine must carry out, in order."""
    if state.phase.is_terminal:
        return state, ()
    if state.intent is not None and not isinstance(event, _WHILE_WRITING):
        raise InvalidEvent(
            f"{type(event).__name__} while the alias write to {state.intent.traffic} is pending: "
            "resolve it first (AliasWritten, AliasWriteFailed or Resumed)"
        )
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise InvalidEvent(f"not a rollout event: {event!r}")
    new, actions = handler(state, event)
    if new is state and not actions:  # ignored: the state exactly as it was, timestamp included
        return state, ()
    return dataclasses.replace(new, updated_at=event.now), actions


# --- entering steps ------------------------------------------------------------------------


def _enter(s: RolloutState, index: int, now: float) -> Result:
    """Begin step ``index``: write its traffic, start its wait, or ask for its analysis."""
    s = dataclasses.replace(
        s, step_index=index, step_started_at=now, wait_until=None, invocations_seen=0, reason="",
        measurement_errors=0,
    )
    step = s.steps[index]
    if isinstance(step, WeightStep):
        target = s.traffic_at(step.weight)
        if target == s.traffic:  # nothing to write (a resumed rollout already there)
            return _advance(s, now)
        phase = Phase.PROMOTING if step.weight == 1.0 else Phase.PROGRESSING
        return _write(dataclasses.replace(s, phase=phase), target)
    s = dataclasses.replace(s, phase=Phase.PROGRESSING)
    if isinstance(step, PauseStep):
        until = now + step.seconds
        return dataclasses.replace(s, wait_until=until), (Wait(until),)
    if isinstance(step, InvocationPause):
        return s, (WaitForInvocations(step.invocations, since=now),)
    if isinstance(step, ManualGate):
        return _pause(s, f"waiting at the manual gate of step {index + 1}")
    return s, (RunAnalysis(index, step),)


def _advance(s: RolloutState, now: float) -> Result:
    if s.step_index + 1 == len(s.steps):
        return _finish(s, Phase.SUCCEEDED, f"{s.alias} serves {s.candidate}")
    return _enter(s, s.step_index + 1, now)


def _write(s: RolloutState, target: Traffic) -> Result:
    """Record the intent and ask for the write, carrying the revision we last saw."""
    action = SetTraffic(s.function, s.alias, target, s.revision_id)
    return dataclasses.replace(s, intent=Intent(target, s.revision_id)), (action,)


def _pause(s: RolloutState, reason: str) -> Result:
    s = dataclasses.replace(s, phase=Phase.PAUSED, reason=reason)
    return s, (Notify("paused", {"step": s.step_index, "reason": reason}), AwaitGate(s.step_index))


def _finish(s: RolloutState, phase: Phase, reason: str) -> Result:
    s = dataclasses.replace(s, phase=phase, reason=reason, intent=None, wait_until=None)
    details = {"traffic": str(s.traffic), "reason": reason}
    return s, (Notify(phase.value, details), Finish(phase))


def _rollback(s: RolloutState, reason: str) -> Result:
    """All traffic back to the stable version (no write if it already has it all)."""
    s = dataclasses.replace(s, wait_until=None, reason=reason)
    if s.traffic == Traffic(s.stable):
        return _finish(s, _back(s), reason)
    s, actions = _write(dataclasses.replace(s, phase=Phase.ROLLING_BACK), Traffic(s.stable))
    if s.interrupted:  # one line for an interrupt, when it is done: the `interrupted` notice
        return s, actions
    return s, (Notify("rolling_back", {"reason": reason}), *actions)


def _back(s: RolloutState) -> Phase:
    """The phase a rollout ends in once the stable version serves alone again."""
    return Phase.INTERRUPTED if s.interrupted else Phase.ROLLED_BACK


def _interrupted_reason(s: RolloutState) -> str:
    return f"interrupted ({s.interrupted}): {s.alias} back on version {s.stable}"


def _drift(s: RolloutState, observed: Traffic | None, detail: str) -> Result:
    """Someone else owns the alias now: stop, explain, never overwrite."""
    seen = f"; it now serves {observed}" if observed is not None else ""
    reason = (
        f"drift: {s.function}:{s.alias} was changed outside this rollout{seen} ({detail}); "
        "left as it is: inspect it, then start a new rollout"
    )
    s = dataclasses.replace(s, phase=Phase.FAILED, reason=reason, intent=None, wait_until=None)
    details = {"reason": reason, "observed": str(observed) if observed else None}
    return s, (Notify("drift", details), Notify("failed", details), Finish(Phase.FAILED))


# --- handlers, one per event ---------------------------------------------------------------


def _on_start(s: RolloutState, e: Start) -> Result:
    if s.phase is not Phase.PENDING:
        raise InvalidEvent(f"rollout {s.rollout_id} has already started (phase {s.phase.value})")
    s = dataclasses.replace(s, started_at=e.now, revision_id=e.revision_id)
    if e.traffic == Traffic(s.candidate):
        s = dataclasses.replace(s, traffic=e.traffic, step_index=len(s.steps) - 1)
        return _finish(s, Phase.SUCCEEDED, f"{s.alias} already serves {s.candidate}")
    if e.traffic != Traffic(s.stable):
        return _drift(s, e.traffic, f"expected version {s.stable} alone at the start")
    s = dataclasses.replace(s, phase=Phase.PROGRESSING)
    started = Notify(
        "started", {"stable": s.stable, "candidate": s.candidate, "steps": len(s.steps)}
    )
    s, actions = _enter(s, 0, e.now)
    return s, (started, *actions)


def _on_written(s: RolloutState, e: AliasWritten) -> Result:
    if s.intent is None:
        raise InvalidEvent("AliasWritten but no alias write is pending")
    if e.traffic != s.intent.traffic:
        raise InvalidEvent(
            f"AliasWritten with {e.traffic}, but the pending write is {s.intent.traffic}"
        )
    s = dataclasses.replace(s, traffic=e.traffic, revision_id=e.revision_id, intent=None)
    if s.phase is Phase.ROLLING_BACK:
        return _finish(s, _back(s), s.reason or "rolled back")
    if s.interrupted:  # a forward write that landed after the signal: undo it
        return _rollback(s, _interrupted_reason(s))
    if s.phase is Phase.PROMOTING and s.step_index == len(s.steps) - 1:
        return _finish(s, Phase.SUCCEEDED, f"{s.alias} serves {s.candidate}")
    shifted = Notify("traffic", {"traffic": str(s.traffic), "step": s.step_index})
    s, actions = _advance(s, e.now)
    return s, (shifted, *actions)


def _on_write_failed(s: RolloutState, e: AliasWriteFailed) -> Result:
    if s.intent is None:
        raise InvalidEvent("AliasWriteFailed but no alias write is pending")
    if e.kind is WriteFailure.REVISION_MISMATCH:
        return _drift(s, None, f"RevisionId {s.revision_id} is no longer current: {e.message}")
    # AWS refused the write, so the alias still serves s.traffic, which this rollout owns.
    s = dataclasses.replace(s, intent=None)
    if s.phase is Phase.ROLLING_BACK:
        reason = (
            f"the rollback write failed ({e.message}); {s.alias} still serves {s.traffic}: "
            "retry with `lambdashift rollback`"
        )
        s = dataclasses.replace(s, reason=reason)
        return s, (Notify("write_failed", {"reason": reason}),)
    if s.interrupted:  # the forward write was not sent (or refused) after the signal
        return _rollback(s, _interrupted_reason(s))
    if e.kind is WriteFailure.WITHHELD:  # its group rolls back: a rollback, not a failure
        return _rollback(s, e.message)
    if s.traffic == Traffic(s.stable):
        reason = f"could not write the alias ({e.message}); it still serves {s.stable}"
        return _finish(s, Phase.FAILED, reason)
    return _rollback(s, f"could not write the alias: {e.message}")


def _on_tick(s: RolloutState, e: Tick) -> Result:
    if s.phase is not Phase.PROGRESSING or s.wait_until is None or e.now < s.wait_until:
        return s, ()
    if isinstance(s.step, AnalysisStep):  # the wait after a "continue" verdict is over
        return dataclasses.replace(s, wait_until=None), (RunAnalysis(s.step_index, s.step),)
    return _advance(s, e.now)


def _on_invocations(s: RolloutState, e: InvocationsObserved) -> Result:
    if s.phase is not Phase.PROGRESSING or not isinstance(s.step, InvocationPause):
        return s, ()
    if e.count >= s.step.invocations:
        return _advance(s, e.now)
    if e.count <= s.invocations_seen:
        return s, ()
    return dataclasses.replace(s, invocations_seen=e.count), ()


def _on_gate(s: RolloutState, e: GatePassed) -> Result:
    if s.phase is not Phase.PAUSED:
        raise InvalidEvent(
            f"rollout {s.rollout_id} is not waiting at a gate (phase {s.phase.value})"
        )
    return _advance(s, e.now)


def _on_promote(s: RolloutState, e: PromoteRequested) -> Result:
    if s.phase is Phase.PENDING:
        raise InvalidEvent(f"rollout {s.rollout_id} has not started: nothing to promote yet")
    if s.phase is Phase.ROLLING_BACK:
        raise InvalidEvent(f"rollout {s.rollout_id} is rolling back: it cannot be promoted")
    s = dataclasses.replace(s, reason="")
    notice = Notify("promote_requested", {"from_step": s.step_index})
    full = promote_index(s.steps)
    assert full is not None  # check_steps guarantees the promotion step
    if s.step_index > full:  # already serving the candidate (a post-traffic step): done
        return _finish(s, Phase.SUCCEEDED, f"{s.alias} serves {s.candidate}")
    s, actions = _enter(s, full, e.now)
    return s, (notice, *actions)


def _on_rollback(s: RolloutState, e: RollbackRequested) -> Result:
    return _rollback(s, e.reason or "rollback requested")


def _on_check_failed(s: RolloutState, e: CheckFailed) -> Result:
    if s.phase is Phase.ROLLING_BACK:
        return s, ()  # already on the way back
    return _rollback(s, f"check failed: {e.reason}")


def _on_verdict(s: RolloutState, e: VerdictReceived) -> Result:
    step = s.step
    running = s.phase is Phase.PROGRESSING and isinstance(step, AnalysisStep)
    if not running or s.wait_until is not None:
        return s, ()  # no analysis is running: a stale answer
    record = VerdictRecord(s.step_index, e.verdict, tuple(e.reasons), e.now)
    kept = s.verdicts
    if (e.verdict is Verdict.CONTINUE and kept and kept[-1].step == s.step_index
            and kept[-1].verdict is Verdict.CONTINUE):
        # Looks come every second on the local stack: the state keeps the newest "continue"
        # of a step (history has every look), so that it stays small however long it waits.
        kept = kept[:-1]
    s = dataclasses.replace(s, verdicts=(*kept, record), measurement_errors=0)
    reasons = "; ".join(e.reasons) or "no reason given"
    if e.verdict is Verdict.PROMOTE:
        return _advance(s, e.now)
    if e.verdict is Verdict.ROLLBACK:
        return _rollback(s, f"analysis: {reasons}")
    if e.verdict is Verdict.CONTINUE:
        until = _next_look(s, step, e)
        return dataclasses.replace(s, wait_until=until), (Wait(until),)
    return _pause(s, f"analysis inconclusive: {reasons}; promote or roll back")


def _on_measurement_failed(s: RolloutState, e: MeasurementFailed) -> Result:
    """An unreadable metric: look again after a backoff (the step's ``interval`` or 5 s,
    doubled per error in a row, at most a minute); the ``consecutive_error_limit``-th error
    in a row rolls back, saying why. Not a verdict: nothing is recorded as one."""
    step = s.step
    running = s.phase is Phase.PROGRESSING and isinstance(step, AnalysisStep)
    if not running or s.wait_until is not None:
        return s, ()  # no analysis is running: a stale answer
    assert isinstance(step, AnalysisStep)
    limit = step.policy.consecutive_error_limit if step.policy is not None \
        else DEFAULT_ERROR_LIMIT
    count = s.measurement_errors + 1
    s = dataclasses.replace(s, measurement_errors=count)
    if count >= limit:
        return _rollback(s, f"analysis: {count} measurement errors in a row (limit {limit}), "
                            f"the last: {e.reason}")
    base = step.interval if step.interval is not None else ERROR_BACKOFF_SECONDS
    delay = min(base * 2 ** (count - 1), max(ERROR_BACKOFF_MAX, base))
    notice = Notify("measurement_error", {"count": count, "limit": limit, "reason": e.reason,
                                          "retry_in": delay})
    until = e.now + delay
    return dataclasses.replace(s, wait_until=until), (notice, Wait(until))


def _next_look(s: RolloutState, step: AnalysisStep, e: VerdictReceived) -> float:
    """When to look again after a *continue*: the step's own ``interval`` from now, else when
    the metrics source can have new data (``next_look``), else a minute; but not past the
    step's ``promote_after``, so that the time-boxed point promotes on time, not up to an
    interval late."""
    now = e.now
    if step.interval is not None:
        until = now + step.interval
    elif e.next_look is not None and e.next_look > now:
        until = e.next_look
    else:
        until = now + DEFAULT_LOOK_SECONDS
    after = step.policy.promote_after_s if step.policy is not None else None
    if after is None or s.step_started_at is None:
        return until
    deadline = s.step_started_at + after
    return deadline if now < deadline < until else until


def _on_interrupted(s: RolloutState, e: Interrupted) -> Result:
    """No more steps; the stable version back. See the module docstring."""
    if s.interrupted or s.phase is Phase.ROLLING_BACK:
        return s, ()  # already on the way back (this signal's, or the rollout's own)
    s = dataclasses.replace(s, interrupted=e.signal)
    if s.phase is Phase.PENDING:  # nothing was written: the alias serves what it served
        return _finish(s, Phase.INTERRUPTED,
                       f"interrupted ({e.signal}) before the first step: {s.alias} unchanged")
    if s.intent is not None:
        return s, ()  # the write's outcome (or a resume) leads back: _on_written, _on_write_failed
    return _rollback(s, _interrupted_reason(s))


def _on_resumed(s: RolloutState, e: Resumed) -> Result:
    if s.phase is Phase.PENDING:
        return _on_start(s, Start(e.traffic, e.revision_id, now=e.now))
    if s.intent is not None:
        if e.traffic == s.intent.traffic:  # the write happened before the crash
            return _on_written(s, AliasWritten(e.revision_id, e.traffic, now=e.now))
        if e.traffic == s.traffic and e.revision_id == s.revision_id:  # it never happened
            if s.interrupted and s.phase is not Phase.ROLLING_BACK:  # and it must not now
                return _rollback(dataclasses.replace(s, intent=None), _interrupted_reason(s))
            return s, (SetTraffic(s.function, s.alias, s.intent.traffic, s.revision_id),)
        detail = f"neither the pending write nor the traffic before it, revision {e.revision_id}"
        return _drift(s, e.traffic, detail)
    if e.traffic != s.traffic or e.revision_id != s.revision_id:
        detail = f"expected {s.traffic} at revision {s.revision_id}, found {e.revision_id}"
        return _drift(s, e.traffic, detail)
    return _redo(s, e.now)


def _redo(s: RolloutState, now: float) -> Result:
    """The actions that continue where the rollout stood, nothing being in flight."""
    step = s.step
    if s.phase is Phase.ROLLING_BACK:
        return _rollback(s, s.reason)
    if s.interrupted:  # only a hand-made state: an interrupt without a write goes straight back
        return _rollback(s, _interrupted_reason(s))
    if s.phase is Phase.PAUSED:
        return s, (AwaitGate(s.step_index),)
    if s.wait_until is not None:
        return s, (Wait(s.wait_until),)
    if isinstance(step, InvocationPause):
        since = s.step_started_at if s.step_started_at is not None else now
        return s, (WaitForInvocations(step.invocations, since=since),)
    if isinstance(step, AnalysisStep):
        return s, (RunAnalysis(s.step_index, step),)
    # A weight step with nothing in flight (only a hand-made state has one): enter it again.
    return _enter(s, s.step_index, now)


_HANDLERS: dict[type, Callable[[RolloutState, Event], Result]] = {
    Start: _on_start,
    AliasWritten: _on_written,
    AliasWriteFailed: _on_write_failed,
    Tick: _on_tick,
    InvocationsObserved: _on_invocations,
    GatePassed: _on_gate,
    PromoteRequested: _on_promote,
    RollbackRequested: _on_rollback,
    CheckFailed: _on_check_failed,
    VerdictReceived: _on_verdict,
    MeasurementFailed: _on_measurement_failed,
    Resumed: _on_resumed,
    Interrupted: _on_interrupted,
}


# --- dry run -------------------------------------------------------------------------------


def plan(state: RolloutState, *, now: float | None = None) -> list[Action]:
    """What the rollout would do from here if every step passed, for ``--dry-run``.

    Drives the machine itself with made-up successes (each write lands, each wait ends,
    each analysis says promote, each gate is passed), so the plan cannot disagree with
    the real run. ``Notify`` actions are left out; ``SetTraffic`` ones are the alias changes.
    """
    t = now if now is not None else (state.updated_at or 0.0)
    s, actions = transition(state, Resumed(state.traffic, state.revision_id or "(current)", now=t))
    out: list[Action] = []
    for count in range(1, 4 * len(state.steps) + 8):  # bound: each step takes ≤ 3 rounds
        out.extend(a for a in actions if not isinstance(a, Notify))
        driver = next((a for a in actions if not isinstance(a, Notify)), None)
        if driver is None or isinstance(driver, Finish):
            return out
        if isinstance(driver, SetTraffic):
            event: Event = AliasWritten(f"(planned {count})", driver.traffic, now=t)
        elif isinstance(driver, Wait):
            t = max(t, driver.until)
            event = Tick(now=t)
        elif isinstance(driver, WaitForInvocations):
            event = InvocationsObserved(driver.invocations, now=t)
        elif isinstance(driver, RunAnalysis):
            event = VerdictReceived(Verdict.PROMOTE, ("planned",), now=t)
        else:
            event = GatePassed(now=t)
        s, actions = transition(s, event)
    raise AssertionError("plan did not finish: the machine loops")  # pragma: no cover
