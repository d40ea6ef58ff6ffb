"""``status``, ``history`` and ``export-tfvars``: what the aliases serve, and what happened."""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from lambdashift.cli.common import add_json_argument, note, positive_int, print_json
from lambdashift.cli.progress import clip, describe
from lambdashift.cli.session import Session, add_target_arguments, open_session
from lambdashift.core.strategy import AnalysisStep
from lambdashift.errors import NotFoundError
from lambdashift.model import Phase

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
                              "reason": r.reason, **_runner(store, r)}
        rows.append(row)
    return rows


def _runner(store: Any, state: Any) -> dict[str, Any]:
    """Who drives an unfinished rollout: ``runner`` (the lock's owner or None), ``running``
    (that process is alive), and ``next`` (what to type when nobody drives it)."""
    from lambdashift.store.locks import holder_is_dead

    held = store.holder(state.function)
    if held is not None and not holder_is_dead(held.owner):
        return {"runner": held.owner, "running": True, "next": None,
                "controller": held.owner.startswith("lambdashift-controller")}
    if state.phase is Phase.PENDING and any(e.kind == "queued" for e in store.events(state.rollout_id)):
        return {"runner": None, "running": False,
                "next": "queued for the controller (deploy --detach): its next run takes it; "
                        "`lambdashift controller status` says whether it runs, "
                        f"`lambdashift rollback {state.function}` ends it with no alias change"}
    if state.phase is Phase.PAUSED:
        step = f"`lambdashift approve {state.function}` (or promote/rollback)"
        return {"runner": held.owner if held else None, "running": False,
                "next": f"it waits at a manual gate: {step}"}
    gone = f"its process ({held.owner}) is gone" if held else "no process runs it"
    return {"runner": held.owner if held else None, "running": False,
            "next": f"{gone}: `lambdashift resume` continues it, "
                    f"`lambdashift rollback {state.function}` undoes it"}


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
    looks = _looks(session)
    if args.json:
        print_json({"target": session.target.name, "functions": rows, "warnings": warnings,
                    "looks": looks})
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
    for r in rows:
        if r.get("rollout", {}).get("next"):
            print(f"{r['function']}: rollout {r['rollout']['id']}: {r['rollout']['next']}")
        elif r.get("rollout", {}).get("controller"):
            print(f"{r['function']}: rollout {r['rollout']['id']}: driven by the controller "
                  f"({r['rollout']['runner']})")
    print(f"analysis steps look {looks}, unless a step sets its interval")
    for w in warnings:
        note(f"warning: {w}")
    return 0


#: The state machine's input events that a note of the same moment already tells in words
#: (``Start`` → ``started``, ``AliasWritten`` → ``traffic``, ...): the text history shows the
#: note only, so one thing is said once, in the words the deploy printed. ``--json`` has all.
_SAID_BY_A_NOTE = frozenset({"Start", "AliasWritten", "AliasWriteFailed", "PromoteRequested",
                             "RollbackRequested", "MeasurementFailed"})


def left_out_of_history(kind: str, details: Any) -> bool:
    """True for an event the text ``history`` leaves out unless ``--verbose``: one a note of
    the same moment says in words, the judge's raw evidence (its verdict says it), a look
    that said continue. ``watch`` prints what ``history`` prints, as it is written."""
    return (kind in _SAID_BY_A_NOTE or kind in ("evidence", "bake_evidence")
            or (kind == "VerdictReceived" and dict(details).get("verdict") == "continue"))

#: Input events without a note, and notes that come from outside the engine, in words.
_HISTORY_WORDS = {
    "GatePassed": "gate passed: approved by hand",
    "CheckFailed": "check failed: {reason}",
    "Resumed": "resumed: the alias serves {traffic}",
    "rolled_back_by_hand": "rolled back by hand: {reason}",
    "evidence": "evidence: {text}",
    "bake_evidence": "bake evidence: {text}",
    "alias_written": "{by} by hand: {change}",
    "low_traffic": "{reason}",
    "forecast": "{reason}",
    "Interrupted": "{signal}: no further step; back to the stable version",
    "bake": "{reason}",
}


