"""Table definitions: keys, indexes, table names and ARNs, and DescribeTable's shape.

A :class:`TableSchema` is built once from a CreateTable request (checked as AWS checks
it, in ``definitions.py``), persisted as JSON, and tells every operation which
attributes make the keys of the table and of each index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lambdashift.dynamodb.errors import ResourceNotFoundException, ValidationException

REGION = "us-east-1"
ACCOUNT = "000000000000"
_NAME = re.compile(r"[a-zA-Z0-9_.-]+")


@dataclass(frozen=True)
class KeySpec:
    """A partition key and an optional sort key: ``(name, type)`` each.

    A global secondary index may have a multi-attribute key (2025): up to four partition
    key and four sort key attributes; ``extra_hash``/``extra_range`` hold those after the
    first of each.
    """

    hash: tuple[str, str]
    range: tuple[str, str] | None = None
    extra_hash: tuple[tuple[str, str], ...] = ()
    extra_range: tuple[tuple[str, str], ...] = ()

    @property
    def multi(self) -> bool:
        """Whether the key has more than one partition or sort key attribute."""
        return bool(self.extra_hash or self.extra_range)

    @property
    def hash_kind(self) -> str:
        """The type the partition key hashes as (a multi-attribute one: its bytes, "B")."""
        return "B" if self.multi else self.hash[1]

    def hashes(self) -> list[tuple[str, str]]:
        """The partition key attributes, in order."""
        return [self.hash, *self.extra_hash]

    def ranges(self) -> list[tuple[str, str]]:
        """The sort key attributes, in order."""
        return [] if self.range is None else [self.range, *self.extra_range]

    def typed(self) -> list[tuple[str, str]]:
        """Every key attribute with its type, partition key first."""
        return self.hashes() + self.ranges()

    def names(self) -> tuple[str, ...]:
        """The key's attribute names, partition key first."""
        if not self.multi:
            return (self.hash[0],) if self.range is None else (self.hash[0], self.range[0])
        return tuple(name for name, _ in self.typed())

    def to_aws(self) -> list[dict[str, str]]:
        """The ``KeySchema`` list."""
        return [{"AttributeName": name, "KeyType": "HASH"} for name, _ in self.hashes()] + [
            {"AttributeName": name, "KeyType": "RANGE"} for name, _ in self.ranges()]


@dataclass(frozen=True)
class IndexSchema:
    """A global or local secondary index."""

    name: str
    key: KeySpec
    is_global: bool
    projection: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()
    throughput: dict[str, int] | None = None
    #: Which SQLite table holds the index (``t<N>_<slot>``): stays when others come and go.
    slot: int = 0
    #: CREATING right after UpdateTable added it (the answer says so), then ACTIVE.
    status: str = "ACTIVE"


@dataclass
class TableSchema:
    """A table's definition, as validated from CreateTable."""

    name: str
    key: KeySpec
    attribute_definitions: list[dict[str, str]]
    indexes: list[IndexSchema] = field(default_factory=list)
    billing_mode: str = "PROVISIONED"
    throughput: dict[str, int] | None = None
    created: float = 0.0
    table_id: str = ""
    #: The attribute UpdateTimeToLive enabled TTL on (None: TTL disabled).
    ttl_attribute: str | None = None
    #: The resource-based policy (document, revision id), kept and answered, not enforced.
    policy: tuple[str, str] | None = None

    @property
    def arn(self) -> str:
        """The table's ARN in the emulated account."""
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.name}"

    def index(self, name: str) -> IndexSchema:
        """The index of that name; ValidationException as AWS answers a Query otherwise."""
        for index in self.indexes:
            if index.name == name:
                return index
        raise ValidationException(
            f"The table does not have the specified index: {name}"
        )

    def key_names(self) -> set[str]:
        """Every attribute that is part of a key of the table or of one of its indexes."""
        names = set(self.key.names())
        for index in self.indexes:
            names.update(index.key.names())
        return names

    def to_json(self) -> dict[str, Any]:
        """The CreateTable request this schema stands for, plus what we add (for storage)."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeySchema": self.key.to_aws(),
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": self.billing_mode,
            "_created": self.created,
            "_id": self.table_id,
        }
        if self.ttl_attribute is not None:
            request["_ttl"] = self.ttl_attribute
        if self.policy is not None:
            request["_policy"] = list(self.policy)
        if self.throughput:
            request["ProvisionedThroughput"] = self.throughput
        for kind, is_global in (("GlobalSecondaryIndexes", True), ("LocalSecondaryIndexes", False)):
            chosen = [i for i in self.indexes if i.is_global == is_global]
            if chosen:
                request[kind] = [_index_request(i) for i in chosen]
        return request

    def describe(self, item_count: int, size: int, index_stats: dict[str, tuple[int, int]],
                 status: str = "ACTIVE") -> dict[str, Any]:
        """DescribeTable's ``Table`` (also CreateTable's and DeleteTable's description)."""
        description: dict[str, Any] = {
            "AttributeDefinitions": self.attribute_definitions,
            "TableName": self.name,
            "KeySchema": self.key.to_aws(),
            "TableStatus": status,
            "CreationDateTime": self.created,
            "ProvisionedThroughput": _throughput(self.throughput),
            "TableSizeBytes": size,
            "ItemCount": item_count,
            "TableArn": self.arn,
            "TableId": self.table_id,
            "DeletionProtectionEnabled": False,
        }
        if self.billing_mode == "PAY_PER_REQUEST":
            description["BillingModeSummary"] = {
                "BillingMode": "PAY_PER_REQUEST",
                "LastUpdateToPayPerRequestDateTime": self.created,
            }
        for kind, is_global in (("GlobalSecondaryIndexes", True), ("LocalSecondaryIndexes", False)):
            chosen = [i for i in self.indexes if i.is_global == is_global]
            if chosen:
                description[kind] = [
                    _describe_index(self, i, *index_stats.get(i.name, (0, 0))) for i in chosen
                ]
        return description


