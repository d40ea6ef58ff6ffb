"""Child processes of the local stack: started, checked, found again and stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from lambdashift.errors import ConfigError, LocalStackError


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when an HTTP server answers at url (with any status)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


#: The DynamoDB servers the stack can start: lambdashift's own (SQLite, persisted, real
#: index B-trees) or moto's (in memory; kept for comparison and for moto users).
DYNAMODB_BACKENDS = ("lambdashift", "moto")


def start_dynamodb(log_file: Path, *, detach: bool, backend: str = "lambdashift",
                   data_dir: Path | None = None,
                   timeout: float = 30.0) -> tuple[subprocess.Popen[bytes], str]:
    """A DynamoDB server on a free loopback port; returns the process and endpoint."""
    if backend == "moto":
        import importlib.util

        # moto is an optional extra: say how to get it before starting a server that cannot run.
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
            raise ConfigError("--dynamodb moto needs moto's server, which is not installed: "
                                  "pip install 'lambdashift[moto]' (or use the default, "
                                  "--dynamodb lambdashift)")
    port = free_port()
    if backend == "moto":
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        probe = "/moto-api/"
    else:
        where = ["--data-dir", str(data_dir)] if data_dir else ["--in-memory"]
        cmd = [sys.executable, "-m", "lambdashift.dynamodb.server", "--host", "127.0.0.1",
               "--port", str(port), *where]
        probe = "/_lambdashift/health"
    with open(log_file, "wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=detach)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LocalStackError(f"DynamoDB ({backend}) exited at start: see {log_file}")
        if answers(endpoint + probe):
            return process, endpoint
        time.sleep(0.1)
    process.kill()
    raise LocalStackError(f"DynamoDB ({backend}) did not answer within {timeout:.0f} s: see {log_file}")


def alive(pid: int) -> bool:
    """True when a process with this pid runs (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def is_ours(pid: int) -> bool:
    """The pid runs lambdashift's emulator or moto (not some process that reused the pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return alive(pid)  # no /proc: trust the pid file
    return b"lambdashift" in cmdline or b"moto.server" in cmdline


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after timeout; True when the process is gone."""
    if not alive(pid) or not is_ours(pid):
        return True
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        _reap(pid)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    _reap(pid)
    return not alive(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
