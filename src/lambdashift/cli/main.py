"""Entry point of the ``lambdashift`` command: builds the parser from the command modules.

Each command module has ``register(subparsers)`` that adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lambdashift import __version__
from lambdashift.cli.common import guarded, print_error_json

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATE = 0, 1, 2, 3  # the same as cli.common's


#: Set by :func:`main` while it parses a command line that asks for ``--json``: a usage
#: error is then also a JSON object on stdout, as every other error is.
_json_errors = False


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one readable line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        line = f"{message} (see {self.prog} --help)"
        if _json_errors:
            print_error_json(line, EXIT_USAGE, "UsageError")
        self.exit(EXIT_USAGE, f"{self.prog}: error: {line}\n")


def _wants_json(argv: Sequence[str]) -> bool:
    """``--json`` among the options (not after ``--``, where it would be an argument)."""
    for arg in argv:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def build_parser() -> argparse.ArgumentParser:
    """The full parser, one sub-command per module."""
    from lambdashift.cli import (check, controller, demo, emulator, inspect, load, local, logs,
                                 package, prune, release, traffic, watch)

    parser = _Parser(prog="lambdashift", description=(
        "Zero-downtime AWS Lambda releases through weighted aliases, "
        "with an embedded local Lambda cloud."))
    parser.add_argument("--version", action="version", version=f"lambdashift {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (release, watch, check, traffic, inspect, logs, prune, local, load, package,
                   emulator, controller, demo):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns (and exits with) its exit code."""
    global _json_errors
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    _json_errors = _wants_json(argv)
    try:
        args = parser.parse_args(argv)
    finally:
        _json_errors = False
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return guarded(lambda: args.func(args), as_json=bool(getattr(args, "json", False)))


if __name__ == "__main__":
    sys.exit(main())
