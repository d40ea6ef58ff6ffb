"""Running the emulator: in the foreground (``lambdashift emulator``) or as a child process.

The server binds its socket before uvicorn starts, so ``--port 0`` picks a free port and
the endpoint printed is the one that answers.
"""

from __future__ import annotations

import asyncio
import errno
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from lambdashift.emulator import faults
from lambdashift.emulator.apigw.gateway import build_gateway
from lambdashift.emulator.awslambda.api import build_app
from lambdashift.emulator.awslambda.invoker import Invoker
from lambdashift.emulator.awslambda.store import LambdaStore
from lambdashift.emulator.scheduler import api as scheduler_api
from lambdashift.emulator.scheduler.schedules import ScheduleRules
from lambdashift.errors import ConfigError, LocalStackError

READY_PREFIX = "lambdashift emulator listening on "
GATEWAY_PREFIX = "lambdashift gateway listening on "


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
    #: HTTP API routes (route key → function); None means no gateway is served (an empty
    #: tuple serves one that answers 404 for every path: a stack whose config has no routes).
    gateway_routes: tuple[tuple[str, str], ...] | None = None
    gateway_port: int = 0
    alias: str = "live"
    #: Injected faults (faults.py); none by default.
    faults: faults.FaultSpec = faults.FaultSpec()
    #: Seconds a created function stays Pending and an update InProgress (0 = off).
    state_delay: float = 0.3
    #: The smallest rate() a schedule may have: AWS's minute; lower only for local tests.
    schedule_min_rate: float = 60.0


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name or an address) resolves to loopback addresses only."""
    import ipaddress

    try:
        infos = socket.getaddrinfo(host.strip("[]"), None)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def loopback_refusal(host: str, what: str, allow_remote: bool) -> str | None:
    """The line refusing a non-loopback ``--host`` (None: fine). The servers have no
    authentication: whoever reaches them can deploy and run code, or read every table."""
    if is_loopback(host):
        return None
    if allow_remote:
        return None
    return (f"{what} binds loopback only (127.0.0.1, ::1, localhost), got --host {host}: it has "
            "no authentication, so anyone who reaches it could run code or read data here; "
            "pass --allow-remote to bind it anyway")


def remote_warning(host: str, what: str) -> str:
    """What is said on stderr when --allow-remote binds a non-loopback address."""
    return (f"warning: {what} listens on {host}, beyond this machine, with no authentication: "
            "anyone who reaches it can run code or read data here")


def port_refusal(flag: str, host: str, port: int, exc: OSError) -> str:
    """The line for a port flag whose port cannot be listened on: it names the flag and the
    port the user gave (never the free one a child was asked for), and says why."""
    again = "pick another, or 0 for a free one"
    if exc.errno == errno.EADDRINUSE:
        return f"{flag} {port} is in use on {host}: {again}"
    if exc.errno == errno.EACCES:
        return (f"{flag} {port} is not allowed here (ports below 1024 need privileges): "
                f"{again}")
    return f"{flag} {port}: cannot listen on {host}: {exc.strerror or exc}"


def check_port(flag: str, port: int, host: str = "127.0.0.1") -> None:
    """ConfigError (exit 2) naming ``flag`` when ``port`` is out of range or cannot be
    listened on right now; nothing for 0 (a free one is picked)."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"{flag} must be a port from 0 to 65535, got {port}")
    if port:
        bind(host, port, flag=flag).close()


