"""``lambdashift controller package|install|status|uninstall``: the controller on AWS.

The controller is lambdashift running as a Lambda function on a schedule, driving rollouts to
their end (docs/controller.md). These commands build its zip and set it up with boto3 for users
without Terraform. A flag left out of a second ``install`` keeps the installed value.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

from lambdashift.cli.common import note, positive_int
from lambdashift.controller.settings import DEFAULT_FUNCTION, DEFAULT_RATE, DEFAULT_TIMEOUT
from lambdashift.errors import ConfigError
from lambdashift.store.settings import DEFAULT_TABLE

_FIX = "lambdashift controller install"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``controller`` and its sub-commands."""
    p = subparsers.add_parser(
        "controller", help="the controller: a Lambda function that drives rollouts to their end",
        description="Build, install, inspect or remove the controller (docs/controller.md).")
    sub = p.add_subparsers(dest="controller_command", metavar="SUBCOMMAND", required=True,
                           parser_class=type(p))
    pkg = sub.add_parser("package", help="write the controller's deterministic deployment zip")
    pkg.add_argument("--output", type=Path, default=Path("lambdashift-controller.zip"),
                     metavar="FILE", help="where to write it (default ./lambdashift-controller.zip)")
    pkg.set_defaults(func=run_controller_package)

    install = sub.add_parser(
        "install", help="create or update the function, its roles, its schedule and the table")
    _where(install)
    install.add_argument("--functions", default=None, metavar="GLOB,...",
                         help="the functions it may manage, comma-separated names or globs "
                              "(default: the installed value, else *)")
    install.add_argument("--rate", default=None, metavar="EXPR",
                         help=f"how often the schedule calls it (default: the installed value, "
                              f"else \"{DEFAULT_RATE}\")")
    install.add_argument("--timeout", type=positive_int, default=None, metavar="S",
                         help=f"the function's timeout in seconds (default: the installed value, "
                              f"else {DEFAULT_TIMEOUT})")
    install.set_defaults(func=run_controller_install)

    status = sub.add_parser("status", help="what is installed; exit 1 if something is missing")
    _where(status)
    status.set_defaults(func=run_controller_status)

    uninstall = sub.add_parser(
        "uninstall", help="delete the schedule, the function and its roles (the table stays)")
    _where(uninstall)
    uninstall.add_argument("--delete-table", action="store_true",
                           help="delete the state table too, and the rollouts' history with it")
    uninstall.set_defaults(func=run_controller_uninstall)


def _where(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION, the profile's)")
    p.add_argument("--function-name", default=None, metavar="NAME",
                   help=f"the controller function's name (default {DEFAULT_FUNCTION})")
    p.add_argument("--table", default=None,
                   help=f"the DynamoDB state table (default: the installed value, else "
                        f"{DEFAULT_TABLE})")


def _controller(args: argparse.Namespace) -> Any:
    """The Controller the flags name; a flag left out takes the installed value, else the default."""
    from lambdashift.controller.install import Controller, resolve_region
    from lambdashift.controller.spec import Spec

    spec = Spec(region=resolve_region(args.region),
                function=args.function_name or DEFAULT_FUNCTION)
    ctl = Controller(spec)
    installed = ctl.installed()
    given: dict[str, Any] = {"table": args.table}
    if getattr(args, "functions", None) is not None:
        given["functions"] = tuple(g.strip() for g in args.functions.split(",") if g.strip())
        if not given["functions"]:
            raise ConfigError(f"--functions {args.functions!r}: name at least one function or glob")
    for key in ("rate", "timeout"):
        given[key] = getattr(args, key, None)
    values = {**installed, **{k: v for k, v in given.items() if v is not None}}
    ctl.spec = replace(spec, **values)
    return ctl


def _show(changes: list[Any]) -> None:
    for change in changes:
        print(change.line())


def run_controller_package(args: argparse.Namespace) -> int:
    """Write the zip; print its path, size and CodeSha256."""
    from lambdashift.controller.package import build_controller_package

    package = build_controller_package()
    path = package.write(args.output)
    print(f"{path}  {package.size} B  {len(package.files)} files  CodeSha256 {package.code_sha256}")
    return 0


def run_controller_install(args: argparse.Namespace) -> int:
    """Create or update everything; say what changed."""
    from lambdashift.controller.package import build_controller_package

    ctl = _controller(args)
    spec = ctl.spec
    changes = ctl.install(build_controller_package())
    _show(changes)
    changed = [c for c in changes if not c.outcome.startswith(("unchanged", "exists"))]
    note(f"controller {spec.function} in {spec.region}: {spec.rate}, manages "
         f"{','.join(spec.functions)}, state in {spec.table}" + ("" if changed else "; nothing changed"))
    return 0


def run_controller_status(args: argparse.Namespace) -> int:
    """One line per resource and the last decisions; exit 1 naming what is missing."""
    from lambdashift.controller.package import build_controller_package
    from lambdashift.controller.status import recent_decisions, status

    ctl = _controller(args)
    lines = status(ctl, build_controller_package())
    bad = [c for c in lines if not c.ok]
    decisions = recent_decisions(ctl) if not any(c.kind == "log group" for c in bad) else []
    _show(lines)
    if decisions:
        print("last decisions:")
        for line in decisions:
            print(f"  {line}")
    if bad:
        region = f" --region {ctl.spec.region}"
        name = "" if ctl.spec.function == DEFAULT_FUNCTION else f" --function-name {ctl.spec.function}"
        note(f"not installed as it should be: {', '.join(f'{c.kind} {c.name}' for c in bad)}; "
             f"run `{_FIX}{region}{name}`")
        return 1
    return 0


def run_controller_uninstall(args: argparse.Namespace) -> int:
    """Delete what install made; say what."""
    from lambdashift.controller.uninstall import uninstall

    ctl = _controller(args)
    _show(uninstall(ctl, delete_table=args.delete_table))
    return 0
