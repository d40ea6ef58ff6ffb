"""Plain values shared by every layer: no I/O here.

Names follow docs/concepts: a *function* has published *versions*; its *alias* carries
*traffic* (a primary version and optionally a canary version with a weight); a *rollout*
moves the alias from the *stable* version to the *candidate* in *steps*, going through
*phases*; the judge answers with a *verdict* and its reasons.
"""

from __future__ import annotations

import enum


class Verdict(enum.Enum):
    """The judge's answer about a candidate, always given with reasons."""

    PROMOTE = "promote"
    CONTINUE = "continue"
    ROLLBACK = "rollback"
    INCONCLUSIVE = "inconclusive"


class Phase(enum.Enum):
    """Where a rollout is in its life."""

    PENDING = "pending"
    PROGRESSING = "progressing"
    PAUSED = "paused"
    PROMOTING = "promoting"
    SUCCEEDED = "succeeded"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True once the rollout has ended and owns the alias no more."""
        return self in (Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.FAILED)
