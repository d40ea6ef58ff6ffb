"""The rollout machine's data: its state, the events it accepts, the actions it asks for.

All frozen and plain; ``RolloutState`` round-trips through JSON-safe dicts for the store.
Times are seconds (floats) given by the caller, never read from a clock here.
The behaviour lives in ``core.machine``; import these names from there.
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from lambdashift.core.judge_policy import JudgePolicy
from lambdashift.errors import RolloutError
from lambdashift.model import (
    AnalysisStep,
    Phase,
    Step,
    Traffic,
    Verdict,
    check_steps,
    check_version,
    step_from_dict,
    step_to_dict,
)

SCHEMA = 1
"""Version of ``RolloutState.to_dict``'s layout, stored with it."""


class InvalidEvent(RolloutError):
    """An event that the rollout cannot accept in its current state; nothing was changed."""


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """An alias write asked for but not yet known to have happened (or not)."""

    traffic: Traffic
    expected_revision: str | None


@dataclass(frozen=True)
class VerdictRecord:
    """One verdict the rollout received, kept for the status and the post-mortem."""

    step: int
    verdict: Verdict
    reasons: tuple[str, ...]
    at: float


@dataclass(frozen=True)
class RolloutState:
    """Everything a rollout needs to go on after a crash; build one with ``RolloutState.new``.

    ``traffic`` is the last traffic this rollout knows the alias to serve (always the stable
    version alone, the candidate alone, or stable + candidate); ``revision_id`` the alias's
    RevisionId that goes with it; ``intent`` a write in flight. ``wait_until`` is set while a
    timed pause (or the wait between two analyses) runs. ``reason`` explains the phase.
    """

    rollout_id: str
    function: str
    alias: str
    stable: str
    candidate: str
    steps: tuple[Step, ...]
    phase: Phase = Phase.PENDING
    step_index: int = 0
    traffic: Traffic | None = None  # None means "the stable version alone"
    revision_id: str | None = None
    intent: Intent | None = None
    started_at: float | None = None
    updated_at: float | None = None
    step_started_at: float | None = None
    wait_until: float | None = None
    invocations_seen: int = 0
    verdicts: tuple[VerdictRecord, ...] = ()
    reason: str = ""
    #: The signal (``SIGINT``, ``SIGTERM``) that interrupted the process driving the rollout;
    #: "" when none did. Once set, every way out of the rollout leads back to the stable version.
    interrupted: str = ""
    #: Measurement errors in a row on the current analysis step (metrics unreadable); a
    #: verdict or a new step sets it back to 0.
    measurement_errors: int = 0
    #: The release that started the rollout: its record (``release:ID`` in the store) holds
    #: the config it runs with, so any process (the controller) can drive it; "" for none.
    release: str = ""

    def __post_init__(self) -> None:
        check_version(self.stable)
        check_version(self.candidate)
        if self.stable == self.candidate:
            raise ValueError(f"stable and candidate are both version {self.stable}")
        object.__setattr__(self, "steps", tuple(self.steps))
        check_steps(self.steps)
        if not 0 <= self.step_index < len(self.steps):
            raise ValueError(f"step_index {self.step_index} outside 0..{len(self.steps) - 1}")
        if self.traffic is None:
            object.__setattr__(self, "traffic", Traffic(self.stable))
        # The invariant the whole design leans on: a rollout only ever knows (and writes)
        # the stable version alone, the candidate alone, or the stable split with the candidate.
        self._check_owned("traffic", self.traffic)  # type: ignore[arg-type]
        if self.intent is not None:
            self._check_owned("intent", self.intent.traffic)

    def _check_owned(self, name: str, t: Traffic) -> None:
        if t.canary is None and t.primary in (self.stable, self.candidate):
            return
        if t.primary == self.stable and t.canary == self.candidate:
            return
        raise ValueError(f"{name} {t} is not {self.stable}, {self.candidate} or a split of them")

    @classmethod
    def new(
        cls, rollout_id: str, function: str, alias: str, stable: str, candidate: str,
        steps: tuple[Step, ...], *, now: float | None = None, release: str = "",
    ) -> RolloutState:
        """A pending rollout; feed it ``Start`` with the alias as read."""
        return cls(rollout_id, function, alias, stable, candidate, tuple(steps), updated_at=now,
                   release=release)

    @property
    def step(self) -> Step:
        """The step the rollout is on."""
        return self.steps[self.step_index]

    def traffic_at(self, weight: float) -> Traffic:
        """The traffic giving the candidate ``weight`` (a fraction)."""
        if weight >= 1.0:
            return Traffic(self.candidate)
        return Traffic(self.stable, self.candidate, weight)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (lists, strings, numbers, None), the inverse of ``from_dict``."""
        return {
            "schema": SCHEMA,
            "rollout_id": self.rollout_id,
            "function": self.function,
            "alias": self.alias,
            "stable": self.stable,
            "candidate": self.candidate,
            "steps": [_step_to_dict(s) for s in self.steps],
            "phase": self.phase.value,
            "step_index": self.step_index,
            "traffic": self.traffic.to_dict(),  # type: ignore[union-attr]
            "revision_id": self.revision_id,
            "intent": None if self.intent is None else {
                "traffic": self.intent.traffic.to_dict(),
                "expected_revision": self.intent.expected_revision,
            },
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "step_started_at": self.step_started_at,
            "wait_until": self.wait_until,
            "invocations_seen": self.invocations_seen,
            "verdicts": [
                {"step": v.step, "verdict": v.verdict.value, "reasons": list(v.reasons), "at": v.at}
                for v in self.verdicts
            ],
            "reason": self.reason,
            "interrupted": self.interrupted,
            "measurement_errors": self.measurement_errors,
            "release": self.release,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutState:
        """Rebuild from ``to_dict``'s output; ValueError if it is from an unknown schema."""
        if data.get("schema") != SCHEMA:
            raise ValueError(
                f"unknown rollout state schema {data.get('schema')!r} (expected {SCHEMA})"
            )
        intent = data.get("intent")
        return cls(
            rollout_id=data["rollout_id"],
            function=data["function"],
            alias=data["alias"],
            stable=data["stable"],
            candidate=data["candidate"],
            steps=tuple(_step_from_dict(s) for s in data["steps"]),
            phase=Phase(data["phase"]),
            step_index=data["step_index"],
            traffic=Traffic.from_dict(data["traffic"]),
            revision_id=data.get("revision_id"),
            intent=None if intent is None else Intent(
                Traffic.from_dict(intent["traffic"]), intent.get("expected_revision")
            ),
            started_at=data.get("started_at"),
            updated_at=data.get("updated_at"),
            step_started_at=data.get("step_started_at"),
            wait_until=data.get("wait_until"),
            invocations_seen=data.get("invocations_seen", 0),
            verdicts=tuple(
                VerdictRecord(v["step"], Verdict(v["verdict"]), tuple(v["reasons"]), v["at"])
                for v in data.get("verdicts", ())
            ),
            reason=data.get("reason", ""),
            interrupted=data.get("interrupted", ""),
            measurement_errors=data.get("measurement_errors", 0),
            release=data.get("release", ""),
        )


