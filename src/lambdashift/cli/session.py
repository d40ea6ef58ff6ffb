"""What rollout commands share: the target, an engine factory, flags."""

from __future__ import annotations

import argparse
import atexit
import time
from dataclasses import dataclass, field
from typing import Any

from lambdashift.cli.common import add_config_argument, config_from, note, positive_seconds
from lambdashift.cli.progress import printer
from lambdashift.config import Config, HookConfig
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.interrupts import StopRequest
from lambdashift.rollout.target import Target, open_target


def add_target_arguments(parser: argparse.ArgumentParser, *, waits: bool = False) -> None:
    """``--config``, ``--local``, ``--alias`` (and the polling flags for commands that wait)."""
    add_config_argument(parser)
    parser.add_argument("--local", action="store_true",
                        help="act on the local stack, whatever the config's target says")
    parser.add_argument("--alias", default=None, help="the alias to act on (default: the config's, live)")
    if waits:
        parser.add_argument("--poll", type=positive_seconds, default=5.0, metavar="SECONDS",
                            help="how often a waiting rollout checks metrics and signals (default 5)")


@dataclass
class Session:
    """A command's view of the world: config, target, and how to make engines."""

    config: Config
    target: Target
    poll: float = 5.0
    wait_at_gates: bool = True
    webhooks: Any = None
    #: Where the engine's notices go (``cli.live``); None: one plain line each.
    reporter: Any = None
    #: Set by the first SIGINT/SIGTERM (``cli.interrupts``): every engine of the session stops.
    stop: StopRequest = field(default_factory=StopRequest)

    def engine(self) -> RolloutEngine:
        """A fresh engine for one rollout (engines are per thread; the target is shared)."""
        from lambdashift.rollout.store import owner_id

        show = self.reporter.notify if self.reporter is not None else printer
        notify = show
        if self.webhooks is not None:
            webhooks = self.webhooks

            def notify(state, n):  # noqa: ANN001, ANN202
                show(state, n)
                webhooks(state, n)  # queued: never blocks the rollout
        return RolloutEngine(
            api=self.target.api, store=self.target.store, clock=time.time, sleep=self.stop.sleep,
            owner=owner_id(), counter=self.target.counter, analyzer=make_analyzer(self),
            notify=notify, pre_checks=self._checks("pre"), post_checks=self._checks("post"),
            options=EngineOptions(poll_interval=self.poll, wait_at_gates=self.wait_at_gates,
                                  lease_seconds=self.config.state.lease_seconds),
            prewarm=self._prewarmer(), stop=self.stop, gate=self._gate(),
        )

    def _gate(self) -> Any:
        """The candidate gate: always on (``rollout.candidate``), with the function's smoke."""
        from lambdashift.errors import ConfigError
        from lambdashift.rollout.candidate import CandidateGate

        def smoke_for(function: str) -> tuple[Any, ...]:
            try:
                return self.config.function(function).rollout.smoke
            except ConfigError:  # a rollout resumed for a function the file no longer has
                return self.config.rollout.smoke
        return CandidateGate(self.target.api, smoke_for)

    def _prewarmer(self) -> Any:
        """The pre-warm hook per the config's ``prewarm:`` (None when it is off)."""
        if not self.config.prewarm.enabled:
            return None
        from lambdashift.rollout.prewarm import Prewarmer

        peak = getattr(self.target.metrics, "peak_concurrency", None)
        local_limit = getattr(self.target.metrics, "concurrency_limit", None)
        api = self.target.api

        def limit(function: str) -> int | None:
            """What the pre-warm must leave room under: the emulator's own limit on the local
            stack (it runs each function under one), else reserved or unreserved concurrency."""
            found = local_limit(function) if local_limit is not None else None
            return found if found is not None else api.concurrency_limit(function)
        return Prewarmer(api, self.config.prewarm, peak=peak, clock=time.time, limit=limit)

    def hooks(self, function: str) -> HookConfig:
        """The function's checks (global ones first) from the config's ``hooks``."""
        return self.config.hooks.for_function(function)

    def _checks(self, when: str) -> Any:
        """A callable running the pre- or post-traffic checks of a rollout's function."""
        if not self.config.hooks:
            return None
        from lambdashift.rollout.hooks import PostTrafficCheck, PreTrafficCheck

        def run(state: Any) -> list[str]:
            config = self.hooks(state.function)
            checks = config.pre_traffic if when == "pre" else config.post_traffic
            if not checks:
                return []
            kind, url = ((PreTrafficCheck, self.target.dev_url) if when == "pre"
                         else (PostTrafficCheck, self.target.api_url))
            return kind(checks, lambda_api=self.target.api, base_url=url, timeout=config.timeout).run(state)
        return run


def make_analyzer(session: Session) -> Any:
    """The analyzer for analysis steps: the judge over the target's metrics, with alarms."""
    from lambdashift.rollout.analysis import JudgeAnalyzer

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
    webhooks = None
    if config.webhooks:
        from lambdashift.rollout.webhooks import WebhookNotifier

        webhooks = WebhookNotifier.from_settings(config.webhooks)
        if webhooks is not None:
            # Deliver what is queued before the process ends (bounded: a dead URL cannot hang us).
            atexit.register(webhooks.close, 10.0)
    return Session(config, target, poll=getattr(args, "poll", 5.0), webhooks=webhooks)
