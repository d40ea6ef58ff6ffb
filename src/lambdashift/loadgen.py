"""Live traffic for the notes service: creates, reads and lists, every answer counted.

A few client threads send a mix of ``POST /notes``, ``GET /notes/{id}`` and ``GET /notes``
at a bounded total rate to a loopback API, and count each answer by route, the version
that served it (``X-Function-Version``) and status — plus requests that got no answer at
all (connection errors, timeouts), which a zero-downtime release must never have.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

ROUTES = ("POST /notes", "GET /notes/{id}", "GET /notes")


@dataclass
class Tally:
    """Answers by (route, version, status), and requests that got none."""

    answers: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Requests sent."""
        return sum(self.answers.values()) + sum(self.lost.values())

    def failed(self) -> Counter[tuple[str, str]]:
        """5xx answers by (route, version)."""
        out: Counter[tuple[str, str]] = Counter()
        for (route, version, status), n in self.answers.items():
            if status >= 500:
                out[(route, version)] += n
        return out

    def unexpected(self) -> int:
        """4xx answers: the load only sends valid requests, so any of these is a bug."""
        return sum(n for (_, _, status), n in self.answers.items() if 400 <= status < 500)


class NotesLoad:
    """Background traffic against the notes API until ``stop()``; use as a context manager."""

    def __init__(self, api_url: str, *, rate: float = 60.0, threads: int = 3, seed: int = 7) -> None:
        self.api_url = api_url.rstrip("/")
        self.rate = rate
        self.tally = Tally()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._ids: list[str] = []
        self._threads = [threading.Thread(target=self._run, args=(seed + i,), daemon=True)
                         for i in range(threads)]

    def start(self) -> NotesLoad:
        """Begin sending."""
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> Tally:
        """Stop sending, wait for the requests in flight; the tally."""
        self._stop.set()
        for t in self._threads:
            t.join()
        return self.tally

    def __enter__(self) -> NotesLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> Tally:
        """A copy of the tally so far."""
        with self._lock:
            return Tally(Counter(self.tally.answers), Counter(self.tally.lost),
                         {k: list(v) for k, v in self.tally.latency_ms.items()})

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        interval = len(self._threads) / self.rate
        next_at = time.monotonic()
        with httpx.Client(base_url=self.api_url, timeout=30) as http:
            while not self._stop.is_set():
                route = rng.choices(ROUTES, weights=(3, 5, 2))[0]
                self._one(http, route, rng)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up

    def _one(self, http: httpx.Client, route: str, rng: random.Random) -> None:
        with self._lock:
            known = list(self._ids[-200:])
        if route == "GET /notes/{id}" and not known:
            route = "POST /notes"
        started = time.perf_counter()
        try:
            if route == "POST /notes":
                resp = http.post("/notes", json={"title": f"note {rng.randrange(10**6)}",
                                                 "content": "written under live traffic"})
                if resp.status_code == 201:
                    with self._lock:
                        self._ids.append(resp.json()["id"])
            elif route == "GET /notes/{id}":
                resp = http.get(f"/notes/{rng.choice(known)}")
            else:
                resp = http.get("/notes", params={"limit": 10})
        except httpx.HTTPError:
            with self._lock:
                self.tally.lost[route] += 1
            return
        elapsed = (time.perf_counter() - started) * 1000
        # The function's own header; for the gateway's 500s, the local gateway's note of it.
        version = resp.headers.get("x-function-version") or resp.headers.get(
            "x-lambdashift-executed-version", "-")
        with self._lock:
            self.tally.answers[(route, version, resp.status_code)] += 1
            self.tally.latency_ms.setdefault(route, []).append(elapsed)
