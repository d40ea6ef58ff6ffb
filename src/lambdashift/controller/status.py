"""``lambdashift controller status``: what is installed, one line each, and what is missing.

Reads only (Get/Describe/FilterLogEvents): the function (its code compared with this
lambdashift's zip), both roles (their inline policy compared with what install would write),
the schedule, the state table, the log group and the last decisions the controller logged.
"""

from __future__ import annotations

import json
import time
from typing import Any

from lambdashift.aws.packaging import Package
from lambdashift.controller import iam
from lambdashift.controller.install import Change, Controller
from lambdashift.controller.settings import HANDLER

__all__ = ["recent_decisions", "status"]

_INSTALL = "`lambdashift controller install`"


def status(ctl: Controller, package: Package | None) -> list[Change]:
    """One :class:`Change` per resource; ``ok`` False for what is missing or not ours."""
    spec = ctl.spec
    lines = [_function(ctl, package)]
    for name, _trust, policy in ctl.roles():
        lines.append(_role(ctl, name, policy))
    schedule = ctl.get_schedule()
    if schedule is None:
        lines.append(Change("schedule", spec.schedule, "missing", ok=False))
    else:
        target = schedule.get("Target", {}).get("Arn")
        ours = target == ctl.function_arn
        lines.append(Change("schedule", spec.schedule,
                            f"{schedule.get('ScheduleExpression')}, {schedule.get('State')}"
                            + ("" if ours else f", invokes {target}, not the controller"), ok=ours))
    table = ctl.describe_table()
    lines.append(Change("table", spec.table, "missing", ok=False) if table is None else
                 Change("table", spec.table, f"{table.get('TableStatus')}, about "
                                             f"{table.get('ItemCount', 0)} items"))
    groups = ctl.call(f"reading log group {spec.log_group}", ctl.c("logs").describe_log_groups,
                      logGroupNamePrefix=spec.log_group)["logGroups"]
    group = next((g for g in groups if g["logGroupName"] == spec.log_group), None)
    if group is None:
        lines.append(Change("log group", spec.log_group, "missing", ok=False))
    else:
        days = group.get("retentionInDays")
        lines.append(Change("log group", spec.log_group,
                            f"{days}-day retention" if days else "kept forever (no retention)"))
    return lines


def _function(ctl: Controller, package: Package | None) -> Change:
    name = ctl.spec.function
    config = ctl.get_function()
    if config is None:
        return Change("function", name, "missing", ok=False)
    if config.get("Handler") != HANDLER:
        return Change("function", name, f"handler {config.get('Handler')}: not a lambdashift "
                                        "controller", ok=False)
    text = (f"version {config.get('Version', '$LATEST')}, last modified "
            f"{config.get('LastModified')}, state {config.get('State', 'Active')}")
    if package is not None:
        same = config.get("CodeSha256") == package.code_sha256
        text += (", code as this lambdashift's" if same else
                 f", code differs from this lambdashift's ({_INSTALL} updates it)")
    return Change("function", name, text)


def _role(ctl: Controller, name: str, policy: dict[str, Any]) -> Change:
    role = ctl.get_role(name)
    if role is None:
        return Change("role", name, "missing", ok=False)
    if not ctl.owns_role(role):
        return Change("role", name, "not made by lambdashift controller install", ok=False)
    current = ctl.get_role_policy(name)
    if current is None:
        return Change("role", name, f"no inline policy ({_INSTALL} writes it)", ok=False)
    if json.dumps(current, sort_keys=True) == json.dumps(policy, sort_keys=True):
        count = len(iam.policy_actions(policy))
        return Change("role", name, f"{count} action{'s' if count != 1 else ''}, as install writes")
    return Change("role", name, f"policy differs from this lambdashift's ({_INSTALL} updates it)")


def recent_decisions(ctl: Controller, limit: int = 5, minutes: int = 60) -> list[str]:
    """The controller's last ``limit`` decision lines of the past ``minutes`` (its JSON lines).

    Bounded: a few pages of FilterLogEvents at most, since a busy hour has many ticks.
    """
    logs = ctl.c("logs")
    since = int((time.time() - minutes * 60) * 1000)
    found: list[str] = []
    params: dict[str, Any] = {"logGroupName": ctl.spec.log_group, "startTime": since,
                              "filterPattern": '"controller"'}
    for _ in range(5):
        page = ctl.call("reading the controller's log", logs.filter_log_events,
                        "ResourceNotFoundException", **params)
        if page is None:
            break
        found += [e["message"].strip() for e in page.get("events", [])
                  if e.get("message", "").lstrip().startswith('{"controller"')]
        if not page.get("nextToken"):
            break
        params["nextToken"] = page["nextToken"]
    return found[-limit:]
