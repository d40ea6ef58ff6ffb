"""The service model's constraints on request parameters, checked as AWS checks them.

Failures are ``ValidationException`` with AWS's wording ("1 validation error detected:
Value 'x' at 'functionName' failed to satisfy constraint: ..."). boto3 checks only types
and minimum lengths on the client, so patterns and maxima must be enforced here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lambdashift.emulator.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    PreconditionFailedException,
    RequestTooLargeException,
    ValidationException,
)
from lambdashift.emulator.runtime.catalog import AWS_RUNTIMES

FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
ALIAS_PATTERN = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
QUALIFIER_PATTERN = r"(|[a-zA-Z0-9$_-]+)"
ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
HANDLER_PATTERN = r"[^\s]+"
ENV_KEY_PATTERN = r"[a-zA-Z]([a-zA-Z0-9_])+"
ADDITIONAL_VERSION_PATTERN = r"[0-9]+"

_FUNCTION_NAME_RE = re.compile(FUNCTION_NAME_PATTERN)

#: Python runtimes (run by the emulator's worker); the others are in ``runtime/catalog.py``.
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")

#: Environment keys AWS sets itself and refuses in a function's configuration.
RESERVED_ENV_KEYS = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)


def _fail(value: Any, where: str, constraint: str) -> ValidationException:
    return ValidationException(
        f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
        f"constraint: {constraint}"
    )


def check_pattern(value: Any, where: str, pattern: str, *, max_len: int, min_len: int = 1) -> str:
    """The value is a string of allowed length that matches the service model's pattern."""
    if not isinstance(value, str):
        raise _fail(value, where, "Member must be a string")
    if len(value) > max_len:
        raise _fail(value, where, f"Member must have length less than or equal to {max_len}")
    if len(value) < min_len:
        raise _fail(value, where, f"Member must have length greater than or equal to {min_len}")
    if re.fullmatch(pattern, value) is None:
        raise _fail(value, where, f"Member must satisfy regular expression pattern: {pattern}")
    return value


