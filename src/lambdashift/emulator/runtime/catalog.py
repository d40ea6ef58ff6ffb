"""Which Lambda runtimes exist, and how (or whether) this machine runs each one.

AWS runs every runtime through the Runtime API (``runtime_api.py``); the emulator does too,
except for Python, whose own worker (``python_worker.py``) is faster and stays the default:

- ``python3.x``: the worker (``interpreters.py`` picks the interpreter);
- ``nodejs20.x``, ``nodejs22.x`` (and the other ``nodejsNN.x``): the machine's ``node`` with
  the runtime client shipped in this package (``node/runtime.mjs``);
- ``provided``, ``provided.al2``, ``provided.al2023``: the package's executable ``bootstrap``;
- Java, .NET and Ruby: accepted by CreateFunction, as AWS accepts them, but not run here:
  :func:`missing` says why and what to do, and Invoke answers that.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["AWS_RUNTIMES", "NODE_CLIENT", "kind", "missing", "node_binary"]

#: The runtimes CreateFunction accepts (AWS's supported, non-deprecated identifiers).
AWS_RUNTIMES = (
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x",
    "java8.al2", "java11", "java17", "java21", "java25",
    "dotnet8", "dotnet10", "ruby3.2", "ruby3.3", "ruby3.4",
    "provided", "provided.al2", "provided.al2023",
)

#: Our Node.js runtime client: speaks the Runtime API with node's own http module.
NODE_CLIENT = Path(__file__).resolve().parent / "node" / "runtime.mjs"

_NODE = re.compile(r"nodejs(\d+)\.x")


def kind(runtime: str) -> str:
    """``python``, ``node``, ``provided`` or ``other`` (what the emulator cannot run)."""
    if runtime.startswith("python"):
        return "python"
    if _NODE.fullmatch(runtime):
        return "node"
    if runtime.startswith("provided"):
        return "provided"
    return "other"


def node_binary(search_path: str | None = None) -> str | None:
    """The ``node`` on PATH (cached per PATH), or None."""
    return _which_node(search_path if search_path is not None else os.environ.get("PATH", ""))


@functools.lru_cache(maxsize=8)
def _which_node(path: str) -> str | None:
    found = shutil.which("node", path=path)
    if found is None:
        return None
    try:
        subprocess.run([found, "--version"], capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return found


def missing(runtime: str, search_path: str | None = None) -> str | None:
    """None when this machine can run ``runtime``; else one sentence naming the runtime and
    what to install (or to leave the function out of the local stack)."""
    what = kind(runtime)
    if what in ("python", "provided"):
        return None
    if what == "node":
        if node_binary(search_path) is not None:
            return None
        wanted = _NODE.fullmatch(runtime)
        major = wanted.group(1) if wanted else ""
        return (f"{runtime} needs Node.js: no `node` is on PATH here; install Node.js {major} "
                "(e.g. `apt-get install nodejs`) and restart the emulator")
    return (f"the lambdashift emulator cannot run {runtime} functions (it runs Python, "
            "Node.js and provided.al2023/provided.al2 bootstraps): package the function as "
            "a provided.al2023 bootstrap, or set `local: false` on it to leave it out of "
            "the local stack")
