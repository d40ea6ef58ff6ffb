"""``status``, ``history`` and ``export-tfvars``: what the aliases serve, and what happened."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from lambdashift.cli.common import add_json_argument, note, positive_int, print_json
from lambdashift.cli.progress import clip
from lambdashift.cli.session import Session, add_target_arguments, open_session
from lambdashift.errors import NotFoundError

DEFAULT_TFVARS = "infra/traffic.auto.tfvars.json"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``status``, ``history`` and ``export-tfvars``."""
    s = subparsers.add_parser("status", help="per function: alias traffic, latest version, running rollout")
    add_target_arguments(s)
    add_json_argument(s)
    s.add_argument("functions", nargs="*", metavar="FN")
    s.add_argument("--tfvars", default=DEFAULT_TFVARS, metavar="PATH",
                   help=f"Terraform traffic variables to compare with (default {DEFAULT_TFVARS})")
    s.set_defaults(func=run_status)
    h = subparsers.add_parser("history", help="past rollouts of a function: steps, verdicts, outcome")
    add_target_arguments(h)
    add_json_argument(h)
    h.add_argument("function", metavar="FN")
    h.add_argument("--limit", type=positive_int, default=10, help="how many rollouts, at least 1 (default 10)")
    h.add_argument("--verbose", action="store_true",
                   help="every event with all its reasons, the judge's evidence included")
    h.set_defaults(func=run_history)
    e = subparsers.add_parser("export-tfvars", help="write every alias's traffic as traffic.auto.tfvars.json")
    add_target_arguments(e)
    e.add_argument("--out", default=DEFAULT_TFVARS, metavar="PATH",
                   help=f"where to write, relative to the config (default {DEFAULT_TFVARS})")
    e.set_defaults(func=run_export)


def _traffic_rows(session: Session, names: list[str], alias: str) -> list[dict[str, Any]]:
    api, store = session.target.api, session.target.store
    rows = []
    for name in names:
        row: dict[str, Any] = {"function": name, "alias": alias}
        try:
            a = api.get_alias(name, alias)
            row.update(primary=a.traffic.primary, canary=a.traffic.canary, weight=a.traffic.weight,
                       revision_id=a.revision_id)
        except NotFoundError:
            row.update(primary=None, canary=None, weight=0.0, missing=True)
        row["latest"] = api.latest_version(name) if api.function_exists(name) else None
        active = store.active(name)
        if active:
            r = active[0]
            row["rollout"] = {"id": r.rollout_id, "phase": r.phase.value, "step": r.step_index + 1,
                              "steps": len(r.steps), "stable": r.stable, "candidate": r.candidate,
                              "reason": r.reason}
        rows.append(row)
    return rows


def _tfvars_warnings(session: Session, rows: list[dict[str, Any]], path: str) -> list[str]:
    file = session.config.root / path
    if not file.is_file():
        return []
    try:
        declared = json.loads(file.read_text()).get("traffic", {})
    except (ValueError, AttributeError) as exc:
        return [f"{file}: not valid JSON ({exc})"]
    warnings = []
    for row in rows:
        want = declared.get(row["function"])
        if want is None:
            continue
        have = (row["primary"], row["canary"], round(row["weight"] or 0.0, 6))
        wanted = (want.get("primary"), want.get("canary"), round(float(want.get("weight") or 0), 6))
        if have != wanted:
            warnings.append(f"{row['function']}: Terraform declares {wanted[0]}"
                            f"{f' + {wanted[1]} ({wanted[2]:.0%})' if wanted[1] else ''} in {file.name}, "
                            f"the alias serves {have[0]}{f' + {have[1]} ({have[2]:.0%})' if have[1] else ''}: "
                            "run `lambdashift export-tfvars` (or apply Terraform) to agree")
    return warnings


