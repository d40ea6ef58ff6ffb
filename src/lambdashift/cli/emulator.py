"""``lambdashift emulator``: the local Lambda API in the foreground."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from lambdashift.cli.common import note, port_number, positive_seconds, seconds_or_zero
from lambdashift.errors import ConfigError


def is_loopback_host(host: str) -> bool:
    """See :func:`lambdashift.emulator.server.is_loopback` (imported late: start-up speed)."""
    from lambdashift.emulator.server import is_loopback

    return is_loopback(host)


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``emulator`` command."""
    p = subparsers.add_parser(
        "emulator", help="run the local AWS Lambda API (boto3 and the AWS CLI work against it)",
        description="Serve the Lambda REST API on loopback until interrupted; prints the "
                    "endpoint once it answers.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1); loopback only unless --allow-remote")
    p.add_argument("--allow-remote", action="store_true",
                   help="let --host be an address other machines reach (no authentication!)")
    p.add_argument("--port", type=port_number, default=9001, help="port (0 picks a free one; default 9001)")
    p.add_argument("--data-dir", type=Path, default=Path(".lambdashift"),
                   help="where functions, code, versions and aliases persist (default .lambdashift)")
    p.add_argument("--region", default="us-east-1", help="region in ARNs (default us-east-1)")
    p.add_argument("--concurrency", type=int, default=10,
                   help="concurrent invocations per function when none is reserved (default 10)")
    p.add_argument("--idle-timeout", type=positive_seconds, default=300.0,
                   help="seconds before an idle warm worker is stopped (default 300)")
    p.add_argument("--control-plane-rate", type=float, default=0.0,
                   help="throttle control-plane calls to this many per second like AWS (15); "
                        "0 = off (default)")
    p.add_argument("--function-env", type=_env_pair, action="append", default=[],
                   metavar="KEY=VALUE",
                   help="environment for every function's workers (e.g. dummy credentials)")
    p.add_argument("--gateway-routes", default=None, metavar="JSON",
                   help='also serve an HTTP API: {"GET /path/{id}": "function", ...}')
    p.add_argument("--gateway-port", type=port_number, default=0, help="port of the HTTP API (0: a free one)")
    p.add_argument("--alias", default="live", help="alias the HTTP API invokes (default live)")
    p.add_argument("--faults", default=None, metavar="SPEC",
                   help="inject faults, e.g. control=0.2,invoke=0.05,seed=7 (default: "
                        "$LAMBDASHIFT_FAULTS, else none); see docs/emulator.md")
    p.add_argument("--state-delay", type=seconds_or_zero, default=None, metavar="SECONDS",
                   help="how long a created function stays Pending and an update InProgress, "
                        "as on AWS (default $LAMBDASHIFT_STATE_DELAY, else 0.3; 0 = off)")
    p.add_argument("--schedule-min-rate", type=float, default=60.0, metavar="SECONDS",
                   help="the smallest rate() an EventBridge Scheduler schedule may have: AWS's "
                        "60 (default); lower it for local tests, which may then use "
                        "rate(N seconds)")
    p.set_defaults(func=run_emulator)


def run_emulator(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from lambdashift.emulator.server import (
        EmulatorOptions,
        loopback_refusal,
        remote_warning,
        run_foreground,
    )

    refusal = loopback_refusal(args.host, "the emulator", args.allow_remote)
    if refusal:
        raise ConfigError(refusal)
    if args.allow_remote and not is_loopback_host(args.host):
        note(remote_warning(args.host, "the emulator (and its HTTP API)"))
    if args.gateway_routes is not None and args.port and args.port == args.gateway_port:
        raise ConfigError(f"--port and --gateway-port are both {args.port}: the Lambda API and "
                          "the HTTP API need a port each")
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {args.concurrency}")
    routes: dict[str, str] | None = None
    if args.gateway_routes is not None:  # `{}` too: the local stack of a config without routes
        try:
            routes = json.loads(args.gateway_routes)
            assert isinstance(routes, dict) and all(isinstance(v, str) for v in routes.values())
        except (ValueError, AssertionError):
            raise ConfigError("--gateway-routes must be a JSON object of route key → function") from None
    from lambdashift.emulator.faults import FaultSpec, parse_spec

    spec_text = args.faults if args.faults is not None else os.environ.get("LAMBDASHIFT_FAULTS", "")
    try:
        fault_spec = parse_spec(spec_text) if spec_text.strip() else FaultSpec()
    except ValueError as exc:
        source = "--faults" if args.faults is not None else "LAMBDASHIFT_FAULTS"
        raise ConfigError(f"{source}: {exc}") from None
    from lambdashift.emulator.awslambda.function_states import default_state_delay

    try:
        delay = default_state_delay() if args.state_delay is None else args.state_delay
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if delay < 0:
        raise ConfigError(f"--state-delay must be 0 or more, got {args.state_delay}")
    if not 0 < args.schedule_min_rate <= 60:
        raise ConfigError(f"--schedule-min-rate must be more than 0 and at most 60 (AWS's minute), "
                          f"got {args.schedule_min_rate}")
    options = EmulatorOptions(
        host=args.host, port=args.port, data_dir=args.data_dir, region=args.region,
        concurrency=args.concurrency, idle_timeout=args.idle_timeout,
        control_plane_rate=args.control_plane_rate, function_env=tuple(args.function_env),
        gateway_routes=None if routes is None else tuple(routes.items()), gateway_port=args.gateway_port, alias=args.alias,
        faults=fault_spec,
        state_delay=delay,
        schedule_min_rate=args.schedule_min_rate,
    )
    try:
        run_foreground(options)
    except OSError as exc:
        raise ConfigError(f"cannot serve on --host {args.host} (--port {args.port}): "
                          f"{exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass
    return 0
