"""boto3 clients for AWS or for the local stack: one place that knows how to make them.

A missing region is a ``ConfigError`` here, and ``answered_status`` reads an error's HTTP
status, so that code outside ``aws/`` never imports botocore to do either.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, NoRegionError

from lambdashift.errors import ConfigError

#: Credentials for the local stack; it accepts any, and real ones must never be needed.
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def make_client(service: str, *, endpoint_url: str | None = None, region: str | None = None,
                local: bool = False, max_pool: int = 20) -> Any:
    """A boto3 client. ``local`` uses dummy credentials; otherwise boto3's usual chain.

    Retries are left to lambdashift's own retry loop (aws/lambda_api.py), which shares one
    rate limiter between all rollouts; botocore's standard mode would retry behind it.
    """
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=max_pool,
                    connect_timeout=5, read_timeout=70)
    kwargs: dict[str, Any] = {"config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if region or local:
        kwargs["region_name"] = region or "us-east-1"
    if local:
        kwargs.update(LOCAL_CREDENTIALS)
    try:
        return boto3.client(service, **kwargs)
    except NoRegionError:
        raise ConfigError("no AWS region: set `region:` in lambdashift.yaml or AWS_REGION") from None


def answered_status(exc: BaseException) -> int | None:
    """The HTTP status of an error AWS answered with (500 when it names none), or None when
    ``exc`` is no answer from AWS (the connection failed or timed out)."""
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500))
    return None
