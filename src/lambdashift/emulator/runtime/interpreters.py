"""Which Python runs a function: the one its ``Runtime`` names, when this machine has it.

A function with ``Runtime: python3.13`` runs under ``python3.13`` from the emulator's
``PATH`` (Debian's, pyenv's, ...: one that runs), so that code using 3.13-only features fails locally as
it would not on AWS's 3.12. When that interpreter is missing (or older than 3.11: the
worker needs ``python -P``), the function runs under the emulator's own Python, and the
emulator says so once, when the function is created or its runtime changed: a line
``lambdashift emulator: warning: ...`` on its output (the local stack's
``.lambdashift/emulator.log``).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys

from lambdashift.emulator.runtime.catalog import missing

#: The oldest interpreter a worker can run under (``-P`` arrived in 3.11).
OLDEST = (3, 11)


def own_runtime() -> str:
    """The runtime name of the emulator's own interpreter (``python3.11``)."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def interpreter_for(runtime: str, search_path: str | None = None) -> str | None:
    """The interpreter for ``runtime`` (``python3.13`` → ``python3.13`` on PATH), or None
    when this machine has none the worker can use. Cached: every invocation asks."""
    path = search_path if search_path is not None else os.environ.get("PATH", "")
    return _lookup(runtime, path)


@functools.lru_cache(maxsize=64)
def _lookup(runtime: str, path: str) -> str | None:
    found = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    if found is None:
        return None
    wanted = (int(found.group(1)), int(found.group(2)))
    if runtime == own_runtime():
        return sys.executable
    if wanted < OLDEST:
        return None
    found_path = shutil.which(runtime, path=path)
    # It must run: a pyenv shim for a version that is not selected is on PATH and fails.
    # Its version is taken from its name, as PATH conventions go; asked once, then cached.
    if found_path is None or not _runs(found_path):
        return None
    return found_path


def _runs(path: str) -> bool:
    try:
        out = subprocess.run([path, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return tuple(int(p) for p in out.split()) >= OLDEST
    except (OSError, subprocess.SubprocessError, ValueError):
        return False


def fallback_warning(function: str, runtime: str) -> str | None:
    """The warning for a function whose runtime falls back to our Python (or, for another
    runtime, that this machine cannot run it), else None."""
    if not runtime.startswith("python"):
        why = missing(runtime)
        return None if why is None else (
            f"lambdashift emulator: warning: {function} has Runtime {runtime}: {why}")
    if interpreter_for(runtime) is not None:
        return None
    return (f"lambdashift emulator: warning: {function} has Runtime {runtime}, but no usable "
            f"{runtime} is on PATH here: it runs under the emulator's own Python "
            f"({own_runtime()}, {sys.executable})")


#: How many functions of one runtime are named in a fallback warning before the emulator
#: says it once more and stops: a fleet of 1,000 functions needs no 1,000 identical lines.
WARN_PER_RUNTIME = 3
_warned: dict[str, int] = {}


def warn_if_fallback(function: str, runtime: str) -> None:
    """Say it on the emulator's stderr when a created function (or a changed runtime) falls
    back to our Python: for the first few functions of that runtime, then once that later
    ones are not named."""
    warning = fallback_warning(function, runtime)
    if not warning:
        return
    count = _warned[runtime] = _warned.get(runtime, 0) + 1
    if count <= WARN_PER_RUNTIME:
        print(warning, file=sys.stderr, flush=True)
    if count == WARN_PER_RUNTIME:
        print(f"lambdashift emulator: warning: further functions with Runtime {runtime} fall "
              "back the same way and are not named", file=sys.stderr, flush=True)