# --- events: what happened (every one carries the caller's ``now``) ------------------------


class WriteFailure(enum.Enum):
    """Why an alias write failed."""

    REVISION_MISMATCH = "revision_mismatch"  # PreconditionFailedException: someone else wrote
    OTHER = "other"  # AWS refused the write for another reason; the alias is unchanged
    #: lambdashift withheld the write itself (its group rolls back together): nothing was sent.
    WITHHELD = "withheld"


@dataclass(frozen=True, kw_only=True)
class _Event:
    now: float


@dataclass(frozen=True)
class Start(_Event):
    """Begin the rollout; ``traffic`` and ``revision_id`` are the alias as just read."""

    traffic: Traffic
    revision_id: str


@dataclass(frozen=True)
class AliasWritten(_Event):
    """The pending write succeeded; the alias now has ``revision_id``."""

    revision_id: str
    traffic: Traffic


@dataclass(frozen=True)
class AliasWriteFailed(_Event):
    """The pending write was refused."""

    kind: WriteFailure
    message: str = ""


@dataclass(frozen=True)
class Tick(_Event):
    """Time passed: ends a timed pause once ``now`` reaches its deadline."""


@dataclass(frozen=True)
class InvocationsObserved(_Event):
    """The candidate served ``count`` invocations since the current pause began (a total)."""

    count: int


