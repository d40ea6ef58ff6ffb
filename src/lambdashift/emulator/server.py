"""Running the emulator: in the foreground (``lambdashift emulator``) or as a child process.

The server binds its socket before uvicorn starts, so ``--port 0`` picks a free port and
the endpoint printed is the one that answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import threading
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from lambdashift.emulator.api import build_app
from lambdashift.emulator.invoker import Invoker
from lambdashift.emulator.store import LambdaStore

READY_PREFIX = "lambdashift emulator listening on "


@dataclass(frozen=True)
class EmulatorOptions:
    """How to run one emulator."""

    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path = Path(".lambdashift")
    region: str = "us-east-1"
    account_id: str = "000000000000"
    concurrency: int = 10
    idle_timeout: float = 300.0
    control_plane_rate: float = 0.0
    function_env: tuple[tuple[str, str], ...] = ()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0 → a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def endpoint_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(options: EmulatorOptions, on_ready: callable | None = None) -> None:  # type: ignore[valid-type]
    """Serve the emulator until cancelled or signalled."""
    store = LambdaStore(options.data_dir, region=options.region, account_id=options.account_id)
    invoker = Invoker(store, default_concurrency=options.concurrency,
                      idle_timeout=options.idle_timeout, base_env=dict(options.function_env))
    store.on_removed = invoker.forget
    app = build_app(store, invoker, control_plane_rate=options.control_plane_rate)
    sock = bind(options.host, options.port)
    config = uvicorn.Config(app, loop="none", http="httptools", access_log=False,
                            log_level="warning", lifespan="on", timeout_keep_alive=30)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if on_ready is not None and server.started:
        on_ready(endpoint_of(sock))
    try:
        await task
    finally:
        store.close()


def run_foreground(options: EmulatorOptions) -> None:
    """``lambdashift emulator``: serve, print the endpoint once it answers, stop on a signal."""
    def ready(endpoint: str) -> None:
        print(f"{READY_PREFIX}{endpoint}", flush=True)
        print(f"  data directory: {options.data_dir.resolve()}", flush=True)
        print(f"  try: aws lambda list-functions --endpoint-url {endpoint}", flush=True)
    try:
        import uvloop
        uvloop.run(serve(options, ready))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(serve(options, ready))


@dataclass
class EmulatorProcess:
    """An emulator running as a child process (the local stack and the tests use it)."""

    process: subprocess.Popen[str]
    endpoint: str

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: a crash, as the durability tests need it."""
        self.process.kill()
        self.process.wait()


def start_process(data_dir: Path, *, port: int = 0, extra_args: list[str] | None = None,
                  env: dict[str, str] | None = None, timeout: float = 30.0) -> EmulatorProcess:
    """Start ``lambdashift emulator`` as a child and wait until its endpoint answers."""
    cmd = [sys.executable, "-m", "lambdashift.cli.main", "emulator", "--port", str(port),
           "--data-dir", str(data_dir), *(extra_args or [])]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(re.escape(READY_PREFIX) + r"(\S+)", line or "")
    if not match:
        process.kill()
        raise RuntimeError(f"emulator did not start: {line!r} (exit {process.wait()})")
    endpoint = match.group(1)
    # Keep reading what the child prints, so that a full pipe can never block it.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{endpoint}/_lambdashift/health", timeout=2) as resp:
                if json.load(resp)["status"] == "ok":
                    return EmulatorProcess(process, endpoint)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("emulator did not answer its health check")
