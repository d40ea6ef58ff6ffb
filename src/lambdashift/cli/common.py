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
