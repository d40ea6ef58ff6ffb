"""One controller invocation's work (placeholder until the tick lands: it only says so)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["run_tick"]


def run_tick(settings: Any, *, deadline: float, first: list[str], request_id: str,
             say: Callable[..., None]) -> dict[str, Any]:
    """Adopt, drive and hand over; the summary of what was done."""
    started = time.time()
    say("idle", request_id=request_id, namespace=settings.namespace)
    return {"adopted": [], "ended": {}, "handed_over": [], "seconds": time.time() - started}
