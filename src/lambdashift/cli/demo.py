"""``lambdashift demo``: the article's release on the embedded local stack, under live traffic."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``demo`` command."""
    p = subparsers.add_parser(
        "demo", help="release the notes service v1 → v2 under live traffic on the local stack",
        description="Starts the local stack with the notes service, sends live traffic, ships "
                    "v2 of notes-create and notes-get as judged canaries, then a bad release "
                    "that is rolled back automatically, and accounts for every request.")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="work in DIR and keep it (default: a temporary directory, removed after)")
    p.add_argument("--rate", type=float, default=80.0, help="requests per second of live traffic")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the walkthrough."""
    from lambdashift import demo

    return demo.run(keep=args.keep, rate=args.rate)
