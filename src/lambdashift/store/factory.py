"""The store a ``state:`` section names, opened for one target's namespace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lambdashift.store.settings import StateConfig

__all__ = ["open_store"]


def open_store(state: StateConfig, *, namespace: str, sqlite_path: Path,
               region: str | None, local_endpoint: str | None) -> Any:
    """The configured store for ``namespace``.

    ``local_endpoint`` is the local stack's DynamoDB (target local), used when ``endpoint``
    is not set; there the table is created on first use, on AWS the Terraform owns it.
    """
    if state.store == "sqlite":
        from lambdashift.store.sqlite import SqliteStateStore

        return SqliteStateStore(sqlite_path, namespace=namespace)
    from lambdashift.aws.clients import make_client
    from lambdashift.store.dynamodb import DynamoStateStore

    endpoint = state.endpoint or local_endpoint
    local = endpoint is not None and not endpoint.rstrip("/").endswith(".amazonaws.com")
    region = state.region or region or os.environ.get("AWS_REGION") or "us-east-1"
    client = make_client("dynamodb", endpoint_url=endpoint, region=region, local=local,
                         max_pool=50)
    return DynamoStateStore(client, state.table, namespace=namespace, create=local)
