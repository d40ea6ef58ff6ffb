"""The controller's Lambda entry point: ``lambdashift.controller.handler.handler``.

Called by the schedule (``rate(1 minute)``) and by ``deploy --detach``'s asynchronous
Invoke; both events are ignored except ``{"rollouts": [...]}`` (ids to take first). Each
decision is one JSON line on stdout, so CloudWatch Logs (and ``lambdashift logs`` on the
controller function) shows what it did and why; the return value sums them up.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

__all__ = ["handler", "say"]


def say(decision: str, **details: Any) -> None:
    """One decision as one JSON line in the function's log."""
    print(json.dumps({"controller": decision, **details}, default=str, sort_keys=True),
          file=sys.stdout, flush=True)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """One tick: adopt the rollouts nobody drives, drive them, hand over before the end."""
    from lambdashift.controller.settings import ControllerSettings
    from lambdashift.controller.tick import run_tick

    started = time.time()
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    deadline = started + (remaining_ms() / 1000.0 if callable(remaining_ms) else 900.0)
    settings = ControllerSettings.from_env()
    wanted = list(event.get("rollouts", ())) if isinstance(event, dict) else []
    request = str(getattr(context, "aws_request_id", "") or "")
    return run_tick(settings, deadline=deadline - settings.margin, first=wanted,
                    request_id=request, say=say)
