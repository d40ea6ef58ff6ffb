"""A release as a library call: a typed config and a target → check → plan → rollouts.

The CLI (``deploy``, ``resume``), the demo and a user's own script all release through this
module; none of them goes through argv. The steps, as chalice splits a deploy:

* :meth:`Release.check`: read-only findings (``rollout.check``) that may block the release;
* :meth:`Release.plan`: only reads (aliases, versions, the store): which functions roll out
  from which version to which, with which steps, in which waves, and which have nothing to do;
* :meth:`Release.execute`: the plan run by an executor. :class:`Executor` runs the rollouts
  (waves, groups, a stop through the release's ``StopRequest``); :class:`DisplayOnlyExecutor`
  runs the same plan through the state machine and returns the alias writes it would make,
  making none (``deploy --dry-run``).

Progress goes to a :class:`Progress` (the engine's notices, and the release's own lines); the
library prints nothing. A release also wires the engine each rollout runs on
(:meth:`Release.engine`): the judge over the target's metrics, the candidate gate, pre-warming,
the hooks and the webhooks, all from the config.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambdashift.config import Config
from lambdashift.core.machine import Notify, RolloutState
from lambdashift.errors import ConfigError, LambdashiftError
from lambdashift.model import BakeStep, WeightStep
from lambdashift.rollout import deploy as deploying
from lambdashift.rollout.deploy import Candidate, DeployOutcome
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.interrupts import StopRequest
from lambdashift.rollout.selection import expand

__all__ = ["CHECK_AT_MOST", "DeployResult", "DisplayOnlyExecutor", "Executor", "Plan",
           "PlannedWrites", "Progress", "Release", "SilentProgress", "not_judged", "preflight",
           "published_line"]

#: ``deploy`` runs ``check`` for at most this many functions (the batched planning of 50+
#: functions would otherwise be undone by three control-plane calls per function).
CHECK_AT_MOST = 50


class Progress(Protocol):
    """Where a release reports: the engine's notices, a line about one function, a line
    about the release as a whole."""

    def notify(self, state: RolloutState, note: Notify) -> None: ...

    def line(self, function: str, text: str) -> None: ...

    def note(self, text: str) -> None: ...


class SilentProgress:
    """Reports nothing (a script that reads the outcome instead)."""

    def notify(self, state: RolloutState, note: Notify) -> None:
        """Drop the notice."""

    def line(self, function: str, text: str) -> None:
        """Drop the line."""

    def note(self, text: str) -> None:
        """Drop the note."""


@dataclass
class Plan:
    """What a release will do: the rollouts (new or resumed) and why the others do nothing."""

    candidates: list[Candidate]
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class DeployResult:
    """What :meth:`Release.deploy` did: the check's findings (``blocked``: it stopped there),
    the plan, and the rollouts' outcome (or, for a dry run, the writes they would make)."""

    findings: list[Any] = field(default_factory=list)
    blocked: bool = False
    plan: Plan | None = None
    outcome: DeployOutcome | None = None
    planned_writes: list[PlannedWrites] | None = None


@dataclass(frozen=True)
class PlannedWrites:
    """One rollout of a plan as the display-only executor sees it: the alias writes, in order."""

    candidate: Candidate
    writes: tuple[Any, ...]  # SetTraffic, as the machine plans them


