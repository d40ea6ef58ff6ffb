"""Provisioning through the Lambda and DynamoDB APIs: the local stack's first deploy.

Functions with version 1, aliases ``live`` and ``dev``, route permissions, tables: what the
Terraform module creates on AWS, ``local up`` creates here, through the same APIs AWS
answers, with boto3 clients the caller makes (``clients.make_client``). A function that
already exists is left as it is (a restart keeps versions and aliases); shipping changed
code is ``lambdashift publish``'s job. As the Terraform module does, each route's function
lets API Gateway invoke its aliases (AddPermission, ``http-api-<route>`` statements, only
from this API and the route's method and path), and the stack waits until every function is
Active before it reports itself up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from lambdashift.aws.packaging import build_zip

#: The role the local functions get; the emulator checks its form, nothing else.
LOCAL_ROLE = "arn:aws:iam::000000000000:role/lambdashift-local"


class FunctionSpec(Protocol):
    """What deploying needs of a function's configuration (lambdashift.config provides it)."""

    source: Any
    include: Any
    handler: str
    runtime: str
    timeout: int
    memory: int
    environment: Mapping[str, str]

    def deployed_environment(self) -> dict[str, str]:
        """``environment`` with the secret variables' values (read when deploying)."""


@dataclass(frozen=True)
class DeployedFunction:
    """A function as the stack left it."""

    name: str
    created: bool
    live: str
    dev: str


def deploy_function(client: Any, name: str, spec: FunctionSpec, *, alias: str = "live",
                    dev_alias: str = "dev") -> DeployedFunction:
    """Create the function with version 1 published, unless it exists; make sure of aliases."""
    created = False
    try:
        client.get_function(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        package = build_zip(spec.source, tuple(spec.include))
        client.create_function(
            FunctionName=name, Runtime=spec.runtime, Role=LOCAL_ROLE, Handler=spec.handler,
            Timeout=spec.timeout, MemorySize=spec.memory, Code={"ZipFile": package.data},
            Environment={"Variables": spec.deployed_environment()}, Publish=True,
            Description="deployed by lambdashift local up",
        )
        created = True
    versions = [v["Version"] for p in client.get_paginator("list_versions_by_function").paginate(
        FunctionName=name) for v in p["Versions"] if v["Version"] != "$LATEST"]
    if not versions:
        versions = [client.publish_version(FunctionName=name)["Version"]]
    latest = max(versions, key=int)
    aliases = {a["Name"]: a for p in client.get_paginator("list_aliases").paginate(FunctionName=name)
               for a in p["Aliases"]}
    if alias not in aliases:
        client.create_alias(FunctionName=name, Name=alias, FunctionVersion=min(versions, key=int))
        live = min(versions, key=int)
    else:
        live = aliases[alias]["FunctionVersion"]
    if dev_alias not in aliases:
        client.create_alias(FunctionName=name, Name=dev_alias, FunctionVersion=latest,
                            Description="newest published version, for internal tests")
    elif aliases[dev_alias]["FunctionVersion"] != latest:
        client.update_alias(FunctionName=name, Name=dev_alias, FunctionVersion=latest,
                            RoutingConfig={"AdditionalVersionWeights": {}},
                            RevisionId=aliases[dev_alias]["RevisionId"])
    return DeployedFunction(name, created, live, latest)


def route_statement_id(route_key: str) -> str:
    """``"GET /notes/{id}"`` → ``http-api-get-notes-id``, as the Terraform names them."""
    return "http-api-" + re.sub(r"[^A-Za-z0-9]+", "-", route_key.lower()).strip("-")


def route_source_arn(route_key: str, region: str, account_id: str, api_id: str = "local") -> str:
    """The execute-api ARN pattern a route's permission allows: any stage, the route's method
    and path, each path parameter any one segment (the Terraform's ``route_arn_paths``)."""
    tail = re.sub(r"\{[^}]+\}", "*", route_key.replace(" ", ""))
    return f"arn:aws:execute-api:{region}:{account_id}:{api_id}/*/{tail}"


def ensure_route_permissions(client: Any, name: str, route_keys: Iterable[str],
                             aliases: Iterable[str], *, region: str,
                             account_id: str = "000000000000") -> int:
    """Let API Gateway invoke ``name``'s aliases for each route; returns how many were added."""
    added = 0
    for alias in aliases:
        for key in route_keys:
            try:
                client.add_permission(
                    FunctionName=name, Qualifier=alias, StatementId=route_statement_id(key),
                    Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                    SourceArn=route_source_arn(key, region, account_id))
                added += 1
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ResourceConflictException":
                    raise  # a conflict is the same statement, from an earlier `local up`
    return added


def wait_active(client: Any, names: Iterable[str], *, timeout: float = 60.0) -> None:
    """Wait until each function is Active and its last update done (boto3's own waiters)."""
    config = {"Delay": 0.1, "MaxAttempts": int(timeout / 0.1)}
    for name in names:
        client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=config)
        client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=config)


def ensure_table(client: Any, name: str, params: Mapping[str, Any]) -> bool:
    """Create the table from its CreateTable parameters unless it exists; True if created."""
    try:
        client.describe_table(TableName=name)
        return False
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    client.create_table(TableName=name, **dict(params))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return True
