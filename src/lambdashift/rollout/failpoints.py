"""Failpoints: named places where a test can make the process die as ``kill -9`` would.

``LAMBDASHIFT_FAILPOINTS="after_alias_write:2"`` makes the second pass through
``failpoint("after_alias_write")`` SIGKILL the process. The crash-matrix test walks every
point and occurrence; in normal use the variable is unset and a failpoint costs one dict
lookup. ``LAMBDASHIFT_FAILPOINT_CENSUS=FILE`` writes how often each point was passed (JSON), at
every pass and at exit, so the test knows every place it can crash (at every pass: an
emulator's worker process, the controller's, is only ever ended by SIGKILL, so ``atexit``
never runs there). Points: ``after_save`` (state persisted), ``before_alias_write`` (intent on disk,
write not sent), ``after_alias_write`` (alias written, outcome not yet persisted),
``before_write_back`` (a write back to the stable version: a rollback's or an interrupt's).

``name:nth:sleep=SECONDS`` pauses that pass instead of killing: a slow write, so that a test
can send a second signal during an interrupt's write-back.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import threading
import time
from collections import Counter

_counts: Counter[str] = Counter()


def _armed() -> dict[str, tuple[int, float | None]]:
    """name → (the pass that trips it, seconds to sleep there, or None: SIGKILL)."""
    spec = os.environ.get("LAMBDASHIFT_FAILPOINTS", "")
    armed = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, rest = item.partition(":")
        nth, _, how = rest.partition(":")
        pause = float(how.removeprefix("sleep=")) if how.startswith("sleep=") else None
        armed[name] = (int(nth or 1), pause)
    return armed


_ARMED = _armed()
_CENSUS = os.environ.get("LAMBDASHIFT_FAILPOINT_CENSUS", "")


_census_lock = threading.Lock()


def _write_census() -> None:
    # Whole or not at all (a reader may look while the process runs; threads pass points).
    with _census_lock:
        with open(f"{_CENSUS}.tmp", "w") as out:
            json.dump(dict(_counts), out)
        os.replace(f"{_CENSUS}.tmp", _CENSUS)


if _CENSUS:
    atexit.register(_write_census)


def failpoint(name: str) -> None:
    """Die here (SIGKILL, no clean-up) if the environment armed this point for this pass."""
    if not _ARMED and not _CENSUS:
        return
    _counts[name] += 1
    if _CENSUS:
        _write_census()
    nth, pause = _ARMED.get(name, (0, None))
    if nth == _counts[name]:
        if pause is not None:
            time.sleep(pause)
            return
        os.kill(os.getpid(), signal.SIGKILL)


def passes() -> dict[str, int]:
    """How often each failpoint was passed in this process (the crash test's census)."""
    return dict(_counts)
