"""What rollout commands share: the target, an engine factory, flags."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from lambdashift.cli.common import add_config_argument, config_from, note
from lambdashift.cli.progress import printer
from lambdashift.config import Config
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.target import Target, open_target


def add_target_arguments(parser: argparse.ArgumentParser, *, waits: bool = False) -> None:
    """``--config``, ``--local``, ``--alias`` (and the polling flags for commands that wait)."""
    add_config_argument(parser)
    parser.add_argument("--local", action="store_true",
                        help="act on the local stack, whatever the config's target says")
    parser.add_argument("--alias", default=None, help="the alias to act on (default: the config's, live)")
    if waits:
        parser.add_argument("--poll", type=float, default=5.0, metavar="SECONDS",
                            help="how often a waiting rollout checks metrics and signals (default 5)")


@dataclass
class Session:
    """A command's view of the world: config, target, and how to make engines."""

    config: Config
    target: Target
    poll: float = 5.0
    wait_at_gates: bool = True
    webhooks: Any = None

    def engine(self) -> RolloutEngine:
        """A fresh engine for one rollout (engines are per thread; the target is shared)."""
        from lambdashift.rollout.store import owner_id

        notify = printer
        if self.webhooks is not None:
            hooks = self.webhooks

            def notify(state, n):  # noqa: ANN001, ANN202
                printer(state, n)
                hooks(state, n)
        return RolloutEngine(
            api=self.target.api, store=self.target.store, clock=time.time, sleep=time.sleep,
            owner=owner_id(), counter=self.target.counter, analyzer=make_analyzer(self),
            notify=notify,
            options=EngineOptions(poll_interval=self.poll, wait_at_gates=self.wait_at_gates),
        )


def make_analyzer(session: Session) -> Any:
    """The analyzer for analysis steps: the judge over the target's metrics, with alarms."""
    try:
        from lambdashift.rollout.analysis import JudgeAnalyzer
    except ImportError:  # pragma: no cover - the analysis module ships with the package
        return None
    if session.target.metrics is None:
        return None
    return JudgeAnalyzer(session.target.metrics, session.target.alarms, session.target.store,
                         default_policy=dict(session.config.analysis))


def open_session(args: argparse.Namespace, *, announce: bool = True) -> Session:
    """Load the config, open the target and say which one it is."""
    config = config_from(args)
    target = open_target(config, local=getattr(args, "local", False))
    if announce:
        note(f"target: {target.description}")
    return Session(config, target, poll=getattr(args, "poll", 5.0))
