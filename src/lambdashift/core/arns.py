"""ARN arithmetic that policies and integrations need: IAM's ``ArnLike`` and Lambda ARNs."""

from __future__ import annotations

import re

_FUNCTION_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]+)"
    r"(?::([A-Za-z0-9_$-]+))?(?:/invocations)?$")


def arn_like(pattern: str, value: str) -> bool:
    """IAM's ``ArnLike``: ``*`` matches any run of characters, ``?`` any one."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value) is not None


def lambda_target(uri: str) -> tuple[str, str, str, str | None] | None:
    """A Lambda function ARN, or an API Gateway invoke URI wrapping one
    (``arn:aws:apigateway:R:lambda:path/2015-03-31/functions/ARN/invocations``) →
    (region, account, function, qualifier or None); None for anything else."""
    found = _FUNCTION_ARN.search(uri)
    if found is None:
        return None
    return found.group(1), found.group(2), found.group(3), found.group(4)
