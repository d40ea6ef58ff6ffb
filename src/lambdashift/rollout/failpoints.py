"""Failpoints: named places where a test can make the process die as ``kill -9`` would.

``LAMBDASHIFT_FAILPOINTS="after_alias_write:2"`` makes the second pass through
``failpoint("after_alias_write")`` SIGKILL the process. The crash-matrix test walks every
point and occurrence; in normal use the variable is unset and a failpoint costs one dict
lookup. ``LAMBDASHIFT_FAILPOINT_CENSUS=FILE`` writes, at exit, how often each point was
passed (JSON), so the test knows every place it can crash. Points: ``after_save`` (state persisted), ``before_alias_write`` (intent on disk,
write not sent), ``after_alias_write`` (alias written, outcome not yet persisted).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
from collections import Counter

_counts: Counter[str] = Counter()


def _armed() -> dict[str, int]:
    spec = os.environ.get("LAMBDASHIFT_FAILPOINTS", "")
    armed = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, nth = item.partition(":")
        armed[name] = int(nth or 1)
    return armed


_ARMED = _armed()
_CENSUS = os.environ.get("LAMBDASHIFT_FAILPOINT_CENSUS", "")


def _write_census() -> None:
    with open(_CENSUS, "w") as out:
        json.dump(dict(_counts), out)


if _CENSUS:
    atexit.register(_write_census)


def failpoint(name: str) -> None:
    """Die here (SIGKILL, no clean-up) if the environment armed this point for this pass."""
    if not _ARMED and not _CENSUS:
        return
    _counts[name] += 1
    if _ARMED.get(name) == _counts[name]:
        os.kill(os.getpid(), signal.SIGKILL)


def passes() -> dict[str, int]:
    """How often each failpoint was passed in this process (the crash test's census)."""
    return dict(_counts)
