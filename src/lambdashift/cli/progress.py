"""How a rollout shows itself at the terminal: one line per thing that happened."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from lambdashift.core.machine import Notify, RolloutState

_lock = threading.Lock()

_WORDS = {
    "started": "started {stable} → {candidate} ({steps} steps)",
    "traffic": "traffic now {traffic}",
    "paused": "paused: {reason}",
    "promote_requested": "promote requested: all traffic to the candidate",
    "succeeded": "succeeded: {reason}",
    "rolling_back": "rolling back: {reason}",
    "rolled_back": "rolled back: {reason}",
    "failed": "FAILED: {reason}",
    "interrupted": "{reason}",
    "drift": "{reason}",
    "write_failed": "alias write failed: {reason}",
    "measurement_error": "measurement error {count} of {limit} in a row (then rollback): "
                         "{reason}; looking again in {retry_in:g} s",
}


def _prewarmed(details: dict[str, Any]) -> str:
    share = f"{round(float(details.get('share', 0)) * 100, 2):g}%"
    ready = details.get("ready", details.get("concurrency"))
    text = (f"pre-warmed version {details.get('version')}: {ready} environment(s) ready for "
            f"{share} of the traffic in {details.get('ms')} ms")
    sent, wanted, limit = details.get("concurrency"), details.get("wanted"), details.get("limit")
    if wanted is not None and sent is not None and sent < wanted and limit is not None:
        text += (f" ({wanted} wanted; {sent} fit under the concurrency limit of {limit} beside "
                 f"{details.get('live')} live at once)")
    if sent is not None and ready is not None and ready < sent:
        text += f" ({sent - ready} of {sent} did not start)"
    return text + (f" ({details['problem']})" if details.get("problem") else "")


def _rejected(details: dict[str, Any]) -> str:
    """The rejection's reason, then the invocation's log lines, indented under it."""
    logs = [f"    | {clip(str(entry), 160)}" for entry in details.get("logs") or ()]
    head = clip(str(details.get("reason") or "the candidate failed before any traffic"), 400)
    return "\n".join([head, *logs]) if logs else head


def line(function: str, text: str) -> None:
    """Print one progress line, whole, even with many rollouts in parallel threads."""
    stamp = time.strftime("%H:%M:%S")
    with _lock:
        print(f"{stamp}  {function:<20} {text}", file=sys.stderr, flush=True)


def describe(note: Notify) -> str:
    """A Notify in words."""
    if note.event == "verdict":
        # The decisive reason only: `lambdashift history --verbose` keeps every one.
        reasons = list(note.details.get("reasons", ())) or ["no reason given"]
        if is_forecast(note):
            return clip(str(reasons[0]))  # what the step can catch, said as it starts
        return f"verdict {note.details.get('verdict')}: {clip(reasons[0])}"
    if note.event == "prewarmed":
        return clip(_prewarmed(dict(note.details)))
    if note.event == "candidate_rejected":
        return _rejected(dict(note.details))
    if note.event == "rolled_back" and str(note.details.get("reason", "")).startswith(
            "check failed: pre-traffic"):
        return clip(f"stopped before any traffic, the alias unchanged: {note.details['reason']}")
    template = _WORDS.get(note.event)
    details: dict[str, Any] = dict(note.details)
    if template is None:
        return f"{note.event} {details}" if details else note.event
    try:
        return clip(template.format(**details))
    except KeyError:
        return f"{note.event} {details}"


def is_forecast(note: Notify) -> bool:
    """A step's first look, saying what the step can catch (``rollout.forecasting``)."""
    reasons = list(note.details.get("reasons", ())) if note.event == "verdict" else []
    return bool(reasons) and str(reasons[0]).startswith("forecast: ")


def clip(text: str, width: int = 200) -> str:
    """One screen line at most; the whole text stays in history."""
    return text if len(text) <= width else text[: width - 1] + "…"


#: A "continue" verdict comes after every look; say it at most this often per function.
CONTINUE_EVERY = 15.0
_last_continue: dict[str, float] = {}


def printer(state: RolloutState, note: Notify) -> bool:
    """The engine's ``notify`` callback for the terminal; True when it printed a line."""
    if note.event == "failed" and str(note.details.get("reason", "")).startswith("drift"):
        return False  # the drift line already said it
    reasons = list(note.details.get("reasons", ())) if note.event == "verdict" else []
    low_traffic = bool(reasons) and str(reasons[0]).startswith("low traffic") or is_forecast(note)
    if note.event == "verdict" and note.details.get("verdict") == "continue" and not low_traffic:
        now = time.monotonic()
        with _lock:
            if now - _last_continue.get(state.function, -CONTINUE_EVERY) < CONTINUE_EVERY:
                return False
            _last_continue[state.function] = now
    line(state.function, describe(note))
    return True
