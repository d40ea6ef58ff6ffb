"""What every command shares: ``--config``, ``--json``, loading the config, printing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lambdashift.config import Config, load_config
from lambdashift.core.strategy import parse_duration
from lambdashift.errors import ConfigError


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
