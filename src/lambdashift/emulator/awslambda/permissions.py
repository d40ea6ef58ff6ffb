"""Resource-based policies: AddPermission, GetPolicy and RemovePermission, per qualifier.

The store's ``permissions``: an object over its function table (``table.py``). As on AWS, each
qualifier has its own policy: the unqualified function's (``""`` here), each version's and
each alias's. A permission granted on the function does not let anyone invoke its ``live``
alias: API Gateway invokes the qualified ARN, so the policy of that alias is the one that
counts (``allows_invoke``, which the local gateway asks before every invocation).

Shapes as AWS sends them: AddPermission answers 201 with ``Statement`` as a JSON string;
GetPolicy answers ``Policy`` (a JSON string of ``{"Version", "Id": "default", "Statement"}``)
and the policy's ``RevisionId``. A duplicate statement id is a ResourceConflictException.
"""

from __future__ import annotations

import json
from typing import Any

from lambdashift.core.arns import arn_like
from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.awslambda.models import LATEST, Function, new_revision_id
from lambdashift.emulator.awslambda.table import FunctionTable
from lambdashift.emulator.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)

STATEMENT_ID_PATTERN = r"([a-zA-Z0-9-_.]+)"
ACTION_PATTERN = r"(lambda:[*]|lambda:[a-zA-Z]+|[*])"
PRINCIPAL_PATTERN = r"[^\s]+"
SOURCE_ARN_PATTERN = (r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:"
                      r"(\d{12})?:(.*)")
_INVOKE_ACTIONS = ("lambda:InvokeFunction", "lambda:*", "*")


def _principal(raw: str, account_id: str) -> dict[str, str] | str:
    if raw == "*":
        return "*"
    if raw.endswith(".amazonaws.com"):
        return {"Service": raw}
    if raw.isdigit():
        return {"AWS": f"arn:aws:iam::{raw}:root"}
    return {"AWS": raw}


class PermissionRules:
    """AWS's rules for function policies, and the check the gateway makes."""

    def __init__(self, table: FunctionTable) -> None:
        self._table = table
        self.arns = table.arns

    def _policy_target(self, raw_name: str, qualifier: str | None,
                       adding: bool) -> tuple[Function, str]:
        """The function and the policy key ("" or the qualifier) a request names."""
        fn, embedded = self._table.function(raw_name)
        if qualifier is not None:
            v.check_pattern(qualifier, "qualifier", v.QUALIFIER_PATTERN, max_len=128)
        if embedded and qualifier and embedded != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier.")
        key = embedded or qualifier or ""
        if key == LATEST:
            if adding:
                raise InvalidParameterValueException(
                    "We currently do not support adding policies for $LATEST.")
            key = ""
        if key and key not in fn.aliases and fn.config(key) is None:
            raise ResourceNotFoundException(
                f"Function not found: {self.arns.function(fn.name, key)}")
        return fn, key

    def add_permission(self, raw_name: str, qualifier: str | None,
                       params: dict[str, Any]) -> dict[str, Any]:
        """AddPermission: one statement on the policy of the function, a version or an alias."""
        fn, key = self._policy_target(raw_name, qualifier, adding=True)
        sid = v.check_pattern(params.get("StatementId"), "statementId", STATEMENT_ID_PATTERN,
                              max_len=100)
        action = v.check_pattern(params.get("Action"), "action", ACTION_PATTERN, max_len=256)
        principal = v.check_pattern(params.get("Principal"), "principal", PRINCIPAL_PATTERN,
                                    max_len=256)
        source_arn = params.get("SourceArn")
        if source_arn is not None:
            v.check_pattern(source_arn, "sourceArn", SOURCE_ARN_PATTERN, max_len=1024)
        source_account = params.get("SourceAccount")
        if source_account is not None:
            v.check_pattern(source_account, "sourceAccount", r"\d{12}", max_len=12)
        policy = fn.policies.get(key)
        if policy is not None:
            v.check_revision(policy["revision_id"], params.get("RevisionId"))
            if any(s["Sid"] == sid for s in policy["statements"]):
                raise ResourceConflictException(
                    f"The statement id ({sid}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement.")
        elif params.get("RevisionId") is not None:
            v.check_revision("", params.get("RevisionId"))  # no policy yet: no revision matches
        statement: dict[str, Any] = {
            "Sid": sid, "Effect": "Allow",
            "Principal": _principal(principal, self.arns.account_id),
            "Action": action, "Resource": self.arns.function(fn.name, key or None),
        }
        condition: dict[str, Any] = {}
        if source_account is not None:
            condition["StringEquals"] = {"AWS:SourceAccount": source_account}
        if source_arn is not None:
            condition["ArnLike"] = {"AWS:SourceArn": source_arn}
        if condition:
            statement["Condition"] = condition
        statements = [*(policy["statements"] if policy else []), statement]
        fn.policies[key] = {"statements": statements, "revision_id": new_revision_id()}
        self._table.save(fn)
        return {"Statement": json.dumps(statement)}

    def get_policy(self, raw_name: str, qualifier: str | None) -> dict[str, Any]:
        """GetPolicy: the policy document (a JSON string) and its RevisionId."""
        fn, key = self._policy_target(raw_name, qualifier, adding=False)
        policy = fn.policies.get(key)
        if not policy or not policy["statements"]:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        document = {"Version": "2012-10-17", "Id": "default", "Statement": policy["statements"]}
        return {"Policy": json.dumps(document), "RevisionId": policy["revision_id"]}

    def remove_permission(self, raw_name: str, statement_id: str, qualifier: str | None,
                          revision_id: str | None) -> None:
        """RemovePermission: one statement; the policy goes when its last statement does."""
        fn, key = self._policy_target(raw_name, qualifier, adding=False)
        policy = fn.policies.get(key)
        if not policy:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        kept = [s for s in policy["statements"] if s["Sid"] != statement_id]
        if len(kept) == len(policy["statements"]):
            raise ResourceNotFoundException(
                f"Statement {statement_id} is not found in resource policy.")
        v.check_revision(policy["revision_id"], revision_id)
        if kept:
            fn.policies[key] = {"statements": kept, "revision_id": new_revision_id()}
        else:
            del fn.policies[key]
        self._table.save(fn)

    def allows_invoke(self, raw_name: str, qualifier: str | None, *, service: str,
                      source_arn: str) -> bool:
        """Whether the policy of exactly this qualifier lets ``service`` invoke it from
        ``source_arn`` (the check Lambda makes when API Gateway invokes an alias)."""
        fn, _ = self._table.function(raw_name)
        policy = fn.policies.get(qualifier or "")
        if not policy:
            return False
        for statement in policy["statements"]:
            if statement.get("Effect") != "Allow" or statement.get("Action") not in _INVOKE_ACTIONS:
                continue
            principal = statement.get("Principal")
            if principal not in ("*", {"Service": service}, {"AWS": "*"}):
                continue
            condition = statement.get("Condition") or {}
            pattern = (condition.get("ArnLike") or {}).get("AWS:SourceArn")
            if pattern is not None and not arn_like(pattern, source_arn):
                continue
            account = (condition.get("StringEquals") or {}).get("AWS:SourceAccount")
            if account is not None and account != self.arns.account_id:
                continue
            return True
        return False
