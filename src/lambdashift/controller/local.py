"""The controller on the local stack: ``local up`` runs it inside the emulator, for real.

With ``controller:`` on in lambdashift.yaml, ``local up`` (once the stack answers and the
config's functions are deployed):

1. makes sure the state table exists on the local stack's DynamoDB (the controller reads
   rollouts there; ``controller: on`` implies ``state: {store: dynamodb}``);
2. creates, or updates when its code or settings changed, the Lambda function
   ``lambdashift-controller`` in the emulator from the same deployment zip as on AWS
   (``package.build_controller_zip``), with ``ControllerSettings.environment()`` naming the
   stack's Lambda, DynamoDB and Logs endpoints, and tags it as the stack's own;
3. creates, or updates when its rate changed, the EventBridge Scheduler schedule of the same
   name that invokes it (boto3's ``scheduler`` client against the emulator, which serves a
   Scheduler subset; ``local up`` lowers the emulator's smallest rate to the configured
   sub-minute rate).

The function runs in the emulator's worker processes like any other: ``lambdashift logs
lambdashift-controller`` shows its JSON decision lines. ``local down`` stops it with the
emulator; the function and schedule persist in ``.lambdashift/lambda`` and go on at the
next ``local up``. With the controller off, ``local up`` deletes the schedule and function
it finds only if they are the stack's own (tagged, targeting it): two cheap probes, and
nothing else, so that ``local up`` without the controller costs what it did.

Clients are boto3's, made by ``aws.clients``; their errors are read by code, not imported.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambdashift.controller.settings import (
    DEFAULT_FUNCTION,
    DEFAULT_SCHEDULE,
    DEFAULT_TIMEOUT,
    HANDLER,
    RUNTIME,
    ControllerSettings,
)

__all__ = ["LOCAL_MARGIN", "TAG", "deploy", "describe", "min_rate", "remove_stale"]

#: Seconds kept free at the end of a tick on the local stack: its store answers in
#: milliseconds, and a test's patience is short (AWS's install keeps DEFAULT_MARGIN).
LOCAL_MARGIN = 5.0
#: The local controller's timeout: a tick hands its rollouts over after 55 s and the next one
#: takes them up at once. Short because the emulator hands a function's log lines over when
#: its invocation ends (AWS streams them), so ``lambdashift logs`` shows a tick's decisions
#: within a minute; AWS's install keeps DEFAULT_TIMEOUT (900 s).
LOCAL_TIMEOUT = 60
#: Marks the function as the local stack's own: only such a function is ever deleted.
TAG = "lambdashift:controller"
#: Roles the emulator asks for but does not enforce (as a real account would).
FUNCTION_ROLE = "arn:aws:iam::000000000000:role/lambdashift-controller"
SCHEDULER_ROLE = "arn:aws:iam::000000000000:role/lambdashift-controller-scheduler"
_MEMORY = 256
_AWS_MIN_RATE = 60.0


def min_rate(rate_seconds: int) -> float | None:
    """The emulator's ``--schedule-min-rate`` that allows ``rate_seconds`` (None: AWS's own
    minute is enough, and the emulator is started as without the controller)."""
    return float(rate_seconds) if rate_seconds < _AWS_MIN_RATE else None


def _client(service: str, endpoint: str, region: str) -> Any:
    from lambdashift.aws.clients import make_client

    return make_client(service, endpoint_url=endpoint, region=region, local=True)


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def deploy(*, lambda_endpoint: str, dynamodb_endpoint: str, logs_endpoint: str, region: str,
           state: Any, expression: str, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Deploy the controller into the running stack; what ``local.json`` records of it.

    ``state`` is the config's StateConfig (a DynamoDB store: the config makes it one)."""
    from lambdashift.controller.package import build_controller_package
    from lambdashift.errors import ConfigError
    from lambdashift.store.factory import open_store

    if state.store != "dynamodb":  # the config makes it so; a caller that did not is told
        raise ConfigError("the controller keeps its state on DynamoDB: state.store: dynamodb")
    settings = ControllerSettings(
        namespace="local", table=state.table, region=region,
        dynamodb_endpoint=state.endpoint or dynamodb_endpoint, lambda_endpoint=lambda_endpoint,
        logs_endpoint=logs_endpoint, margin=LOCAL_MARGIN)
    # The table first: the first tick must find it (the controller itself never creates it).
    store = open_store(state, namespace="local", sqlite_path=Path("unused.db"),  # DynamoDB
                       region=region, local_endpoint=dynamodb_endpoint)
    store.close()
    package = build_controller_package()
    lam = _client("lambda", lambda_endpoint, region)
    wanted = {"Runtime": RUNTIME, "Handler": HANDLER, "Timeout": LOCAL_TIMEOUT,
              "MemorySize": _MEMORY, "Role": FUNCTION_ROLE,
              "Environment": {"Variables": settings.environment()},
              "Description": "lambdashift's controller (local stack)"}
    created, changed = _ensure_function(lam, package.data, package.code_sha256, wanted)
    lam.get_waiter("function_active_v2").wait(FunctionName=DEFAULT_FUNCTION,
                                              WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
    lam.get_waiter("function_updated_v2").wait(FunctionName=DEFAULT_FUNCTION,
                                               WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
    arn = lam.get_function_configuration(FunctionName=DEFAULT_FUNCTION)["FunctionArn"]
    scheduled = _ensure_schedule(_client("scheduler", lambda_endpoint, region), arn, expression)
    what = "created" if created else (f"updated ({', '.join(changed)})" if changed
                                      else "unchanged")
    say(f"controller   {DEFAULT_FUNCTION}  {what}, called {expression} by the schedule "
        f"{DEFAULT_SCHEDULE} ({scheduled}); state on DynamoDB table {state.table}; its "
        f"decisions: `lambdashift logs {DEFAULT_FUNCTION}`")
    return {"function": DEFAULT_FUNCTION, "schedule": DEFAULT_SCHEDULE, "expression": expression,
            "code_sha256": package.code_sha256, "table": state.table}


def _ensure_function(lam: Any, zip_data: bytes, sha: str,
                     wanted: dict[str, Any]) -> tuple[bool, list[str]]:
    """(created, what changed): create the function, or bring its code and settings up to
    date (the settings change at every restart: the stack's endpoints get new ports)."""
    try:
        current = lam.get_function_configuration(FunctionName=DEFAULT_FUNCTION)
    except Exception as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        lam.create_function(FunctionName=DEFAULT_FUNCTION, Code={"ZipFile": zip_data},
                            Tags={TAG: "local"}, **wanted)
        return True, []
    changed = []
    if current.get("CodeSha256") != sha:
        lam.update_function_code(FunctionName=DEFAULT_FUNCTION, ZipFile=zip_data)
        lam.get_waiter("function_updated_v2").wait(
            FunctionName=DEFAULT_FUNCTION, WaiterConfig={"Delay": 0.1, "MaxAttempts": 600})
        changed.append("code")
    have = {"Runtime": current.get("Runtime"), "Handler": current.get("Handler"),
            "Timeout": current.get("Timeout"), "MemorySize": current.get("MemorySize"),
            "Role": current.get("Role"),
            "Environment": {"Variables": current.get("Environment", {}).get("Variables", {})},
            "Description": current.get("Description", "")}
    if have != wanted:
        lam.update_function_configuration(FunctionName=DEFAULT_FUNCTION, **wanted)
        changed.append("settings")
    return False, changed


def _ensure_schedule(scheduler: Any, arn: str, expression: str) -> str:
    """Create the schedule, or update it when its rate or target changed; what was done."""
    params = {"ScheduleExpression": expression, "FlexibleTimeWindow": {"Mode": "OFF"},
              "Target": {"Arn": arn, "RoleArn": SCHEDULER_ROLE}, "State": "ENABLED",
              "Description": "calls lambdashift's controller"}
    try:
        current = scheduler.get_schedule(Name=DEFAULT_SCHEDULE)
    except Exception as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        scheduler.create_schedule(Name=DEFAULT_SCHEDULE, **params)
        return "created"
    same = (current.get("ScheduleExpression") == expression and current.get("State") == "ENABLED"
            and current.get("Target", {}).get("Arn") == arn)
    if same:
        return "kept"
    # UpdateSchedule replaces every setting, as on AWS: the whole schedule is sent again.
    scheduler.update_schedule(Name=DEFAULT_SCHEDULE, **params)
    return "updated"


def pause(*, lambda_endpoint: str, region: str) -> bool:
    """Disable the controller's schedule before the stack stops (``local down``): the next
    ``local up`` starts a new emulator on other ports, and a tick fired there before ``up``
    pointed the function at them would call the old ones. ``up`` enables it again. False
    when there was nothing to pause (best effort: the stack stops anyway)."""
    try:
        scheduler = _client("scheduler", lambda_endpoint, region)
        current = scheduler.get_schedule(Name=DEFAULT_SCHEDULE)
        if current.get("State") == "DISABLED":
            return False
        keep = ("ScheduleExpression", "FlexibleTimeWindow", "Target", "Description")
        scheduler.update_schedule(Name=DEFAULT_SCHEDULE, State="DISABLED",
                                  **{k: current[k] for k in keep if k in current})
        return True
    except Exception:  # noqa: BLE001 - a stack that is already half gone still stops
        return False


def _exists(url: str) -> dict[str, Any] | None:
    """The JSON at ``url``, or None on a 404 (a cheap probe, without boto3)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return dict(json.load(resp))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def remove_stale(*, lambda_endpoint: str, region: str, keep_function: bool,
                 say: Callable[[str], None] = print) -> bool:
    """With the controller off: delete the schedule and function a previous ``local up``
    left, if they are the stack's own. True when something was deleted.

    ``keep_function``: the config has a function of that name of its own: then neither it
    nor a schedule calling it is touched."""
    if keep_function:
        return False
    schedule = _exists(f"{lambda_endpoint}/schedules/{DEFAULT_SCHEDULE}")
    function = _exists(f"{lambda_endpoint}/2015-03-31/functions/{DEFAULT_FUNCTION}")
    if schedule is None and function is None:
        return False
    deleted = []
    ours = function is not None and TAG in (function.get("Tags") or {})
    target = (schedule or {}).get("Target", {}).get("Arn", "")
    if schedule is not None and target.endswith(f":function:{DEFAULT_FUNCTION}"):
        _client("scheduler", lambda_endpoint, region).delete_schedule(Name=DEFAULT_SCHEDULE)
        deleted.append(f"schedule {DEFAULT_SCHEDULE}")
    if ours:
        _client("lambda", lambda_endpoint, region).delete_function(FunctionName=DEFAULT_FUNCTION)
        deleted.append(f"function {DEFAULT_FUNCTION}")
    if deleted:
        say(f"controller   off: deleted the {' and the '.join(deleted)} an earlier "
            "`local up` made")
    return bool(deleted)


def describe(lambda_endpoint: str, record: dict[str, Any]) -> dict[str, Any]:
    """What ``local status`` says of the controller: its schedule as the emulator has it,
    the function's state, and the schedule's deliveries since the emulator started."""
    schedule = _exists(f"{lambda_endpoint}/schedules/{DEFAULT_SCHEDULE}") or {}
    function = _exists(f"{lambda_endpoint}/2015-03-31/functions/{DEFAULT_FUNCTION}") or {}
    stats = _exists(f"{lambda_endpoint}/_lambdashift/scheduler") or {}
    state = function.get("Configuration", {}).get("State")
    running = schedule.get("State") == "ENABLED" and state == "Active"
    return {**record, "running": running, "schedule_state": schedule.get("State"),
            "function_state": state, "expression": schedule.get("ScheduleExpression",
                                                                  record.get("expression")),
            "delivered": stats.get("delivered"), "failed": stats.get("failed")}
