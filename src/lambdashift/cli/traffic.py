"""``shift``, ``promote``, ``rollback`` and ``approve``: move traffic by hand, or steer a rollout.

With a rollout running in another process, promote/rollback/approve leave it a signal in
the state store and wait for it to act; with none running (stopped at a gate, or its
process died) they take the rollout's lock and drive it here. Without any rollout they
change the alias directly, always carrying the RevisionId they read.
"""

from __future__ import annotations

import argparse
import time

from lambdashift.cli.common import add_json_argument, note, print_json
from lambdashift.cli.session import Session, add_target_arguments, open_session
from lambdashift.core.machine import RolloutState
from lambdashift.errors import ConfigError, RevisionMismatchError, RolloutError
from lambdashift.model import Phase, Traffic
from lambdashift.rollout import manual_changes
from lambdashift.store import locks


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``shift``, ``promote``, ``rollback`` and ``approve``."""
    s = subparsers.add_parser("shift", help="send part or all of an alias's traffic to a version")
    add_target_arguments(s)
    add_json_argument(s)
    s.add_argument("function", metavar="FN")
    s.add_argument("--to", required=True, metavar="VERSION", help="the version to send traffic to")
    s.add_argument("--weight", type=float, default=100.0, metavar="PCT",
                   help="percent of traffic for VERSION, 0 < PCT <= 100 (default 100: all of it)")
    s.set_defaults(func=run_shift, action="shift")
    for name, helptext in (
        ("promote", "all traffic to the candidate (ends a rollout's remaining steps and gates)"),
        ("rollback", "all traffic back to the version that served before the last change "
                     "(mid-rollout, after one, after shift or promote), or --to VERSION"),
        ("approve", "pass the manual gate a rollout waits at, and go on with its steps"),
    ):
        p = subparsers.add_parser(name, help=helptext)
        add_target_arguments(p, waits=True)
        add_json_argument(p)
        p.add_argument("function", metavar="FN")
        if name == "rollback":
            p.add_argument("--reason", default="rollback requested by hand", help="recorded in history")
            p.add_argument("--to", default=None, metavar="VERSION",
                           help="all traffic to this published version instead of the one that "
                                "served before the last change")
            p.add_argument("--force", action="store_true",
                           help="with --to: go to VERSION even if it was rejected for this alias "
                                "(rolled back, failed) or is newer than what served before the "
                                "last change")
        p.add_argument("--no-wait", action="store_true", help="stop at a later manual gate (exit 3)")
        p.set_defaults(func=run_steer, action=name)


def _alias(session: Session, args: argparse.Namespace) -> str:
    return args.alias or session.config.alias


def run_shift(args: argparse.Namespace) -> int:
    """Set the alias's traffic, refusing to touch one that a rollout owns."""
    if not 0 < args.weight <= 100:
        raise ConfigError(f"--weight must be more than 0 and at most 100, got {args.weight:g}")
    session = open_session(args)
    session.config.function(args.function)
    api, store, alias = session.target.api, session.target.store, _alias(session, args)
    if args.to not in api.versions(args.function):
        raise ConfigError(f"{args.function} has no published version {args.to!r} "
                          f"(published: {', '.join(api.versions(args.function)) or 'none'})")
    from lambdashift.store.locks import owner_id

    lease = locks.acquire(store, args.function, owner_id(), 30)
    try:
        if store.active(args.function):
            raise RolloutError(f"a rollout owns {args.function}:{alias}: use `lambdashift promote` "
                               "or `lambdashift rollback` to steer it")
        current = api.get_alias(args.function, alias)
        if args.weight >= 100:
            wanted = Traffic(args.to)
        else:
            if current.traffic.primary == args.to:
                raise ConfigError(f"{args.function}:{alias} already sends its primary traffic to "
                                  f"{args.to}; shift a different version")
            wanted = Traffic(current.traffic.primary, args.to, round(args.weight / 100, 6))
        written = _guarded_write(api, args, alias, wanted, current.revision_id)
        manual_changes.record_change(store, args.function, alias, "shift", current.traffic, written.traffic,
                              written.revision_id, "", time.time())
    finally:
        store.release(lease)
    _print_traffic(args, current.traffic, written.traffic)
    return 0


def _print_traffic(args: argparse.Namespace, before: Traffic, after: Traffic) -> None:
    if args.json:
        print_json({"function": args.function, "before": before.to_dict(), "after": after.to_dict()})
    else:
        print(f"{args.function}: {before} → {after}")


def run_steer(args: argparse.Namespace) -> int:
    """promote / rollback / approve."""
    if getattr(args, "force", False) and args.to is None:
        raise ConfigError("--force goes with --to VERSION: it lets `rollback --to` go to a "
                          "version it would refuse")
    session = open_session(args)
    session.config.function(args.function)
    session.wait_at_gates = not args.no_wait
    store = session.target.store
    active = store.active(args.function)
    if not active:
        if args.action == "approve":
            raise RolloutError(f"{args.function} has no rollout waiting at a gate")
        return _without_rollout(session, args)
    state = active[0]
    if getattr(args, "to", None) not in (None, state.stable):
        raise RolloutError(f"a rollout of {state.stable} → {state.candidate} owns {args.function}: "
                           f"`lambdashift rollback {args.function}` returns it to {state.stable}; "
                           "--to another version works once it is over")
    details = {"reason": getattr(args, "reason", "")} if args.action == "rollback" else {}
    store.send_signal(args.function, args.action, details)
    holder = store.holder(args.function)
    if holder is not None and holder.expires_at > time.time() and not locks.holder_is_dead(holder.owner):
        note(f"asked the rollout run by {holder.owner} to {args.action}; waiting for it")
        final = _await_outcome(session, state, args)
    elif _handed_to_controller(session, state, args.action):
        note(f"asked the controller, which drives this rollout between its runs, to "
             f"{args.action}; waiting for it")
        final = _await_outcome(session, state, args)
    else:  # this process drives it: a first SIGINT/SIGTERM takes it back to stable
        from lambdashift.cli.interrupts import exit_code, run_interruptibly

        final = run_interruptibly(session.stop, lambda: session.engine().resume(state))
        return exit_code(session.stop, _finish(args, final))
    return _finish(args, final)