def check_int(value: Any, where: str, low: int, high: int) -> int:
    """The value is an integer in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(value, where, "Member must be an integer")
    if value > high:
        raise _fail(value, where, f"Member must have value less than or equal to {high}")
    if value < low:
        raise _fail(value, where, f"Member must have value greater than or equal to {low}")
    return value


def check_str(value: Any, where: str, max_len: int) -> str:
    """The value is a string no longer than max_len."""
    if not isinstance(value, str):
        raise _fail(value, where, "Member must be a string")
    if len(value) > max_len:
        raise _fail(value, where, f"Member must have length less than or equal to {max_len}")
    return value


def check_revision(current: str, given: Any) -> None:
    """A ``RevisionId`` given with a write must be the current one (AWS: 412)."""
    if given is not None and given != current:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        )


def split_function_name(raw: str, where: str = "functionName") -> tuple[str, str | None]:
    """A name, partial ARN or full ARN → (name, qualifier embedded in it or None)."""
    check_pattern(raw, where, FUNCTION_NAME_PATTERN, max_len=140)
    match = _FUNCTION_NAME_RE.fullmatch(raw)
    assert match is not None  # check_pattern matched the same pattern
    name, qualifier = match.group(7), match.group(9)
    if len(name) > 64:
        raise _fail(raw, where, "Member must have length less than or equal to 64")
    return name, qualifier


def function_region(raw: str) -> str | None:
    """The region a function ARN names (None for a name or a partial ARN without one)."""
    match = _FUNCTION_NAME_RE.fullmatch(raw)
    return match.group(3)[:-1] if match and match.group(3) else None


#: ListTags/TagResource/UntagResource's ``Resource``: the service model's pattern, function ARNs.
TAGGABLE_ARN_PATTERN = (
    r"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)


def check_tags(tags: Any) -> dict[str, str]:
    """``Tags`` of CreateFunction/TagResource: keys of 1-128 characters, values of 0-256
    (AWS's tag restrictions, "Tagging Lambda functions")."""
    if not isinstance(tags, dict):
        raise shape_error("tags", "Tags must be a map of key to value")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise _fail(key, "tags", "Map keys must satisfy constraint: [Member must have length "
                        "less than or equal to 128, Member must have length greater than or equal to 1]")
        if not isinstance(value, str) or len(value) > 256:
            raise _fail(value, f"tags.{key}", "Map value must satisfy constraint: [Member must have "
                        "length less than or equal to 256]")
    return dict(tags)


def check_runtime(value: Any) -> str:
    """A runtime AWS accepts for CreateFunction (``catalog.AWS_RUNTIMES``). Whether this
    machine can run it is the invoke's business (``catalog.missing``), as it is on AWS."""
    if value in AWS_RUNTIMES:
        return str(value)
    if isinstance(value, str) and re.fullmatch(
            r"python\d\.\d+|nodejs\d+(\.\d+|\.x)?|java\d+|dotnet\S*|ruby\d\.\d+|go1\.x",
            value):
        raise InvalidParameterValueException(
            f"The runtime parameter of {value} is no longer supported for creating or updating "
            "AWS Lambda functions. We recommend you use a supported runtime while creating or "
            "updating functions.")
    raise _fail(value, "runtime", f"Member must satisfy enum value set: [{', '.join(AWS_RUNTIMES)}]")


def check_environment(value: Any) -> dict[str, str]:
    """``Environment`` → its variables, with AWS's key pattern and reserved keys."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not isinstance(value.get("Variables", {}), dict):
        raise shape_error("environment", "Environment must be {\"Variables\": {...}}")
    variables = value.get("Variables") or {}
    for key, val in variables.items():
        check_pattern(key, "environment.variables", ENV_KEY_PATTERN, max_len=1024)
        if not isinstance(val, str):
            raise _fail(val, f"environment.variables.{key}", "Member must be a string")
    reserved = sorted(RESERVED_ENV_KEYS.intersection(variables))
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided contains reserved keys that are currently "
            f"not supported for modification. Reserved keys used in this request: {','.join(reserved)}"
        )
    return dict(variables)


DEAD_LETTER_PATTERN = r"(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()"


def check_dead_letter(value: Any) -> str:
    """``DeadLetterConfig`` → its TargetArn ("" for none, or to clear it)."""
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise shape_error("deadLetterConfig", "DeadLetterConfig must be {\"TargetArn\": ...}")
    target = value.get("TargetArn") or ""
    return check_pattern(target, "deadLetterConfig.targetArn", DEAD_LETTER_PATTERN,
                         max_len=1024, min_len=0)


def shape_error(where: str, detail: str) -> ValidationException:
    """A parameter has the wrong JSON shape."""
    return ValidationException(f"1 validation error detected: Value at '{where}' is invalid: {detail}")


def check_weights(routing: Any) -> dict[str, float]:
    """``RoutingConfig`` → its weights map, with the service model's key and range checks."""
    if routing is None:
        return {}
    if not isinstance(routing, dict):
        raise shape_error("routingConfig", "RoutingConfig must be an object")
    weights = routing.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, dict):
        raise shape_error(
            "routingConfig.additionalVersionWeights", "must be a map of version to weight"
        )
    where = "routingConfig.additionalVersionWeights"
    for key, weight in weights.items():
        if re.fullmatch(ADDITIONAL_VERSION_PATTERN, key) is None:
            raise _fail(
                "{" + ", ".join(f"{k}={v}" for k, v in weights.items()) + "}",
                where,
                "Map keys must satisfy constraint: [Member must satisfy regular expression "
                f"pattern: {ADDITIONAL_VERSION_PATTERN}]",
            )
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= weight <= 1.0:
            raise _fail(
                weight, f"{where}.{key}",
                "Map value must satisfy constraint: [Member must have value less than or equal "
                "to 1.0, Member must have value greater than or equal to 0.0]",
            )
    return {k: float(v) for k, v in weights.items()}


#: AWS's payload limits: 6 MB for a synchronous invocation, 256 KB for an asynchronous one.
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT = 256 * 1024


def check_invoke(kind: str, payload: bytes) -> bytes:
    """An Invoke's type and payload as AWS checks them; an empty payload is ``{}``."""
    if kind not in ("RequestResponse", "Event", "DryRun"):
        raise InvalidParameterValueException(
            f"InvocationType must be RequestResponse, Event or DryRun, got {kind!r}"
        )
    limit = ASYNC_PAYLOAD_LIMIT if kind == "Event" else SYNC_PAYLOAD_LIMIT
    if len(payload) > limit:
        raise RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
    payload = payload or b"{}"
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from None
    return payload
