"""``lambdashift deploy``: a rollout for every function whose alias is behind, in waves.

Functions are ordered by their ``after:`` lists into waves (``core.order``); the functions
of one wave roll out in parallel threads, sharing one Lambda API wrapper (and its rate
limiter) and one state store. A wave starts only when every rollout of the wave before it
succeeded: a rollback stops the rest, since later functions were declared to depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lambdashift.config import Config
from lambdashift.core import strategy as strategies
from lambdashift.core.machine import RolloutState, SetTraffic, Start, plan, transition
from lambdashift.errors import LambdashiftError, LockedError
from lambdashift.model import AnalysisStep, Phase, Step, Traffic, promote_index
from lambdashift.rollout.engine import RolloutEngine, refuse_unowned_split
from lambdashift.rollout.group import group_id_of, group_name_of, run_group


@dataclass(frozen=True)
class Candidate:
    """One function's planned rollout: from what the alias serves to the version asked for."""

    function: str
    stable: str
    candidate: str
    steps: tuple[Step, ...]
    resume: RolloutState | None = None   # an unfinished rollout to continue instead
    current: Any = field(default=None, compare=False)  # the alias as read to plan (AliasState)


@dataclass
class DeployOutcome:
    """What deploy did to each function, by name."""

    states: dict[str, RolloutState] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)      # function → why nothing to do
    errors: dict[str, str] = field(default_factory=dict)       # function → what went wrong
    not_started: list[str] = field(default_factory=list)       # later waves after a failure
    held: list[str] = field(default_factory=list)              # later waves behind a gate
    locked: dict[str, str] = field(default_factory=dict)       # function → who holds its lock

    @property
    def exit_code(self) -> int:
        """0 done, 1 rolled back or failed, 2 another process holds a lock, 3 at a manual gate."""
        phases = {s.phase for s in self.states.values()}
        if self.errors or self.not_started or phases & {Phase.ROLLED_BACK, Phase.FAILED,
                                                         Phase.ROLLING_BACK, Phase.INTERRUPTED}:
            return 1
        if self.locked:
            return 2
        if Phase.PAUSED in phases:
            return 3
        return 0


#: Rollouts of one wave run at once at most (a thread each, nearly always asleep).
MAX_PARALLEL = 1000

#: From this many functions on, ``candidates`` lists every version at once (ListFunctions).
BATCH_FROM = 50


def deploy_steps(config: Config, function: str, strategy: str | None) -> tuple[Step, ...]:
    """The function's configured steps (or ``--strategy NAME``'s), with a post-traffic check
    step after the promotion when the function has post-traffic hooks."""
    rollout = config.function(function).rollout
    if strategy:
        # The flag names the strategy; the config's bake (or its absence) still holds.
        bake = {"bake": rollout.settings["bake"]} if "bake" in rollout.settings else {}
        steps = strategies.steps_for({"strategy": strategy, **bake}, path="--strategy",
                                     judge=rollout.judged, defaults=config.analysis)
    else:
        steps = rollout.steps
    if config.hooks:
        hooks = config.hooks.for_function(function)
        full = promote_index(steps)
        after = steps[full + 1:] if full is not None else ()
        if hooks.post_traffic and full is not None and \
                not any(type(s) is AnalysisStep for s in after):
            # Right after the switch, before any bake: the hooks are the first look.
            steps = (*steps[:full + 1], strategies.analysis_step(defaults=config.analysis),
                     *after)
    return steps


def candidates(api, store, config: Config, names: Iterable[str], *, to: str | None,  # noqa: ANN001
               strategy: str | None) -> tuple[list[Candidate], dict[str, str]]:
    """Which functions need a rollout (or have one to resume), and why the others do not.

    For many functions (``BATCH_FROM`` or more) the latest versions come from one paginated
    ListFunctions sweep (50 versions a call) instead of a ListVersionsByFunction each.
    """
    planned, skipped = [], {}
    names = list(names)
    latest = api.latest_versions() if to is None and len(names) >= BATCH_FROM else None
    for name in names:
        active = store.active(name)
        if active:
            state = active[0]
            planned.append(Candidate(name, state.stable, state.candidate, state.steps, resume=state))
            continue
        target = to or (latest.get(name) if latest is not None else api.latest_version(name))
        if target is None:
            skipped[name] = "no published version: run `lambdashift publish` first"
            continue
        alias = api.get_alias(name, config.alias)
        if alias.traffic == Traffic(target):
            skipped[name] = f"{config.alias} already serves version {target}"
            continue
        refuse_unowned_split(name, config.alias, alias.traffic)  # before anything starts
        planned.append(Candidate(name, alias.traffic.primary, target,
                                 deploy_steps(config, name, strategy), current=alias))
    return planned, skipped


