"""Where commands act: the local stack or AWS, with the pieces a rollout needs for it.

The local stack is chosen by ``target: local`` in the config or ``--local``; its endpoints
come from ``.lambdashift/local.json``. AWS is reached through boto3's usual chain
(credentials, region, ``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_LAMBDA``). Both go through
the same ``LambdaApi`` wrapper: the local stack's code path is the AWS code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdashift.aws.clients import make_client
from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import RateLimiter, RetryPolicy
from botocore.exceptions import NoRegionError

from lambdashift.config import Config
from lambdashift.errors import ConfigError
from lambdashift.rollout.store import SqliteStateStore

#: Lambda's control-plane quota per account and region (not raisable); one limiter per process.
CONTROL_PLANE_RATE = 15.0


@dataclass
class Target:
    """A place to roll out to, with its Lambda API, state store and metrics."""

    name: str
    description: str
    api: LambdaApi
    store: SqliteStateStore
    counter: Any | None
    metrics: Any | None
    alarms: Any | None
    api_url: str | None = None
    dev_url: str | None = None
    is_local: bool = False


def state_db(config: Config) -> Path:
    """``.lambdashift/state.db`` beside the config."""
    return config.root / ".lambdashift" / "state.db"


def open_target(config: Config, *, local: bool = False, rate: float = CONTROL_PLANE_RATE) -> Target:
    """The target the config (or ``--local``) names, ready to use."""
    limiter = RateLimiter(rate=rate, burst=max(1, int(rate)))
    retry = RetryPolicy()
    if local or config.target == "local":
        from lambdashift.local.metrics import EmulatorMetrics
        from lambdashift.local.stack import running_state

        stack = running_state(config.root)
        client = make_client("lambda", endpoint_url=stack.lambda_endpoint, region=stack.region,
                             local=True, max_pool=50)
        metrics = EmulatorMetrics(stack.lambda_endpoint)
        return Target(
            name="local", description=f"local stack (Lambda API {stack.lambda_endpoint})",
            api=LambdaApi(client, limiter=limiter, retry=retry),
            store=SqliteStateStore(state_db(config), namespace="local"),
            counter=metrics, metrics=metrics, alarms=None,
            api_url=stack.api_url, dev_url=stack.dev_url, is_local=True,
        )
    from lambdashift.aws.metrics import CloudWatchAlarms, CloudWatchMetrics

    # Precedence as everywhere: the environment beats the file.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or config.region
    try:
        client = make_client("lambda", region=region, max_pool=50)
    except NoRegionError:
        raise ConfigError("no AWS region: set `region:` in lambdashift.yaml or AWS_REGION") from None
    region = client.meta.region_name
    endpoint = os.environ.get("AWS_ENDPOINT_URL_LAMBDA") or os.environ.get("AWS_ENDPOINT_URL")
    where = f"AWS {region}" + (f" via {endpoint}" if endpoint else "")
    cloudwatch = make_client("cloudwatch", region=region)
    metrics, alarms = CloudWatchMetrics(cloudwatch), CloudWatchAlarms(cloudwatch)
    return Target(
        name=f"aws:{region}", description=where,
        api=LambdaApi(client, limiter=limiter, retry=retry),
        store=SqliteStateStore(state_db(config), namespace=f"aws:{region}"),
        counter=metrics, metrics=metrics, alarms=alarms,
    )
