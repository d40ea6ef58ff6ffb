"""``publish``, ``deploy`` and ``resume``: ship versions and roll them out."""

from __future__ import annotations

import argparse

from lambdashift.cli.common import add_json_argument, note, positive_seconds, print_json
from lambdashift.cli.progress import line
from lambdashift.cli.session import add_target_arguments, open_session
from lambdashift.core import strategy as strategies
from lambdashift.errors import ConfigError
from lambdashift.model import (
    AnalysisStep, BakeStep, InvocationPause, PauseStep, Phase, WeightStep, format_duration,
)
from lambdashift.rollout import deploy as deploying
from lambdashift.rollout.forecasting import parse_rate
from lambdashift.rollout.release import Plan, PlannedWrites, published_line
from lambdashift.rollout.selection import expand


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``publish``, ``deploy`` and ``resume``."""
    p = subparsers.add_parser("publish", help="package and publish a version where code or configuration changed")
    add_target_arguments(p)
    add_json_argument(p)
    p.add_argument("functions", nargs="*", metavar="FN", help="functions to publish (default: all)")
    p.set_defaults(func=run_publish)

    d = subparsers.add_parser("deploy", help="roll out the latest version of every function whose alias is behind")
    add_target_arguments(d, waits=True)
    add_json_argument(d)
    d.add_argument("functions", nargs="*", metavar="FN", help="functions to deploy (default: all)")
    d.add_argument("--to", default=None, metavar="VERSION", help="roll out this version instead of the latest")
    d.add_argument("--strategy", default=None, metavar="NAME",
                   help="blue-green, canary, linear or a CodeDeploy preset, instead of the config's")
    d.add_argument("--dry-run", action="store_true", help="print the alias changes; make none")
    d.add_argument("--rate", default=None, metavar="RATE",
                   help="with --dry-run: say what each judged step can catch at this many requests "
                        "to the alias (40/s, 600/min) instead of its traffic of the last minutes")
    d.add_argument("--no-wait", action="store_true",
                   help="stop at a manual gate (exit 3) instead of waiting for `lambdashift promote`")
    add_plain_argument(d)
    d.add_argument("--no-check", action="store_true",
                   help="skip `lambdashift check` before the first change (not recommended)")
    d.add_argument("--detach", action="store_true",
                   help="hand the rollouts to the controller and return once it has taken them "
                        "(`lambdashift watch` follows them)")
    d.add_argument("--controller", default=None, metavar="FUNCTION",
                   help="with --detach: the controller function (default: lambdashift-controller, "
                        "the name install, the Terraform module and local up give it)")
    d.add_argument("--handover-timeout", type=positive_seconds, default=30.0, metavar="SECONDS",
                   help="with --detach: how long to wait for the controller to take the rollouts "
                        "(default 30)")
    d.set_defaults(func=run_deploy)

    r = subparsers.add_parser("resume", help="continue every rollout a dead process left unfinished")
    add_target_arguments(r, waits=True)
    add_json_argument(r)
    r.add_argument("--no-wait", action="store_true", help="stop at manual gates (exit 3)")
    add_plain_argument(r)
    r.set_defaults(func=run_resume)


def run_publish(args: argparse.Namespace) -> int:
    """Publish and print function → version."""
    session = open_session(args)
    results = session.publish(args.functions)
    if args.json:
        print_json([r.__dict__ for r in results])
    else:
        for r in results:
            print(published_line(r))
    return 0


def add_plain_argument(parser: argparse.ArgumentParser) -> None:
    """``--plain``: lines instead of the live view, even on a terminal."""
    parser.add_argument("--plain", action="store_true",
                        help="print one line per change (and a heartbeat while waiting) instead "
                             "of the live view; the default when stderr is not a terminal")


def _reporter(session, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """The live view or plain lines, per ``--plain`` and the terminal (``cli.live``)."""
    from lambdashift.cli.live import reporter_for

    session.reporter = reporter_for(plain=args.plain or args.json, metrics=session.target.metrics,
                                    local=session.target.is_local)
    return session.reporter


def run_deploy(args: argparse.Namespace) -> int:
    """Plan, then run (or print) the rollouts."""
    # Usage errors first: exit 2 whether or not the target answers.
    rate = None
    if args.rate is not None:
        if not args.dry_run:
            raise ConfigError("--rate is for --dry-run: a rollout judges the traffic it sees")
        try:
            rate = parse_rate(args.rate)
        except ValueError:
            raise ConfigError(f"--rate: not a rate: {args.rate!r} (try 40/s or 600/min)") from None
    if args.to is not None and len(args.functions) != 1:
        raise ConfigError("--to VERSION needs exactly one function: `lambdashift deploy FN --to N`")
    if args.strategy:
        strategies.steps_for({"strategy": args.strategy}, path="--strategy")  # names --strategy
    if args.detach:
        for flag, given in (("--dry-run", args.dry_run), ("--no-wait", args.no_wait)):
            if given:
                raise ConfigError(f"--detach and {flag} do not go together: a detached release "
                                  "runs on the controller" + (", which waits at manual gates for "
                                  "`lambdashift approve`" if flag == "--no-wait" else ""))
        return _run_detached(args)
    elif args.controller is not None:
        raise ConfigError("--controller is for --detach")
    session = open_session(args)
    session.wait_at_gates = not args.no_wait

    def around(work):  # noqa: ANN001, ANN202 - the live view, and signals to the stop request
        from lambdashift.cli.interrupts import run_interruptibly

        with _reporter(session, args):
            return run_interruptibly(session.stop, work)
    result = session.deploy(args.functions, to=args.to, strategy=args.strategy,
                            check=not args.no_check, dry_run=args.dry_run, around=around)
    if result.blocked:
        if args.json:
            print_json({"exit_code": 1, "check": [f.__dict__ for f in result.findings]})
        return 1
    if args.dry_run:
        return _print_plan(session, result.planned_writes or [], args.json, rate)
    assert result.outcome is not None and result.plan is not None
    return _report(result.outcome, result.plan.skipped, args.json, session.stop)


def _run_detached(args: argparse.Namespace) -> int:
    """``deploy --detach``: queue the release for the controller, wait until it took it."""
    from lambdashift.controller.settings import DEFAULT_FUNCTION
    from lambdashift.rollout.detach import detach

    session = open_session(args)
    controller = args.controller or DEFAULT_FUNCTION
    result = detach(session, args.functions, to=args.to, strategy=args.strategy,
                    check=not args.no_check, controller=controller,
                    wait_seconds=args.handover_timeout)
    code = result.exit_code
    if args.json:
        print_json({"exit_code": code, "release": result.release_id, "rollouts": result.rollouts,
                    "taken": result.taken, "not_taken": result.not_taken,
                    "skipped": result.deploy.plan.skipped if result.deploy.plan else {},
                    "controller": controller, "error": result.invoke_error or None})
        return code
    if result.deploy.blocked:
        return code
    if not result.rollouts:
        note("deploy --detach: nothing to roll out")
        return code
    print(f"release {result.release_id}: {len(result.rollouts)} rollout"
          f"{'s' if len(result.rollouts) != 1 else ''} handed to {controller}")
    by_id = {rid: fn for fn, rid in result.rollouts.items()}
    for rid, who in sorted(result.taken.items(), key=lambda kv: by_id[kv[0]]):
        line(by_id[rid], f"{rid}  taken by {who}")
    for rid in result.not_taken:
        line(by_id[rid], f"{rid}  not taken yet")
    if result.not_taken:
        note(f"deploy --detach: {len(result.not_taken)} rollout(s) not taken by {controller} "
             f"within {args.handover_timeout:g} s; they stay queued: its next scheduled run takes "
             "them, `lambdashift resume` drives them here, `lambdashift rollback FN` ends one "
             "with no alias change (`lambdashift controller status` says whether it runs)")
    else:
        note(f"follow them with `lambdashift watch --release {result.release_id}` (its exit "
             "code is the release's, even once it has ended); `status` and `history` work "
             "from any machine with the state store")
    return code


def _run(session, args: argparse.Namespace, plan: Plan) -> int:  # noqa: ANN001
    """Run the rollouts, a first SIGINT/SIGTERM taking them back to stable (``cli.interrupts``)."""
    from lambdashift.cli.interrupts import run_interruptibly

    with _reporter(session, args):
        outcome = run_interruptibly(session.stop, lambda: session.execute(plan))
    return _report(outcome, plan.skipped, args.json, session.stop)


def _print_plan(session, planned: list[PlannedWrites], as_json: bool,  # noqa: ANN001
                rate: float | None = None) -> int:
    """What the display-only executor found, in words (or JSON)."""
    from lambdashift.cli.plan_forecast import forecasts

    rows = []
    looks = getattr(session.target.metrics, "looks", "when the metrics source has new data")
    for p in planned:
        c, writes = p.candidate, p.writes
        steps = describe_steps(c, session.config.analysis, looks)
        said = forecasts(session, c, rate)
        rows.append({"function": c.function, "stable": c.stable, "candidate": c.candidate,
                     "writes": [str(w.traffic) for w in writes], "steps": steps,
                     "forecasts": {str(i + 1): text for i, text in said.items()}})
    if as_json:
        print_json({"dry_run": True, "plan": rows, "waves": session.config.waves([r["function"] for r in rows])})
        return 0
    note("dry run: no alias is changed")
    for r in rows:
        print(f"{r['function']}: {r['stable']} → {r['candidate']}")
        for i, w in enumerate(r["writes"], 1):
            print(f"  {i}. UpdateAlias {session.config.alias} = {w}")
        print("  steps:")
        for i, text in enumerate(r["steps"], 1):
            print(f"    {i}. {text}")
            if str(i) in r["forecasts"]:
                print(f"       {r['forecasts'][str(i)]}")
    return 0


def describe_steps(c: deploying.Candidate, defaults, looks: str) -> list[str]:  # noqa: ANN001
    """Each step in words, with the checks it runs (what ``deploy --dry-run`` prints)."""
    out, weight = [], 0.0
    cand, stable = f"v{c.candidate}", f"v{c.stable}"
    for step in c.steps:
        if isinstance(step, WeightStep):
            weight = step.weight
            out.append(f"{step}: {stable} + {cand} ({step.weight:.0%})" if weight < 1 else f"{step}: {cand} alone")
        elif isinstance(step, BakeStep):
            out.append(f"bake {format_duration(step.seconds)}: {cand}'s errors and warm latency "
                       f"after the switch against {stable}'s in the 5 min before it (30 min at "
                       f"low traffic); rollback on evidence; looks {looks}")
        elif isinstance(step, AnalysisStep):
            out.append(_describe_check(step, defaults, 0 < weight < 1, cand, stable, looks))
        elif isinstance(step, (PauseStep, InvocationPause)):
            out.append(f"{step}: not judged (analysis: off)" if 0 < weight < 1 else str(step))
        else:
            out.append(f"{step}: a person decides (`lambdashift approve`, `promote` or `rollback`)")
    return out


def _describe_check(step: AnalysisStep, defaults, split: bool, cand: str, stable: str,  # noqa: ANN001
                    looks: str) -> str:
    alarms = f"alarms {', '.join(step.alarms)} not in ALARM" if step.alarms else ""
    if not step.params and (step.alarms or not split):
        if step.alarms:
            return f"check: {alarms}"
        return "checks: hooks only (no split to judge)"
    policy = step.policy if step.policy is not None else \
        strategies.with_policies((step,), defaults)[0].policy  # type: ignore[union-attr]
    every = f"every {step.interval:g} s" if step.interval is not None else looks
    parts = [f"judge {cand} against {stable}: errors+throttles and warm p{100 * policy.latency_quantile:g} latency",
             f"rollback as soon as the evidence of harm is ≥ {policy.error_threshold:.0f} "
             f"(alpha {100 * policy.alpha:g}%)"]
    after = policy.promote_after_s
    if after is not None:  # time-boxed: the default for a judged pause
        early = ("" if policy.min_duration_s >= after else
                 f" (or once no worse within {100 * policy.error_margin:g} points, after at least "
                 f"{format_duration(policy.min_duration_s)})")
        parts += [f"goes on after {format_duration(after)} unless harm is seen{early}", f"looks {every}"]
    else:
        parts += [f"promote once no worse within {100 * policy.error_margin:g} points, after at least "
                  f"{format_duration(policy.min_duration_s)} and {policy.min_invocations} {cand} requests",
                  f"looks {every}", f"at most {format_duration(policy.max_wait_s)}, then {policy.on_timeout.value}"]
    if alarms:
        parts.insert(1, alarms)
    return "; ".join(parts)


def _report(outcome: deploying.DeployOutcome, skipped: dict[str, str], as_json: bool,
            stop) -> int:  # noqa: ANN001
    from lambdashift.cli.interrupts import exit_code

    code = exit_code(stop, outcome.exit_code)
    if stop.requested:
        _say_interrupted(outcome, stop.signal)
    if as_json:
        print_json({
            "exit_code": code, "interrupted": stop.signal or None,
            "rollouts": {n: {"phase": s.phase.value, "stable": s.stable, "candidate": s.candidate,
                             "traffic": str(s.traffic), "reason": s.reason, "rollout_id": s.rollout_id}
                         for n, s in outcome.states.items()},
            "skipped": skipped, "errors": outcome.errors, "not_started": outcome.not_started,
            "held": outcome.held, "locked": outcome.locked,
        })
    why = f"interrupted ({stop.signal})" if stop.requested else "an earlier wave did not succeed"
    for name in outcome.not_started:
        line(name, f"not started: {why}")
    for name in outcome.held:
        line(name, "not started: an earlier wave waits at a manual gate")
    return code


def _say_interrupted(outcome: deploying.DeployOutcome, signal: str) -> None:
    """After a stop: one line, unless every rollout already said `interrupted` itself."""
    phases = [s.phase for s in outcome.states.values()]
    if phases and all(p is Phase.INTERRUPTED for p in phases) and not outcome.errors:
        return
    unfinished = [n for n, s in outcome.states.items() if not s.phase.is_terminal]
    if unfinished:
        note(f"interrupted ({signal}): {', '.join(unfinished)} could not be set back: "
             "`lambdashift status` shows where they stand, `lambdashift resume` finishes them")
    elif any(p is Phase.INTERRUPTED for p in phases):
        note(f"interrupted ({signal}): the unfinished rollouts are back on their stable versions")
    else:
        note(f"interrupted ({signal}): no rollout was left to stop")


def run_resume(args: argparse.Namespace) -> int:
    """Continue every unfinished rollout on this target."""
    session = open_session(args)
    session.wait_at_gates = not args.no_wait
    if session.config.select:  # a selected function's rollout needs its place in the order
        session.config = expand(session.config, session.target.api)
    plan = session.resumable()
    if not plan.candidates:
        note("no unfinished rollout")
        if args.json:
            print_json({"exit_code": 0, "rollouts": {}})
        return 0
    for c in plan.candidates:
        line(c.function, f"resuming rollout {c.resume.rollout_id} ({c.resume.phase.value})")  # type: ignore[union-attr]
    return _run(session, args, plan)
