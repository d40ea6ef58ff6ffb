"""What every command shares: ``--config``, ``--json``, loading the config, printing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lambdashift.config import Config, load_config


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """``--config PATH`` (default ./lambdashift.yaml)."""
    parser.add_argument("--config", default="lambdashift.yaml", metavar="PATH",
                        help="the lambdashift.yaml to use (default ./lambdashift.yaml)")


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds above 0 (``--poll 0.5``); argparse names the flag."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (``--limit 5``)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
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
