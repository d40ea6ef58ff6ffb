"""The typed wrapper through which lambdashift talks to Lambda (AWS or the emulator).

Every control-plane call takes a token from the process's shared :class:`RateLimiter`
(per attempt: a retry is a request too) and runs under the :class:`RetryPolicy`; Invoke is
data-plane, so it skips the limiter and is retried on throttling only (it must not run
twice). botocore's errors are translated here, once, into :mod:`lambdashift.errors`:

    ResourceNotFoundException                       → NotFoundError
    ResourceConflictException, ResourceInUse        → ConflictError
    PreconditionFailedException                     → RevisionMismatchError
    throttled on every attempt                      → ThrottledError
    any other error code, 5xx on every attempt      → AwsError (``.code``, ``.operation``)
    no connection, no credentials, bad parameters   → AwsError with a one-line message

Decisions:

* An alias whose primary is ``$LATEST`` cannot be expressed as :class:`Traffic` (traffic
  goes to published versions only), so :meth:`LambdaApi.get_alias` raises ``AwsError``
  with code ``AliasOnLatest`` and says how to fix it, rather than return a half-valid state
  every caller would have to check. :meth:`LambdaApi.alias_exists` still answers True.
* Writes reconcile an ambiguous retry (see ``throttle``'s docstring): when a *retried*
  write fails with PreconditionFailed (or Conflict, for creates), the resource is read
  back; if it already is what the write asked for, the write is reported as done. A
  PreconditionFailed on the *first* attempt is always someone else's change and surfaces
  as ``RevisionMismatchError``, even when the alias happens to hold the wanted traffic.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from lambdashift.aws import packaging
from lambdashift.aws.throttle import CONNECTION_ERRORS, RateLimiter, RetryPolicy
from lambdashift.errors import (
    AwsError,
    ConflictError,
    LambdashiftError,
    NotFoundError,
    RevisionMismatchError,
)
from lambdashift.model import Traffic

__all__ = ["AliasState", "InvokeResult", "LambdaApi"]

Raw = dict[str, Any]
_ERRORS: dict[str, type[AwsError]] = {
    "ResourceNotFoundException": NotFoundError,
    "ResourceConflictException": ConflictError,
    "ResourceInUseException": ConflictError,
    "PreconditionFailedException": RevisionMismatchError,
}


@dataclass(frozen=True)
class AliasState:
    """An alias as Lambda holds it: its traffic and the RevisionId to update it with."""

    traffic: Traffic
    revision_id: str
    function_version: str
    arn: str


@dataclass(frozen=True)
class InvokeResult:
    """One synchronous invocation: HTTP status, the version that ran, its error and output."""

    status: int
    executed_version: str
    function_error: str | None
    payload: bytes
    #: The invocation's last 4 KB of logs (``LogType: Tail``), when asked for.
    logs: str = ""


class InvokeApi(Protocol):
    """What pre-warming, the candidate gate and pre/post-traffic checks need of Lambda:
    :meth:`LambdaApi.invoke` (status, executed version, error, payload), or a test's fake."""

    def invoke(self, function: str, qualifier: str | None, payload: bytes, *,
               tail: bool = False) -> Any: ...


