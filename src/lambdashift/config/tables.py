"""``tables:`` of lambdashift.yaml: DynamoDB tables as CreateTable parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lambdashift.core import validators as v
from lambdashift.errors import ConfigError

__all__ = ["parse_tables"]

_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")


def parse_tables(raw: object) -> dict[str, dict[str, Any]]:
    """Table name → its CreateTable parameters (checked lightly: DynamoDB checks the rest)."""
    tables = {}
    for name, spec in v.mapping(raw, "tables", "a mapping of table names").items():
        v.match(name, _TABLE_NAME, "tables", "table names of 3 to 255 of a-z A-Z 0-9 _ . -")
        tables[name] = _table(v.mapping(spec, f"tables.{name}", "CreateTable parameters"), name)
    return tables


def _table(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Light checks only (the key attributes are defined); DynamoDB validates the rest."""
    path = f"tables.{name}"
    defined = set()
    for key in ("AttributeDefinitions", "KeySchema"):
        v.required(spec, key, path)
    definitions = v.non_empty_list(spec.get("AttributeDefinitions"), f"{path}.AttributeDefinitions")
    for i, item in enumerate(definitions):
        where = f"{path}.AttributeDefinitions[{i}]"
        item = v.mapping(item, where, "{AttributeName, AttributeType}")
        if item.get("AttributeType") not in ("S", "N", "B") or not item.get("AttributeName"):
            raise ConfigError(f"{where}: needs AttributeName and AttributeType S, N or B")
        defined.add(item["AttributeName"])
    for i, item in enumerate(v.non_empty_list(spec.get("KeySchema"), f"{path}.KeySchema")):
        where = f"{path}.KeySchema[{i}]"
        item = v.mapping(item, where, "{AttributeName, KeyType}")
        if item.get("KeyType") not in ("HASH", "RANGE"):
            raise ConfigError(f"{where}.KeyType: must be HASH or RANGE")
        if item.get("AttributeName") not in defined:
            attribute = item.get("AttributeName")
            raise ConfigError(
                f"{where}.AttributeName: {attribute!r} is not in AttributeDefinitions"
            )
    return dict(spec)