def _handed_to_controller(session: Session, state: RolloutState, action: str) -> bool:
    """True when the controller has this rollout (queued for it, or taken by it) and was
    just invoked to act on the signal at once: between two of its runs nobody holds the
    lease, and driving it here would tie the rollout to this terminal again. False (drive it
    here) when the controller cannot be invoked."""
    import json

    from lambdashift.controller.settings import DEFAULT_FUNCTION
    from lambdashift.errors import LambdashiftError

    store = session.target.store
    if state.phase is Phase.PENDING and action == "rollback":
        return False  # ended here at once, before anything is written (a later wave's too)
    if not any(e.kind in ("queued", "taken") for e in store.events(state.rollout_id)):
        return False
    try:
        session.target.api.invoke_async(DEFAULT_FUNCTION,
                                         json.dumps({"rollouts": [state.rollout_id]}).encode())
    except LambdashiftError:
        return False
    return True


def _await_outcome(session: Session, state: RolloutState, args: argparse.Namespace) -> RolloutState:
    """Wait until the other process acts on the signal (its state moves on)."""
    deadline = time.monotonic() + max(60.0, 6 * session.poll)
    while time.monotonic() < deadline:
        current = session.target.store.load(state.rollout_id) or state
        if current.phase.is_terminal or (args.action == "approve" and current.phase is not Phase.PAUSED):
            return current
        time.sleep(min(session.poll, 0.5))
    raise RolloutError(f"the rollout of {args.function} did not act on the {args.action} signal "
                       "in time; it is still pending and will be taken at its next check")


def _finish(args: argparse.Namespace, state: RolloutState) -> int:
    if args.json:
        print_json({"function": state.function, "phase": state.phase.value, "traffic": str(state.traffic),
                    "reason": state.reason, "rollout_id": state.rollout_id})
    elif state.phase is Phase.FAILED:
        print(f"{state.function}: failed: {state.reason}")
    else:
        print(f"{state.function}: {state.phase.value}, {state.alias} serves {state.traffic}")
    if state.phase is Phase.PAUSED:
        return 3
    if args.action == "rollback":
        return 0 if state.phase is Phase.ROLLED_BACK else 1
    return 0 if state.phase in (Phase.SUCCEEDED, Phase.PROGRESSING, Phase.PROMOTING) else 1


def _without_rollout(session: Session, args: argparse.Namespace) -> int:
    """No rollout owns the alias: promote a split, or roll back to the version that served
    before lambdashift's last change (or to ``--to``); each change is its own history entry."""
    from lambdashift.store.locks import owner_id

    api, store, alias = session.target.api, session.target.store, _alias(session, args)
    to = getattr(args, "to", None)
    if to is not None and to not in api.versions(args.function):
        raise ConfigError(f"{args.function} has no published version {to!r} "
                          f"(published: {', '.join(api.versions(args.function)) or 'none'})")
    lease = locks.acquire(store, args.function, owner_id(), 30)
    try:
        current = api.get_alias(args.function, alias)
        t = current.traffic
        if args.action == "promote":
            if t.canary is None:
                raise RolloutError(f"nothing to promote: {args.function}:{alias} serves {t} alone")
            wanted = Traffic(t.canary)
        elif to is not None:
            wanted = Traffic(to)
        elif t.canary is not None:
            wanted = Traffic(t.primary)  # the canary's share goes back to the primary
        else:
            wanted, _ = manual_changes.way_back(store, args.function, alias, t)
        if wanted == t:
            note(f"{args.function}:{alias} already serves {t}: nothing to change")
            _print_traffic(args, t, t)
            return 0
        if to is not None:
            _refuse_unless_forced(store, args, alias, to, t)
        written = _guarded_write(api, args, alias, wanted, current.revision_id)
        manual_changes.record_change(store, args.function, alias, args.action, t, written.traffic,
                              written.revision_id, getattr(args, "reason", ""), time.time())
    finally:
        store.release(lease)
    _print_traffic(args, t, written.traffic)
    return 0


def _refuse_unless_forced(store, args: argparse.Namespace, alias: str, to: str,  # noqa: ANN001
                          current: Traffic) -> None:
    """``rollback --to`` a rejected or newer version: ConfigError (exit 2) unless --force."""
    why = manual_changes.refusal(store, args.function, alias, to, current)
    if why is None:
        return
    if args.force:
        note(f"--force: {why}; sending the traffic there anyway")
        args.reason = " ".join(filter(None, [args.reason, "(--force)"]))
        return
    raise ConfigError(f"rollback refused: {why}; `--force` sends the traffic there anyway")


def _guarded_write(api, args: argparse.Namespace, alias: str, wanted: Traffic, revision: str):  # noqa: ANN001, ANN202
    """UpdateAlias with the RevisionId read: if anyone changed the alias since, AWS refuses."""
    try:
        return api.update_alias(args.function, alias, wanted, expected_revision=revision)
    except RevisionMismatchError as exc:
        raise RolloutError(f"{args.function}:{alias} was changed by someone else while `{args.action}` "
                           f"ran (its RevisionId is no longer {revision}): nothing was written; "
                           f"look with `lambdashift status` and try again ({exc})") from None
