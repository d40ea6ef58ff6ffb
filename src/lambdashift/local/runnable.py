"""Which functions of a config the local stack runs, and which it cannot run on this machine.

A function with ``local: false`` is left out of the local stack (with its routes). Any other
function whose runtime this machine cannot run (``nodejs*`` without ``node`` on PATH,
``java21``, ``dotnet8``...) stops ``local up`` before anything is created, and is a blocking
finding of ``check`` on the local target: both name the function and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdashift.emulator.runtime.catalog import missing

__all__ = ["local_functions", "refusal", "unrunnable"]


def local_functions(functions: Mapping[str, Any]) -> dict[str, Any]:
    """The functions the local stack runs (all but those with ``local: false``)."""
    return {name: fn for name, fn in functions.items() if getattr(fn, "local", True)}


def unrunnable(functions: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(function, why and what to do)`` for each local function this machine cannot run."""
    out = []
    for name, fn in local_functions(functions).items():
        why = missing(fn.runtime)
        if why is not None:
            if "local: false" not in why:
                why += f"; or set `local: false` on functions.{name} to leave it out of the " \
                       "local stack"
            out.append((name, why))
    return out


def refusal(functions: Mapping[str, Any]) -> str | None:
    """The one-line refusal of ``local up`` (None when every local function can run)."""
    found = unrunnable(functions)
    if not found:
        return None
    return "; ".join(f"functions.{name} ({functions[name].runtime}) cannot run on this "
                     f"machine: {why}" for name, why in found) + ". Nothing was started."
