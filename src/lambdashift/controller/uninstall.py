"""``lambdashift controller uninstall``: the schedule, the function and the roles go.

In that order: the schedule first, so that nothing calls a function being deleted. A role's
inline and attached policies go before the role (IAM refuses to delete a role that has any).
The state table stays unless asked (it holds every rollout's history), and so does the log
group (the controller's decisions; it expires with its retention). Only what install made is
deleted: a resource of the same name that is not the controller's is left, and said so.
"""

from __future__ import annotations

from lambdashift.controller.install import Change, Controller
from lambdashift.controller.settings import HANDLER

__all__ = ["uninstall"]


def uninstall(ctl: Controller, *, delete_table: bool = False) -> list[Change]:
    """Delete what install made; one :class:`Change` per resource."""
    spec = ctl.spec
    done: list[Change] = []

    schedule = ctl.get_schedule()
    if schedule is None:
        done.append(Change("schedule", spec.schedule, "not there"))
    elif schedule.get("Target", {}).get("Arn") != ctl.function_arn:
        done.append(Change("schedule", spec.schedule, "left: it does not invoke the controller"))
    else:
        ctl.call(f"deleting schedule {spec.schedule}", ctl.c("scheduler").delete_schedule,
                 "ResourceNotFoundException", Name=spec.schedule)
        done.append(Change("schedule", spec.schedule, "deleted"))

    function = ctl.get_function()
    if function is None:
        done.append(Change("function", spec.function, "not there"))
    elif function.get("Handler") != HANDLER:
        done.append(Change("function", spec.function, "left: not a lambdashift controller"))
    else:
        ctl.call(f"deleting function {spec.function}", ctl.c("lambda").delete_function,
                 "ResourceNotFoundException", FunctionName=spec.function)
        done.append(Change("function", spec.function, "deleted"))

    for name in (spec.role, spec.scheduler_role):
        done.append(_delete_role(ctl, name))

    if delete_table:
        gone = ctl.call(f"deleting table {spec.table}", ctl.c("dynamodb").delete_table,
                        "ResourceNotFoundException", TableName=spec.table)
        done.append(Change("table", spec.table, "deleted" if gone else "not there"))
    else:
        done.append(Change("table", spec.table,
                           "kept: it holds the rollouts' history (--delete-table deletes it)"))
    done.append(Change("log group", spec.log_group,
                       "kept: the controller's decisions, until its retention ends"))
    return done


def _delete_role(ctl: Controller, name: str) -> Change:
    role = ctl.get_role(name)
    if role is None:
        return Change("role", name, "not there")
    if not ctl.owns_role(role):
        return Change("role", name, "left: not made by lambdashift controller install")
    client = ctl.c("iam")
    inline = ctl.call(f"listing the policies of role {name}", client.list_role_policies,
                      RoleName=name)["PolicyNames"]
    for policy in inline:
        ctl.call(f"deleting policy {policy} of role {name}", client.delete_role_policy,
                 "NoSuchEntity", RoleName=name, PolicyName=policy)
    attached = ctl.call(f"listing the managed policies of role {name}",
                        client.list_attached_role_policies, RoleName=name)["AttachedPolicies"]
    for policy in attached:
        ctl.call(f"detaching {policy['PolicyArn']} from role {name}", client.detach_role_policy,
                 "NoSuchEntity", RoleName=name, PolicyArn=policy["PolicyArn"])
    ctl.call(f"deleting role {name}", client.delete_role, "NoSuchEntity", RoleName=name)
    return Change("role", name, "deleted")
