"""Function states, as AWS reports them while it provisions a function or applies an update.

CreateFunction answers ``State: Pending`` ("The function is being created.", reason code
``Creating``); UpdateFunctionCode and UpdateFunctionConfiguration answer
``LastUpdateStatus: InProgress``. Only after a short delay (the emulator's ``state_delay``,
a few hundred milliseconds by default, 0 to turn it off) is the function ``Active`` and its
last update ``Successful``. Meanwhile AWS refuses what it refuses on a busy function, with
ResourceConflictException (409): a second update or a publish while an update is in
progress, and any update or invocation while the function is Pending. Code that waits
correctly (boto3's ``function_active_v2`` / ``function_updated_v2`` waiters, lambdashift's
``LambdaApi.wait_updated``) sees the same sequence here as on AWS.

The times are wall-clock (``time.time()``) so they survive in the store's documents.
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from lambdashift.emulator.errors import ResourceConflictException


class Settling(Protocol):
    """What the states are read from: a configuration's wall-clock settle times
    (``models.CodeConfig``; named by this protocol, not imported, so models imports us)."""

    @property
    def pending_until(self) -> float: ...

    @property
    def updating_until(self) -> float: ...


#: The default delay (seconds) before a created or updated function settles.
DEFAULT_STATE_DELAY = 0.3
#: The environment variable that sets the delay when ``--state-delay`` is not given.
STATE_DELAY_ENV = "LAMBDASHIFT_STATE_DELAY"

_BEING_CREATED = "The function is being created."


def default_state_delay() -> float:
    """``$LAMBDASHIFT_STATE_DELAY`` if set (seconds, 0 = off), else the default."""
    raw = os.environ.get(STATE_DELAY_ENV, "").strip()
    if not raw:
        return DEFAULT_STATE_DELAY
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{STATE_DELAY_ENV} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{STATE_DELAY_ENV} must be 0 or more, got {raw!r}")
    return value


def is_pending(config: Settling, now: float | None = None) -> bool:
    """True while the function is still being created."""
    return (time.time() if now is None else now) < config.pending_until


def is_updating(config: Settling, now: float | None = None) -> bool:
    """True while the last update of ``$LATEST`` is still in progress."""
    return (time.time() if now is None else now) < config.updating_until


def state_fields(config: Settling, now: float | None = None) -> dict[str, Any]:
    """The State / LastUpdateStatus members of a FunctionConfiguration, as of ``now``."""
    now = time.time() if now is None else now
    if is_pending(config, now):
        return {"State": "Pending", "StateReason": _BEING_CREATED, "StateReasonCode": "Creating"}
    if is_updating(config, now):
        return {"State": "Active", "LastUpdateStatus": "InProgress",
                "LastUpdateStatusReason": _BEING_CREATED,
                "LastUpdateStatusReasonCode": "Creating"}
    return {"State": "Active", "LastUpdateStatus": "Successful"}


def check_settled(config: Settling, function_arn: str, now: float | None = None) -> None:
    """Refuse an update or publish while the function is Pending or an update runs (409)."""
    now = time.time() if now is None else now
    if is_pending(config, now):
        raise ResourceConflictException(
            "The operation cannot be performed at this time. "
            "The function is currently in the following state: Pending")
    if is_updating(config, now):
        raise ResourceConflictException(
            "The operation cannot be performed at this time. "
            f"An update is in progress for resource: {function_arn}")


def check_invocable(config: Settling, now: float | None = None) -> None:
    """Refuse an invocation while the function is Pending (AWS: 409, nothing runs)."""
    if is_pending(config, now):
        raise ResourceConflictException(
            "The operation cannot be performed at this time. "
            "The function is currently in the following state: Pending")
