"""``lambdashift local up/down/url``: the whole local stack for one lambdashift.yaml.

up: DynamoDB (lambdashift's own SQLite-backed server by default; moto's with
``--dynamodb moto``; or an endpoint you give) → the emulator with the HTTP API gateway,
whose functions see DynamoDB through ``AWS_ENDPOINT_URL_DYNAMODB`` → functions, aliases and
tables → ``.lambdashift/local.json`` beside the config. Functions, versions and aliases
persist in ``.lambdashift/lambda``, table data in ``.lambdashift/dynamodb`` (moto keeps it
in memory only: with it, notes do not survive ``local down``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lambdashift.aws.clients import LOCAL_CREDENTIALS, make_client
from lambdashift.aws.provision import (
    DeployedFunction,
    FunctionSpec,
    deploy_function,
    ensure_route_permissions,
    ensure_table,
    wait_active,
)
from lambdashift.emulator.server import check_port, start_process
from lambdashift.errors import ConfigError, LocalStackError
from lambdashift.local.processes import alive, answers, start_dynamodb, stop_pid

STATE_FILE = "local.json"


@dataclass
class StackState:
    """What ``.lambdashift/local.json`` records of a running stack."""

    api_url: str
    lambda_endpoint: str
    dynamodb_endpoint: str
    dev_url: str
    region: str
    pids: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    config: str = ""
    #: CloudWatch Logs (JSON 1.1), served on the emulator's port; "" in older records.
    logs_endpoint: str = ""
    #: The controller deployed into the emulator (function, schedule, expression, ...);
    #: empty when the config's controller is off.
    controller: dict[str, Any] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write atomically."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> StackState | None:
        """The recorded state, or None when there is none."""
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise LocalStackError(f"{path} is not a local stack record ({exc}); delete it") from None

    def running(self) -> bool:
        """Every process alive and the gateway and emulator answering."""
        return (all(alive(pid) for pid in self.pids.values())
                and answers(self.lambda_endpoint + "/_lambdashift/health")
                and answers(self.api_url + "/_lambdashift/gateway"))


@dataclass(frozen=True)
class StackSpec:
    """What the stack is made of: from lambdashift.yaml."""

    root: Path                                   # the directory holding lambdashift.yaml
    functions: Mapping[str, FunctionSpec]
    routes: Mapping[str, str]
    tables: Mapping[str, Mapping[str, Any]]
    alias: str = "live"
    region: str = "us-east-1"
    config_path: str = ""
    #: The emulator's smallest schedule rate, when the controller's is under AWS's minute.
    schedule_min_rate: float | None = None

    @property
    def state_dir(self) -> Path:
        """``.lambdashift/`` beside the config."""
        return self.root / ".lambdashift"


def state_path(root: Path) -> Path:
    """Where the running stack of a config directory is recorded."""
    return root / ".lambdashift" / STATE_FILE


def _dynamodb_words(backend: str, started: bool, spec: StackSpec) -> str:
    if not started:
        return "(given: its data is its own)"
    if backend == "moto":
        return "(moto, in memory: table data does not survive `local down`)"
    return f"(lambdashift's, table data kept in {spec.state_dir / 'dynamodb'} across restarts)"


#: Called once the stack's functions are deployed: deploys the controller (its record for
#: ``local.json``) or, with it off, removes one an earlier ``up`` left (an empty record).
ControllerStep = Callable[[StackState, Callable[[str], None]], dict[str, Any]]


def up(spec: StackSpec, *, detach: bool, dynamodb_endpoint: str | None = None,
       dynamodb: str = "lambdashift", api_port: int = 0, lambda_port: int = 0,
       say: Callable[[str], None] = print, controller: ControllerStep | None = None) -> StackState:
    """Start the stack, deploy into it, record it. Raises LocalStackError if it is running."""
    spec.state_dir.mkdir(parents=True, exist_ok=True)
    record = state_path(spec.root)
    previous = StackState.load(record)
    if previous and previous.running():
        raise LocalStackError(
            f"the local stack is already running (API {previous.api_url}); "
            "`lambdashift local down` stops it")
    if previous:
        _stop_all(previous)
    _check_ports(api_port, lambda_port)
    pids: dict[str, int] = {}
    try:
        if dynamodb_endpoint is None:
            server, dynamodb_endpoint = start_dynamodb(
                spec.state_dir / "dynamodb.log", detach=detach, backend=dynamodb,
                data_dir=spec.state_dir / "dynamodb")
            pids["dynamodb"] = server.pid
        function_env = {
            "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        }
        args = ["--gateway-routes", json.dumps(dict(spec.routes)), "--gateway-port", str(api_port),
                "--alias", spec.alias, "--region", spec.region]
        for key, value in function_env.items():
            args += ["--function-env", f"{key}={value}"]
        if spec.schedule_min_rate is not None:  # the controller's sub-minute rate
            args += ["--schedule-min-rate", f"{spec.schedule_min_rate:g}"]
        try:
            emulator = start_process(spec.state_dir / "lambda", port=lambda_port, extra_args=args,
                                     log_file=spec.state_dir / "emulator.log", detach=detach)
        except ConfigError:
            _check_ports(api_port, lambda_port)  # taken since the first look: name the user's flag
            raise
        pids["emulator"] = emulator.pid
        assert emulator.gateway is not None
        state = StackState(api_url=emulator.gateway, lambda_endpoint=emulator.endpoint,
                           dynamodb_endpoint=dynamodb_endpoint, dev_url=emulator.gateway + "/_dev",
                           region=spec.region, pids=pids, started=time.time(),
                           config=spec.config_path, logs_endpoint=emulator.endpoint)
        state.save(record)
        say(f"emulator     {emulator.endpoint}  (functions, versions, aliases kept in "
            f"{spec.state_dir / 'lambda'})")
        say(f"logs         {emulator.endpoint}  (CloudWatch Logs API: `lambdashift logs FN`, "
            "`aws logs filter-log-events --endpoint-url ...`)")
        say(f"DynamoDB     {dynamodb_endpoint}  " + _dynamodb_words(dynamodb, "dynamodb" in pids, spec))
        _deploy(spec, state, say)
        if controller is not None:
            state.controller = controller(state, say)
            state.save(record)
        say(f"HTTP API     {state.api_url}  (alias {spec.alias}; the dev alias under {state.dev_url})")
        return state
    except BaseException:
        for pid in pids.values():
            stop_pid(pid)
        record.unlink(missing_ok=True)
        raise


def _check_ports(api_port: int, lambda_port: int) -> None:
    """ConfigError naming ``--api-port`` or ``--lambda-port`` when its port cannot be had:
    the emulator would otherwise fail on flags of its own (``--gateway-port``)."""
    if api_port and api_port == lambda_port:
        raise ConfigError(f"--api-port and --lambda-port are both {api_port}: the HTTP API and "
                          "the Lambda API need a port each")
    check_port("--api-port", api_port)
    check_port("--lambda-port", lambda_port)


def _deploy(spec: StackSpec, state: StackState, say: Callable[[str], None]) -> list[DeployedFunction]:
    dynamodb = make_client("dynamodb", endpoint_url=state.dynamodb_endpoint, region=spec.region,
                           local=True)
    for name, params in spec.tables.items():
        created = ensure_table(dynamodb, name, params)
        say(f"table        {name}  ({'created' if created else 'exists'})")
    lam = make_client("lambda", endpoint_url=state.lambda_endpoint, region=spec.region, local=True)
    deployed = []
    for name, fn in spec.functions.items():
        result = deploy_function(lam, name, fn, alias=spec.alias)
        deployed.append(result)
        say(f"function     {name}  {'created, ' if result.created else ''}"
            f"{spec.alias} → {result.live}, dev → {result.dev}")
    for name in spec.functions:
        keys = [key for key, fn in spec.routes.items() if fn == name]
        if keys:
            ensure_route_permissions(lam, name, keys, [spec.alias, "dev"], region=spec.region)
    wait_active(lam, spec.functions)
    return deployed


def wait_until_stopped(spec: StackSpec, state: StackState) -> None:
    """Foreground mode: block until Ctrl-C or SIGTERM, then stop the stack."""
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stopping and all(alive(pid) for pid in state.pids.values()):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_all(state)
        state_path(spec.root).unlink(missing_ok=True)


def down(root: Path) -> StackState | None:
    """Stop the stack recorded beside the config; None when none was recorded."""
    record = state_path(root)
    state = StackState.load(record)
    if state is None:
        return None
    _stop_all(state)
    record.unlink(missing_ok=True)
    return state


def running_state(root: Path) -> StackState:
    """The running stack's record, or LocalStackError saying how to start it."""
    state = StackState.load(state_path(root))
    if state is None or not state.running():
        raise LocalStackError(
            f"no local stack is running for {root.resolve()}; start one with `lambdashift local up --detach`")
    return state


def _stop_all(state: StackState) -> None:
    # The emulator first: its workers must stop before the database they talk to.
    for name in ("emulator", "dynamodb"):
        if name in state.pids:
            stop_pid(state.pids[name])
