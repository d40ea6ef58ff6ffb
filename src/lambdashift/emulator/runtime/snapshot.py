"""What an execution environment runs: one function version's code and configuration.

Apart from the pools (``pools.py``) so that the environments they pool
(``worker_process.py``, ``api_environment.py``) can name it without importing the pools.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class FunctionSnapshot:
    """Immutable code + configuration of one function version, as the runtime needs it."""

    function_name: str
    version: str  # "$LATEST" or "1", "2", ...
    code_dir: Path  # the extracted deployment package (read-only for us)
    handler: str  # "index.handler", "pkg/mod.func" or "a.b.func"
    runtime: str  # e.g. "python3.12": every python runtime runs with our interpreter
    timeout: float  # seconds
    memory_size: int  # MB
    environment: Mapping[str, str]
    code_sha256: str
    snapshot_id: str  # this exact code + config; $LATEST gets a new id after each update
    region: str = "us-east-1"
    account_id: str = "000000000000"
    #: The interpreter for this runtime (``interpreters.py``); None: the runtime's own.
    python: str | None = None
