"""Read-only reads of everything a release depends on, for ``lambdashift check``.

Plain data out (:class:`FunctionFacts`, :class:`HttpApiFacts`), botocore's errors
translated here: a resource that does not exist is an empty answer (None, ``[]``); an
operation the endpoint does not implement (moto has no GetAccountSettings, no provisioned
concurrency) is ``None`` = "could not tell"; anything else raises ``AwsError``. Calls take
tokens from the shared limiter and are retried as every other call (throttling, 5xx).
Configurations are read with GetFunction, which has a quota of its own (100/s), and
policies with GetPolicy, which is outside the control plane's 15/s: a function costs
three control-plane calls (GetAlias, ListVersionsByFunction, GetProvisionedConcurrencyConfig).
The same calls read AWS, moto and the local stack (whose gateway answers the apigatewayv2
subset, ``emulator/apigw/api.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.aws.throttle import RateLimiter, RetryPolicy
from lambdashift.errors import AwsError

_MISSING = ("ResourceNotFoundException", "NotFoundException", "ResourceNotFound",
            "ProvisionedConcurrencyConfigNotFoundException")


class _Unsupported(Exception):
    """The endpoint does not implement this operation."""


@dataclass(frozen=True)
class FunctionFacts:
    """One function as the check sees it. None means "could not tell"."""

    name: str
    exists: bool
    alias: Mapping[str, Any] | None = None          # GetAlias, None when it does not exist
    versions: tuple[str, ...] = ()                   # published, ascending
    configs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # by version
    alias_statements: tuple[Mapping[str, Any], ...] = ()  # the alias's resource policy
    alias_provisioned: bool | None = None


@dataclass(frozen=True)
class HttpApiFacts:
    """An HTTP API's routes and what each route's integration invokes."""

    api_id: str
    name: str
    routes: Mapping[str, str]     # route key -> integration URI ("" if no integration)
    integration_ids: Mapping[str, str] = field(default_factory=dict)  # route key -> id


@dataclass(frozen=True)
class AccountFacts:
    """GetAccountSettings' code storage: bytes allowed and used in the Region."""

    total_code_size: int
    used_code_size: int


