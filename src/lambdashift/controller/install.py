"""``lambdashift controller install|status|uninstall``: the controller on AWS with boto3.

For users without Terraform (the module in ``examples/notes/infra/modules/controller`` makes
the same things). ``install`` makes sure of, in order:

1. the state table (the store's key schema; kept as it is when it exists);
2. the controller's log group with a retention (so its role needs no CreateLogGroup);
3. its execution role (trust ``lambda.amazonaws.com``) with the inline policy of
   :mod:`~lambdashift.controller.iam`: the actions of ``permissions``, scoped;
4. the function: the zip of :mod:`~lambdashift.controller.package`, ``HANDLER``, ``RUNTIME``,
   the timeout and 512 MB, ``ControllerSettings(...).environment()``; created, or its code and
   configuration updated where they differ, then waited for until Active and updated;
5. the scheduler's role (trust ``scheduler.amazonaws.com`` from this account only; may invoke
   the controller, nothing else) and the EventBridge Scheduler schedule that calls it.

Each step says ``created``, ``updated (what)`` or ``unchanged``: a second install changes
nothing. A role, function or schedule of the same name that lambdashift did not make (no
``lambdashift:controller`` tag, another handler, another target) is refused, never taken
over, and ``uninstall`` leaves it alone too. This module and ``aws/`` are the only ones that
import botocore (tests/unit/test_import_graph.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.aws.clients import make_client
from lambdashift.aws.packaging import Package
from lambdashift.controller import iam
from lambdashift.controller.settings import HANDLER, RUNTIME, ControllerSettings
from lambdashift.controller.spec import Spec
from lambdashift.errors import AwsError, ConfigError
from lambdashift.store.dynamodb import ATTRIBUTES, KEY_SCHEMA

__all__ = ["MEMORY", "TAG", "Change", "Controller", "Spec", "resolve_region"]

MEMORY = 512
LOG_RETENTION_DAYS = 30
#: The tag on every role and function install makes; its value is the controller's name.
TAG = "lambdashift:controller"
DESCRIPTION = "lambdashift controller: drives rollouts to their end"
#: A new role takes seconds to reach Lambda and Scheduler: so many tries, so far apart.
ROLE_ATTEMPTS, ROLE_DELAY = 15, 2.0


def resolve_region(region: str | None) -> str:
    """``--region``, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's; ConfigError."""
    found = (region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
             or boto3.session.Session().region_name)
    if not found:
        raise ConfigError("no AWS region: pass --region or set AWS_REGION")
    return found


@dataclass(frozen=True)
class Change:
    """One line of what a command found or did: ``role lambdashift-controller-role: created``."""

    kind: str
    name: str
    outcome: str
    ok: bool = True

    def line(self) -> str:
        """The line printed."""
        return f"{self.kind} {self.name}: {self.outcome}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or _code(exc)