def dry_run(candidate: Candidate, alias: str, revision: str) -> list[SetTraffic]:
    """The alias writes the rollout would make, in order (computed by the machine itself)."""
    state = candidate.resume
    if state is None:
        fresh = RolloutState.new("dry-run", candidate.function, alias, candidate.stable,
                                 candidate.candidate, candidate.steps)
        state, _ = transition(fresh, Start(Traffic(candidate.stable), revision, now=0.0))
    return [a for a in plan(state, now=0.0) if isinstance(a, SetTraffic)]


def units_of(config: Config, wave: Iterable[str],
             by_name: dict[str, Candidate]) -> list[tuple[str | None, list[str]]]:
    """A wave as units that run in parallel: single functions ``(None, [fn])`` and groups
    ``(name, members)``; a resumed member stays with the members of its own group run."""
    units: dict[str, tuple[str | None, list[str]]] = {}
    for name in wave:
        c = by_name[name]
        gid = group_id_of(c.resume.rollout_id) if c.resume is not None else None
        fn = config.functions.get(name)
        group = group_name_of(gid) if gid else (fn.group if fn is not None else None)
        if group is None:
            units[f"fn:{name}"] = (None, [name])
        else:
            units.setdefault(f"group:{gid or group}", (group, []))[1].append(name)
    return list(units.values())


def check_group_waves(config: Config, waves: list[tuple[str, ...]]) -> None:
    """A group's members must share a wave (``after:`` between them would split it)."""
    seen: dict[str, int] = {}
    for index, wave in enumerate(waves):
        for name in wave:
            fn = config.functions.get(name)
            if fn is None or fn.group is None:
                continue
            if seen.setdefault(fn.group, index) != index:
                raise LambdashiftError(
                    f"group {fn.group}: its members must not depend on each other through "
                    "`after:` (they roll out together)")


def run_waves(engine_for: Callable[[], RolloutEngine], config: Config, planned: list[Candidate],
              *, on_error: Callable[[str, Exception], None] = lambda n, e: None,
              workers: int = MAX_PARALLEL, stop: Any = None) -> DeployOutcome:
    """Run the planned rollouts wave by wave; later waves wait for earlier ones to succeed.

    Up to ``workers`` rollouts (or groups) of a wave run at once, on threads sharing the
    engine's Lambda API (so one rate limiter) and store. A rollout spends nearly all its
    time in pauses, so its thread mostly sleeps: with few threads the pauses, not the quota,
    would bound a large deploy (32 threads and 10-second pauses made 200 functions take
    2.9 times the quota bound in ``bench/scale.py``).

    Once ``stop`` (a ``rollout.interrupts.StopRequest``) is asked, no wave and no rollout
    starts any more (they are listed as not started); running ones stop in their engines.
    """
    stopped = (lambda: False) if stop is None else (lambda: stop.requested)
    outcome = DeployOutcome()
    by_name = {c.function: c for c in planned}
    waves = config.waves(by_name)
    check_group_waves(config, waves)
    for index, wave in enumerate(waves):
        if stopped():
            outcome.not_started += [n for w in waves[index:] for n in w]
            break
        if outcome.exit_code == 1:
            outcome.not_started += [n for w in waves[index:] for n in w]
            break
        if outcome.exit_code == 2:  # another process holds a lock: later waves wait for it
            outcome.held += [n for w in waves[index:] for n in w]
            break

        def one(unit: tuple[str | None, list[str]]) -> list[tuple[str, RolloutState | Exception]]:
            group, names = unit
            if stopped():
                return [(n, _NOT_STARTED) for n in names]
            if group is not None:
                members = [by_name[n] for n in names]
                engine = engine_for()
                return list(run_group(group, members, engine_for, engine.store, engine.api,
                                      config.alias, stop=stop).items())
            c = by_name[names[0]]
            engine = engine_for()
            try:
                if c.resume is not None:
                    return [(c.function, engine.resume(c.resume))]
                return [(c.function, engine.start(c.function, config.alias, c.candidate, c.steps,
                                                  current=c.current))]
            except LambdashiftError as exc:
                return [(c.function, exc)]

        units = units_of(config, wave, by_name)
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(units)))) as pool:
            for name, result in (r for rs in pool.map(one, units) for r in rs):
                if result is _NOT_STARTED:
                    outcome.not_started.append(name)
                elif isinstance(result, LockedError):
                    outcome.locked[name] = str(result)
                    on_error(name, result)
                elif isinstance(result, Exception):
                    outcome.errors[name] = str(result)
                    on_error(name, result)
                else:
                    outcome.states[name] = result
        if any(s.phase is Phase.PAUSED for s in outcome.states.values()):
            # A gate holds this wave: later waves must not start behind it.
            outcome.held += [n for w in waves[index + 1:] for n in w]
            break
    return outcome


_NOT_STARTED = Exception("not started: the command was interrupted")