def run_status(args: argparse.Namespace) -> int:
    """Print the traffic table."""
    session = open_session(args)
    if session.config.select:
        from lambdashift.rollout.selection import expand

        session.config = expand(session.config, session.target.api)
    names = [session.config.function(n).name for n in args.functions] or list(session.config.functions)
    alias = args.alias or session.config.alias
    rows = _traffic_rows(session, names, alias)
    warnings = _tfvars_warnings(session, rows, args.tfvars)
    if args.json:
        print_json({"target": session.target.name, "functions": rows, "warnings": warnings})
        return 0
    print(f"{'FUNCTION':<20} {'ALIAS':<8} {'PRIMARY':>7} {'CANARY':>6} {'WEIGHT':>6} {'LATEST':>6}  ROLLOUT")
    for r in rows:
        canary = r["canary"] or "-"
        weight = f"{r['weight']:.0%}" if r["canary"] else "-"
        rollout = "-"
        if "rollout" in r:
            ro = r["rollout"]
            rollout = f"{ro['stable']}→{ro['candidate']} {ro['phase']} step {ro['step']}/{ro['steps']}"
        primary = r["primary"] or "(no alias)"
        print(f"{r['function']:<20} {alias:<8} {primary:>7} {canary:>6} {weight:>6} {r['latest'] or '-':>6}  {rollout}")
    for w in warnings:
        note(f"warning: {w}")
    return 0


def run_history(args: argparse.Namespace) -> int:
    """Print past rollouts with their events."""
    session = open_session(args)
    if session.config.select and args.function not in session.config.functions:
        from lambdashift.rollout.selection import expand

        session.config = expand(session.config, session.target.api)
    groups = {f.group for f in session.config.functions.values() if f.group}
    if args.function in groups and args.function not in session.config.functions:
        return _group_history(session, args)
    session.config.function(args.function)
    store = session.target.store
    rollouts = store.history(args.function, limit=args.limit)
    if args.json:
        print_json([{**r.to_dict(), "events": [{"at": e.at, "kind": e.kind, "details": dict(e.details)}
                                               for e in store.events(r.rollout_id)]} for r in rollouts])
        return 0
    if not rollouts:
        print(f"{args.function}: no rollouts yet")
    for r in rollouts:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started_at or r.updated_at or 0))
        print(f"{r.rollout_id}  {r.stable} → {r.candidate}  {r.phase.value}  started {started}")
        if r.reason:
            print(f"  outcome: {r.reason}")
        looks = 0
        for e in store.events(r.rollout_id):
            if e.kind == "evidence" and not args.verbose:
                continue  # the verdict that follows says it in words
            if (e.kind == "VerdictReceived" and dict(e.details).get("verdict") == "continue"
                    and not args.verbose):
                looks += 1  # one line per look would drown the story: count them
                continue
            at = time.strftime("%H:%M:%S", time.localtime(e.at))
            if looks:
                print(f"  {'':8}  {'':<18} ({looks} analysis look{'s' if looks > 1 else ''} said "
                      "continue; --verbose shows them)")
                looks = 0
            print(f"  {at}  {e.kind:<18} {_event_text(e.details, args.verbose)}")
    return 0


def _group_history(session: Session, args: argparse.Namespace) -> int:
    """A group's history: one entry per group rollout, newest first, with every member."""
    from lambdashift.rollout.group import log_of

    entries = session.target.store.events(log_of(args.function))[::-1][:args.limit]
    if args.json:
        print_json([{"at": e.at, **dict(e.details)} for e in entries])
        return 0
    if not entries:
        print(f"group {args.function}: no rollouts yet")
    for e in entries:
        d = dict(e.details)
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
        print(f"{d['group_id']}  group {args.function}  {d['outcome']}  ended {at}")
        if d.get("reason"):
            print(f"  outcome: {clip(d['reason'])}")
        for fn, m in sorted(d["members"].items()):
            versions = f"{m.get('stable', '?')} → {m.get('candidate', '?')}"
            print(f"  {fn:<20} {versions:<8} {m['phase']}")
    return 0


def _event_text(details: Any, verbose: bool = False) -> str:
    d = dict(details)
    if "verdict" in d:
        reasons = list(d.get("reasons", []))
        return f"{d['verdict']}: " + "; ".join(reasons if verbose else reasons[:1])
    parts = [f"{k}={v}" for k, v in d.items() if k not in ("phase",) and v not in (None, "", [])]
    text = ", ".join(parts)
    return text if verbose else clip(text)


def run_export(args: argparse.Namespace) -> int:
    """Write traffic.auto.tfvars.json for teams whose Terraform owns traffic."""
    session = open_session(args)
    alias = args.alias or session.config.alias
    rows = _traffic_rows(session, list(session.config.functions), alias)
    traffic = {r["function"]: {"primary": r["primary"], "canary": r["canary"], "weight": r["weight"] or 0}
               for r in rows if r["primary"] is not None}
    out = Path(args.out)
    out = out if out.is_absolute() else session.config.root / out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps({"traffic": traffic}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out)
    print(out)
    return 0