class Inventory:
    """The reads, over boto3 clients for Lambda, apigatewayv2 and (optionally) CloudWatch."""

    def __init__(self, lam: Any, *, apigateway: Any | None, cloudwatch: Any | None,
                 limiter: RateLimiter | None = None, retry: RetryPolicy | None = None) -> None:
        self._lam = lam
        self._apigw = apigateway
        self._cloudwatch = cloudwatch
        self._limiter = limiter
        self._retry = retry or RetryPolicy(max_attempts=1)

    def _call(self, method: Callable[..., dict[str, Any]], operation: str, **params: Any) -> dict[str, Any] | None:
        """The answer, None when the resource does not exist; _Unsupported, AwsError."""
        def attempt() -> dict[str, Any]:
            if self._limiter is not None:
                self._limiter.acquire()
            return method(**params)

        try:
            answer = self._retry.call(attempt, operation=operation)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", "")) or code
            if code in _MISSING:
                return None
            if "not yet implemented" in message.lower() or code in ("404", "501"):
                raise _Unsupported(operation) from exc
            raise AwsError(f"{operation}: {message}", code=code, operation=operation) from exc
        except BotoCoreError as exc:
            raise AwsError(f"{operation}: {exc}", code=type(exc).__name__, operation=operation) from exc
        answer.pop("ResponseMetadata", None)
        return answer

    def function(self, name: str, alias: str) -> FunctionFacts:
        """The function's alias, versions (with configurations), alias policy and
        provisioned concurrency."""
        latest = self._call(self._lam.get_function, "GetFunction", FunctionName=name)
        if latest is None:
            return FunctionFacts(name, exists=False)
        alias_raw = self._call(self._lam.get_alias, "GetAlias", FunctionName=name, Name=alias)
        versions: list[str] = []
        marker: str | None = None
        while True:
            page = self._call(self._lam.list_versions_by_function, "ListVersionsByFunction",
                              FunctionName=name, **({"Marker": marker} if marker else {})) or {}
            versions += [v["Version"] for v in page.get("Versions", []) if v["Version"].isdigit()]
            marker = page.get("NextMarker")
            if not marker:
                break
        versions.sort(key=int)
        wanted = {versions[-1]} if versions else set()
        if alias_raw is not None:
            wanted.add(str(alias_raw["FunctionVersion"]))
            wanted.update((alias_raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})
        configs = {}
        for version in sorted(v for v in wanted if v.isdigit()):
            found = self._call(self._lam.get_function, "GetFunction", FunctionName=name,
                               Qualifier=version)
            if found is not None:
                configs[version] = found["Configuration"]
        statements: tuple[Mapping[str, Any], ...] = ()
        provisioned: bool | None = None
        if alias_raw is not None:
            policy = self._call(self._lam.get_policy, "GetPolicy", FunctionName=name,
                                Qualifier=alias)
            if policy is not None:
                statements = tuple(json.loads(policy["Policy"]).get("Statement", []))
            try:
                provisioned = self._call(self._lam.get_provisioned_concurrency_config,
                                         "GetProvisionedConcurrencyConfig",
                                         FunctionName=name, Qualifier=alias) is not None
            except _Unsupported:
                provisioned = None
        return FunctionFacts(name, True, alias_raw, tuple(versions), configs, statements,
                             provisioned)

    def http_apis(self) -> list[HttpApiFacts] | None:
        """Every HTTP API with its routes' integration URIs; None without an apigatewayv2
        client or when the endpoint has no such API."""
        if self._apigw is None:
            return None
        try:
            apis = self._items(self._apigw.get_apis, "GetApis")
            found = []
            for api in apis:
                if api.get("ProtocolType", "HTTP") != "HTTP":
                    continue
                api_id = api["ApiId"]
                integrations = {i["IntegrationId"]: i.get("IntegrationUri", "") for i in
                                self._items(self._apigw.get_integrations, "GetIntegrations", ApiId=api_id)}
                routes: dict[str, str] = {}
                ids: dict[str, str] = {}
                for route in self._items(self._apigw.get_routes, "GetRoutes", ApiId=api_id):
                    target = str(route.get("Target", ""))
                    integration = target.split("/", 1)[1] if target.startswith("integrations/") else ""
                    routes[route["RouteKey"]] = integrations.get(integration, "")
                    ids[route["RouteKey"]] = integration
                found.append(HttpApiFacts(api_id, str(api.get("Name", "")), routes, ids))
            return found
        except _Unsupported:
            return None

    def _items(self, method: Callable[..., dict[str, Any]], operation: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self._call(method, operation, **params, **({"NextToken": token} if token else {}))
            if page is None:
                return items
            items += page.get("Items", [])
            token = page.get("NextToken")
            if not token:
                return items

    def missing_alarms(self, names: Iterable[str]) -> list[str] | None:
        """The names among ``names`` that are no CloudWatch alarm; None without CloudWatch."""
        wanted = list(dict.fromkeys(names))
        if self._cloudwatch is None:
            return None
        seen: set[str] = set()
        for i in range(0, len(wanted), 100):
            page = self._call(self._cloudwatch.describe_alarms, "DescribeAlarms",
                              AlarmNames=wanted[i:i + 100],
                              AlarmTypes=["MetricAlarm", "CompositeAlarm"]) or {}
            seen.update(a["AlarmName"] for a in (*page.get("MetricAlarms", ()),
                                                 *page.get("CompositeAlarms", ())))
        return [n for n in wanted if n not in seen]

    def account(self) -> AccountFacts | None:
        """Code storage limit and usage; None if the endpoint cannot say."""
        try:
            raw = self._call(self._lam.get_account_settings, "GetAccountSettings")
        except _Unsupported:
            return None
        if not raw:
            return None
        return AccountFacts(int(raw["AccountLimit"]["TotalCodeSize"]),
                            int(raw["AccountUsage"]["TotalCodeSize"]))
