"""Taking a function's rollout lock, and breaking one whose holder died on this machine.

A lease normally frees a dead holder's lock when it expires. When the holder ran on this
host and its process is gone, waiting out the lease helps no one: ``resume`` right after a
``kill -9`` should proceed. Release and acquire are each atomic in the store, so when two
processes break the same dead lock at once, exactly one of them gets it.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any

from lambdashift.errors import LockedError

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
    """The function's lease, breaking the lock of a holder that died on this host."""
    try:
        return store.acquire(function, owner, lease_seconds)
    except LockedError:
        held = store.holder(function)
        if held is None or not holder_is_dead(held.owner):
            raise
        store.release(held)
        return store.acquire(function, owner, lease_seconds)
