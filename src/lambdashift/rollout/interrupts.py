"""A stop request shared by every rollout thread of a process: how SIGINT/SIGTERM reach them.

The CLI's signal handler calls :meth:`StopRequest.request` with the signal's name; each
engine sleeps through :meth:`StopRequest.sleep`, which returns as soon as a stop is asked,
and feeds the machine ``Interrupted`` at its next step boundary (``rollout.engine``). Group
barriers and wave loops look at :attr:`StopRequest.signal` too, so no thread takes another
step. The handler only sets an ``Event`` here: nothing that the main thread could be holding.
"""

from __future__ import annotations

import threading

__all__ = ["EXIT_CODES", "HandOver", "StopRequest"]

#: The exit code of a command stopped by a signal: 128 + its number, as shells report it.
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}


class StopRequest:
    """Set once, by the first signal; read by every thread that drives a rollout."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal = ""

    def request(self, signal: str) -> bool:
        """Ask every rollout to stop; True for the first request, False for any later one."""
        if self._event.is_set():
            return False
        self.signal = signal  # before the event: a thread woken by it reads the name
        self._event.set()
        return True

    @property
    def requested(self) -> bool:
        """True once a stop was asked."""
        return self._event.is_set()

    def sleep(self, seconds: float) -> None:
        """``time.sleep`` that ends at once when a stop is asked (the engine's sleeper)."""
        self._event.wait(max(0.0, seconds))


class HandOver(Exception):  # noqa: N818 - not an error: the rollout goes on elsewhere
    """Raised out of a rollout's wait when its driver must let it go (the controller's
    invocation nearing its end, ``RolloutEngine.hand_over_at``).

    Neither an error nor an interrupt: the state was saved before the wait, the lease is
    released on the way out, and nothing is written, so the next driver (the next tick)
    resumes it exactly as after a crash, without waiting for a lease to expire.
    """
