"""Where rollouts keep their state, their step log, their per-function lock and their signals.

A rollout survives a crash because the engine saves its *intent* before every alias write
and the *outcome* after it: whichever process resumes it finds the last thing it meant to
do. There is one rollout per function at a time because the engine holds the function's
*lease* while it runs: a lock that lapses unless renewed, so that a crashed process cannot
hold a function forever. Commands run in another terminal (``promote``, ``rollback``,
``approve``) reach the running rollout through *signals* queued in the same store.

``StateStore`` is the interface. ``SqliteStateStore`` (module ``sqlite_store``, importable
from here too) is the default: one file beside lambdashift.yaml. ``DynamoStateStore``
(module ``dynamodb_store``, ``state: {store: dynamodb}``) is the team store: one table that
every CI runner shares. Both word their lock errors with the ``describe_*`` helpers, and
both keep the *rate ledger* (``reserve_rate``, ``gcra``) through which every process on a
store shares one control-plane quota.

Times are seconds since the epoch read from the *store's* clock, never the engine's, so that
leases and signals written by different processes are compared on one clock.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lambdashift.core.state import RolloutState

if TYPE_CHECKING:
    from lambdashift.rollout.sqlite_store import SqliteStateStore

__all__ = [
    "Event",
    "Lease",
    "Signal",
    "SqliteStateStore",
    "StateStore",
    "describe_holder",
    "describe_lost",
    "describe_takeover",
    "gcra",
    "owner_id",
]


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


def gcra(tat: float | None, now: float, rate: float, burst: int) -> tuple[float, float]:
    """One reservation of the generic cell rate algorithm: ``(wait, new tat)``.

    ``tat`` (theoretical arrival time) is when the quota would be back to a full burst;
    each call moves it ``1/rate`` later. A call may go ``(burst - 1) / rate`` before it,
    so up to ``burst`` calls go at once and then one every ``1/rate``: the same bound as
    ``aws.throttle.RateLimiter``, kept as one number a store can update atomically.
    """
    if not rate > 0 or burst < 1:
        raise ValueError(f"a quota needs rate > 0 and burst >= 1, got {rate!r}, {burst!r}")
    start = now if tat is None else max(tat, now)
    allowed_at = start - (burst - 1) / rate
    return max(0.0, allowed_at - now), start + 1.0 / rate


def owner_id() -> str:
    """``user@host pid N``: who holds a lease, in words a person can act on.

    ``LAMBDASHIFT_OWNER`` replaces it (a CI runner's name, say): such an owner is never
    taken for a dead process of this host, so its lock is freed by its lease expiring only.
    """
    if os.environ.get("LAMBDASHIFT_OWNER"):
        return f"{os.environ['LAMBDASHIFT_OWNER']} pid {os.getpid()}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError, ImportError):  # no login name anywhere (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


# --- wording of lock errors, shared by every backend ---------------------------------------


def _clock_time(at: float, now: float) -> str:
    """Local wall-clock time, with the date only when it is not today's."""
    moment = time.localtime(at)
    if time.strftime("%Y-%m-%d", moment) == time.strftime("%Y-%m-%d", time.localtime(now)):
        return time.strftime("%H:%M:%S", moment)
    return time.strftime("%Y-%m-%d %H:%M:%S", moment)


def _span(seconds: float) -> str:
    """``45 s``, ``2 min``, ``1 h 5 min``, ``3 d 2 h``: as precise as a person needs."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min"
    if total < 86400:
        hours, minutes = divmod(total // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(total // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def describe_holder(held: Lease, now: float) -> str:
    """The ``LockedError`` message for someone who wants the lock ``held`` is on."""
    return (
        f"{held.function} is being rolled out by {held.owner} "
        f"since {_clock_time(held.acquired_at, now)} ({_span(now - held.acquired_at)} ago); "
        f"its lease expires in {_span(held.expires_at - now)} unless renewed — steer it with "
        "`lambdashift promote|approve|rollback`, or, if its process is gone, "
        "`lambdashift resume`"
    )


def describe_takeover(lease: Lease) -> str:
    """What a taken-over lease replaced, for the log: ``""`` if it replaced nothing."""
    old = lease.taken_over_from
    if old is None:
        return ""
    now = lease.acquired_at
    return (
        f"took over the lock of {lease.function} from {old.owner}, which held it since "
        f"{_clock_time(old.acquired_at, now)} and whose lease expired "
        f"{_span(now - old.expires_at)} ago; its rollout is left to resume"
    )


def describe_lost(lease: Lease, current: Lease | None, now: float) -> str:
    """The ``LockedError`` message for renewing a lease that is no longer held."""
    if current is None:
        return (
            f"{lease.owner} no longer holds the lock of {lease.function}: "
            "its lease was released"
        )
    return (
        f"{lease.owner} no longer holds the lock of {lease.function}: {current.owner} took "
        f"it over at {_clock_time(current.acquired_at, now)} "
        f"({_span(now - current.acquired_at)} ago) after the lease expired "
        f"at {_clock_time(lease.expires_at, now)}"
    )


def __getattr__(name: str) -> Any:
    # Lazy, so that importing sqlite_store first does not meet a half-initialised cycle.
    if name == "SqliteStateStore":
        from lambdashift.rollout.sqlite_store import SqliteStateStore

        return SqliteStateStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