def _throughput(given: dict[str, int] | None) -> dict[str, int]:
    given = given or {}
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": given.get("ReadCapacityUnits", 0),
        "WriteCapacityUnits": given.get("WriteCapacityUnits", 0),
    }


def _projection(index: IndexSchema) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.projection}
    if index.non_key_attributes:
        projection["NonKeyAttributes"] = list(index.non_key_attributes)
    return projection


def _index_request(index: IndexSchema) -> dict[str, Any]:
    request: dict[str, Any] = {
        "IndexName": index.name,
        "KeySchema": index.key.to_aws(),
        "Projection": _projection(index),
    }
    if index.throughput:
        request["ProvisionedThroughput"] = index.throughput
    request["_slot"] = index.slot
    return request


def _describe_index(table: TableSchema, index: IndexSchema, count: int, size: int) -> dict:
    described: dict[str, Any] = {
        "IndexName": index.name,
        "KeySchema": index.key.to_aws(),
        "Projection": _projection(index),
        "IndexSizeBytes": size,
        "ItemCount": count,
        "IndexArn": f"{table.arn}/index/{index.name}",
    }
    if index.is_global:
        described["IndexStatus"] = index.status
        described["ProvisionedThroughput"] = _throughput(index.throughput)
    return described


# ---------------------------------------------------------------------------------------
# CreateTable validation


def parse_table_arn(arn: str) -> str | None:
    """The table name of a table ARN of this endpoint's account and region, or None."""
    match = _TABLE_ARN.fullmatch(arn)
    if match is None or (match.group(1), match.group(2)) != (REGION, ACCOUNT):
        return None
    return match.group(3)


_TABLE_ARN = re.compile(r"arn:aws:dynamodb:([a-z0-9-]+):([0-9]{12}):table/([a-zA-Z0-9_.-]{3,255})")


def check_table_name(name: Any, member: str = "tableName") -> str:
    """A table (or index) name as AWS's model constrains it.

    Where AWS takes a table, ``TableName`` may also be the table's ARN
    (``arn:aws:dynamodb:REGION:ACCOUNT:table/NAME``); the name is returned. A well-formed
    ARN of another region or account names a table this endpoint does not have.
    """
    if not isinstance(name, str):
        raise ValidationException(f"1 validation error detected: {member} is required")
    if member == "tableName" and name.startswith("arn:"):
        match = _TABLE_ARN.fullmatch(name)
        if match is None:
            raise ValidationException(
                f"Invalid TableName: '{name}' is neither a table name nor a table ARN "
                "(arn:aws:dynamodb:REGION:ACCOUNT:table/NAME)"
            )
        if (match.group(1), match.group(2)) != (REGION, ACCOUNT):
            raise ResourceNotFoundException(
                f"Requested resource not found: Table: {name} not found"
            )
        return match.group(3)
    if len(name) < 3 or len(name) > 255:
        raise ValidationException(
            f"1 validation error detected: Value '{name}' at '{member}' failed to satisfy "
            "constraint: Member must have length "
            + ("greater than or equal to 3" if len(name) < 3 else "less than or equal to 255")
        )
    if not _NAME.fullmatch(name):
        raise ValidationException(
            f"1 validation error detected: Value '{name}' at '{member}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )
    return name