def bind(host: str, port: int, *, flag: str = "--port") -> socket.socket:
    """A listening socket on host:port (port 0 → a free one); a port that cannot be had is a
    ConfigError naming ``flag``, the option that asked for it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise ConfigError(port_refusal(flag, host, port, exc)) from None
        raise
    sock.set_inheritable(True)
    return sock


def endpoint_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(options: EmulatorOptions,
                on_ready: Callable[[str, str | None], None] | None = None) -> None:
    """Serve the emulator (and the gateway, when it has routes) until stopped."""
    store = LambdaStore(options.data_dir, region=options.region, account_id=options.account_id,
                        state_delay=options.state_delay)
    # What any process needs (PATH, HOME, locale), then what the stack adds (endpoints,
    # dummy credentials): never the emulator's whole environment (no real AWS credentials).
    basics = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    invoker = Invoker(store, default_concurrency=options.concurrency,
                      idle_timeout=options.idle_timeout,
                      base_env={**basics, **dict(options.function_env)})
    store.on_removed = invoker.forget
    injector = faults.FaultInjector(options.faults)
    scheduler = ScheduleRules(options.data_dir, region=options.region, account_id=options.account_id,
                              min_rate=options.schedule_min_rate)
    app = faults.wrap(build_app(store, invoker, control_plane_rate=options.control_plane_rate,
                                mounted=[scheduler_api.mount(scheduler, store, invoker)]),
                      injector)
    servers = [(_server(app, lifespan="on"), bind(options.host, options.port))]
    if options.gateway_routes is not None:
        gateway = faults.wrap(build_gateway(store, invoker, dict(options.gateway_routes),
                                            alias=options.alias), injector, gateway=True)
        servers.append((_server(gateway, lifespan="off"),
                        bind(options.host, options.gateway_port, flag="--gateway-port")))
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    while not all(server.started for server, _ in servers) and not any(t.done() for t in tasks):
        await asyncio.sleep(0.01)
    if on_ready is not None and all(server.started for server, _ in servers):
        endpoints = [endpoint_of(sock) for _, sock in servers]
        on_ready(endpoints[0], endpoints[1] if len(endpoints) > 1 else None)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for server, _ in servers:  # one stopping (a signal reaches every server) stops all
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        store.close()


def _server(app: ASGIApp, *, lifespan: str) -> uvicorn.Server:
    config = uvicorn.Config(app, loop="none", http="httptools", access_log=False,
                            log_level="warning", lifespan=lifespan, timeout_keep_alive=30)
    return uvicorn.Server(config)


def run_foreground(options: EmulatorOptions) -> None:
    """``lambdashift emulator``: serve, print the endpoint once it answers, stop on a signal."""
    def ready(endpoint: str, gateway: str | None) -> None:
        print(f"{READY_PREFIX}{endpoint}", flush=True)
        if gateway:
            print(f"{GATEWAY_PREFIX}{gateway}", flush=True)
        print(f"  data directory: {options.data_dir.resolve()}", flush=True)
        print(f"  try: aws lambda list-functions --endpoint-url {endpoint}", flush=True)
        if options.faults.active:
            print(f"  injecting faults: {options.faults.to_json()} "
                  f"(see {endpoint}{faults.ADMIN_PATH})", flush=True)
    try:
        import uvloop
        uvloop.run(serve(options, ready))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(serve(options, ready))


@dataclass
class ChildServer:
    """One of our servers running as a child process, and where it answers."""

    process: subprocess.Popen[str]
    endpoint: str

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

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


@dataclass
class EmulatorProcess(ChildServer):
    """An emulator running as a child process (the local stack and the tests use it)."""

    gateway: str | None = None


def start_process(data_dir: Path, *, port: int = 0, extra_args: list[str] | None = None,
                  env: dict[str, str] | None = None, timeout: float = 30.0,
                  log_file: Path | None = None, detach: bool = False) -> EmulatorProcess:
    """Start ``lambdashift emulator`` as a child and wait until its endpoints answer.

    With ``log_file`` the child writes there (and may outlive us with ``detach``);
    otherwise its output comes through a pipe that a thread keeps draining.
    """
    cmd = [sys.executable, "-m", "lambdashift.cli.main", "emulator", "--port", str(port),
           "--data-dir", str(data_dir), *(extra_args or [])]
    out = open(log_file, "w") if log_file else subprocess.PIPE  # noqa: SIM115 - child keeps it
    process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT if log_file else None,
                               text=True, env={**os.environ, **(env or {})},
                               start_new_session=detach, stdin=subprocess.DEVNULL)
    if log_file:
        out.close()  # type: ignore[union-attr]
    wants_gateway = "--gateway-routes" in (extra_args or [])
    lines = _ready_lines(process, log_file, 2 if wants_gateway else 1, timeout)
    endpoint = lines[READY_PREFIX]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{endpoint}/_lambdashift/health", timeout=2) as resp:
                if json.load(resp)["status"] == "ok":
                    return EmulatorProcess(process, endpoint, lines.get(GATEWAY_PREFIX))
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise LocalStackError("the emulator did not answer its health check")


def _ready_lines(process: subprocess.Popen[str], log_file: Path | None, wanted: int,
                 timeout: float) -> dict[str, str]:
    """The endpoints the child prints once it listens, by prefix."""
    found: dict[str, str] = {}
    seen: list[str] = []
    deadline = time.monotonic() + timeout

    def take(line: str) -> None:
        seen.append(line)
        for prefix in (READY_PREFIX, GATEWAY_PREFIX):
            if line.startswith(prefix):
                found[prefix] = line[len(prefix):].strip()

    if log_file is None:
        assert process.stdout is not None
        while len(found) < wanted and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            take(line)
        # Keep reading what the child prints, so that a full pipe can never block it.
        stdout = process.stdout
        threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
    else:
        while len(found) < wanted and time.monotonic() < deadline and process.poll() is None:
            seen.clear()
            for line in log_file.read_text().splitlines():
                take(line)
            time.sleep(0.05)
    if len(found) < wanted:
        process.kill()
        detail = "".join(seen)[-2000:] if log_file is None else log_file.read_text()[-2000:]
        code = process.wait()
        said = [line for line in detail.splitlines() if line.startswith("lambdashift")]
        if code == 2 and said:  # a usage error (a port in use, a bad flag): its own words
            raise ConfigError(said[-1].removeprefix("lambdashift: "))
        raise LocalStackError(f"the emulator did not start (exit {code}): {detail.strip()}")
    return found
