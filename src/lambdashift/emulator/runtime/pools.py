"""The emulator's runtime: warm execution environments, pooled per version: Python workers
(``worker_process.py``), or Node.js and ``provided`` processes behind the Runtime API
(``api_environment.py``).

Like Lambda's execution environments, workers belong to one exact code + configuration (a
:class:`FunctionSnapshot`, pooled by ``snapshot_id``), serve one invocation at a time and stay
warm between invocations; the most recently used idle worker is reused first, a new one starts
(a cold start) only when none is idle, and idle workers are stopped after ``idle_timeout``.
In-flight invocations are limited per function name, across its versions, like reserved
concurrency; over the limit :class:`ConcurrencyLimitExceeded` is raised at once, never queued.

Every failure fails one invocation only, with AWS's payloads: a handler exception, a missing
handler or module, an unserialisable result, a process that exits or crashes (replaced by a new
worker next time), a timeout (the worker is killed). A :class:`Runtime` belongs to the event loop
that first invokes through it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from lambdashift.emulator.runtime.api_environment import ApiEnvironment
from lambdashift.emulator.runtime.catalog import kind
from lambdashift.emulator.runtime.snapshot import FunctionSnapshot
from lambdashift.emulator.runtime.worker_process import WorkerDied, WorkerProcess, exit_reason

__all__ = ["ConcurrencyLimitExceeded", "FunctionSnapshot", "InvocationResult", "Runtime"]

#: AWS gives an on-demand function's init phase 10 s, then retries it within the invocation.
_INIT_LIMIT = 10.0


@dataclass(frozen=True)
class InvocationResult:
    """The outcome of one invocation, as the Invoke API reports it."""

    payload: bytes  # the JSON the handler returned, or AWS's error payload
    function_error: str | None  # None or "Unhandled"
    logs: str  # the invocation's whole log text, START/END/REPORT lines included
    duration_ms: float  # handler time
    init_duration_ms: float | None  # only on a cold start: process start + handler import
    executed_version: str
    #: The execution environment's log stream, ``YYYY/MM/DD/[version]<32 hex>``.
    log_stream: str = ""


class ConcurrencyLimitExceeded(Exception):
    """Raised by invoke when a function is at its concurrency limit (the API maps it to 429
    TooManyRequestsException)."""


class _Pool:
    """The workers of one snapshot: idle ones in release order (most recent last), busy ones."""

    def __init__(self, snapshot: FunctionSnapshot) -> None:
        self.snapshot = snapshot
        self.idle: list[WorkerProcess] = []
        self.busy: set[WorkerProcess] = set()
        self.retired = False  # no new invocations; busy workers stop when they finish


class _Failed(Exception):
    """A cold start ended the invocation early with this result."""

    def __init__(self, result: InvocationResult) -> None:
        super().__init__(result)
        self.result = result


class Runtime:
    """Runs invocations of Python functions in pools of warm worker processes."""

    def __init__(self, *, concurrency_limit: Callable[[str], int] | int = 10,
                 idle_timeout: float = 300.0, python: str = sys.executable,
                 base_env: Mapping[str, str] | None = None) -> None:
        """``concurrency_limit``: in-flight invocations allowed per function name (or a function
        of the name). ``base_env``: the workers' environment below the function's own (default:
        PATH, LANG, LC_ALL, HOME and TMPDIR of ours, nothing else)."""
        self._limit = concurrency_limit
        self._idle_timeout = idle_timeout
        self._python = python
        self._base_env = dict(base_env) if base_env is not None else None
        self._pools: dict[str, _Pool] = {}  # by snapshot_id
        self._current: dict[tuple[str, str], str] = {}  # (function, version) -> snapshot_id
        self._in_flight: dict[str, int] = {}
        self._workers: set[WorkerProcess] = set()  # every process not reaped yet
        self._spawning: set[asyncio.Task[WorkerProcess]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        self._invocations = 0
        self._cold_starts = 0

    async def invoke(self, snapshot: FunctionSnapshot, payload: bytes, *, invoked_arn: str,
                     request_id: str, client_context: str | None = None,
                     deadline_from: float | None = None) -> InvocationResult:
        """Run one invocation and return its result; handler failures are results, not errors.

        ``client_context`` is the caller's ``X-Amz-Client-Context`` (base64 JSON). The handler's
        deadline is ``deadline_from`` (a ``time.monotonic()`` value, default: when the handler
        is dispatched) + the timeout; a cold start's init does not count against it, as on AWS.
        """
        if self._closed:
            raise RuntimeError("the runtime is closed")
        name = snapshot.function_name
        limit = self._limit(name) if callable(self._limit) else self._limit
        in_flight = self._in_flight.get(name, 0)
        if in_flight >= limit:
            raise ConcurrencyLimitExceeded(
                f"Rate Exceeded: {name} already runs {in_flight} invocations (limit {limit})")
        self._in_flight[name] = in_flight + 1
        try:
            return await self._invoke(snapshot, payload, invoked_arn, request_id,
                                      client_context, deadline_from)
        finally:
            left = self._in_flight[name] - 1
            if left:
                self._in_flight[name] = left
            else:
                del self._in_flight[name]

    async def _invoke(self, snapshot: FunctionSnapshot, payload: bytes, invoked_arn: str,
                      request_id: str, client_context: str | None,
                      deadline_from: float | None) -> InvocationResult:
        self._invocations += 1
        self._start_reaper()
        pool = self._pool_for(snapshot)
        worker = self._take_idle(pool)
        init_ms, init_logs = None, ""
        if worker is None:
            try:
                worker, init_ms, init_logs = await self._cold_start(pool, request_id)
            except _Failed as failed:
                return failed.result
        now = time.monotonic()
        start = now if deadline_from is None else deadline_from + (init_ms or 0.0) / 1000
        deadline = start + snapshot.timeout
        request = {"id": request_id, "arn": invoked_arn, "deadline": deadline,
                   "payload": base64.b64encode(payload).decode(), "cc": client_context}
        loop = asyncio.get_running_loop()
        try:
            # loop.time() is the loop's own clock (uvloop's differs): convert the deadline.
            async with asyncio.timeout_at(loop.time() + (deadline - now)):
                answer = await worker.exchange(request)
        except TimeoutError:
            await self._discard(pool, worker)
            return self._timed_out(worker, request_id, (time.monotonic() - now) * 1000,
                                   init_ms, init_logs)
        except WorkerDied:
            await self._discard(pool, worker)
            return self._exited(worker, request_id, (time.monotonic() - now) * 1000,
                                init_ms, init_logs)
        except BaseException:  # cancelled mid-invocation: the worker's state is unknown
            self._discard(pool, worker)
            raise
        worker.max_rss_mb = answer["max_rss_mb"]
        self._release(pool, worker)
        logs = (init_logs + _start_line(request_id, snapshot) + answer["logs"] +
                _end_lines(request_id, snapshot, answer["duration_ms"], worker.max_rss_mb,
                           init_ms))
        return InvocationResult(base64.b64decode(answer["payload"]), answer["error"], logs,
                                answer["duration_ms"], init_ms, snapshot.version,
                                worker.log_stream)

    async def _cold_start(self, pool: _Pool,
                          request_id: str) -> tuple[WorkerProcess, float, str]:
        """A new busy worker with its handler imported, its init time (ms) and init logs."""
        snapshot = pool.snapshot
        self._cold_starts += 1
        started = time.monotonic()
        spawn = asyncio.ensure_future(self._spawn(snapshot))
        self._spawning.add(spawn)  # close() must wait for it: the process is not ours yet
        try:
            worker = await spawn
        except asyncio.CancelledError:
            if spawn.done() and not spawn.cancelled() and spawn.exception() is None:
                spawn.result().stop()  # started just as we were cancelled
            raise
        finally:
            self._spawning.discard(spawn)
        pool.busy.add(worker)
        if self._closed:
            await self._discard(pool, worker)
            raise RuntimeError("the runtime is closed")
        try:
            async with asyncio.timeout(_INIT_LIMIT + snapshot.timeout):
                ready = await worker.ready()
        except TimeoutError:
            await self._discard(pool, worker)
            raise _Failed(self._timed_out(worker, request_id, 0.0, _ms_since(started), ""))
        except WorkerDied:
            await self._discard(pool, worker)
            raise _Failed(self._exited(worker, request_id, 0.0, _ms_since(started), ""))
        except BaseException:
            self._discard(pool, worker)
            raise
        init_ms = _ms_since(started)
        if ready["init_error"] is not None:
            # A broken environment is not kept: the next invocation tries init again, as on AWS.
            self._discard(pool, worker)
            error = {**ready["init_error"], "requestId": request_id}
            logs = (ready["init_logs"] + _start_line(request_id, snapshot) +
                    _end_lines(request_id, snapshot, 0.0, 0, init_ms,
                               f"Status: error\tError Type: {error['errorType']}"))
            raise _Failed(InvocationResult(_json(error), "Unhandled", logs, 0.0, init_ms,
                                           snapshot.version, worker.log_stream))
        return worker, init_ms, ready["init_logs"]

    async def _spawn(self, snapshot: FunctionSnapshot) -> WorkerProcess:
        if kind(snapshot.runtime) in ("node", "provided"):  # via the Runtime API, same interface
            worker: Any = await ApiEnvironment.spawn(snapshot, base_env=self._base_env,
                                                     on_reaped=self._workers.discard)
        else:
            worker = await WorkerProcess.spawn(snapshot, python=snapshot.python or self._python,
                                               base_env=self._base_env,
                                               on_reaped=self._workers.discard)
        self._workers.add(worker)
        return worker

    def _timed_out(self, worker: WorkerProcess, request_id: str, duration_ms: float,
                   init_ms: float | None, init_logs: str) -> InvocationResult:
        snapshot = worker.snapshot
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        message = f"{stamp} {request_id} Task timed out after {snapshot.timeout:.2f} seconds"
        logs = (init_logs + _start_line(request_id, snapshot) + worker.final_logs + message +
                "\n" + _end_lines(request_id, snapshot, duration_ms, worker.max_rss_mb,
                                  init_ms, "Status: timeout"))
        return InvocationResult(_json({"errorMessage": message}), "Unhandled", logs,
                                duration_ms, init_ms, snapshot.version, worker.log_stream)

    def _exited(self, worker: WorkerProcess, request_id: str, duration_ms: float,
                init_ms: float | None, init_logs: str) -> InvocationResult:
        snapshot = worker.snapshot
        code = worker.process.returncode
        why = ("Runtime exited without providing a reason" if code == 0
               else f"Runtime exited with error: {exit_reason(code)}")
        message = f"RequestId: {request_id} Error: {why}"
        logs = (init_logs + _start_line(request_id, snapshot) + worker.final_logs + message +
                "\nRuntime.ExitError\n" +
                _end_lines(request_id, snapshot, duration_ms, worker.max_rss_mb, init_ms,
                           "Status: error\tError Type: Runtime.ExitError"))
        return InvocationResult(
            _json({"errorType": "Runtime.ExitError", "errorMessage": message}), "Unhandled",
            logs, duration_ms, init_ms, snapshot.version, worker.log_stream)

    def _pool_for(self, snapshot: FunctionSnapshot) -> _Pool:
        key = (snapshot.function_name, snapshot.version)
        current = self._current.get(key)
        if current != snapshot.snapshot_id:
            # New code or configuration under the same version ($LATEST updated, or a function
            # re-created): the old environments will never be used again.
            if current is not None and current in self._pools:
                self._retire(self._pools[current])
            self._current[key] = snapshot.snapshot_id
        pool = self._pools.get(snapshot.snapshot_id)
        if pool is None or pool.retired:
            pool = self._pools[snapshot.snapshot_id] = _Pool(snapshot)
        return pool

    def _take_idle(self, pool: _Pool) -> WorkerProcess | None:
        while pool.idle:
            worker = pool.idle.pop()  # the most recently used one
            if worker.alive:
                pool.busy.add(worker)
                return worker
            self._discard(pool, worker)  # died while idle (killed from outside)
        return None

    def _release(self, pool: _Pool, worker: WorkerProcess) -> None:
        if pool.retired or self._closed or not worker.alive:
            self._discard(pool, worker)
            return
        pool.busy.discard(worker)
        worker.last_used = time.monotonic()
        pool.idle.append(worker)

    def _discard(self, pool: _Pool, worker: WorkerProcess) -> asyncio.Future[None]:
        """Take a worker out of its pool and stop it; await the result to know it is reaped."""
        pool.busy.discard(worker)
        if worker in pool.idle:
            pool.idle.remove(worker)
        stopped = worker.stop()
        self._forget_if_empty(pool)
        return stopped

    def _retire(self, pool: _Pool) -> list[asyncio.Future[None]]:
        pool.retired = True
        return [self._discard(pool, worker) for worker in list(pool.idle)]

    def _forget_if_empty(self, pool: _Pool) -> None:
        if pool.idle or pool.busy:
            return
        snapshot = pool.snapshot
        if self._pools.get(snapshot.snapshot_id) is pool:
            del self._pools[snapshot.snapshot_id]
            key = (snapshot.function_name, snapshot.version)
            if self._current.get(key) == snapshot.snapshot_id:
                del self._current[key]

    def _start_reaper(self) -> None:
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(
                self._reap_idle(), name="lambdashift-runtime-reaper")

    async def _reap_idle(self) -> None:
        """Stop workers idle for longer than idle_timeout, checking a few times per timeout."""
        interval = min(max(self._idle_timeout / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(interval)
            cutoff = time.monotonic() - self._idle_timeout
            stopping = [self._discard(pool, worker)
                        for pool in list(self._pools.values())
                        for worker in [w for w in pool.idle if w.last_used <= cutoff]]
            if stopping:
                await asyncio.gather(*stopping, return_exceptions=True)

    async def drop(self, function_name: str, version: str | None = None) -> None:
        """Stop the workers of a deleted function (or of one version of it). Busy workers finish
        their invocation first."""
        stopping = []
        for pool in list(self._pools.values()):
            snapshot = pool.snapshot
            if snapshot.function_name == function_name and version in (None, snapshot.version):
                stopping += self._retire(pool)
        for key in [k for k in self._current if k[0] == function_name and version in (None, k[1])]:
            del self._current[key]
        await asyncio.gather(*stopping, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        """Pools with their idle/busy workers, in-flight invocations and concurrency limits per
        function, counters."""
        pools = [{
            "function": pool.snapshot.function_name,
            "version": pool.snapshot.version,
            "snapshot_id": pool.snapshot.snapshot_id,
            "idle": len(pool.idle),
            "busy": len(pool.busy),
            "retired": pool.retired,
            "pids": sorted(w.pid for w in (*pool.idle, *pool.busy)),
        } for pool in self._pools.values()]
        names = {pool.snapshot.function_name for pool in self._pools.values()} | set(self._in_flight)
        return {"pools": pools, "in_flight": dict(self._in_flight),
                "processes": len(self._workers), "invocations": self._invocations,
                "cold_starts": self._cold_starts,
                # The limit each function runs under here (the pre-warm leaves room below it).
                "limits": {name: self._limit(name) if callable(self._limit) else self._limit
                           for name in sorted(names)}}

    async def close(self) -> None:
        """Stop every worker, busy or idle, and reap them all; invocations running get an
        exit error. Idempotent."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
        await asyncio.gather(*self._spawning, return_exceptions=True)
        for pool in list(self._pools.values()):
            self._retire(pool)
        await asyncio.gather(*(worker.stop() for worker in list(self._workers)),
                             return_exceptions=True)


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


def _start_line(request_id: str, snapshot: FunctionSnapshot) -> str:
    return f"START RequestId: {request_id} Version: {snapshot.version}\n"


def _end_lines(request_id: str, snapshot: FunctionSnapshot, duration_ms: float,
               max_rss_mb: int, init_ms: float | None, status: str = "") -> str:
    """AWS's END and REPORT lines."""
    report = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
              f"Billed Duration: {math.ceil(duration_ms)} ms\t"
              f"Memory Size: {snapshot.memory_size} MB\tMax Memory Used: {max_rss_mb} MB\t")
    if init_ms is not None:
        report += f"Init Duration: {init_ms:.2f} ms\t"
    if status:
        report += status
    return f"END RequestId: {request_id}\n{report}\n"
