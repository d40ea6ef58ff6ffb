"""Live traffic for the notes service: concurrent clients, every request recorded.

Each client thread creates notes, reads them back by id, lists, updates and deletes them,
at a share of a bounded total rate. A client only reads, updates and deletes the notes it
created itself (and forgets one once deleted), so every 404 is a real bug, never a race
between clients. Every request is kept as a :class:`Request`: when it started, its route,
the status (0 when no answer came at all: a connection error or a timeout), the version
that served it (``X-Function-Version``) and its latency.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable
from typing import NamedTuple

import httpx

CREATE, GET, LIST, UPDATE, DELETE = (
    "POST /notes", "GET /notes/{id}", "GET /notes", "PUT /notes/{id}", "DELETE /notes/{id}")
ROUTES = (CREATE, GET, LIST, UPDATE, DELETE)
#: The mix: reads dominate, as in the article's service.
WEIGHTS = (3, 4, 2, 1, 1)
EXPECTED = {CREATE: 201, GET: 200, LIST: 200, UPDATE: 200, DELETE: 204}
#: Which function serves which route (examples/notes/lambdashift.yaml).
FUNCTION_OF = {CREATE: "notes-create", GET: "notes-get", LIST: "notes-list",
               UPDATE: "notes-update", DELETE: "notes-delete"}


class Request(NamedTuple):
    """One request as the client saw it."""

    t: float          # when it was sent, seconds since the epoch
    route: str
    status: int       # 0: no answer
    version: str      # X-Function-Version, or "-" when there was none
    ms: float         # latency

    @property
    def failed(self) -> bool:
        """No answer, a 5xx, or throttled (429): the client did not get what it asked for."""
        return self.status == 0 or self.status >= 500 or self.status == 429

    @property
    def unexpected(self) -> bool:
        """Any other 4xx: the load sends only valid requests for notes that exist."""
        return 400 <= self.status < 500 and self.status != 429


def failed(requests: Iterable[Request]) -> int:
    """How many failed (no answer or 5xx)."""
    return sum(1 for r in requests if r.failed)


class NotesLoad:
    """Background traffic against the notes API until ``stop()``; use as a context manager."""

    def __init__(self, api_url: str, *, rate: float = 100.0, clients: int = 6, seed: int = 7,
                 timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.rate = rate
        self.timeout = timeout
        self._stop = threading.Event()
        # One list per client: appends need no lock, a snapshot copies them all.
        self._logs: list[list[Request]] = [[] for _ in range(clients)]
        self._failed = [0] * clients  # running counts, cheap to read for a live view
        self._threads = [threading.Thread(target=self._run, args=(i, seed + i), daemon=True)
                         for i in range(clients)]

    def start(self) -> NotesLoad:
        """Begin sending."""
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> list[Request]:
        """Stop sending, wait for the requests in flight; every request, in time order."""
        self._stop.set()
        for t in self._threads:
            t.join()
        return self.requests()

    def __enter__(self) -> NotesLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests(self, since: float = 0.0) -> list[Request]:
        """The requests sent at or after ``since`` so far, in time order."""
        out: list[Request] = []
        for log in self._logs:
            out.extend(r for r in list(log) if r.t >= since)
        out.sort(key=lambda r: r.t)
        return out

    def counts(self) -> tuple[int, int]:
        """Requests sent so far and how many failed (cheap: no copy)."""
        return sum(len(log) for log in self._logs), sum(self._failed)

    def _run(self, index: int, seed: int) -> None:
        rng = random.Random(seed)
        log = self._logs[index]
        mine: list[str] = []
        interval = len(self._threads) / self.rate
        next_at = time.monotonic() + rng.random() * interval  # clients out of step
        with httpx.Client(base_url=self.api_url, timeout=self.timeout) as http:
            while not self._stop.is_set():
                route = rng.choices(ROUTES, weights=WEIGHTS)[0]
                if route != CREATE and route != LIST and not mine:
                    route = CREATE
                if route == DELETE and len(mine) < 5:
                    route = UPDATE  # keep a few notes to read
                request = self._one(http, route, rng, mine)
                log.append(request)
                if request.failed:
                    self._failed[index] += 1
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up

    def _one(self, http: httpx.Client, route: str, rng: random.Random, mine: list[str]) -> Request:
        note = rng.choice(mine) if mine and route in (GET, UPDATE, DELETE) else None
        sent, started = time.time(), time.perf_counter()
        try:
            if route == CREATE:
                resp = http.post("/notes", json={"title": f"note {rng.randrange(10**6)}",
                                                 "content": "written under live traffic"})
                if resp.status_code == 201:
                    mine.append(resp.json()["id"])
                    del mine[:-50]  # reads go to recent notes; older ones stay in the table
            elif route == GET:
                resp = http.get(f"/notes/{note}")
            elif route == LIST:
                resp = http.get("/notes", params={"limit": 10})
            elif route == UPDATE:
                resp = http.put(f"/notes/{note}", json={"content": f"edited {rng.randrange(10**6)}"})
            else:
                resp = http.delete(f"/notes/{note}")
                if resp.status_code == 204:
                    mine.remove(note)  # type: ignore[arg-type]
        except httpx.HTTPError:
            return Request(sent, route, 0, "-", (time.perf_counter() - started) * 1000)
        ms = (time.perf_counter() - started) * 1000
        # The function's own header; for the gateway's 500s, the local gateway's note of it.
        version = resp.headers.get("x-function-version") or resp.headers.get(
            "x-lambdashift-executed-version", "-")
        return Request(sent, route, resp.status_code, version, ms)
