"""Running the DynamoDB endpoint: in the foreground, or as a child process.

``python -m lambdashift.dynamodb.server --host 127.0.0.1 --port 8000 --data-dir DIR``
(or ``--in-memory``) serves until SIGTERM/SIGINT and prints
``lambdashift dynamodb listening on http://127.0.0.1:8000`` once it accepts requests.
The socket is bound before uvicorn starts, so ``--port 0`` picks a free port and the
endpoint printed is the one that answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import uvicorn

from lambdashift.dynamodb.api import build_app
from lambdashift.dynamodb.store import Store
from lambdashift.emulator.server import ChildServer

READY_PREFIX = "lambdashift dynamodb listening on "


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


def endpoint_of(sock: socket.socket) -> str:
    """``http://host:port`` of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(host: str, port: int, data_dir: Path | None,
                on_ready: Callable[[str], None] | None = None) -> None:
    """Serve a store (``data_dir`` None: in memory) until uvicorn is told to stop."""
    sock = bind(host, port)  # first: a taken port must not leave a database opened for nothing
    store = Store(data_dir)
    config = uvicorn.Config(
        build_app(store), loop="none", http="httptools", access_log=False,
        log_level="warning", lifespan="on", timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started and on_ready is not None:
        on_ready(endpoint_of(sock))
    try:
        await task
    finally:
        store.close()  # already closed by the app's lifespan shutdown, unless startup failed


def main(argv: list[str] | None = None) -> None:
    """The command line: serve in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m lambdashift.dynamodb.server",
        description="lambdashift's local DynamoDB endpoint (JSON 1.0 API over SQLite)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback only unless --allow-remote")
    parser.add_argument("--allow-remote", action="store_true",
                        help="let --host be an address other machines reach (no authentication!)")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--data-dir", type=Path, default=Path(".lambdashift") / "dynamodb",
                       help="where the SQLite database lives (default: %(default)s)")
    where.add_argument("--in-memory", action="store_true",
                       help="keep the data in memory only, lost when the server stops")
    args = parser.parse_args(argv)
    data_dir = None if args.in_memory else args.data_dir
    from lambdashift.emulator.server import is_loopback, loopback_refusal, remote_warning

    refusal = loopback_refusal(args.host, "lambdashift's DynamoDB endpoint", args.allow_remote)
    if refusal:
        parser.exit(2, f"lambdashift dynamodb: {refusal}\n")
    if not is_loopback(args.host):
        print(remote_warning(args.host, "lambdashift's DynamoDB endpoint"), file=sys.stderr, flush=True)

    def ready(endpoint: str) -> None:
        print(f"{READY_PREFIX}{endpoint}", flush=True)
        where = "memory" if data_dir is None else str((data_dir / "dynamodb.sqlite3").resolve())
        print(f"  data: {where}", flush=True)
        print(f"  try: aws dynamodb list-tables --endpoint-url {endpoint}", flush=True)

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    else:
        runner = uvloop.run
    if not 0 <= args.port <= 65535:
        parser.exit(2, f"lambdashift dynamodb: --port must be from 0 to 65535, got {args.port}\n")
    try:
        runner(serve(args.host, args.port, data_dir, ready))
    except OSError as exc:  # the port is taken or not allowed (exit 2, naming --port), or the host is not ours
        from lambdashift.emulator.server import port_refusal

        parser.exit(2, f"lambdashift dynamodb: {port_refusal('--port', args.host, args.port, exc)}\n")


#: The endpoint running as a child process (tests and the local stack use it).
DynamoProcess = ChildServer


def start_process(data_dir: Path | None, *, host: str = "127.0.0.1", port: int = 0,
                  timeout: float = 30.0, env: dict[str, str] | None = None) -> DynamoProcess:
    """Start the endpoint as a child and wait until it answers (``data_dir`` None: memory)."""
    where = ["--in-memory"] if data_dir is None else ["--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdashift.dynamodb.server", "--host", host,
         "--port", str(port), *where],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    endpoint = None
    seen = []
    deadline = time.monotonic() + timeout
    while endpoint is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(READY_PREFIX):
            endpoint = line[len(READY_PREFIX):].strip()
    if endpoint is None:
        process.kill()
        raise RuntimeError(f"dynamodb did not start (exit {process.wait()}): {''.join(seen)}")
    # Keep draining what the child prints, so a full pipe can never block it.
    stdout = process.stdout
    threading.Thread(target=lambda: [None for _ in stdout], daemon=True).start()
    with urllib.request.urlopen(f"{endpoint}/_lambdashift/health", timeout=5) as response:
        if json.load(response).get("status") != "ok":
            raise RuntimeError("dynamodb did not answer its health check")
    return DynamoProcess(process, endpoint)


if __name__ == "__main__":
    main()
