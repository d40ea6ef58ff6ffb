"""``lambdashift check [FN...]``: the read-only preflight of a release (also run by ``deploy``)."""

from __future__ import annotations

import argparse
import sys

from lambdashift.cli.common import add_json_argument, config_from, note, print_json
from lambdashift.cli.session import Session, add_target_arguments, open_session
from lambdashift.config import Config


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``check``."""
    p = subparsers.add_parser(
        "check", help="check, read-only, everything a release depends on; exit 1 if any blocks it")
    add_target_arguments(p)
    add_json_argument(p)
    p.add_argument("functions", nargs="*", metavar="FN", help="functions to check (default: all)")
    p.set_defaults(func=run_check)


def preflight(session: Session, names: list[str]) -> list:
    """The findings for ``names`` on the session's target."""
    from lambdashift.aws.clients import make_client
    from lambdashift.aws.inventory import Inventory
    from lambdashift.aws.packaging import build_zip
    from lambdashift.model import AnalysisStep
    from lambdashift.rollout.deploy import steps_for
    from lambdashift.rollout.preflight import run_checks

    config, target = session.config, session.target
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
    alarms = {n: [a for step in steps_for(config, n, None) if isinstance(step, AnalysisStep)
                  for a in step.alarms] for n in names}
    needed = sum(len(build_zip(config.function(n).source, config.function(n).include).data)
                 for n in names)
    limiter, retry = target.api.pacing
    inventory = Inventory(lam, apigateway=apigw, cloudwatch=cloudwatch, limiter=limiter,
                          retry=retry)
    return run_checks(inventory, names, alias=config.alias, routes=routes, alarms=alarms,
                      owned=lambda n: bool(target.store.active(n)), needed_bytes=needed,
                      own_change=lambda n, raw: own_change(target.store, n, config.alias, raw))


def own_change(store, function: str, alias: str, raw) -> str | None:  # noqa: ANN001
    """In words, lambdashift's own change (in ``history``) that left the alias as GetAlias
    answered ``raw``; None when the alias was changed outside lambdashift since."""
    from lambdashift.model import Traffic
    from lambdashift.rollout.changes import kind_of, left_by_lambdashift

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


def report(findings: list, *, as_json: bool, checked: int) -> int:
    """Print a line per finding (stdout) and a summary (stderr); 1 if any blocks."""
    blocking = [f for f in findings if f.blocking]
    if as_json:
        print_json({"exit_code": 1 if blocking else 0, "functions": checked,
                    "findings": [f.__dict__ for f in findings]})
    else:
        for finding in findings:
            print(finding.line())
        sys.stdout.flush()
    note(f"check: {checked} function{'s' if checked != 1 else ''}, {len(blocking)} blocking, "
         f"{len(findings) - len(blocking)} warning{'s' if len(findings) - len(blocking) != 1 else ''}")
    return 1 if blocking else 0


def run_check(args: argparse.Namespace) -> int:
    """Run every check and report."""
    config = config_from(args)
    for name in args.functions:
        config.function(name)  # unknown names: exit 2 before any call
    names = args.functions or list(config.functions)
    if getattr(args, "local", False) or config.target == "local":
        # Before the stack is asked anything (it need not even run): a function it cannot
        # run is the one thing to fix first, and `local up` would refuse it too.
        names, findings = _local_runtimes(config, names)
        if findings:
            return report(findings, as_json=args.json, checked=len(names))
    session = open_session(args)
    return report(preflight(session, names), as_json=args.json, checked=len(names))


def _local_runtimes(config: Config, names: list[str]) -> tuple[list[str], list]:
    """Leave out ``local: false`` functions; a blocking finding for each runtime the local
    stack cannot run on this machine."""
    from lambdashift.local.runnable import local_functions, unrunnable
    from lambdashift.rollout.preflight import Finding

    functions = {n: config.function(n) for n in names}
    kept = list(local_functions(functions))
    for name in names:
        if name not in kept:
            note(f"{name}: not checked (local: false leaves it out of the local stack)")
    findings = [Finding(name, "runtime", True,
                        f"{functions[name].runtime} cannot run on this machine.",
                        why[0].upper() + why[1:] + ".")
                for name, why in unrunnable(functions)]
    return kept, findings
