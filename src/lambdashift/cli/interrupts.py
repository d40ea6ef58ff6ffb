"""SIGINT and SIGTERM while a command drives rollouts: the first stops them, the second exits.

``deploy``, ``resume`` and the steering commands that drive a rollout themselves (``approve``,
``promote``, ``rollback`` when no other process runs it) run their work through
:func:`run_interruptibly`:

* the **first** SIGINT or SIGTERM sets the session's ``StopRequest``: every engine stops
  taking steps, writes its alias back to the stable version and ends ``interrupted (SIGINT)``;
  the command then exits 130 (SIGINT) or 143 (SIGTERM);
* a **second** signal (a CI runner that follows SIGINT with SIGTERM, an impatient Ctrl-C)
  exits at once with one line on stderr, as ``kill -9`` would: the state on disk is the
  write-back's intent, which ``status`` reports as resumable and ``resume`` finishes.

The work runs on a thread and the main thread only waits for it, so the handler (which runs
on the main thread) never meets a lock that the interrupted code holds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from lambdashift.rollout.interrupts import EXIT_CODES, StopRequest

__all__ = ["exit_code", "run_interruptibly", "signals_to"]

T = TypeVar("T")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_to(stop: StopRequest) -> Iterator[StopRequest]:
    """Route SIGINT/SIGTERM to ``stop`` (first) or an immediate exit (second), then restore.

    Off the main thread (a caller embedding the CLI) Python cannot take signals: nothing
    is installed and the caller's own handling stays.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if stop.request(name):
            return
        # os.write, not print: a signal handler must not re-enter a buffered stream.
        os.write(2, (f"lambdashift: {name} during the way back after {stop.signal}: exiting "
                     "now; the rollout is left unfinished: `lambdashift status` shows it, "
                     "`lambdashift resume` finishes the way back\n").encode())
        os._exit(EXIT_CODES.get(name, 128 + signum))

    previous = {s: signal.signal(s, handler) for s in _SIGNALS}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run_interruptibly(stop: StopRequest, work: Callable[[], T]) -> T:
    """``work()`` on a thread, with signals routed to ``stop``; its result or its exception."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
            box["error"] = exc

    with signals_to(stop):
        thread = threading.Thread(target=target, name="lambdashift-rollouts")
        thread.start()
        while thread.is_alive():
            thread.join(0.5)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def exit_code(stop: StopRequest, otherwise: int) -> int:
    """130 or 143 when a signal stopped the command, else ``otherwise``."""
    return EXIT_CODES.get(stop.signal, 130) if stop.requested else otherwise
