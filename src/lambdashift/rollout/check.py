"""``lambdashift check``: everything a release depends on, read-only, before anything changes.

For each function: the API's integrations invoke its alias (not the unqualified function,
which is ``$LATEST``, nor a version); the alias's resource policy lets API Gateway invoke
it; the alias exists, serves a published version and is not split by someone else; the
candidate (the newest version) is published and Active and can share a weighted alias
with the stable one (same execution role, same dead-letter config, no provisioned
concurrency on the alias); the configured alarms exist. For the Region: the code storage
left against the quota. Each :class:`Finding` says what is wrong and how to fix it; a
blocking one stops ``deploy`` (and makes ``check`` exit 1).

The facts come from :mod:`lambdashift.aws.inventory`; the verdicts here are plain
functions of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from lambdashift.aws.inventory import AccountFacts, FunctionFacts, HttpApiFacts, Inventory
from lambdashift.aws.provision import route_statement_id
from lambdashift.core.arns import arn_like, lambda_target

__all__ = ["Finding", "check_function", "check_storage", "run_checks"]

APIGATEWAY = "apigateway.amazonaws.com"
_INVOKE_ACTIONS = ("lambda:InvokeFunction", "lambda:*", "*")


@dataclass(frozen=True)
class Finding:
    """One thing that is wrong (``blocking``) or worth knowing, with its fix."""

    function: str        # "" for the account or Region
    check: str           # integration, permission, alias, candidate, versions, alarms, storage
    blocking: bool
    message: str
    fix: str = ""

    def line(self) -> str:
        """One line for the terminal."""
        where = self.function or "account"
        kind = "BLOCKS" if self.blocking else "warning"
        return f"{where}: {kind} [{self.check}] {self.message}" + (f" Fix: {self.fix}" if self.fix else "")


def _source_arn(region: str, account: str, api_id: str, route_key: str) -> str:
    """What API Gateway presents when the route invokes: any stage, METHOD/path."""
    tail = "$default" if route_key == "$default" else route_key.replace(" ", "", 1)
    return f"arn:aws:execute-api:{region}:{account}:{api_id}/$default/{tail}"


def _allows(statements: Sequence[Mapping[str, object]], source_arn: str | None) -> bool:
    for s in statements:
        if s.get("Effect") != "Allow" or s.get("Action") not in _INVOKE_ACTIONS:
            continue
        if s.get("Principal") not in ("*", {"Service": APIGATEWAY}, {"AWS": "*"}):
            continue
        pattern = ((s.get("Condition") or {}).get("ArnLike") or {}).get("AWS:SourceArn")  # type: ignore[union-attr]
        if pattern is not None and source_arn is not None and not arn_like(str(pattern), source_arn):
            continue
        return True
    return False


def _find_route(apis: Sequence[HttpApiFacts], route_key: str,
                function: str) -> tuple[HttpApiFacts, str] | None:
    """The API route with this key whose integration names this function (or, failing
    that, any route with this key)."""
    fallback = None
    for api in apis:
        uri = api.routes.get(route_key)
        if uri is None:
            continue
        target = lambda_target(uri)
        if target is not None and target[2] == function:
            return api, uri
        fallback = fallback or (api, uri)
    return fallback


def check_routes(facts: FunctionFacts, alias: str, route_keys: Sequence[str],
                 apis: Sequence[HttpApiFacts] | None, region: str, account: str) -> list[Finding]:
    """Integrations invoke the alias; the alias's policy lets API Gateway invoke it."""
    out: list[Finding] = []
    name = facts.name
    alias_arn = f"arn:aws:lambda:{region}:{account}:function:{name}:{alias}"
    if apis is None and route_keys:
        out.append(Finding(name, "integration", False,
                           "the HTTP API could not be read (no apigatewayv2 access): integrations "
                           "not checked.", "allow apigateway:GET on the API (see docs/aws-setup.md)."))
    for key in route_keys:
        found = _find_route(apis or [], key, name) if apis is not None else None
        source = None
        if apis is not None and found is None:
            out.append(Finding(name, "integration", False,
                               f"route {key!r} is in lambdashift.yaml but in no HTTP API here.",
                               "create the route (the Terraform module) or remove it from `routes:`."))
        elif found is not None:
            api, uri = found
            target = lambda_target(uri)
            integration = api.integration_ids.get(key, "?")
            repoint = (f"aws apigatewayv2 update-integration --api-id {api.api_id} "
                       f"--integration-id {integration} --integration-uri {alias_arn}")
            if target is None or target[2] != name:
                out.append(Finding(name, "integration", True,
                                   f"route {key!r} of API {api.api_id} integrates {uri or 'nothing'}, "
                                   f"not {name}.", repoint))
            elif target[3] is None:
                out.append(Finding(name, "integration", True,
                                   f"route {key!r} of API {api.api_id} invokes the unqualified function "
                                   f"({name}, i.e. $LATEST): traffic would bypass the {alias} alias "
                                   "and no rollout could move it.", repoint))
            elif target[3] != alias:
                what = f"version {target[3]}" if target[3].isdigit() else f"the {target[3]} alias"
                out.append(Finding(name, "integration", True,
                                   f"route {key!r} of API {api.api_id} invokes {what} of {name}, not "
                                   f"the {alias} alias: a rollout would not move its traffic.", repoint))
            source = _source_arn(region, account, api.api_id, key)
        if facts.alias is not None and not _allows(facts.alias_statements, source):
            api_id = found[0].api_id if found is not None else "API_ID"
            tail = "*" if key == "$default" else re.sub(r"\{[^}]+\}", "*", key.replace(" ", "", 1))
            out.append(Finding(
                name, "permission", True,
                f"no statement in the resource policy of {name}:{alias} lets API Gateway invoke it "
                f"for route {key!r}: API Gateway would answer 500.",
                f"aws lambda add-permission --function-name {name} --qualifier {alias} "
                f"--statement-id {route_statement_id(key)} --action lambda:InvokeFunction "
                f"--principal {APIGATEWAY} --source-arn "
                f"arn:aws:execute-api:{region}:{account}:{api_id}/*/{tail}"))
    return out