@dataclass(frozen=True)
class GatePassed(_Event):
    """A person passed the gate the rollout waits at (``lambdashift promote``)."""


@dataclass(frozen=True)
class PromoteRequested(_Event):
    """Skip the remaining steps: all traffic to the candidate now."""


@dataclass(frozen=True)
class RollbackRequested(_Event):
    """All traffic back to the stable version."""

    reason: str = ""


@dataclass(frozen=True)
class VerdictReceived(_Event):
    """The answer to ``RunAnalysis``; ``next_look`` is when the metrics source can next have
    new data (for a *continue* on a step without its own ``interval``)."""

    verdict: Verdict
    reasons: tuple[str, ...] = ()
    next_look: float | None = None


@dataclass(frozen=True)
class MeasurementFailed(_Event):
    """The answer to ``RunAnalysis`` when the metrics could not be read: an error, not a
    verdict on the candidate. The step looks again after a backoff; only a run of them (the
    policy's ``consecutive_error_limit``) ends the rollout, as argo's analysis does."""

    reason: str


@dataclass(frozen=True)
class CheckFailed(_Event):
    """A check (hook, alarm) failed outside an analysis step: roll back."""

    reason: str


@dataclass(frozen=True)
class Interrupted(_Event):
    """The process driving the rollout got ``signal`` (``SIGINT``, ``SIGTERM``): take no more
    steps, put the stable version back. Accepted while a write is pending (its outcome then
    leads back), since the signal does not wait for the write."""

    signal: str


@dataclass(frozen=True)
class Resumed(_Event):
    """After a restart: the alias as read now, to reconcile with the pending intent."""

    traffic: Traffic
    revision_id: str


Event = Union[
    Start, AliasWritten, AliasWriteFailed, Tick, InvocationsObserved, GatePassed,
    PromoteRequested, RollbackRequested, VerdictReceived, MeasurementFailed, CheckFailed,
    Resumed, Interrupted,
]


# --- actions: what the engine must do, as data ----------------------------------------------


@dataclass(frozen=True)
class SetTraffic:
    """UpdateAlias(function, alias, traffic) with RevisionId ``expected_revision``."""

    function: str
    alias: str
    traffic: Traffic
    expected_revision: str | None


@dataclass(frozen=True)
class Wait:
    """Send ``Tick`` at or after ``until``."""

    until: float


@dataclass(frozen=True)
class WaitForInvocations:
    """Count the candidate's invocations since ``since``; send ``InvocationsObserved``."""

    invocations: int
    since: float


@dataclass(frozen=True)
class RunAnalysis:
    """Evaluate ``step`` (alarms, judge); send ``VerdictReceived`` or ``CheckFailed``."""

    step_index: int
    step: AnalysisStep


@dataclass(frozen=True)
class AwaitGate:
    """Wait for a person: ``GatePassed``, ``PromoteRequested`` or ``RollbackRequested``."""

    step_index: int


@dataclass(frozen=True)
class Notify:
    """Tell the outside world (log, webhooks): ``event`` with JSON-safe ``details``."""

    event: str
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", types.MappingProxyType(dict(self.details)))


@dataclass(frozen=True)
class Finish:
    """The rollout ended in the terminal phase ``outcome``."""

    outcome: Phase


Action = Union[SetTraffic, Wait, WaitForInvocations, RunAnalysis, AwaitGate, Notify, Finish]


def _step_to_dict(step: Step) -> dict[str, Any]:
    """A step with its built values (an analysis step's judge policy), so that a stored
    rollout is complete without the config file that made it."""
    data = step_to_dict(step)
    if isinstance(step, AnalysisStep) and step.policy is not None:
        data["policy"] = step.policy.to_dict()
    return data


def _step_from_dict(data: Mapping[str, Any]) -> Step:
    step = step_from_dict(data)
    if isinstance(step, AnalysisStep) and data.get("policy") is not None:
        step = dataclasses.replace(step, policy=JudgePolicy.from_dict(data["policy"]))
    return step
