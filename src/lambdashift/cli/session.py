"""What rollout commands share: a release (config, target, engines) rendered on the terminal,
and the target flags."""

from __future__ import annotations

import argparse
import atexit
from dataclasses import dataclass
from typing import Any

from lambdashift.cli.common import add_config_argument, config_from, note, positive_seconds
from lambdashift.cli.progress import line as progress_line
from lambdashift.cli.progress import printer
from lambdashift.connections import open_target
from lambdashift.rollout.release import Release


def add_target_arguments(parser: argparse.ArgumentParser, *, waits: bool = False) -> None:
    """``--config``, ``--local``, ``--alias`` (and the polling flags for commands that wait)."""
    add_config_argument(parser)
    parser.add_argument("--local", action="store_true",
                        help="act on the local stack, whatever the config's target says")
    parser.add_argument("--alias", default=None, help="the alias to act on (default: the config's, live)")
    if waits:
        parser.add_argument("--poll", type=positive_seconds, default=5.0, metavar="SECONDS",
                            help="how often a waiting rollout checks metrics and signals (default 5)")


class Terminal:
    """A release's progress, rendered for the person at the terminal: the engine's notices
    to the session's reporter (``cli.live``) or one plain line each, notes on stderr."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def notify(self, state: Any, n: Any) -> None:
        """An engine notice: to the live view, else one plain line."""
        reporter = self._session.reporter
        (reporter.notify if reporter is not None else printer)(state, n)

    def line(self, function: str, text: str) -> None:
        """A line about one function: to the live view once one runs, else plain."""
        reporter = self._session.reporter
        (reporter.line if reporter is not None else progress_line)(function, text)

    def note(self, text: str) -> None:
        """A line about the whole release, on stderr."""
        note(text)


@dataclass
class Session(Release):
    """A command's release (``rollout.release``), rendered on the terminal."""

    #: Where the engine's notices go (``cli.live``); None: one plain line each.
    reporter: Any = None

    def __post_init__(self) -> None:
        self.progress = Terminal(self)


def open_session(args: argparse.Namespace, *, announce: bool = True) -> Session:
    """Load the config, open the target and say which one it is."""
    config = config_from(args)
    target = open_target(config, local=getattr(args, "local", False))
    if announce:
        note(f"target: {target.description}")
    webhooks = None
    if config.webhooks:
        from lambdashift.rollout.webhooks import WebhookNotifier

        webhooks = WebhookNotifier.from_settings(config.webhooks)
        if webhooks is not None:
            # Deliver what is queued before the process ends (bounded: a dead URL cannot hang us).
            atexit.register(webhooks.close, 10.0)
    return Session(config, target, poll=getattr(args, "poll", 5.0), webhooks=webhooks)