def _looks(session: Session) -> str:
    """The judge's default look interval on this target, in words."""
    return getattr(session.target.metrics, "looks", "when the metrics source has new data")


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
    from lambdashift.rollout.candidate import rejected_before_traffic

    rollouts = store.history(args.function, limit=args.limit)
    if args.json:
        print_json([{**r.to_dict(), "events": [{"at": e.at, "kind": e.kind, "details": dict(e.details)}
                                               for e in store.events(r.rollout_id)]} for r in rollouts])
        return 0
    if not rollouts:
        print(f"{args.function}: no rollouts yet")
    elif any(isinstance(s, AnalysisStep) for r in rollouts for s in r.steps):
        print(f"analysis steps look {_looks(session)}, unless a step sets its interval")
    for r in rollouts:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started_at or r.updated_at or 0))
        # A candidate stopped by a check before any alias write was never rolled out: say so.
        outcome = "rejected before traffic" if rejected_before_traffic(r) else r.phase.value
        print(f"{r.rollout_id}  {r.stable} → {r.candidate}  {outcome}  started {started}")
        if r.reason:
            print(f"  outcome: {r.reason}")
        looks = 0
        for e in store.events(r.rollout_id):
            if e.kind in _SAID_BY_A_NOTE or (e.kind in ("evidence", "bake_evidence")
                                             and not args.verbose):
                continue  # the note beside it (or the verdict that follows) says it in words
            if (e.kind == "VerdictReceived" and dict(e.details).get("verdict") == "continue"
                    and not args.verbose):
                looks += 1  # one line per look would drown the story: count them
                continue
            at = time.strftime("%H:%M:%S", time.localtime(e.at))
            if looks:
                print(f"  {'':8}  {'':<9}  ({looks} analysis look{'s' if looks > 1 else ''} said "
                      "continue; --verbose shows them)")
                looks = 0
            print(f"  {at}  {step_of_event(e.details, len(r.steps)):<9}  "
                  f"{event_words(e.kind, e.details, args.verbose)}")
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


def step_of_event(details: Any, steps: int) -> str:
    """``step 2/7``, counted as ``status`` counts them (1-based, of the rollout's steps)."""
    step = dict(details).get("step", dict(details).get("from_step"))
    if not isinstance(step, int) or not steps:
        return ""
    return f"step {min(step + 1, steps)}/{steps}"


def event_words(kind: str, details: Any, verbose: bool = False) -> str:
    """One history event in the words ``deploy`` prints for it (lambdashift.cli.progress)."""
    from lambdashift.core.machine import Notify

    d = {k: v for k, v in dict(details).items() if k not in ("phase", "step", "from_step")}
    if kind in _DRIVER_EVENTS:
        return _driver_words(kind, d)
    if kind == "VerdictReceived" or "verdict" in d:
        reasons = [str(x) for x in d.get("reasons", [])] or ["no reason given"]
        text = f"verdict {d.get('verdict')}: " + "; ".join(reasons if verbose else reasons[:1])
        return text if verbose else clip(text)
    template = _HISTORY_WORDS.get(kind)
    if template is not None:
        if kind in ("evidence", "bake_evidence"):
            d = {"text": ", ".join(f"{k}={v}" for k, v in d.items())}
        try:
            text = template.format(**d)
        except (KeyError, IndexError):
            text = template.split(":")[0]
    else:
        text = describe(Notify(kind, d))
        if text.startswith(kind) and kind[:1].isupper():  # an input event we have no words for
            text = " ".join(w.lower() for w in re.findall(r"[A-Z][a-z]*", kind)) + (
                ": " + ", ".join(f"{k}={v}" for k, v in d.items() if v not in (None, "", []))
                if d else "")
    # A rejected candidate's log lines follow its first line: --verbose shows them.
    return text if verbose else clip(text.split("\n", 1)[0])


#: Who drives a rollout: ``deploy --detach`` queued it, the controller took it or waits.
_DRIVER_EVENTS = ("queued", "taken", "waiting")


def _driver_words(kind: str, d: dict[str, Any]) -> str:
    if kind == "queued":
        return f"queued for the controller by {d.get('by', '?')} (release {d.get('release', '?')})"
    if kind == "waiting":
        if not d.get("behind"):
            return f"the controller ({d.get('by', '?')}) has it, waiting for {d.get('reason', 'a slot')}"
        return (f"the controller ({d.get('by', '?')}) holds it until "
                f"{', '.join(d.get('behind', []))} succeed (after:)")
    text = f"taken by {d.get('by', '?')}"
    if d.get("orphan"):
        text += (f", an orphan: its driver {d['from']} was gone" if d.get("from")
                 else ", an orphan: nobody drove it")
    return text


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
