"""Entry point of the ``lambdashift`` command: builds the parser from the command modules.

Each command module has ``register(subparsers)`` that adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lambdashift import __version__
from lambdashift.errors import ConfigError, LambdashiftError, LockedError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one readable line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser, one sub-command per module."""
    from lambdashift.cli import (check, demo, emulator, inspect, load, local, logs, package,
                                 prune, release, traffic)

    parser = _Parser(prog="lambdashift", description=(
        "Zero-downtime AWS Lambda releases through weighted aliases, "
        "with an embedded local Lambda cloud."))
    parser.add_argument("--version", action="version", version=f"lambdashift {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in (release, check, traffic, inspect, logs, prune, local, load, package, emulator,
                   demo):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns (and exits with) its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        code = int(args.func(args) or 0)
    except (ConfigError, LockedError) as exc:
        # A held lock is a usage conflict: nothing was changed, try again later.
        print(f"lambdashift: {exc}", file=sys.stderr)
        code = EXIT_USAGE
    except LambdashiftError as exc:
        print(f"lambdashift: {exc}", file=sys.stderr)
        code = EXIT_FAILED
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `lambdashift history FN | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as exc:  # a bug of ours: one line for the user, the traceback on request
        if os.environ.get("LAMBDASHIFT_DEBUG"):
            raise
        print(f"lambdashift: internal error: {type(exc).__name__}: {exc} "
              "(set LAMBDASHIFT_DEBUG=1 for the traceback)", file=sys.stderr)
        code = EXIT_FAILED
    return code


if __name__ == "__main__":
    sys.exit(main())
