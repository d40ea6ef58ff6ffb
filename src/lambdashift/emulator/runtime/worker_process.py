"""One worker process seen from the runtime: how it is started, talked to, and stopped.

A :class:`WorkerProcess` is one execution environment of one function version: the
``lambdashift.emulator.runtime.python_worker`` subprocess, its two protocol pipes (asyncio
streams carrying length-prefixed JSON, measured as the cheapest hand-off on the server's
event loop) and its log file. :func:`worker_environment` builds the environment AWS gives a function.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping

import lambdashift
from lambdashift.emulator.runtime.python_worker import HEADER
from lambdashift.emulator.runtime.snapshot import FunctionSnapshot


#: The worker module must stay importable whatever interpreter or PYTHONPATH the function has.
_PACKAGE_PARENT = str(Path(lambdashift.__file__).resolve().parent.parent)
_RUNTIME_DIR = str(Path(__file__).resolve().parent)

#: Taken from our own environment when no base environment is given. Nothing else leaks into
#: functions by default (in particular no real AWS credentials).
_INHERITED = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR")

#: Below base_env. Code dirs are read-only for us, as /var/task is on AWS: no __pycache__ there.
_DEFAULTS = {"PYTHONDONTWRITEBYTECODE": "1"}

_MAX_LOG_BYTES = 1 << 20  # a dead worker's logs beyond this keep only their end


class WorkerDied(Exception):
    """The worker's pipes closed: the process exited or was killed."""


def worker_environment(snapshot: FunctionSnapshot, *, base_env: Mapping[str, str] | None,
                       log_stream: str) -> dict[str, str]:
    """base_env < the function's environment < AWS's reserved variables (which always win)."""
    if base_env is None:
        base_env = {k: v for k, v in os.environ.items() if k in _INHERITED}
    env = {**_DEFAULTS, **base_env, **snapshot.environment}
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": snapshot.function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": snapshot.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(snapshot.memory_size),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{snapshot.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": snapshot.region,
        "AWS_DEFAULT_REGION": snapshot.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{snapshot.runtime}",
        "LAMBDA_TASK_ROOT": str(Path(snapshot.code_dir).resolve()),
        "LAMBDA_RUNTIME_DIR": _RUNTIME_DIR,
        "_HANDLER": snapshot.handler,
        "TZ": ":UTC",
    })
    # Ours first, so that a function's PYTHONPATH cannot hide the worker module.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH")) if p)
    return env


def exit_reason(returncode: int | None) -> str:
    """How AWS words a runtime's end: "exit status 3", "signal: segmentation fault"."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"signal: {name.lower()}"
    return f"exit status {returncode}"


class WorkerProcess:
    """One warm execution environment: a worker subprocess serving one invocation at a time."""

    def __init__(self, snapshot: FunctionSnapshot, process: asyncio.subprocess.Process,
                 log_file: Any, log_stream: str,
                 on_reaped: Callable[[WorkerProcess], None] | None = None) -> None:
        self.snapshot = snapshot
        self.process = process
        self.pid = process.pid
        self.log_stream = log_stream
        self.last_used = time.monotonic()
        self.max_rss_mb = 0  # as last reported by the worker, for REPORT lines
        #: The logs left in the file when the process ended (set once it has been reaped).
        self.final_logs = ""
        self._log_file = log_file
        self._reader = process.stdout
        self._writer = process.stdin
        self._stopped: asyncio.Future[None] | None = None
        self._on_reaped = on_reaped

    @classmethod
    async def spawn(cls, snapshot: FunctionSnapshot, *, python: str,
                    base_env: Mapping[str, str] | None,
                    on_reaped: Callable[[WorkerProcess], None] | None = None) -> WorkerProcess:
        """Start a worker for ``snapshot``; it imports the handler while the caller waits for
        :meth:`ready`. ``on_reaped`` is called once the process is gone."""
        day = time.strftime("%Y/%m/%d", time.gmtime())
        log_stream = f"{day}/[{snapshot.version}]{uuid.uuid4().hex}"
        log_file = tempfile.TemporaryFile(prefix="lambdashift-worker-")
        # O_APPEND: after the worker truncates the file, writes start at offset 0 again.
        flags = fcntl.fcntl(log_file.fileno(), fcntl.F_GETFL)
        fcntl.fcntl(log_file.fileno(), fcntl.F_SETFL, flags | os.O_APPEND)
        try:
            process = await asyncio.create_subprocess_exec(
                # -P: the code dir (cwd) must not shadow the worker's own imports.
                python, "-P", "-m", "lambdashift.emulator.runtime.python_worker",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log_file,
                cwd=str(snapshot.code_dir),
                env=worker_environment(snapshot, base_env=base_env, log_stream=log_stream),
                # Its own process group: killing it takes its children along, and a Ctrl-C
                # meant for the server does not hit the workers.
                start_new_session=True,
                limit=1 << 20,
            )
        except BaseException:
            log_file.close()
            raise
        return cls(snapshot, process, log_file, log_stream, on_reaped)

    @property
    def alive(self) -> bool:
        """False once the process has exited or is being stopped."""
        return self._stopped is None and self.process.returncode is None

    async def ready(self) -> dict[str, Any]:
        """The worker's init report: ``{"init_error": ..., "init_logs": ...}``."""
        return await self._read()

    async def exchange(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one invocation and wait for its answer (the caller bounds the wait)."""
        body = json.dumps(request, separators=(",", ":")).encode()
        try:
            self._writer.write(HEADER.pack(len(body)) + body)
            await self._writer.drain()
        except ConnectionError as exc:
            raise WorkerDied() from exc
        return await self._read()

    async def _read(self) -> dict[str, Any]:
        try:
            head = await self._reader.readexactly(HEADER.size)
            body = await self._reader.readexactly(HEADER.unpack(head)[0])
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise WorkerDied() from exc
        return json.loads(body)

    def stop(self) -> asyncio.Future[None]:
        """Kill the process group now and reap it; idempotent. Await the result to be sure the
        process is gone and :attr:`final_logs` is set; cancelling that wait stops no reaping."""
        if self._stopped is None:
            if self.process.returncode is None:
                # Safe from pid reuse: the pid stays taken until the process is reaped.
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self._stopped = asyncio.ensure_future(self._reap())
        return asyncio.shield(self._stopped)

    async def _reap(self) -> None:
        try:
            await self.process.wait()
        finally:
            self._writer.close()
            self.final_logs = self._read_log_file()
            self._log_file.close()
            if self._on_reaped is not None:
                self._on_reaped(self)

    def _read_log_file(self) -> str:
        # Only once the process is gone; a tiny read from the page cache, not worth a thread.
        try:
            fd = self._log_file.fileno()
            size = os.fstat(fd).st_size
            data = os.pread(fd, min(size, _MAX_LOG_BYTES), max(0, size - _MAX_LOG_BYTES))
        except (OSError, ValueError):
            return ""
        return data.decode("utf-8", "replace")
