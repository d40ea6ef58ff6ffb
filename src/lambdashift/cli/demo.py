"""``lambdashift demo``: the article's release on the embedded local stack, under live traffic."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``demo`` command."""
    p = subparsers.add_parser(
        "demo", help="release the notes service v1 → v2 under live traffic on the local stack",
        description="Starts the local stack with the notes service and concurrent clients, "
                    "switches notes-create v2 blue-green, canaries notes-get v2 at 10%, "
                    "rolls a broken notes-list back on the judge's verdict, contrasts a naive "
                    "in-place redeploy, and writes demo-report.json, demo-timeline.png and "
                    "demo-timeline.html to the working directory. It runs from lambdashift's own "
                    "pristine copy of the notes example, checks every step against what happened "
                    "and exits 1, naming the step, when one did not happen as described.")
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="work in DIR and keep it (default: a temporary directory, removed after)")
    p.add_argument("--rate", type=float, default=None,
                   help="requests per second of live traffic (default 110; 60 with --fast)")
    p.add_argument("--fast", action="store_true",
                   help="short pauses and less traffic, for CI (under 2 minutes; the full run "
                        "takes about 4)")
    p.add_argument("--plain", action="store_true",
                   help="plain lines instead of the live view, even on a terminal")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run the walkthrough."""
    from lambdashift import demo

    pace = demo.FAST if args.fast else demo.FULL
    if args.rate is not None:
        pace = replace(pace, rate=args.rate)
    return demo.run(keep=args.keep, pace=pace, plain=args.plain, terminal=DemoTerminal())


class DemoTerminal:
    """What the demo shows its releases with, as the CLI shows them: the demo releases
    through the library (``rollout.release``) and knows nothing of the CLI; this hands it the
    CLI's rendering (the live view, the notices in words, stderr lines), its error lines and
    exit codes, its signal handling, and the local stack's up and down."""

    def __init__(self) -> None:
        from lambdashift.cli import live

        #: A plain log gets a line at least this often while the demo holds the traffic.
        self.heartbeat = live.HEARTBEAT

    def reporter_for(self, *, plain: bool, metrics: Any, local: bool) -> Any:
        """The live view (or plain lines) for the demo's releases."""
        from lambdashift.cli import live

        return live.reporter_for(plain=plain, metrics=metrics, local=local)

    def shared(self, reporter: Any) -> Any:
        """Every release inside reports into ``reporter``."""
        from lambdashift.cli import live

        return live.shared(reporter)

    def is_plain(self, reporter: Any) -> bool:
        """True for plain lines (a log, not a terminal)."""
        from lambdashift.cli import live

        return isinstance(reporter, live.PlainReporter)

    def describe(self, note: Any) -> str:
        """A notice in the words the terminal shows."""
        from lambdashift.cli.progress import describe

        return describe(note)

    def line(self, function: str, text: str) -> None:
        """A plain progress line about one function."""
        from lambdashift.cli.progress import line

        line(function, text)

    def note(self, text: str) -> None:
        """A line for the person at the terminal."""
        from lambdashift.cli.common import note

        note(text)

    def guarded(self, work: Callable[[], int | None]) -> int:
        """``work()``'s exit code; an error as the CLI says it (one line, 2 or 1)."""
        from lambdashift.cli.common import guarded

        return guarded(work)

    def run_interruptibly(self, stop: Any, work: Callable[[], Any]) -> Any:
        """``work()`` with SIGINT/SIGTERM taking the rollouts back to stable."""
        from lambdashift.cli.interrupts import run_interruptibly

        return run_interruptibly(stop, work)

    def local_up(self, config: Path) -> int:
        """``lambdashift local up --detach``: the stack is the CLI's to start."""
        from lambdashift.cli.common import guarded
        from lambdashift.cli.local import run_up

        args = argparse.Namespace(config=str(config), detach=True, api_port=0, lambda_port=0,
                                  dynamodb_endpoint=None, dynamodb="lambdashift")
        return guarded(lambda: run_up(args))

    def local_down(self, config: Path) -> int:
        """``lambdashift local down``."""
        from lambdashift.cli.common import guarded
        from lambdashift.cli.local import run_down

        return guarded(lambda: run_down(argparse.Namespace(config=str(config))))