def check_function(facts: FunctionFacts, alias: str, *, owned: bool,
                   own_change: str | None = None) -> list[Finding]:
    """The alias, the candidate, and whether the two versions can share a weighted alias.

    ``own_change`` names lambdashift's own change (``shift``, in ``history``) that left the
    alias as it is, if one did: a split it made is then not "someone else's".
    """
    name = facts.name
    if not facts.exists:
        return [Finding(name, "alias", True, f"function {name} does not exist on this target.",
                        "create it (the Terraform module, or `lambdashift local up`).")]
    if facts.alias is None:
        return [Finding(name, "alias", True, f"{name} has no {alias} alias.",
                        f"create it: aws lambda create-alias --function-name {name} --name {alias} "
                        "--function-version N (the Terraform module does).")]
    out: list[Finding] = []
    primary = str(facts.alias["FunctionVersion"])
    weights = (facts.alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if primary == "$LATEST":
        return [Finding(name, "alias", True, f"{name}:{alias} points to $LATEST, which cannot take "
                        "part in a weighted alias.",
                        f"point it at a version: aws lambda update-alias --function-name {name} "
                        f"--name {alias} --function-version N")]
    if weights and not owned and own_change:
        (extra, weight), = weights.items()
        out.append(Finding(name, "alias", True,
                           f"{name}:{alias} is split (version {primary}, {float(weight):.0%} to "
                           f"version {extra}) by {own_change}, and no rollout owns it: a release "
                           "starts from one version.",
                           f"end the split first: `lambdashift promote {name}` (all to version "
                           f"{extra}) or `lambdashift rollback {name}` (all back to version {primary})."))
    elif weights and not owned:
        (extra, weight), = weights.items()
        out.append(Finding(name, "alias", True,
                           f"{name}:{alias} is split (version {primary}, {float(weight):.0%} to "
                           f"version {extra}) and no lambdashift rollout owns it: someone else is "
                           "moving its traffic.",
                           f"finish that change, or end the split: `lambdashift promote {name}` or "
                           f"`lambdashift rollback {name}`."))
    if not facts.versions:
        out.append(Finding(name, "candidate", True, f"{name} has no published version.",
                           "run `lambdashift publish`."))
        return out
    candidate = facts.versions[-1]
    config = facts.configs.get(candidate, {})
    state = config.get("State", "Active")
    if state != "Active" or config.get("LastUpdateStatus", "Successful") == "InProgress":
        out.append(Finding(name, "candidate", True,
                           f"the candidate, version {candidate}, is {state}"
                           f"/{config.get('LastUpdateStatus', '-')}, not Active.",
                           "wait until it is Active (aws lambda wait function-active-v2), "
                           f"then retry; if it Failed: {config.get('StateReason', 'see its StateReason')}."))
    stable = facts.configs.get(primary)
    if candidate != primary and stable is not None and config:
        if stable.get("Role") != config.get("Role"):
            out.append(Finding(name, "versions", True,
                               f"versions {primary} and {candidate} have different execution roles "
                               f"({stable.get('Role')} / {config.get('Role')}): AWS refuses a weighted "
                               "alias over them.",
                               f"give {name} the role of version {primary} (update-function-configuration "
                               "--role) and publish again, or roll out with blue-green."))
        dlq = [(c.get("DeadLetterConfig") or {}).get("TargetArn", "") for c in (stable, config)]
        if dlq[0] != dlq[1]:
            out.append(Finding(name, "versions", True,
                               f"versions {primary} and {candidate} have different dead-letter "
                               f"configs ({dlq[0] or 'none'} / {dlq[1] or 'none'}): AWS refuses a "
                               "weighted alias over them.",
                               f"set the same DeadLetterConfig on {name} and publish again."))
    if facts.alias_provisioned:
        out.append(Finding(name, "versions", True,
                           f"{name}:{alias} has provisioned concurrency: AWS refuses weights on it "
                           "(\"Alias with weights can not be used with Provisioned Concurrency\").",
                           f"move it to a version, or remove it: aws lambda "
                           f"delete-provisioned-concurrency-config --function-name {name} "
                           f"--qualifier {alias}"))
    return out


def check_alarms(function: str, names: Sequence[str], missing: Sequence[str] | None) -> list[Finding]:
    """The alarms the rollout steps name exist."""
    if not names:
        return []
    if missing is None:
        return [Finding(function, "alarms", False,
                        f"alarms not checked ({', '.join(names)}): this target has no CloudWatch.")]
    return [Finding(function, "alarms", True, f"CloudWatch alarm {n!r} does not exist in this Region.",
                    "create it, or fix its name under `alarms:` in lambdashift.yaml.")
            for n in names if n in missing]


def check_storage(account: AccountFacts | None, needed: int) -> list[Finding]:
    """The code storage left in the Region holds the packages about to be published."""
    if account is None:
        return [Finding("", "storage", False, "code storage not checked: GetAccountSettings "
                        "is not available on this endpoint.")]
    left = account.total_code_size - account.used_code_size
    if left < needed:
        return [Finding("", "storage", True,
                        f"{left:,} bytes of code storage left in the Region, {needed:,} needed.",
                        "delete old versions (aws lambda delete-function --qualifier N) or ask for "
                        "a higher 'Function and layer storage' quota.")]
    if left < account.total_code_size * 0.05:
        return [Finding("", "storage", False,
                        f"only {left:,} of {account.total_code_size:,} bytes of code storage left.",
                        "delete old versions before the quota is reached.")]
    return []


def run_checks(inventory: Inventory, functions: Iterable[str], *, alias: str,
               routes: Mapping[str, Sequence[str]], alarms: Mapping[str, Sequence[str]],
               owned: Callable[[str], bool], needed_bytes: int,
               own_change: Callable[[str, Mapping[str, object]], str | None] | None = None,
               ) -> list[Finding]:
    """Every check, for the named functions; ``routes``/``alarms``: per function.
    ``own_change(name, alias)`` (the GetAlias answer) names lambdashift's own change that
    left a split alias as it is, or None."""
    names = list(functions)
    apis = inventory.http_apis() if any(routes.get(n) for n in names) else []
    every_alarm = [a for n in names for a in alarms.get(n, ())]
    missing = inventory.missing_alarms(every_alarm) if every_alarm else []
    findings: list[Finding] = []
    for name in names:
        facts = inventory.function(name, alias)
        split = bool(((facts.alias or {}).get("RoutingConfig") or {}).get("AdditionalVersionWeights"))
        own = own_change(name, facts.alias) if own_change and split and facts.alias else None
        findings += check_function(facts, alias, owned=owned(name), own_change=own)
        arn = (facts.alias or {}).get("AliasArn", "")
        parsed = lambda_target(str(arn)) if arn else None
        region, account = (parsed[0], parsed[1]) if parsed else ("REGION", "ACCOUNT")
        if facts.exists:
            findings += check_routes(facts, alias, list(routes.get(name, ())), apis, region, account)
        findings += check_alarms(name, list(alarms.get(name, ())), missing)
    findings += check_storage(inventory.account(), needed_bytes)
    return findings
