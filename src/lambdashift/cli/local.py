"""``lambdashift local up|down|url|status``: the local stack for a lambdashift.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdashift.cli.common import (add_config_argument, add_json_argument, config_from, note,
                                    port_number, print_json)
from lambdashift.config import Config
from lambdashift.errors import ConfigError, LocalStackError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``local`` and its sub-commands."""
    p = subparsers.add_parser("local", help="run the local stack: emulator, HTTP API, DynamoDB",
                              description="The embedded local cloud for a lambdashift.yaml.")
    sub = p.add_subparsers(dest="local_command", metavar="SUBCOMMAND", required=True,
                           parser_class=type(p))
    up = sub.add_parser("up", help="start the stack and deploy the config's functions, routes, tables")
    add_config_argument(up)
    up.add_argument("--detach", action="store_true",
                    help="return once everything answers, leaving the stack running")
    up.add_argument("--api-port", type=port_number, default=0, help="port of the HTTP API (default: a free one)")
    up.add_argument("--lambda-port", type=port_number, default=0,
                    help="port of the Lambda API (default: a free one)")
    up.add_argument("--dynamodb-endpoint", default=None, metavar="URL",
                    help="use this DynamoDB endpoint instead of starting one")
    up.add_argument("--dynamodb", choices=("lambdashift", "moto"), default="lambdashift",
                    help="which DynamoDB server to start: lambdashift's own (persisted, default) "
                         "or moto's (in memory)")
    up.set_defaults(func=run_up)
    for name, helptext, func in (
        ("down", "stop the stack", run_down),
        ("url", "print the HTTP API's URL", run_url),
        ("status", "print the stack's endpoints and processes", run_local_status),
    ):
        cmd = sub.add_parser(name, help=helptext)
        add_config_argument(cmd)
        if name == "status":
            add_json_argument(cmd)
        cmd.set_defaults(func=func)


def stack_spec(config: Config):  # noqa: ANN201 - StackSpec, imported lazily for start-up speed
    """The local stack a config describes."""
    from lambdashift.local.runnable import local_functions
    from lambdashift.local.stack import StackSpec

    functions = local_functions(config.functions)
    min_rate = None
    if config.controller:
        from lambdashift.controller.local import min_rate as controller_min_rate

        min_rate = controller_min_rate(config.controller.rate_seconds)
    return StackSpec(root=config.root, functions=functions,
                     routes={r.key: r.function for r in config.routes if r.function in functions},
                     tables=config.tables,
                     alias=config.alias, region=config.region or "us-east-1",
                     config_path=str(config.file.resolve()), schedule_min_rate=min_rate)


def controller_step(config: Config):  # noqa: ANN201 - stack.ControllerStep
    """What ``local up`` does about the controller once the config's functions are deployed:
    deploy it (on), or delete the one an earlier ``up`` left (off)."""
    from lambdashift.controller import local as controller

    def step(state, say):  # noqa: ANN001, ANN202 - StackState, its say
        if not config.controller:
            controller.remove_stale(lambda_endpoint=state.lambda_endpoint, region=state.region,
                                    keep_function=controller.DEFAULT_FUNCTION in config.functions,
                                    say=say)
            return {}
        return controller.deploy(lambda_endpoint=state.lambda_endpoint,
                                 dynamodb_endpoint=state.dynamodb_endpoint,
                                 logs_endpoint=state.logs_endpoint or state.lambda_endpoint,
                                 region=state.region, state=config.state,
                                 expression=config.controller.expression, say=say)
    return step


def _root(args: argparse.Namespace) -> Path:
    return Path(args.config).resolve().parent


def run_up(args: argparse.Namespace) -> int:
    """Start, deploy, and stay in the foreground unless --detach."""
    from lambdashift.local import stack

    from lambdashift.local.runnable import refusal

    config = config_from(args)
    refused = refusal(config.functions)
    if refused:  # before any process starts or any function is created
        raise ConfigError(refused)
    if config.controller:
        from lambdashift.controller.settings import DEFAULT_FUNCTION

        if DEFAULT_FUNCTION in config.functions:
            raise ConfigError(f"functions.{DEFAULT_FUNCTION}: the name is the controller's "
                              "function's (controller: on): rename yours, or turn the "
                              "controller off. Nothing was started.")
    spec = stack_spec(config)
    for name, fn in config.functions.items():
        if name not in spec.functions:
            note(f"{name}: left out of the local stack (local: false), with its routes")
    note(f"lambdashift local stack for {config.file}")
    state = stack.up(spec, detach=args.detach, dynamodb_endpoint=args.dynamodb_endpoint,
                     dynamodb=args.dynamodb,
                     api_port=args.api_port, lambda_port=args.lambda_port, say=note,
                     controller=controller_step(config))
    print(state.api_url, flush=True)
    if args.detach:
        note("running in the background: `lambdashift local down` stops it")
        return 0
    note("press Ctrl-C to stop")
    stack.wait_until_stopped(spec, state)
    note("stopped")
    return 0


def run_down(args: argparse.Namespace) -> int:
    """Stop the stack."""
    from lambdashift.local import stack

    recorded = stack.StackState.load(stack.state_path(_root(args)))
    if recorded is not None and recorded.controller and recorded.running():
        from lambdashift.controller.local import pause

        pause(lambda_endpoint=recorded.lambda_endpoint, region=recorded.region)
    state = stack.down(_root(args))
    note("stopped the local stack" if state else "no local stack was running")
    if state and state.controller:
        note(f"the controller stopped with it; its function and schedule "
             f"({state.controller.get('expression')}) are kept, the schedule paused until the "
             "next `local up` points them at the new stack")
    return 0


def run_url(args: argparse.Namespace) -> int:
    """Print the API URL of the running stack."""
    from lambdashift.local import stack

    print(stack.running_state(_root(args)).api_url)
    return 0


def run_local_status(args: argparse.Namespace) -> int:
    """Endpoints and processes of the running stack."""
    from dataclasses import asdict

    from lambdashift.local import stack

    try:
        state = stack.running_state(_root(args))
    except LocalStackError as exc:
        if args.json:  # an answer ("running": false) and, like every --json error, its words
            note(f"lambdashift: {exc}")
            print_json({"running": False, "error": str(exc), "code": 1})
            return 1
        raise
    controller = None
    if state.controller:
        from lambdashift.controller.local import describe

        controller = describe(state.lambda_endpoint, state.controller)
    if args.json:
        print_json({"running": True, **asdict(state), "controller": controller or {}})
    else:
        for key in ("api_url", "dev_url", "lambda_endpoint", "dynamodb_endpoint"):
            print(f"{key:18} {getattr(state, key)}")
        print(f"{'pids':18} " + ", ".join(f"{k} {v}" for k, v in state.pids.items()))
        print(f"{'controller':18} " + (_controller_words(controller) if controller else "off"))
    return 0


def _controller_words(c: dict) -> str:  # type: ignore[type-arg]
    """``lambdashift-controller running, rate(2 seconds) (schedule ENABLED, ...)``."""
    how = "running" if c["running"] else "NOT running"
    return (f"{c['function']} {how}, called {c['expression']} by the schedule {c['schedule']} "
            f"(schedule {c['schedule_state'] or 'missing'}, function "
            f"{c['function_state'] or 'missing'}; {c['delivered']} call(s) delivered, "
            f"{c['failed']} failed since the stack started); state table {c.get('table')}")
