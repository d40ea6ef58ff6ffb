"""Execution environments driven through the Runtime API: Node.js and ``provided`` runtimes.

An :class:`ApiEnvironment` is one process (``node runtime.mjs`` or the package's
``bootstrap``) with its own Runtime API (``runtime_api.py``) on a free 127.0.0.1 port,
named in ``AWS_LAMBDA_RUNTIME_API``. It offers the pools (``pools.py``) what a
:class:`~lambdashift.emulator.runtime.worker_process.WorkerProcess` offers, so the pools,
limits, timeouts and logs are the same for every runtime:

- :meth:`ready` ends when the process first asks for work (``GET next``): init is over. An
  init error (``POST init/error``) is reported as such; the process exiting first, or a
  missing or non-executable ``bootstrap``, gives AWS's ``Runtime.*`` errors.
- :meth:`exchange` hands one invocation to the waiting ``GET next`` and waits for its
  ``response`` or ``error``. One invocation at a time, as on AWS.
- stdout and stderr go to a file; each invocation's logs are what was written during it.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import json
import os
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

from lambdashift.emulator.runtime import catalog
from lambdashift.emulator.runtime.runtime_api import Reply, RuntimeApiConnection, error_body
from lambdashift.emulator.runtime.snapshot import FunctionSnapshot
from lambdashift.emulator.runtime.worker_process import WorkerDied, worker_environment

__all__ = ["ApiEnvironment"]

_MAX_RESPONSE_BYTES = 6291556  # AWS's limit on a synchronous invocation's response
_MAX_LOG_BYTES = 1 << 20  # an invocation's logs beyond this keep only their end
_ACCEPTED = b'{"status":"OK"}'


def _environment(snapshot: FunctionSnapshot, base_env: Mapping[str, str] | None,
                 log_stream: str, api: str) -> dict[str, str]:
    env = worker_environment(snapshot, base_env=base_env, log_stream=log_stream)
    # The worker's PYTHONPATH entry is for our Python worker only, not for a bootstrap.
    own = snapshot.environment.get("PYTHONPATH") or (base_env or {}).get("PYTHONPATH")
    env.pop("PYTHONPATH", None)
    if own:
        env["PYTHONPATH"] = own
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["AWS_LAMBDA_RUNTIME_API"] = api
    if catalog.kind(snapshot.runtime) == "provided":
        env.pop("AWS_EXECUTION_ENV", None)  # AWS sets none for custom runtimes
        env["LAMBDA_RUNTIME_DIR"] = str(Path(snapshot.code_dir).resolve())
    else:
        env["LAMBDA_RUNTIME_DIR"] = str(catalog.NODE_CLIENT.parent)
    return env


def _trace_id() -> str:
    return (f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()};"
            f"Parent={os.urandom(8).hex()};Sampled=0")


def _client_context(raw: str | None) -> str | None:
    """The Invoke's ``X-Amz-Client-Context`` (base64 JSON) as the Runtime API hands it: JSON."""
    if not raw:
        return None
    try:
        value = json.loads(base64.b64decode(raw, validate=True))
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    # Re-encoded compact and ASCII: a caller's newline must not break the header apart.
    return json.dumps(value, separators=(",", ":"))


