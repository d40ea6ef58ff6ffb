"""``lambdashift watch``: follow rollouts that another process or the controller drives.

It reads the state store only (the rollouts' step logs, as ``history`` prints them), so it
works from any machine with the store, and changes nothing: Ctrl-C stops watching, never the
rollouts. It ends when every watched rollout has ended, with the exit code ``deploy`` would
have given them (0 all succeeded, 1 one rolled back or failed).

``watch FN`` follows the rollouts unfinished when it starts (and those started meanwhile);
``watch --release ID`` follows exactly the rollouts of the release ``deploy --detach``
printed, even those that ended before it started: a CI job that detaches and then watches
gets the release's exit code however quickly the controller decided.

On a terminal it shows the live view ``deploy`` shows (``cli.live``: a row per function with
its step, traffic, per-version figures on the local stack, the judge's last word and the
wait), the history lines printed above it; ``--plain`` (or no terminal) prints the lines only.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from typing import Any

from lambdashift.cli.common import add_json_argument, note, positive_seconds, print_json
from lambdashift.cli.session import add_target_arguments, open_session
from lambdashift.model import Phase


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``watch``."""
    w = subparsers.add_parser("watch", help="follow rollouts another process or the controller "
                                            "drives, until they end")
    add_target_arguments(w)
    add_json_argument(w)
    w.add_argument("functions", nargs="*", metavar="FN", help="functions to watch (default: all)")
    w.add_argument("--every", type=positive_seconds, default=1.0, metavar="SECONDS",
                   help="how often to read the store (default 1)")
    w.add_argument("--release", metavar="ID",
                   help="follow the rollouts of this release (the id `deploy --detach` prints), "
                        "running or already ended")
    w.add_argument("--plain", action="store_true",
                   help="plain lines instead of the live view, even on a terminal")
    w.set_defaults(func=run_watch)


def run_watch(args: argparse.Namespace) -> int:
    """Print each rollout's new history lines until all have ended."""
    session = open_session(args)
    names = set(args.functions)
    if names and not session.config.select:
        for name in names:
            session.config.function(name)  # an unknown name: exit 2, with a suggestion
    store = session.target.store
    if args.release:
        watched = _of_release(store, args.release, names)
    else:
        watched = {s.rollout_id: s for s in store.active() if not names or s.function in names}
    if not watched:
        note("watch: nothing is rolling out" + (f" for {', '.join(sorted(names))}" if names else ""))
        return 0
    seen: dict[str, int] = {}
    view = _live_view(session, args)
    try:
        with view if view is not None else contextlib.nullcontext():
            while True:
                for rid, state in list(watched.items()):
                    _print_new(store, state, seen, view)
                    watched[rid] = store.load(rid) or state
                for s in [] if args.release else store.active():  # a rollout started meanwhile
                    if s.rollout_id not in watched and (not names or s.function in names):
                        watched[s.rollout_id] = s
                if all(s.phase.is_terminal for s in watched.values()):
                    for state in watched.values():
                        _print_new(store, state, seen, view)
                    break
                time.sleep(args.every)
    except KeyboardInterrupt:
        note("watch: stopped watching; the rollouts go on (`lambdashift status` shows them)")
        return 130
    return _outcome(watched, args.json)


def _live_view(session: Any, args: argparse.Namespace) -> Any:
    """``deploy``'s live view on a terminal (None: plain lines), figures on the local stack."""
    import sys

    if args.plain or args.json or not sys.stderr.isatty():
        return None
    from lambdashift.cli.live import LiveReporter, stats_from

    return LiveReporter(stats_from(session.target.metrics) if session.target.is_local else None)


def _of_release(store: Any, release_id: str, names: set[str]) -> dict[str, Any]:
    """The rollouts of a release as stored now (of ``names`` only, if given)."""
    from lambdashift.errors import ConfigError
    from lambdashift.rollout.release_record import load_release

    release = load_release(store, release_id)
    if release is None:
        raise ConfigError(f"--release: no release {release_id} in the state store "
                          "(`deploy --detach` prints its id)")
    if not release.rollouts:
        raise ConfigError(f"--release: release {release_id} lists no rollouts (only `deploy "
                          "--detach` lists them): `lambdashift watch FN` follows running ones")
    watched = {}
    for function, rid in release.rollouts.items():
        state = store.load(rid)
        if state is not None and (not names or function in names):
            watched[rid] = state
    return watched


def _print_new(store: Any, state: Any, seen: dict[str, int], view: Any = None) -> None:
    """The rollout's history lines not printed yet; with the live view, its row too."""
    from lambdashift.cli.inspect import event_words, left_out_of_history, step_of_event
    from lambdashift.cli.progress import line

    events = store.events(state.rollout_id)
    verdict = None
    for e in events[seen.get(state.rollout_id, 0):]:
        if e.kind == "VerdictReceived":
            verdict = event_words(e.kind, e.details)  # the view's judge cell: the last word
        if e.kind in ("Tick", "InvocationsObserved") or left_out_of_history(e.kind, e.details):
            continue
        at = time.strftime("%H:%M:%S", time.localtime(e.at))
        text = f"{at}  {step_of_event(e.details, len(state.steps)):<9}  {event_words(e.kind, e.details)}"
        (view.line if view is not None else line)(state.function, text)
    seen[state.rollout_id] = len(events)
    if view is not None:
        outcome = None
        if state.phase.is_terminal:
            outcome = state.phase.value + (f": {state.reason}" if state.reason else "")
        view.show(state, verdict=verdict, outcome=outcome)


def _outcome(watched: dict[str, Any], as_json: bool) -> int:
    phases = {s.phase for s in watched.values()}
    code = 1 if phases & {Phase.ROLLED_BACK, Phase.FAILED, Phase.INTERRUPTED} else 0
    if as_json:
        print_json({"exit_code": code, "rollouts": {
            rid: {"function": s.function, "phase": s.phase.value, "reason": s.reason}
            for rid, s in watched.items()}})
        return code
    for s in sorted(watched.values(), key=lambda s: s.function):
        note(f"{s.function}: {s.rollout_id} {s.stable} → {s.candidate} {s.phase.value}"
             + (f": {s.reason}" if s.reason else ""))
    return code