@dataclass
class Release:
    """One release's world: the config, the target, how rollouts wait and where they report.

    ``stop`` is the process's stop request (set by the CLI's SIGINT/SIGTERM handler): once
    asked, no wave or rollout starts and the running ones go back to stable.
    """

    config: Config
    target: Any  # lambdashift.connections.Target
    poll: float = 5.0
    wait_at_gates: bool = True
    webhooks: Any = None
    progress: Progress = field(default_factory=SilentProgress)
    stop: StopRequest = field(default_factory=StopRequest)
    #: Who drives the rollouts (their leases' owner); None: this process (``owner_id``).
    owner: str | None = None
    #: The release's record in the store (``rollout.release_record``), once stored.
    release_id: str = ""

    # -- publish: the versions a release rolls out ---------------------------------------

    def publish(self, names: list[str] | None = None) -> list[Any]:
        """Package and publish a version of each function (default: all) whose code or
        configuration changed; warnings go to the progress. The ``dev`` alias follows the
        newest version, unless it is the alias traffic goes to."""
        from lambdashift.rollout.publish import publish

        dev = None if self.config.alias == "dev" else "dev"
        results = publish(self.target.api, self.config, list(names or ()),
                          create_missing=self.target.is_local, dev_alias=dev)
        for r in results:
            for warning in r.warnings:  # the code may be right on AWS (a layer): said, not refused
                self.progress.note(f"{r.function}: warning: {warning}")
        return results

    # -- check and plan: reads only -------------------------------------------------------

    def check(self, names: list[str]) -> list[Any]:
        """The findings of ``lambdashift check`` for ``names`` (``rollout.check``)."""
        return preflight(self.config, self.target, names)

    def plan(self, names: list[str], *, to: str | None = None,
             strategy: str | None = None) -> Plan:
        """Which of ``names`` roll out (or resume), and why the others do not.

        ``to`` (one function only) must be a published version of it.
        """
        if to is not None and to not in self.target.api.versions(names[0]):
            raise ConfigError(f"{names[0]} has no published version {to!r} (published: "
                              f"{', '.join(self.target.api.versions(names[0])) or 'none'})")
        planned, skipped = deploying.candidates(self.target.api, self.target.store, self.config,
                                                names, to=to, strategy=strategy)
        return Plan(planned, skipped)

    def resumable(self) -> Plan:
        """Every unfinished rollout on the target, as a plan."""
        return Plan([Candidate(s.function, s.stable, s.candidate, s.steps, resume=s)
                     for s in self.target.store.active()])

    def execute(self, plan: Plan, executor: Any = None) -> Any:
        """``plan`` run by ``executor`` (:class:`Executor` by default)."""
        return (executor or Executor()).run(self, plan)

    def deploy(self, names: list[str] | None = None, *, to: str | None = None,
               strategy: str | None = None, check: bool = True, dry_run: bool = False,
               around: Callable[[Callable[[], Any]], Any] = lambda work: work(),
               ) -> DeployResult:
        """The whole release of ``names`` (default: every function, the selected ones too):
        check, plan, then run the plan (``dry_run``: display only). ``around`` wraps the run
        (the CLI's signal handling and live view). Progress says what happens as it does."""
        say = self.progress.note
        self.config = expand(self.config, self.target.api)  # `select:`: listed once
        for name in names or ():
            self.config.function(name)  # an unknown name: ConfigError before any change
        names = list(names or self.config.functions)
        result = DeployResult()
        if check and len(names) > CHECK_AT_MOST:
            say(f"check: not run before deploying {len(names)} functions (it costs 3 "
                f"control-plane calls each, beyond {CHECK_AT_MOST} longer than many rollouts): "
                "run `lambdashift check` on its own first")
        elif check:
            result.findings = self.check(names)
            blocking = [f for f in result.findings if f.blocking]
            for finding in result.findings:
                say(finding.line())
            if blocking:
                say(f"deploy: nothing changed: {len(blocking)} finding"
                    f"{'s' if len(blocking) != 1 else ''} of `lambdashift check` block the "
                    "release (--no-check skips the check)")
                result.blocked = True
                return result
        result.plan = plan = self.plan(names, to=to, strategy=strategy)
        for name, why in plan.skipped.items():
            self.progress.line(name, f"nothing to do: {why}")
        for text in not_judged(self.config, plan.candidates):
            say(text)
        if dry_run:
            result.planned_writes = self.execute(plan, DisplayOnlyExecutor())
        else:
            result.outcome = around(lambda: self.execute(plan))
        return result

    # -- the engine each rollout runs on ---------------------------------------------------

    def engine(self) -> RolloutEngine:
        """A fresh engine for one rollout (engines are per thread; the target is shared)."""
        from lambdashift.store.locks import owner_id

        show = self.progress.notify
        notify = show
        if self.webhooks is not None:
            webhooks = self.webhooks

            def notify(state, n):  # noqa: ANN001, ANN202
                show(state, n)
                webhooks(state, n)  # queued: never blocks the rollout
        return RolloutEngine(
            api=self.target.api, store=self.target.store, clock=time.time, sleep=self.stop.sleep,
            owner=self.owner or owner_id(), counter=self.target.counter, analyzer=self.analyzer(),
            notify=notify, pre_checks=self._checks("pre"), post_checks=self._checks("post"),
            options=EngineOptions(poll_interval=self.poll, wait_at_gates=self.wait_at_gates,
                                  lease_seconds=self.config.state.lease_seconds),
            prewarm=self._prewarmer(), stop=self.stop, gate=self._gate(), release=self.release_id,
        )

    def remember(self, *, detached: bool = False, rollouts: dict[str, str] | None = None) -> str:
        """Store this release's record (once) so that any process can drive its rollouts
        (``rollout.release_record``); its id. ``LambdashiftError`` if it cannot be stored."""
        if not self.release_id:
            from lambdashift.rollout.release_record import new_release_id, save_release
            from lambdashift.store.locks import owner_id

            release_id = new_release_id()
            save_release(self.target.store, release_id, self.config, self.target,
                         poll=self.poll, by=self.owner or owner_id(), detached=detached,
                         rollouts=rollouts)
            self.release_id = release_id
        return self.release_id

    def analyzer(self) -> Any:
        """The judge over the target's metrics, with its alarms (None: no metrics source)."""
        from lambdashift.rollout.analysis import JudgeAnalyzer

        if self.target.metrics is None:
            return None
        return JudgeAnalyzer(self.target.metrics, self.target.alarms, self.target.store,
                             default_policy=dict(self.config.analysis))

    def _gate(self) -> Any:
        """The candidate gate: always on (``rollout.candidate``), with the function's smoke."""
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

    def _checks(self, when: str) -> Callable[[RolloutState], list[str]] | None:
        """A callable running the pre- or post-traffic checks of a rollout's function."""
        if not self.config.hooks:
            return None
        from lambdashift.rollout.hooks import PostTrafficCheck, PreTrafficCheck

        def run(state: RolloutState) -> list[str]:
            hooks = self.config.hooks.for_function(state.function)
            checks = hooks.pre_traffic if when == "pre" else hooks.post_traffic
            if not checks:
                return []
            kind, url = ((PreTrafficCheck, self.target.dev_url) if when == "pre"
                         else (PostTrafficCheck, self.target.api_url))
            return kind(checks, lambda_api=self.target.api, base_url=url,
                        timeout=hooks.timeout).run(state)
        return run


