"""What both backends write and read the same way: strict JSON, rollout documents, leases.

Written once so that a value one backend refuses is refused by the other too, and a
document one wrote is read back by the other with the same error when it cannot be.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambdashift.core.state import RolloutState
from lambdashift.errors import LambdashiftError

__all__ = ["check_lease_seconds", "read_state", "strict_json"]


def strict_json(data: Mapping[str, Any]) -> str:
    """Compact, strict JSON: TypeError for what JSON cannot hold, ValueError for NaN/infinity.

    Strict because ``--json`` output must parse anywhere, and a DynamoDB store cannot hold
    NaN either: a value the next backend would refuse is refused here too.
    """
    return json.dumps(dict(data), separators=(",", ":"), allow_nan=False)


def read_state(doc: str, where: str) -> RolloutState:
    """The rollout a saved document holds; ``LambdashiftError`` naming ``where`` (the store
    and, if known, the rollout) when this lambdashift cannot read it."""
    try:
        return RolloutState.from_dict(json.loads(doc))
    except (ValueError, KeyError, TypeError) as exc:
        raise LambdashiftError(
            f"{where} cannot be read ({exc}); it was saved by another lambdashift version"
        ) from exc


def check_lease_seconds(lease_seconds: float) -> None:
    """ValueError unless a lease would last a positive number of seconds."""
    if not lease_seconds > 0:
        raise ValueError(f"a lease lasts a positive number of seconds, got {lease_seconds!r}")