class ApiEnvironment:
    """One execution environment of a Node.js or ``provided`` function."""

    def __init__(self, snapshot: FunctionSnapshot, log_stream: str, log_file: Any,
                 on_reaped: Callable[[ApiEnvironment], None] | None) -> None:
        self.snapshot = snapshot
        self.log_stream = log_stream
        self.process: asyncio.subprocess.Process | None = None
        self.pid = 0
        self.last_used = time.monotonic()
        self.max_rss_mb = 0
        self.final_logs = ""
        self._log_file = log_file
        self._log_offset = 0
        self._on_reaped = on_reaped
        self._server: asyncio.Server | None = None
        loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._answer: asyncio.Future[dict[str, Any]] | None = None
        self._waiting: Reply | None = None  # a GET next with nothing to hand out yet
        self._request: dict[str, Any] | None = None  # the invocation not yet handed out
        self._current: str | None = None  # the request id being handled by the runtime
        self._handed_at = 0.0
        self._invocations = 0
        self._stopped: asyncio.Future[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    @classmethod
    async def spawn(cls, snapshot: FunctionSnapshot, *, base_env: Mapping[str, str] | None,
                    on_reaped: Callable[[ApiEnvironment], None] | None = None
                    ) -> ApiEnvironment:
        """Start the environment's Runtime API and its process; :meth:`ready` waits for init."""
        day = time.strftime("%Y/%m/%d", time.gmtime())
        log_stream = f"{day}/[{snapshot.version}]{uuid.uuid4().hex}"
        log_file = tempfile.TemporaryFile(prefix="lambdashift-env-")
        flags = fcntl.fcntl(log_file.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(log_file.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
        env = cls(snapshot, log_stream, log_file, on_reaped)
        try:
            await env._start(base_env)
        except BaseException:
            await env.stop()
            raise
        return env

    async def _start(self, base_env: Mapping[str, str] | None) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: RuntimeApiConnection(self), "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        env = _environment(self.snapshot, base_env, self.log_stream, f"127.0.0.1:{port}")
        argv = self._command()
        if argv is None:
            return
        try:
            self.process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=self._log_file,
                stderr=self._log_file, cwd=str(Path(self.snapshot.code_dir).resolve()), env=env,
                start_new_session=True)  # its own group: stop() kills its children too
        except PermissionError:
            self._init_failed("Runtime.InvalidEntrypoint",
                              f"Error: fork/exec {argv[0]}: permission denied")
            return
        except OSError as exc:
            self._init_failed("Runtime.InvalidEntrypoint", f"Error: fork/exec {argv[0]}: {exc}")
            return
        self.pid = self.process.pid
        self._watcher = loop.create_task(self._watch(self.process))

    def _command(self) -> list[str] | None:
        runtime = self.snapshot.runtime
        if catalog.kind(runtime) == "node":
            node = catalog.node_binary()
            if node is None:
                self._init_failed("Runtime.InvalidRuntime", catalog.missing(runtime) or "")
                return None
            return [node, str(catalog.NODE_CLIENT)]
        # Absolute: the process starts in the code dir, a relative path would miss.
        bootstrap = Path(self.snapshot.code_dir).resolve() / "bootstrap"
        if not bootstrap.is_file():
            self._init_failed("Runtime.InvalidEntrypoint",
                              f"Couldn't find valid bootstrap(s): [{bootstrap} /opt/bootstrap]")
            return None
        return [str(bootstrap)]

    def _init_failed(self, error_type: str, message: str) -> None:
        """An init failure of the platform's (no process ran): logged as AWS logs it."""
        os.write(self._log_file.fileno(), f"{message}\n{error_type}\n".encode())
        if not self._ready.done():
            self._ready.set_result({"errorType": error_type, "errorMessage": message})

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        await process.wait()
        self._fail_waiters()
        self._waiting = None

    def _fail_waiters(self) -> None:
        """The process is gone: whoever waits for init or an answer learns it."""
        for future in (self._ready, self._answer):
            if future is not None and not future.done():
                future.set_exception(WorkerDied())
                future.exception()  # retrieved: nobody waiting is no error to log

    # -- what the runtime calls ----------------------------------------------------------

    @property
    def alive(self) -> bool:
        """False once the process has exited or is being stopped."""
        return (self._stopped is None and self.process is not None and
                self.process.returncode is None)

    async def ready(self) -> dict[str, Any]:
        """The init report: ``{"init_error": None | AWS error payload, "init_logs": str}``."""
        init_error = await self._ready
        return {"init_error": init_error, "init_logs": self._take_logs()}

    async def exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        """Hand one invocation to the runtime and wait for its answer."""
        if not self.alive:
            raise WorkerDied()
        self._answer = asyncio.get_running_loop().create_future()
        self._request = request
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            self._hand_out(waiting)
        try:
            return await self._answer
        finally:
            self._answer = None
            self._request = None
            self._current = None

    # -- the Runtime API -------------------------------------------------------------

    def on_next(self, reply: Reply) -> None:  # noqa: D102
        if self._current is not None:
            reply.send(403, error_body("InvalidStateTransition",
                                       "State transition from Invoke to next is forbidden: "
                                       "answer the current invocation first"))
            return
        if not self._ready.done():
            self._ready.set_result(None)  # the first GET next ends init
        if self._request is not None:
            self._hand_out(reply)
        else:
            self._waiting = reply

    def _hand_out(self, reply: Reply) -> None:
        request = self._request
        assert request is not None
        if not reply.open:  # the runtime hung up on its GET: wait for the next one
            self._waiting = None
            return
        self._request = None
        self._current = request["id"]
        now_wall, now = time.time(), time.monotonic()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": request["id"],
            "Lambda-Runtime-Deadline-Ms": str(int((now_wall + request["deadline"] - now) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": request["arn"],
            "Lambda-Runtime-Trace-Id": _trace_id(),
        }
        context = _client_context(request.get("cc"))
        if context is not None:
            headers["Lambda-Runtime-Client-Context"] = context
        self._handed_at = time.perf_counter()
        reply.send(200, base64.b64decode(request["payload"]), headers)

    def _check_id(self, request_id: str, reply: Reply) -> bool:
        if self._current is None or request_id != self._current:
            reply.send(400, error_body("InvalidRequestID",
                                       f"Invalid request ID: {request_id}"))
            return False
        return True

    def on_response(self, request_id: str, body: bytes, reply: Reply) -> None:  # noqa: D102
        if not self._check_id(request_id, reply):
            return
        if len(body) > _MAX_RESPONSE_BYTES:
            reply.send(413, error_body("RequestEntityTooLarge", "response too large"))
            self._finish(json.dumps({
                "errorMessage": f"Response payload size exceeded maximum allowed payload size "
                                f"({_MAX_RESPONSE_BYTES} bytes).",
                "errorType": "Function.ResponseSizeTooLarge"}).encode(), "Unhandled")
            return
        reply.send(202, _ACCEPTED)
        self._finish(body, None)

    def on_error(self, request_id: str, body: bytes, error_type: str | None,
                 reply: Reply) -> None:  # noqa: D102
        if not self._check_id(request_id, reply):
            return
        reply.send(202, _ACCEPTED)
        self._finish(_error_payload(body, error_type), "Unhandled")

    def on_init_error(self, body: bytes, error_type: str | None,
                      reply: Reply) -> None:  # noqa: D102
        if self._ready.done():
            reply.send(403, error_body("InvalidStateTransition",
                                       "State transition from Ready to InitError is forbidden"))
            return
        reply.send(202, _ACCEPTED)
        self._ready.set_result(json.loads(_error_payload(body, error_type)))

    def _finish(self, payload: bytes, error: str | None) -> None:
        answer = self._answer
        if answer is None or answer.done():
            return
        duration_ms = (time.perf_counter() - self._handed_at) * 1000
        self._current = None
        answer.set_result({"payload": base64.b64encode(payload).decode(), "error": error,
                           "logs": self._take_logs(), "duration_ms": duration_ms,
                           "max_rss_mb": self._max_rss_mb()})

    # -- logs, memory, stopping ----------------------------------------------------------

    def _take_logs(self) -> str:
        """What the process wrote since the last call."""
        try:
            fd = self._log_file.fileno()
            size = os.fstat(fd).st_size
            if size <= self._log_offset:
                return ""
            start = max(self._log_offset, size - _MAX_LOG_BYTES)
            data = os.pread(fd, size - start, start)
        except (OSError, ValueError):
            return ""
        self._log_offset = size
        return data.decode("utf-8", "replace")

    def _max_rss_mb(self) -> int:
        # A /proc read costs about as much as the rest of the hand-off: the peak is read on
        # the first invocations and every 16th after (REPORT's figure may lag a little).
        self._invocations += 1
        if self._invocations > 2 and self._invocations % 16:
            return self.max_rss_mb
        try:
            with open(f"/proc/{self.pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"VmHWM:"):
                        self.max_rss_mb = int(line.split()[1]) // 1024
                        return self.max_rss_mb
        except (OSError, ValueError, IndexError):
            pass
        return self.max_rss_mb

    def stop(self) -> asyncio.Future[None]:
        """Kill the process group and close the Runtime API; idempotent. Await the result to
        know the process is reaped and :attr:`final_logs` is set."""
        if self._stopped is None:
            if self.process is not None and self.process.returncode is None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._stopped = asyncio.ensure_future(self._reap())
        return asyncio.shield(self._stopped)

    async def _reap(self) -> None:
        try:
            if self.process is not None:
                await self.process.wait()
            if self._watcher is not None:
                await asyncio.gather(self._watcher, return_exceptions=True)
        finally:
            if self._server is not None:
                self._server.close()
            self.final_logs = self._take_logs()
            self._log_file.close()
            self._fail_waiters()
            if self._on_reaped is not None:
                self._on_reaped(self)


def _error_payload(body: bytes, error_type: str | None) -> bytes:
    """The error object the runtime posted, as the caller gets it; a body that is not a JSON
    object is wrapped the way AWS does (``Runtime.Unknown`` unless the header names a type)."""
    try:
        value = json.loads(body) if body.strip() else None
    except ValueError:
        value = None
    if isinstance(value, dict):
        return body
    return json.dumps({"errorMessage": body.decode("utf-8", "replace").strip()
                       or "Unknown application error occurred",
                       "errorType": error_type or "Runtime.Unknown"}).encode()