def not_judged(config: Config, planned: list[Candidate]) -> list[str]:
    """Once per release, in words: the functions whose candidate no judge will look at, and
    why (``analysis: off``, or no split: all traffic moves at once)."""
    out = []
    off = [c.function for c in planned
           if c.resume is None and not config.function(c.function).rollout.judged]
    if off:
        out.append(f"analysis: off — nothing is judged for {names_in_words(off)}: each step "
                   "goes on when its pause ends, however the candidate behaves")
    unsplit = [c for c in planned if c.resume is None and c.function not in off
               and not any(isinstance(s, WeightStep) and s.weight < 1 for s in c.steps)]
    baked = [c.function for c in unsplit if isinstance(c.steps[-1], BakeStep)]
    bare = [c.function for c in unsplit if c.function not in baked]
    if baked:
        out.append(f"{names_in_words(baked)}: all traffic moves at once, so there is no split to "
                   "judge; the bake then compares the candidate with the stable's requests "
                   "before the switch")
    if bare:
        out.append(f"{names_in_words(bare)}: all traffic moves at once, so there is no split to "
                   "judge; only hooks and alarms check the candidate (docs/concepts.md, "
                   "blue-green)")
    return out


def published_line(result: Any) -> str:
    """One published function in words: ``notes-get   3  new version (was 2)``."""
    what = ("new version" if result.changed else "unchanged") + (
        f" (was {result.previous})" if result.changed and result.previous else "")
    return f"{result.function:<20} {result.version:>4}  {what}"


