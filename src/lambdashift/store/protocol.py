"""The state store's contract (``StateStore``) and the values it keeps and returns.

``StateStore`` is what the engine and the CLI need from a store; ``sqlite.SqliteStateStore``
and ``dynamodb.DynamoStateStore`` honour it. Both word their lock errors with
``locks.describe_*`` and keep the rate ledger (``reserve_rate``, ``ledger.gcra``). See the
package's docstring for why the store exists and whose clock it reads.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from lambdashift.core.state import RolloutState

__all__ = ["Event", "Lease", "Signal", "StateStore"]


@dataclass(frozen=True)
class Lease:
    """The right to run the rollout of ``function`` until ``expires_at``, unless renewed.

    ``owner`` and ``acquired_at`` identify one acquisition: renewing or releasing needs both.
    ``taken_over_from`` is the expired lease this one replaced (its holder most likely
    crashed, leaving a rollout to resume), or None.
    """

    function: str
    owner: str
    acquired_at: float
    expires_at: float
    taken_over_from: Lease | None = None


def _frozen_details(details: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(details or {}))


@dataclass(frozen=True)
class Event:
    """One line of a rollout's step log, as ``lambdashift history`` prints it.

    Not to be confused with the state machine's events (``core.state``): this is a record
    of what happened (a step begun, traffic written, a verdict and its reasons, a gate
    passed, the outcome), with the store's time.
    """

    at: float
    kind: str
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _frozen_details(self.details))


@dataclass(frozen=True)
class Signal:
    """A request from another process to the running rollout of ``function``.

    ``kind`` is the command (``promote``, ``rollback``, ``approve``); the store does not
    interpret it.
    """

    function: str
    kind: str
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)
    sent_at: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _frozen_details(self.details))


@runtime_checkable
class StateStore(Protocol):
    """What the engine and the CLI need from a store; the contract every backend honours.

    Everything is scoped to the store's ``namespace`` (a target such as ``local`` or
    ``aws:us-east-1``): two namespaces sharing one backend never see each other's data.
    """

    namespace: str
    #: True when processes of other machines read it too (DynamoDB): only then is a release's
    #: record stored for another driver (``rollout.release_record``).
    shared: bool

    def save(self, state: RolloutState) -> None:
        """Insert or replace the rollout's latest state; durable (on disk) when it returns.

        The first save of a rollout marks its start: signals sent before it are discarded.
        """
        ...

    def load(self, rollout_id: str) -> RolloutState | None:
        """The latest saved state of a rollout, or None if it was never saved."""
        ...

    def active(self, function: str | None = None) -> list[RolloutState]:
        """Rollouts not in a terminal phase (of ``function``, or all), newest first."""
        ...

    def latest(self, function: str) -> RolloutState | None:
        """The most recently started rollout of ``function``, whatever its phase."""
        ...

    def history(self, function: str, limit: int = 20) -> list[RolloutState]:
        """Up to ``limit`` rollouts of ``function``, newest (most recently started) first."""
        ...

    def record_event(
        self, rollout_id: str, function: str, kind: str, details: Mapping[str, Any]
    ) -> None:
        """Append a line to the rollout's step log.

        ``details`` must be strict JSON (no NaN or infinity): TypeError or ValueError if not,
        and nothing is written.
        """
        ...

    def events(self, rollout_id: str) -> list[Event]:
        """The rollout's step log, oldest first."""
        ...

    def acquire(self, function: str, owner: str, lease_seconds: float = 60) -> Lease:
        """Take the function's lock for ``lease_seconds``, atomically.

        Raises ``LockedError`` (worded by ``describe_holder``) while anyone, ``owner``
        included, holds an unexpired lease: renewing is ``renew``'s job. An expired lease is
        taken over, and the new lease says from whom (``taken_over_from``).
        """
        ...

    def renew(self, lease: Lease, lease_seconds: float = 60) -> Lease:
        """Extend ``lease`` to ``lease_seconds`` from now.

        Raises ``LockedError`` if it is no longer held: released, or expired and taken over.
        A lease that expired but that nobody took over is still renewed.
        """
        ...

    def release(self, lease: Lease) -> None:
        """Give the lock back; does nothing if ``lease`` is no longer the one held."""
        ...

    def holder(self, function: str) -> Lease | None:
        """The unexpired lease on ``function``, or None if nobody holds it."""
        ...

    def send_signal(
        self, function: str, kind: str, details: Mapping[str, Any] | None = None
    ) -> Signal:
        """Queue a request for the rollout of ``function`` run by whichever process."""
        ...

    def take_signals(self, function: str) -> list[Signal]:
        """Consume the function's queued signals, oldest first; each is returned once only.

        Signals sent before the start of the function's newest active rollout were meant
        for an earlier one: they are discarded, as are all signals when no rollout of the
        function is active. A signal sent to a rollout whose process crashed is therefore
        kept for ``lambdashift resume``.
        """
        ...

    def reserve_rate(self, key: str, rate: float, burst: int) -> float:
        """Reserve one call under the quota ``key`` (``rate`` per second, bursts of ``burst``)
        shared by every process using this store; returns the seconds to wait before it.

        Atomic: concurrent reservations from any process get distinct slots, so all of them
        together stay within ``burst + rate * t`` calls over any ``t`` seconds.
        """
        ...

    def close(self) -> None:
        """Release the backend's resources; the store is unusable afterwards."""
        ...