@contextmanager
def _aws(doing: str) -> Iterator[None]:
    """An AWS failure as one line naming what was being done (AwsError: exit 1)."""
    try:
        yield
    except ClientError as exc:
        raise AwsError(f"{doing}: {_code(exc)}: {_message(exc)}", code=_code(exc),
                       operation=doing) from exc
    except BotoCoreError as exc:
        raise AwsError(f"{doing}: {exc}", operation=doing) from exc


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@dataclass
class Controller:
    """The controller's AWS resources for one :class:`Spec`; clients made on first use."""

    spec: Spec
    client: Callable[[str], Any] | None = None
    sleep: Callable[[float], None] = time.sleep
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _account: str = ""

    def c(self, service: str) -> Any:
        """The boto3 client of ``service`` (``lambda``, ``iam``, ...)."""
        if service not in self._clients:
            make = self.client or (lambda s: make_client(s, region=self.spec.region))
            self._clients[service] = make(service)
        return self._clients[service]

    def call(self, doing: str, call: Callable[..., Any], missing: str = "", **params: Any) -> Any:
        """``call(**params)``, or None when AWS answers with the ``missing`` error code; any
        other failure is an AwsError naming ``doing``."""
        try:
            with _aws(doing):
                return call(**params)
        except AwsError as exc:
            if missing and exc.code == missing:
                return None
            raise

    @property
    def account(self) -> str:
        """The account the credentials belong to (STS GetCallerIdentity)."""
        if not self._account:
            with _aws("reading the account (sts get-caller-identity)"):
                self._account = self.c("sts").get_caller_identity()["Account"]
        return self._account

    @property
    def function_arn(self) -> str:
        """The controller function's ARN."""
        part = iam.partition(self.spec.region)
        return f"arn:{part}:lambda:{self.spec.region}:{self.account}:function:{self.spec.function}"

    def execution_policy(self) -> dict[str, Any]:
        """The execution role's inline policy for this spec and account."""
        s = self.spec
        return iam.execution_policy(region=s.region, account=self.account, function=s.function,
                                    table=s.table, functions=s.functions)

    def roles(self) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(name, trust policy, inline policy) of the two roles."""
        return [(self.spec.role, iam.trust_policy("lambda.amazonaws.com"), self.execution_policy()),
                (self.spec.scheduler_role, iam.trust_policy("scheduler.amazonaws.com", self.account),
                 iam.scheduler_policy(self.function_arn))]

    # -- reading ---------------------------------------------------------------------------

    def get_function(self) -> dict[str, Any] | None:
        """GetFunction's Configuration, or None."""
        found = self.call(f"reading function {self.spec.function}", self.c("lambda").get_function,
                          "ResourceNotFoundException", FunctionName=self.spec.function)
        return None if found is None else found["Configuration"]

    def get_role(self, name: str) -> dict[str, Any] | None:
        """GetRole's Role, or None."""
        found = self.call(f"reading role {name}", self.c("iam").get_role, "NoSuchEntity",
                          RoleName=name)
        return None if found is None else found["Role"]

    def get_role_policy(self, name: str) -> dict[str, Any] | None:
        """The role's inline policy document (named as the role), or None."""
        found = self.call(f"reading the policy of role {name}", self.c("iam").get_role_policy,
                          "NoSuchEntity", RoleName=name, PolicyName=name)
        return None if found is None else found["PolicyDocument"]

    def get_schedule(self) -> dict[str, Any] | None:
        """GetSchedule's answer, or None."""
        return self.call(f"reading schedule {self.spec.schedule}", self.c("scheduler").get_schedule,
                         "ResourceNotFoundException", Name=self.spec.schedule)

    def describe_table(self) -> dict[str, Any] | None:
        """DescribeTable's Table, or None."""
        found = self.call(f"reading table {self.spec.table}", self.c("dynamodb").describe_table,
                          "ResourceNotFoundException", TableName=self.spec.table)
        return None if found is None else found["Table"]

    def owns_role(self, role: dict[str, Any]) -> bool:
        """Whether install made this role for this controller (its tag)."""
        return {t["Key"]: t["Value"] for t in role.get("Tags", [])}.get(TAG) == self.spec.function

    def installed(self) -> dict[str, Any]:
        """What the installed controller was given (its environment, timeout and schedule):
        the values a flag left out keeps, so that a second install narrows nothing it widened."""
        found: dict[str, Any] = {}
        config = self.get_function()
        if config is not None and config.get("Handler") == HANDLER:
            settings = ControllerSettings.from_env(
                {**config.get("Environment", {}).get("Variables", {}), "AWS_REGION": self.spec.region})
            found.update(table=settings.table, functions=settings.functions,
                         timeout=config.get("Timeout"))
        schedule = self.get_schedule()
        if schedule is not None and schedule.get("Target", {}).get("Arn") == self.function_arn:
            found["rate"] = schedule.get("ScheduleExpression")
        return {k: v for k, v in found.items() if v}

    # -- the steps of install ---------------------------------------------------------------

    def install(self, package: Package) -> list[Change]:
        """Make sure of everything, in order; what each step did."""
        changes = [self._ensure_table(), self._ensure_log_group()]
        name, trust, policy = self.roles()[0]
        role_arn, change = self._ensure_role(name, trust, policy)
        changes += [change, self._ensure_function(role_arn, package)]
        name, trust, policy = self.roles()[1]
        scheduler_arn, change = self._ensure_role(name, trust, policy)
        changes += [change, self._ensure_schedule(scheduler_arn)]
        return changes

    def _ensure_table(self) -> Change:
        table = self.describe_table()
        if table is not None:
            if sorted(map(str, table.get("KeySchema", []))) != sorted(map(str, KEY_SCHEMA)):
                raise ConfigError(f"table {self.spec.table} exists with another key schema: it is "
                                  "not a lambdashift state table (choose another --table)")
            return Change("table", self.spec.table, "exists, kept")
        client = self.c("dynamodb")
        with _aws(f"creating table {self.spec.table}"):
            client.create_table(TableName=self.spec.table, KeySchema=KEY_SCHEMA,
                                AttributeDefinitions=ATTRIBUTES, BillingMode="PAY_PER_REQUEST",
                                Tags=[{"Key": TAG, "Value": self.spec.function}])
            client.get_waiter("table_exists").wait(TableName=self.spec.table,
                                                   WaiterConfig={"Delay": 2, "MaxAttempts": 60})
        return Change("table", self.spec.table, "created (on-demand)")

    def _ensure_log_group(self) -> Change:
        logs, group = self.c("logs"), self.spec.log_group
        with _aws(f"reading log group {group}"):
            found = [g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
                     if g["logGroupName"] == group]
        if found and found[0].get("retentionInDays"):
            return Change("log group", group, "exists, kept")
        with _aws(f"creating log group {group}"):
            if not found:
                logs.create_log_group(logGroupName=group, tags={TAG: self.spec.function})
            logs.put_retention_policy(logGroupName=group, retentionInDays=LOG_RETENTION_DAYS)
        what = "created" if not found else "updated (retention)"
        return Change("log group", group, f"{what}, {LOG_RETENTION_DAYS}-day retention")

    def _ensure_role(self, name: str, trust: dict[str, Any],
                     policy: dict[str, Any]) -> tuple[str, Change]:
        client = self.c("iam")
        role = self.get_role(name)
        if role is None:
            with _aws(f"creating role {name}"):
                role = client.create_role(
                    RoleName=name, AssumeRolePolicyDocument=json.dumps(trust),
                    Description=DESCRIPTION, Tags=[{"Key": TAG, "Value": self.spec.function}])["Role"]
                client.put_role_policy(RoleName=name, PolicyName=name,
                                       PolicyDocument=json.dumps(policy))
            return role["Arn"], Change("role", name, "created")
        if not self.owns_role(role):
            raise ConfigError(f"role {name} exists and was not made by `lambdashift controller "
                              f"install` for {self.spec.function} (no {TAG} tag): choose "
                              "another --function-name, or delete the role")
        changed = []
        if not _same(role.get("AssumeRolePolicyDocument"), trust):
            with _aws(f"updating the trust policy of role {name}"):
                client.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            changed.append("trust")
        if not _same(self.get_role_policy(name), policy):
            with _aws(f"updating the policy of role {name}"):
                client.put_role_policy(RoleName=name, PolicyName=name,
                                       PolicyDocument=json.dumps(policy))
            changed.append("policy")
        outcome = f"updated ({', '.join(changed)})" if changed else "unchanged"
        return role["Arn"], Change("role", name, outcome)

    def _wanted_configuration(self, role_arn: str) -> dict[str, Any]:
        return {"Role": role_arn, "Handler": HANDLER, "Runtime": RUNTIME,
                "Timeout": self.spec.timeout, "MemorySize": MEMORY, "Description": DESCRIPTION,
                "Environment": {"Variables": self.spec.settings().environment()}}

    def _retrying_role(self, doing: str, call: Callable[..., Any], **params: Any) -> Any:
        """``call``, again while AWS says the new role cannot be assumed yet (propagation)."""
        for attempt in range(ROLE_ATTEMPTS):
            try:
                return call(**params)
            except ClientError as exc:
                young = _code(exc) in ("InvalidParameterValueException", "ValidationException") \
                    and "role" in _message(exc).lower()
                if not young or attempt == ROLE_ATTEMPTS - 1:
                    with _aws(doing):
                        raise
                self.sleep(ROLE_DELAY)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, waiter: str) -> None:
        with _aws(f"waiting for function {self.spec.function} ({waiter})"):
            self.c("lambda").get_waiter(waiter).wait(
                FunctionName=self.spec.function, WaiterConfig={"Delay": 2, "MaxAttempts": 150})

    def _ensure_function(self, role_arn: str, package: Package) -> Change:
        lam, name = self.c("lambda"), self.spec.function
        want = self._wanted_configuration(role_arn)
        current = self.get_function()
        if current is None:
            self._retrying_role(f"creating function {name}", lam.create_function,
                                FunctionName=name, Code={"ZipFile": package.data},
                                Tags={TAG: name}, **want)
            self._wait("function_active_v2")
            return Change("function", name, f"created ({package.size} B zip, "
                                            f"CodeSha256 {package.code_sha256})")
        if current.get("Handler") != HANDLER:
            raise ConfigError(f"function {name} exists with handler {current.get('Handler')}: it "
                              "is not a lambdashift controller (choose another --function-name)")
        changed = []
        self._wait("function_updated_v2")
        if current.get("CodeSha256") != package.code_sha256:
            with _aws(f"updating the code of function {name}"):
                lam.update_function_code(FunctionName=name, ZipFile=package.data)
            self._wait("function_updated_v2")
            changed.append("code")
        differs = sorted(k for k, v in want.items() if not _same(current.get(k), v))
        if differs:
            self._retrying_role(f"updating the configuration of function {name}",
                                lam.update_function_configuration, FunctionName=name, **want)
            self._wait("function_updated_v2")
            changed += [k.lower() for k in differs]
        return Change("function", name,
                      f"updated ({', '.join(changed)})" if changed else "unchanged")

    def _wanted_schedule(self, role_arn: str) -> dict[str, Any]:
        # A tick that cannot be delivered at once is dropped: the next one comes a minute later.
        return {"Name": self.spec.schedule, "ScheduleExpression": self.spec.rate,
                "FlexibleTimeWindow": {"Mode": "OFF"}, "State": "ENABLED",
                "Description": DESCRIPTION,
                "Target": {"Arn": self.function_arn, "RoleArn": role_arn, "Input": "{}",
                           "RetryPolicy": {"MaximumEventAgeInSeconds": 60,
                                           "MaximumRetryAttempts": 0}}}

    def _ensure_schedule(self, role_arn: str) -> Change:
        client, want = self.c("scheduler"), self._wanted_schedule(role_arn)
        current = self.get_schedule()
        if current is None:
            self._retrying_role(f"creating schedule {self.spec.schedule}", client.create_schedule,
                                **want)
            return Change("schedule", self.spec.schedule, f"created ({self.spec.rate})")
        if current.get("Target", {}).get("Arn") != self.function_arn:
            raise ConfigError(f"schedule {self.spec.schedule} exists and targets "
                              f"{current.get('Target', {}).get('Arn')}, not the controller")
        differs = [k for k in ("ScheduleExpression", "FlexibleTimeWindow", "State", "Description")
                   if not _same(current.get(k), want[k])]
        differs += [f"target {k}" for k in ("RoleArn", "Input", "RetryPolicy")
                    if not _same(current["Target"].get(k), want["Target"][k])]
        if not differs:
            return Change("schedule", self.spec.schedule, "unchanged")
        self._retrying_role(f"updating schedule {self.spec.schedule}", client.update_schedule,
                            **want)
        return Change("schedule", self.spec.schedule, f"updated ({', '.join(differs)})")