def names_in_words(names: list[str], most: int = 5) -> str:
    """``a, b, c`` or, for many, ``1000 functions (a, b, c, …)``: one line either way."""
    if len(names) <= most:
        return ", ".join(names)
    return f"{len(names)} functions ({', '.join(names[:3])}, …)"


class Executor:
    """Runs a plan: wave by wave, groups together, until done or stopped."""

    def run(self, release: Release, plan: Plan) -> DeployOutcome:
        """The rollouts' outcome; an error of one rollout is a line on the release's progress."""
        if getattr(release.target.store, "shared", False) and any(
                c.resume is None for c in plan.candidates):
            try:  # what lets the controller (or `resume` elsewhere) take over after a crash
                release.remember()
            except LambdashiftError as exc:
                release.progress.note(f"warning: {exc}; a crash of this process leaves its "
                                      "rollouts to `lambdashift resume` with this config")
        return deploying.run_waves(
            release.engine, release.config, plan.candidates, stop=release.stop,
            on_error=lambda n, e: release.progress.line(n, f"error: {e}"))


class DisplayOnlyExecutor:
    """Runs a plan through the state machine only: the alias writes each rollout would make,
    in order, and nothing written (``deploy --dry-run``)."""

    def run(self, release: Release, plan: Plan) -> list[PlannedWrites]:
        """Each planned rollout with its writes (read from the alias's current RevisionId)."""
        out = []
        for c in plan.candidates:
            alias = release.target.api.get_alias(c.function, release.config.alias)
            out.append(PlannedWrites(c, tuple(deploying.dry_run(c, release.config.alias,
                                                                alias.revision_id))))
        return out


def preflight(config: Config, target: Any, names: list[str]) -> list[Any]:
    """The findings of ``lambdashift check`` for ``names`` on ``target``."""
    from lambdashift.aws.clients import make_client
    from lambdashift.aws.inventory import Inventory
    from lambdashift.aws.packaging import build_zip
    from lambdashift.model import AnalysisStep
    from lambdashift.rollout.check import run_checks

    lam = target.api.client
    region = lam.meta.region_name
    if target.is_local:
        from lambdashift.emulator.apigw.api import PREFIX

        apigw = make_client("apigatewayv2", endpoint_url=f"{target.api_url}{PREFIX}",
                            region=region, local=True)
        cloudwatch = None
    else:
        apigw = make_client("apigatewayv2", region=region)
        cloudwatch = make_client("cloudwatch", region=region)
    routes: dict[str, list[str]] = {}
    for route in config.routes:
        routes.setdefault(route.function, []).append(route.key)
    alarms = {n: [a for step in deploying.deploy_steps(config, n, None)
                  if isinstance(step, AnalysisStep) for a in step.alarms] for n in names}
    needed = sum(len(build_zip(config.function(n).source, config.function(n).include).data)
                 for n in names)
    limiter, retry = target.api.pacing
    inventory = Inventory(lam, apigateway=apigw, cloudwatch=cloudwatch, limiter=limiter,
                          retry=retry)
    return run_checks(inventory, names, alias=config.alias, routes=routes, alarms=alarms,
                      owned=lambda n: bool(target.store.active(n)), needed_bytes=needed,
                      own_change=lambda n, raw: own_change(target.store, n, config.alias, raw))


def own_change(store: Any, function: str, alias: str, raw: Any) -> str | None:
    """In words, lambdashift's own change (in ``history``) that left the alias as GetAlias
    answered ``raw``; None when the alias was changed outside lambdashift since."""
    from lambdashift.model import Traffic
    from lambdashift.rollout.manual_changes import kind_of, left_by_lambdashift

    try:
        current = Traffic.from_alias(str(raw["FunctionVersion"]), raw.get("RoutingConfig"))
    except (KeyError, ValueError):
        return None
    last = left_by_lambdashift(store, function, alias, current)
    if last is None:
        return None
    kind = kind_of(last)
    what = f"`lambdashift {kind}`" if kind != "rollout" else "a lambdashift rollout"
    return f"{what} ({last.rollout_id}, in `lambdashift history {function}`)"
