"""Who holds a function's rollout lock, taking it, and the words a user reads about it.

A lease normally frees a dead holder's lock when it expires. When the holder ran on this
host and its process is gone, waiting out the lease helps no one: ``resume`` right after a
``kill -9`` should proceed. Release and acquire are each atomic in the store, so when two
processes break the same dead lock at once, exactly one of them gets it.

Every backend words its ``LockedError`` with the ``describe_*`` helpers here, so a user reads
the same sentence whichever store holds the lock.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import socket
import time
from typing import Any

from lambdashift.errors import LockedError
from lambdashift.store.protocol import Lease

__all__ = ["acquire", "describe_holder", "describe_lost", "describe_takeover", "holder_is_dead",
           "owner_id"]


# --- who holds a lock, and taking one ------------------------------------------------------


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


_OWNER = re.compile(r"^(?P<user>[^@]*)@(?P<host>\S+) pid (?P<pid>\d+)$")


def holder_is_dead(owner: str) -> bool:
    """True when ``owner`` (``user@host pid N``) names a process of this host that is gone."""
    match = _OWNER.match(owner)
    if match is None or match["host"] != socket.gethostname():
        return False
    pid = int(match["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie has exited: only its parent has not reaped it yet
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


def acquire(store: Any, function: str, owner: str, lease_seconds: float) -> Any:
    """The function's lease, breaking the lock of a holder that died on this host.

    A lease got by breaking a dead holder's lock names it in ``taken_over_from``, as one got
    after the holder's lease expired does: whoever takes over an orphan (the controller's
    ``taken`` event) can say whose rollout it was, ``kill -9`` or not."""
    try:
        return store.acquire(function, owner, lease_seconds)
    except LockedError:
        held = store.holder(function)
        if held is None or not holder_is_dead(held.owner):
            raise
        store.release(held)
        return dataclasses.replace(store.acquire(function, owner, lease_seconds),
                                   taken_over_from=held)


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
    gone = (f"whose lease expired {_span(now - old.expires_at)} ago" if old.expires_at <= now
            else "whose process on this host is gone")
    return (
        f"took over the lock of {lease.function} from {old.owner}, which held it since "
        f"{_clock_time(old.acquired_at, now)} and {gone}; its rollout is left to resume"
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
