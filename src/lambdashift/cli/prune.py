"""``lambdashift prune``: delete old versions that no alias, rollout or recent release uses."""

from __future__ import annotations

import argparse

from lambdashift.cli.common import add_json_argument, note, print_json
from lambdashift.cli.session import add_target_arguments, open_session
from lambdashift.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``prune``."""
    p = subparsers.add_parser("prune", help="delete old versions no alias, rollout or recent release references")
    add_target_arguments(p)
    add_json_argument(p)
    p.add_argument("functions", nargs="*", metavar="FN", help="functions to prune (default: all)")
    p.add_argument("--keep", type=int, required=True, metavar="N",
                   help="keep the N newest versions and those of the N latest rollouts")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    p.set_defaults(func=run_prune)


def run_prune(args: argparse.Namespace) -> int:
    """Prune each function; exit 1 if a version could not be deleted."""
    from lambdashift.rollout.prune import prune
    from lambdashift.rollout.selection import expand
    from lambdashift.store.locks import owner_id

    if args.keep < 1:
        raise ConfigError(f"--keep must be at least 1, got {args.keep}")
    session = open_session(args)
    config = expand(session.config, session.target.api)
    for name in args.functions:
        config.function(name)
    names = args.functions or list(config.functions)
    api, store = session.target.api, session.target.store
    lease = config.state.lease_seconds
    plans = [prune(api, store, name, args.keep, owner=owner_id(), dry_run=args.dry_run,
                   lease_seconds=lease) for name in names]
    if args.json:
        print_json({"dry_run": args.dry_run, "functions": {
            p.function: {"delete": p.delete, "deleted": p.deleted, "keep": p.keep,
                         "errors": p.errors} for p in plans}})
    else:
        if args.dry_run:
            note("dry run: nothing is deleted")
        for p in plans:
            gone = p.delete if args.dry_run else p.deleted
            verb = "would delete" if args.dry_run else "deleted"
            print(f"{p.function}: {verb} {', '.join(gone) or 'nothing'}; keeps "
                  + ", ".join(f"{v} ({'; '.join(why)})" for v, why in sorted(p.keep.items(), key=lambda kv: int(kv[0]))))
            for version, error in p.errors.items():
                print(f"{p.function}: could not delete {version}: {error}")
    return 1 if any(p.errors for p in plans) else 0