class LambdaApi:
    """Lambda's API for lambdashift: plain values in and out, lambdashift errors only.

    ``client`` is a boto3 Lambda client with botocore's own retries off:
    ``Config(retries={"total_max_attempts": 1})`` (beware: ``{"max_attempts": 1}`` means one
    *retry*, which bypasses the limiter). ``limiter`` is shared by every rollout of the
    process. ``clock`` and ``sleep`` pace :meth:`wait_updated`.
    """

    def __init__(self, client: Any, *, limiter: RateLimiter, retry: RetryPolicy,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._limiter = limiter
        self._retry = retry
        self._clock = clock
        self._sleep = sleep

    @property
    def client(self) -> Any:
        """The boto3 client underneath, for read-only callers of their own (``check``)."""
        return self._client

    @property
    def pacing(self) -> tuple[RateLimiter, RetryPolicy]:
        """The shared limiter and the retry policy, for those callers to pace themselves."""
        return self._limiter, self._retry

    @property
    def endpoint(self) -> str:
        """The URL the client sends its requests to."""
        return str(self._client.meta.endpoint_url)

    # -- aliases ---------------------------------------------------------------------------

    def get_alias(self, function: str, alias: str) -> AliasState:
        """The alias's traffic and RevisionId; ``AwsError`` (AliasOnLatest) if it serves $LATEST."""
        return _alias_state(function, alias, self._get_alias_raw(function, alias))

    def alias_exists(self, function: str, alias: str) -> bool:
        """True if the alias exists, whatever it points to (False too if the function doesn't)."""
        try:
            self._get_alias_raw(function, alias)
        except NotFoundError:
            return False
        return True

    def update_alias(self, function: str, alias: str, traffic: Traffic, *,
                     expected_revision: str | None) -> AliasState:
        """Set the alias to ``traffic``; with ``expected_revision``, only if nobody changed it.

        ``RoutingConfig`` is always sent (empty weights end a split). Raises
        ``RevisionMismatchError`` when the alias moved on since ``expected_revision``.
        """
        weights = traffic.to_routing_config().get("AdditionalVersionWeights", {})
        params: Raw = {"FunctionName": function, "Name": alias, "FunctionVersion": traffic.primary,
                       "RoutingConfig": {"AdditionalVersionWeights": dict(weights)}}
        if expected_revision is not None:
            params["RevisionId"] = expected_revision
        raw = self._send("UpdateAlias", f"{function}:{alias}", self._client.update_alias, params,
                         confirm=lambda: self._alias_if(function, alias, traffic))
        return _alias_state(function, alias, raw)

    def create_alias(self, function: str, alias: str, version: str, *,
                     description: str = "") -> AliasState:
        """Create the alias, all traffic to ``version``; ``ConflictError`` if it exists."""
        params = {"FunctionName": function, "Name": alias, "FunctionVersion": version,
                  "Description": description}
        raw = self._send("CreateAlias", f"{function}:{alias}", self._client.create_alias, params,
                         confirm=lambda: self._alias_if(function, alias, Traffic(version)))
        return _alias_state(function, alias, raw)

    def _get_alias_raw(self, function: str, alias: str) -> Raw:
        return self._send("GetAlias", f"{function}:{alias}", self._client.get_alias,
                          {"FunctionName": function, "Name": alias})

    def _alias_if(self, function: str, alias: str, traffic: Traffic) -> Raw | None:
        raw = self._get_alias_raw(function, alias)
        if raw.get("FunctionVersion") == "$LATEST":
            return None
        return raw if _traffic_of(raw) == traffic else None

    # -- functions and versions ------------------------------------------------------------

    def versions(self, function: str) -> list[str]:
        """The function's published version numbers, ascending (all pages)."""
        found: set[str] = set()
        marker: str | None = None
        while True:
            params: Raw = {"FunctionName": function}
            if marker:
                params["Marker"] = marker
            page = self._send("ListVersionsByFunction", function,
                              self._client.list_versions_by_function, params)
            found.update(v["Version"] for v in page.get("Versions", []) if v["Version"].isdigit())
            marker = page.get("NextMarker")
            if not marker:
                return sorted(found, key=int)

    def latest_version(self, function: str) -> str | None:
        """The highest published version number, or None before the first publish."""
        published = self.versions(function)
        return published[-1] if published else None

    def function_configuration(self, function: str, qualifier: str | None = None) -> Raw:
        """GetFunctionConfiguration of ``$LATEST``, a version or an alias."""
        params: Raw = {"FunctionName": function}
        if qualifier is not None:
            params["Qualifier"] = qualifier
        return self._send("GetFunctionConfiguration", function,
                          self._client.get_function_configuration, params)

    def function_exists(self, function: str) -> bool:
        """True if the function exists."""
        try:
            self.function_configuration(function)
        except NotFoundError:
            return False
        return True

    def create_function(self, function: str, *, zip_bytes: bytes, handler: str, runtime: str,
                        role: str, timeout: int = 3, memory: int = 128,
                        environment: Mapping[str, str] | None = None, description: str = "",
                        publish: bool = False) -> Raw:
        """CreateFunction from a zip (the local target's first deploy); returns its config."""
        params: Raw = {"FunctionName": function, "Runtime": runtime, "Role": role,
                       "Handler": handler, "Code": {"ZipFile": zip_bytes}, "Timeout": timeout,
                       "MemorySize": memory, "Description": description, "Publish": publish,
                       "Environment": {"Variables": dict(environment or {})}}
        sha = packaging.code_sha256(zip_bytes)
        return self._send("CreateFunction", function, self._client.create_function, params,
                          confirm=lambda: self._config_if(function, CodeSha256=sha))

    def update_code(self, function: str, zip_bytes: bytes, *,
                    expected_revision: str | None) -> Raw:
        """UpdateFunctionCode of $LATEST; returns its config (wait_updated, then publish)."""
        params: Raw = {"FunctionName": function, "ZipFile": zip_bytes}
        if expected_revision is not None:
            params["RevisionId"] = expected_revision
        sha = packaging.code_sha256(zip_bytes)
        return self._send("UpdateFunctionCode", function, self._client.update_function_code,
                          params, confirm=lambda: self._config_if(function, CodeSha256=sha))

    def update_configuration(self, function: str, *, handler: str | None = None,
                             runtime: str | None = None, timeout: int | None = None,
                             memory: int | None = None,
                             environment: Mapping[str, str] | None = None,
                             expected_revision: str | None) -> Raw:
        """UpdateFunctionConfiguration of $LATEST; None leaves a setting as it is."""
        wanted = {k: v for k, v in (("Handler", handler), ("Runtime", runtime),
                                    ("Timeout", timeout), ("MemorySize", memory)) if v is not None}
        params: Raw = {"FunctionName": function, **wanted}
        if environment is not None:
            params["Environment"] = {"Variables": dict(environment)}
            wanted["Environment"] = params["Environment"]
        if expected_revision is not None:
            params["RevisionId"] = expected_revision
        return self._send("UpdateFunctionConfiguration", function,
                          self._client.update_function_configuration, params,
                          confirm=lambda: self._config_if(function, **wanted))

    def _config_if(self, function: str, **wanted: Any) -> Raw | None:
        config = self.function_configuration(function)
        seen = {**config, "Environment": {"Variables": (config.get("Environment") or {})
                                          .get("Variables") or {}}}
        return config if all(seen.get(k) == v for k, v in wanted.items()) else None

    def wait_updated(self, function: str, *, timeout: float = 300.0,
                     interval: float = 1.0, first_interval: float | None = None) -> Raw:
        """Poll until $LATEST is neither Pending nor InProgress; ``AwsError`` if it Failed.

        Polls every ``interval`` seconds; with ``first_interval``, the first wait is that
        long and each next one twice the last, up to ``interval``. Gives up with
        ``AwsError`` (code ``Timeout``) after ``timeout`` seconds.
        """
        deadline = self._clock() + timeout
        pause = interval if first_interval is None else min(first_interval, interval)
        while True:
            config = self.function_configuration(function)
            state, last = config.get("State"), config.get("LastUpdateStatus")
            if "Failed" in (state, last):
                reason = (config.get("LastUpdateStatusReason") or config.get("StateReason")
                          or "no reason given")
                code = (config.get("LastUpdateStatusReasonCode") or config.get("StateReasonCode")
                        or "UpdateFailed")
                raise AwsError(f"{function}: the last update failed: {reason}", code=code,
                               operation="GetFunctionConfiguration")
            if state != "Pending" and last != "InProgress":
                return config
            if self._clock() >= deadline:
                raise AwsError(f"{function} is still {state}/{last} after {timeout:g}s",
                               code="Timeout", operation="GetFunctionConfiguration")
            self._sleep(pause)
            pause = min(pause * 2, interval)

    def publish_version(self, function: str, *, code_sha256: str | None,
                        expected_revision: str | None, description: str = "") -> str:
        """Publish $LATEST and return the version number.

        Unchanged code and configuration give back the existing latest version, so a retry
        is harmless. ``code_sha256`` guards against publishing code other than the zip built.
        """
        params: Raw = {"FunctionName": function, "Description": description}
        if code_sha256 is not None:
            params["CodeSha256"] = code_sha256
        if expected_revision is not None:
            params["RevisionId"] = expected_revision
        raw = self._send("PublishVersion", function, self._client.publish_version, params)
        return str(raw["Version"])

    def aliases(self, function: str) -> dict[str, tuple[str, ...]]:
        """Every alias of the function → the versions it routes to (ListAliases, all pages)."""
        found: dict[str, tuple[str, ...]] = {}
        marker: str | None = None
        while True:
            params: Raw = {"FunctionName": function, **({"Marker": marker} if marker else {})}
            page = self._send("ListAliases", function, self._client.list_aliases, params)
            for raw in page.get("Aliases", []):
                weights = (raw.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
                found[raw["Name"]] = (str(raw["FunctionVersion"]), *map(str, weights))
            marker = page.get("NextMarker")
            if not marker:
                return found

    def delete_version(self, function: str, version: str) -> None:
        """DeleteFunction of one published version (never $LATEST: that deletes the function)."""
        if not version.isdigit():
            raise ValueError(f"only a published version can be deleted, got {version!r}")
        self._send("DeleteFunction", f"{function}:{version}", self._client.delete_function,
                   {"FunctionName": function, "Qualifier": version})

    def function_arns(self) -> dict[str, str]:
        """Every function's name → its ARN (ListFunctions, all pages, 50 a page)."""
        names: dict[str, str] = {}
        marker: str | None = None
        while True:
            params: Raw = {"MaxItems": 50, **({"Marker": marker} if marker else {})}
            page = self._send("ListFunctions", "functions", self._client.list_functions, params)
            names.update((f["FunctionName"], f["FunctionArn"]) for f in page.get("Functions", []))
            marker = page.get("NextMarker")
            if not marker:
                return names

    def latest_versions(self) -> dict[str, str]:
        """Every function's highest published version, from one ListFunctions sweep
        (``FunctionVersion=ALL``, 50 versions a call); functions never published are absent."""
        latest: dict[str, int] = {}
        marker: str | None = None
        while True:
            params: Raw = {"MaxItems": 50, "FunctionVersion": "ALL",
                           **({"Marker": marker} if marker else {})}
            page = self._send("ListFunctions", "functions", self._client.list_functions, params)
            for f in page.get("Functions", []):
                if str(f.get("Version", "")).isdigit():
                    name = f["FunctionName"]
                    latest[name] = max(latest.get(name, 0), int(f["Version"]))
            marker = page.get("NextMarker")
            if not marker:
                return {name: str(v) for name, v in latest.items()}

    def function_tags(self, function: str, arn: str | None = None) -> dict[str, str]:
        """The function's tags (ListTags of its ARN, looked up unless given)."""
        arn = arn or self.function_configuration(function)["FunctionArn"]
        return dict(self._send("ListTags", function, self._client.list_tags,
                               {"Resource": arn}).get("Tags", {}))

    # -- data plane ------------------------------------------------------------------------

    def invoke(self, function: str, qualifier: str | None, payload: bytes, *,
               tail: bool = False) -> InvokeResult:
        """Invoke synchronously (pre-traffic checks); a handler error is a result, not raised.
        ``tail``: with the invocation's last 4 KB of logs (``LogType: Tail``)."""
        params: Raw = {"FunctionName": function, "Payload": payload,
                       "InvocationType": "RequestResponse"}
        if qualifier is not None:
            params["Qualifier"] = qualifier
        if tail:
            params["LogType"] = "Tail"
        target = f"{function}:{qualifier}" if qualifier else function
        raw = self._send("Invoke", target, self._client.invoke, params, data_plane=True)
        body = raw.get("Payload")
        logs = ""
        if raw.get("LogResult"):
            logs = base64.b64decode(raw["LogResult"]).decode("utf-8", "replace")
        return InvokeResult(int(raw.get("StatusCode", 0)), str(raw.get("ExecutedVersion", "")),
                            raw.get("FunctionError"), body.read() if body is not None else b"",
                            logs)

    def invoke_async(self, function: str, payload: bytes) -> int:
        """Invoke asynchronously (``InvocationType: Event``): queued by Lambda, run soon;
        the status code (202)."""
        raw = self._send("Invoke", function, self._client.invoke,
                         {"FunctionName": function, "Payload": payload,
                          "InvocationType": "Event"}, data_plane=True)
        return int(raw.get("StatusCode", 0))

    def concurrency_limit(self, function: str) -> int | None:
        """The most invocations of ``function`` that may run at once: its reserved
        concurrency, else the account's unreserved concurrency (shared with every function
        without a reservation); None when neither can be read."""
        try:
            reserved = self._send("GetFunctionConcurrency", function,
                                  self._client.get_function_concurrency, {"FunctionName": function})
            if reserved.get("ReservedConcurrentExecutions") is not None:
                return int(reserved["ReservedConcurrentExecutions"])
            settings = self._send("GetAccountSettings", "account",
                                  self._client.get_account_settings, {})
            value = (settings.get("AccountLimit") or {}).get("UnreservedConcurrentExecutions")
            return None if value is None else int(value)
        except LambdashiftError:
            return None

    # -- the one way out to botocore -------------------------------------------------------

    def _send(self, operation: str, target: str, method: Callable[..., Raw], params: Raw, *,
              data_plane: bool = False, confirm: Callable[[], Raw | None] | None = None) -> Raw:
        """Call ``method(**params)`` paced, retried and translated.

        ``confirm`` reconciles an ambiguous retry: after a retried attempt failed with
        PreconditionFailed or Conflict, it reads the resource and returns it if the write is
        already in place (else None, and the error stands).
        """
        attempts = 0

        def attempt() -> Raw:
            nonlocal attempts
            attempts += 1
            if not data_plane:
                self._limiter.acquire()
            return method(**params)

        # When the policy gives up it raises ThrottledError / AwsError itself: they pass.
        try:
            raw = self._retry.call(attempt, operation=operation, throttling_only=data_plane)
        except ClientError as exc:
            err = _translate(exc, operation, target)
            # A client with retries of its own (botocore's) may have retried under us too.
            retried = attempts > 1 or exc.response.get("ResponseMetadata", {}).get(
                "RetryAttempts", 0) > 0
            if confirm is not None and retried and isinstance(
                    err, (RevisionMismatchError, ConflictError)):
                confirmed = confirm()
                if confirmed is not None:
                    return confirmed
            raise err from exc
        except CONNECTION_ERRORS as exc:
            raise AwsError(self._unreachable(exc, operation, attempts),
                           code=type(exc).__name__, operation=operation) from exc
        except NoCredentialsError as exc:
            raise AwsError("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY, or use the local target",
                           code="NoCredentials", operation=operation) from exc
        except ParamValidationError as exc:
            detail = " ".join(str(exc).split())
            raise AwsError(f"{operation} {target}: invalid parameters: {detail}",
                           code="ParamValidation", operation=operation) from exc
        raw.pop("ResponseMetadata", None)
        return raw

    def _unreachable(self, exc: Exception, operation: str, attempts: int) -> str:
        host = urlsplit(self.endpoint).hostname or ""
        aws = host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if isinstance(exc, EndpointConnectionError):
            hint = ("check the network and the region" if aws
                    else "is the local stack running? (lambdashift local up)")
            return f"cannot reach the Lambda API at {self.endpoint} ({tries}): {hint}"
        return (f"lost the connection to the Lambda API at {self.endpoint} during {operation} "
                f"({tries}): {type(exc).__name__}")


def _translate(exc: ClientError, operation: str, target: str) -> AwsError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "")) or "Unknown"
    message = str(error.get("Message", "")) or code
    cls = _ERRORS.get(code, AwsError)
    return cls(f"{operation} {target}: {message}", code=code, operation=operation)


def _traffic_of(raw: Mapping[str, Any]) -> Traffic:
    return Traffic.from_alias(str(raw["FunctionVersion"]), raw.get("RoutingConfig"))


def _alias_state(function: str, alias: str, raw: Mapping[str, Any]) -> AliasState:
    version = str(raw["FunctionVersion"])
    if version == "$LATEST":
        raise AwsError(
            f"alias {alias} of {function} points to $LATEST; lambdashift moves traffic between "
            f"published versions only: publish a version and point the alias at it first "
            f"(aws lambda update-alias --function-name {function} --name {alias} "
            f"--function-version N)", code="AliasOnLatest", operation="GetAlias")
    return AliasState(_traffic_of(raw), str(raw.get("RevisionId", "")), version,
                      str(raw.get("AliasArn", "")))
