"""The notes example the demo runs: lambdashift's own pristine copy, never the user's.

The README's quick start has the user edit ``examples/notes/lambdashift.yaml`` (notes-create's
``source`` to v2) and publish. A demo that started from that file shipped "v1" with v2's code
and then had nothing to release. So the demo copies the example packaged with lambdashift
(``lambdashift/demo/example``: the handlers, ``shared/`` and ``lambdashift.yaml``, installed
as package data) to a temporary directory and works there. In the repository its
``functions/`` and ``shared/`` are links to ``examples/notes``'s (the quick start edits only
the yaml), which a wheel build follows, so the handlers are written once; a ``lambdashift.yaml`` the user
has in the working directory is never read for the run, only compared, so the demo can say
that it differs and is not used.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

#: The packaged copy (package data: pyproject.toml's ``[tool.setuptools.package-data]``).
EXAMPLE = Path(__file__).resolve().parent / "example"
#: Written by the stack or by Python into a copy, never part of the example.
_NOT_THE_EXAMPLE = shutil.ignore_patterns(".lambdashift", "__pycache__", ".terraform", "*.pyc")


def copy_to(root: Path) -> Path:
    """A fresh copy of the pristine example at ``root`` (replacing what was there)."""
    if not (EXAMPLE / "lambdashift.yaml").is_file():
        raise FileNotFoundError(f"the demo's notes example is missing from the installed package ({EXAMPLE})")
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(EXAMPLE, root, ignore=_NOT_THE_EXAMPLE)
    return root


def differences(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Where two parsed YAML documents differ: (dotted key, value in ``a``, value in ``b``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in [*a, *(k for k in b if k not in a)]:
            out.extend(differences(a.get(key), b.get(key), f"{path}.{key}" if path else str(key)))
        return out
    return [] if a == b else [(path, a, b)]


def edited(config: Path, *, at_most: int = 3) -> str | None:
    """How ``config`` (the user's lambdashift.yaml) differs from the pristine one, in words,
    or None when it does not (or is not the notes example, or cannot be read)."""
    try:
        theirs = yaml.safe_load(config.read_text())
    except (OSError, yaml.YAMLError):
        return None
    ours = yaml.safe_load((EXAMPLE / "lambdashift.yaml").read_text())
    if not isinstance(theirs, dict) or set(theirs.get("functions") or {}) != set(ours["functions"]):
        return None  # another project's file: nothing to compare
    found = differences(theirs, ours)
    if not found:
        return None
    words = [f"{key}: {mine!r} there, {pristine!r} in the pristine copy" for key, mine, pristine in found[:at_most]]
    more = f" (and {len(found) - at_most} more)" if len(found) > at_most else ""
    return "; ".join(words) + more
