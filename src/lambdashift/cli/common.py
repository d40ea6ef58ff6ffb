"""What every command shares: ``--config``, ``--json``, loading the config, printing."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from lambdashift.config import Config, load_config
from lambdashift.core.strategy import parse_duration
from lambdashift.errors import ConfigError, LambdashiftError, LockedError


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config PATH`` (default ./lambdashift.yaml)."""
    parser.add_argument("--config", default="lambdashift.yaml", metavar="PATH",
                        help="the lambdashift.yaml to use (default ./lambdashift.yaml)")


def positive_seconds(text: str) -> float:
    """argparse type: a duration above 0 as the config writes it (``--poll 0.5``, ``5s``,
    ``2m``, a bare number is seconds); argparse names the flag."""
    try:
        return parse_duration(text, "")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(": ")) from None


def seconds_or_zero(text: str) -> float:
    """argparse type: :func:`positive_seconds`, or 0 (``--state-delay 0`` turns it off)."""
    try:
        if float(text) == 0:
            return 0.0
    except ValueError:
        pass
    return positive_seconds(text)


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (``--limit 5``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def port_number(text: str) -> int:
    """argparse type: a TCP port from 0 (a free one) to 65535; argparse names the flag."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {text}")
    return value


def add_json_argument(parser: argparse.ArgumentParser) -> None:
    """``--json``: print data as JSON instead of text."""
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def config_from(args: argparse.Namespace) -> Config:
    """The validated config the command was pointed at (ConfigError → exit 2)."""
    return load_config(args.config, target=getattr(args, "target", None),
                       alias=getattr(args, "alias", None))


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    json.dump(data, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def note(text: str) -> None:
    """A line for the person at the terminal (stderr, so --json output stays clean).

    A closed stderr (``2>&1 | head``) must not undo what the command is doing.
    """
    try:
        print(text, file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        pass


def print_error_json(message: str, code: int, kind: str) -> None:
    """An error as a JSON object on stdout, for scripts reading ``--json`` output: ``error``
    in the same words as the stderr line, ``code`` the exit code, ``type`` the error's kind."""
    try:
        print(json.dumps({"error": message, "code": code, "type": kind}, sort_keys=True), flush=True)
    except (BrokenPipeError, ValueError):
        pass


def guarded(work: Callable[[], int | None], *, as_json: bool = False) -> int:
    """``work()``'s exit code, an error of ours as one line on stderr and its exit code (2 for
    a usage error or a held lock, 1 for a failure), never a traceback."""

    def fail(message: str, code: int, kind: str) -> int:
        print(f"lambdashift: {message}", file=sys.stderr)
        if as_json:
            print_error_json(message, code, kind)
        return code

    try:
        code = int(work() or 0)
    except (ConfigError, LockedError) as exc:
        # A held lock is a usage conflict: nothing was changed, try again later.
        code = fail(str(exc), 2, type(exc).__name__)
    except LambdashiftError as exc:
        code = fail(str(exc), 1, type(exc).__name__)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `lambdashift history FN | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except Exception as exc:  # a bug of ours: one line for the user, the traceback on request
        if os.environ.get("LAMBDASHIFT_DEBUG"):
            raise
        code = fail(f"internal error: {type(exc).__name__}: {exc} "
                    "(set LAMBDASHIFT_DEBUG=1 for the traceback)", 1, "InternalError")
    return code
