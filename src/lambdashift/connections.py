"""Connections to where commands act: the local stack or AWS, each piece a rollout needs.

``open_target`` assembles a :class:`Target`: the Lambda API (paced by the state store's
rate ledger), the state store that ``state:`` names, the metrics source that ``metrics:``
names, CloudWatch alarms and Logs. ``rollout/`` receives these pieces and never opens them,
so it knows neither the local stack nor how AWS is reached.

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
from lambdashift.config import Config
from lambdashift.store.factory import open_store
from lambdashift.store.ledger import control_plane_limiter
from lambdashift.store.settings import StateConfig

#: Lambda's control-plane quota per account and region (not raisable); one bucket per state
#: store (the rate ledger, ``control_plane_limiter``), so every process on the store draws from it.
CONTROL_PLANE_RATE = 15.0
#: CloudWatch Logs' FilterLogEvents quota per account and region (requests per second); one
#: limiter per process, shared by every function analysed from logs at once.
FILTER_LOG_EVENTS_RATE = 5.0


@dataclass
class Target:
    """A place to roll out to, with its Lambda API, state store and metrics."""

    name: str
    description: str
    api: LambdaApi
    store: Any  # lambdashift.store.protocol.StateStore: SQLite or DynamoDB (``state:``)
    counter: Any | None
    metrics: Any | None
    alarms: Any | None
    api_url: str | None = None
    dev_url: str | None = None
    is_local: bool = False
    #: boto3's CloudWatch Logs client (``lambdashift logs``, ``metrics: logs``).
    logs: Any | None = None


def state_db(config: Config) -> Path:
    """``.lambdashift/state.db`` beside the config."""
    return config.root / ".lambdashift" / "state.db"


def open_target(config: Config, *, local: bool = False, rate: float = CONTROL_PLANE_RATE) -> Target:
    """The target the config (or ``--local``) names, ready to use."""
    retry = RetryPolicy()
    if local or config.target == "local":
        from lambdashift.local.metrics import EmulatorMetrics
        from lambdashift.local.stack import running_state

        stack = running_state(config.root)
        store = _store(config, "local", stack.region, stack.dynamodb_endpoint)
        client = make_client("lambda", endpoint_url=stack.lambda_endpoint, region=stack.region,
                             local=True, max_pool=50)
        logs = make_client("logs", endpoint_url=stack.logs_endpoint or stack.lambda_endpoint,
                           region=stack.region, local=True)
        metrics = _choose(config.metrics, EmulatorMetrics(stack.lambda_endpoint), logs, None)
        return Target(
            name="local", description=f"local stack (Lambda API {stack.lambda_endpoint})",
            api=LambdaApi(client, limiter=control_plane_limiter(store, rate), retry=retry), store=store,
            counter=metrics, metrics=metrics, alarms=None,
            api_url=stack.api_url, dev_url=stack.dev_url, is_local=True, logs=logs,
        )
    from lambdashift.aws.metrics import CloudWatchAlarms, CloudWatchMetrics

    # Precedence as everywhere: the environment beats the file.
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or config.region
    client = make_client("lambda", region=region, max_pool=50)  # ConfigError without a region
    region = client.meta.region_name
    store = _store(config, f"aws:{region}", region, None)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_LAMBDA") or os.environ.get("AWS_ENDPOINT_URL")
    where = f"AWS {region}" + (f" via {endpoint}" if endpoint else "")
    cloudwatch = make_client("cloudwatch", region=region)
    logs = make_client("logs", region=region)
    alarms = CloudWatchAlarms(cloudwatch)
    metrics = _choose(config.metrics, CloudWatchMetrics(cloudwatch), logs,
                      RateLimiter(rate=FILTER_LOG_EVENTS_RATE, burst=1))
    return Target(
        name=f"aws:{region}", description=where,
        api=LambdaApi(client, limiter=control_plane_limiter(store, rate), retry=retry), store=store,
        counter=metrics, metrics=metrics, alarms=alarms, logs=logs,
    )


def _choose(source: str, cloudwatch: Any, logs_client: Any, limiter: Any) -> Any:
    """The judge's metrics source named by the config's ``metrics:``."""
    if source == "cloudwatch":
        return cloudwatch
    from lambdashift.aws.logs_metrics import EitherMetrics, LogsMetrics

    logs = LogsMetrics(logs_client, limiter=limiter)
    return logs if source == "logs" else EitherMetrics(logs, cloudwatch)


def _store(config: Config, namespace: str, region: str | None, local_endpoint: str | None) -> Any:
    """The store ``state:`` names (SQLite beside the config by default)."""
    return open_store(config.state or StateConfig(), namespace=namespace,
                      sqlite_path=state_db(config), region=region, local_endpoint=local_endpoint)


def open_controller_store(settings: Any) -> Any:
    """The controller's state store: the DynamoDB table its environment names
    (``controller.settings.ControllerSettings``)."""
    state = StateConfig(store="dynamodb", table=settings.table, region=settings.region,
                        endpoint=settings.dynamodb_endpoint)
    return open_store(state, namespace=settings.namespace, sqlite_path=Path("/nonexistent"),
                      region=settings.region, local_endpoint=None)


def open_controller_target(settings: Any, store: Any, metrics_source: str, *,
                           api_url: str | None = None, dev_url: str | None = None,
                           rate: float = CONTROL_PLANE_RATE) -> Target:
    """The target a controller invocation drives rollouts on: Lambda, metrics and logs where
    its environment says (the emulator's endpoints on the local stack, AWS's otherwise), the
    release's metrics source, and ``store`` (shared by every release of the invocation)."""
    retry = RetryPolicy()
    local = settings.lambda_endpoint is not None
    client = make_client("lambda", endpoint_url=settings.lambda_endpoint, region=settings.region,
                         local=local, max_pool=50)
    logs = make_client("logs", endpoint_url=settings.logs_endpoint or settings.lambda_endpoint,
                       region=settings.region, local=local)
    api = LambdaApi(client, limiter=control_plane_limiter(store, rate), retry=retry)
    if local:
        from lambdashift.local.metrics import EmulatorMetrics

        metrics = _choose(metrics_source, EmulatorMetrics(settings.lambda_endpoint), logs, None)
        return Target(name="local", description=f"local stack ({settings.lambda_endpoint})",
                      api=api, store=store, counter=metrics, metrics=metrics, alarms=None,
                      api_url=api_url, dev_url=dev_url, is_local=True, logs=logs)
    from lambdashift.aws.metrics import CloudWatchAlarms, CloudWatchMetrics

    cloudwatch = make_client("cloudwatch", region=settings.region)
    metrics = _choose(metrics_source, CloudWatchMetrics(cloudwatch), logs,
                      RateLimiter(rate=FILTER_LOG_EVENTS_RATE, burst=1))
    return Target(name=settings.namespace, description=f"AWS {settings.region}", api=api,
                  store=store, counter=metrics, metrics=metrics,
                  alarms=CloudWatchAlarms(cloudwatch), api_url=api_url, dev_url=dev_url,
                  logs=logs)
