"""Table definitions: CreateTable's validation, key extraction, and DescribeTable's shape.

A :class:`TableSchema` is built once from a CreateTable request (checked as AWS checks
it), persisted as JSON, and tells every operation which attributes make the keys of the
table and of each index.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from lambdashift.dynamodb.errors import (
    ResourceNotFoundException,
    ValidationException,
    invalid_parameter,
    require_shape,
)

REGION = "us-east-1"
ACCOUNT = "000000000000"
_NAME = re.compile(r"[a-zA-Z0-9_.-]+")
_PROJECTIONS = ("ALL", "KEYS_ONLY", "INCLUDE")


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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableSchema:
        """A schema persisted by :meth:`to_json` (already validated once)."""
        schema = parse_create_table(data, stored=True)
        schema.created = data["_created"]
        schema.table_id = data["_id"]
        schema.ttl_attribute = data.get("_ttl")
        schema.policy = tuple(data["_policy"]) if data.get("_policy") else None  # type: ignore[assignment]
        return schema

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


def parse_create_table(request: dict[str, Any], stored: bool = False) -> TableSchema:
    """The schema a CreateTable request defines; ValidationException as AWS would.

    ``stored``: the request is our own persisted definition, whose ``_slot`` keys say
    where each index lives (a caller's are ignored).
    """
    name = check_table_name(request.get("TableName"))
    definitions = request.get("AttributeDefinitions")
    if not isinstance(definitions, list) or not definitions:
        raise ValidationException(
            "1 validation error detected: Value null at 'attributeDefinitions' failed to "
            "satisfy constraint: Member must not be null"
        )
    types: dict[str, str] = {}
    for position, definition in enumerate(definitions, 1):
        require_shape(isinstance(definition, dict), "AttributeDefinitions")
        attribute, kind = definition.get("AttributeName"), definition.get("AttributeType")
        require_shape(isinstance(attribute, str), "AttributeDefinitions")
        if kind not in ("S", "N", "B"):
            raise ValidationException(
                f"1 validation error detected: Value '{kind}' at 'attributeDefinitions."
                f"{position}.member.attributeType' failed to satisfy constraint: Member must "
                "satisfy enum value set: [B, N, S]"
            )
        if attribute in types:
            raise invalid_parameter(f"Duplicate AttributeName found: {attribute}")
        types[attribute] = kind
    key = _key_spec(request.get("KeySchema"), types, "keySchema")
    used = set(key.names())
    indexes: list[IndexSchema] = []
    for is_global, member in ((True, "GlobalSecondaryIndexes"), (False, "LocalSecondaryIndexes")):
        for number, spec in enumerate(request.get(member) or [], 1):
            where = f"{member[0].lower()}{member[1:]}.{number}.member.keySchema"
            index = parse_index(spec, types, key, is_global, where)
            if any(i.name == index.name for i in indexes):
                raise invalid_parameter(f"Duplicate index name: {index.name}")
            indexes.append(index)
            used.update(index.key.names())
    if used != set(types):
        raise invalid_parameter(
            "Number of attributes in KeySchema does not exactly match number of attributes "
            "defined in AttributeDefinitions"
        )
    if not stored and request.get("StreamSpecification") is not None:
        refuse_streams(request["StreamSpecification"])
    # Slots: as stored, or (a new table, or one stored before slots) in order.
    indexes = [replace(index, slot=position) if index.slot < 0 or not stored else index
               for position, index in enumerate(indexes)]
    billing = request.get("BillingMode") or "PROVISIONED"
    throughput = request.get("ProvisionedThroughput")
    check_billing(billing, throughput, indexes)
    return TableSchema(
        name=name,
        key=key,
        attribute_definitions=[
            {"AttributeName": n, "AttributeType": t} for n, t in types.items()
        ],
        indexes=indexes,
        billing_mode=billing,
        throughput=throughput if billing == "PROVISIONED" else None,
        created=time.time(),
        table_id=str(uuid.uuid4()),
    )


def _key_spec(elements: Any, types: dict[str, str], member: str,
              multi: bool = False) -> KeySpec:
    if not isinstance(elements, list) or not elements:
        raise ValidationException(
            f"1 validation error detected: Value null at '{member}' failed to satisfy "
            "constraint: Member must not be null"
        )
    require_shape(all(isinstance(e, dict) for e in elements), member)
    if multi and len(elements) > 2:
        return _multi_key_spec(elements, types, member)
    if len(elements) > 2:
        # AWS prints the list as its Java model's toString().
        shown = ", ".join(
            f"KeySchemaElement(attributeName={e.get('AttributeName')}, keyType={e.get('KeyType')})"
            for e in elements
        )
        raise ValidationException(
            f"1 validation error detected: Value '[{shown}]' at '{member}' failed to "
            "satisfy constraint: Member must have length less than or equal to 2"
        )
    names = [e.get("AttributeName") for e in elements]
    require_shape(all(isinstance(n, str) for n in names), member)
    kinds = [e.get("KeyType") for e in elements]
    for position, kind in enumerate(kinds, 1):
        if kind not in ("HASH", "RANGE"):
            raise ValidationException(
                f"1 validation error detected: Value '{kind}' at '{member}.{position}.member."
                "keyType' failed to satisfy constraint: Member must satisfy enum value set: "
                "[HASH, RANGE]"
            )
    if kinds[0] != "HASH":
        raise ValidationException("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
    if len(kinds) == 2 and kinds[1] != "RANGE":
        raise ValidationException("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
    if len(names) == 2 and names[0] == names[1]:
        raise ValidationException(
            "Invalid KeySchema: Some index key attribute have no definition"
        )
    missing = [n for n in names if n not in types]
    if missing:
        raise invalid_parameter(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: "
            f"[{', '.join(missing)}], AttributeDefinitions: [{', '.join(types)}]"
        )
    return KeySpec(
        (names[0], types[names[0]]),
        (names[1], types[names[1]]) if len(names) == 2 else None,
    )


def _multi_key_spec(elements: list[dict[str, Any]], types: dict[str, str],
                    member: str) -> KeySpec:
    """A global index's multi-attribute key: 1-4 HASH elements, then 0-4 RANGE ones."""
    kinds = [e.get("KeyType") for e in elements]
    names = [e.get("AttributeName") for e in elements]
    require_shape(all(isinstance(n, str) for n in names), member)
    for position, kind in enumerate(kinds, 1):
        if kind not in ("HASH", "RANGE"):
            raise ValidationException(
                f"1 validation error detected: Value '{kind}' at '{member}.{position}.member."
                "keyType' failed to satisfy constraint: Member must satisfy enum value set: "
                "[HASH, RANGE]"
            )
    hashes = kinds.count("HASH")
    if kinds != ["HASH"] * hashes + ["RANGE"] * (len(kinds) - hashes) or hashes == 0:
        raise ValidationException(
            "Invalid KeySchema: every HASH KeySchemaElement must come before the RANGE ones"
        )
    if hashes > 4 or len(kinds) - hashes > 4:
        raise invalid_parameter(
            "A global secondary index key has at most 4 partition key and 4 sort key "
            "attributes"
        )
    if len(set(names)) != len(names):
        raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
    missing = [n for n in names if n not in types]
    if missing:
        raise invalid_parameter(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: "
            f"[{', '.join(missing)}], AttributeDefinitions: [{', '.join(types)}]"
        )
    typed = [(n, types[n]) for n in names]
    first_range = typed[hashes] if len(typed) > hashes else None
    return KeySpec(typed[0], first_range, tuple(typed[1:hashes]), tuple(typed[hashes + 1:]))


def parse_index(spec: Any, types: dict[str, str], table_key: KeySpec, is_global: bool,
           where: str = "keySchema") -> IndexSchema:
    if not isinstance(spec, dict):
        raise ValidationException("Invalid index definition")
    name = check_table_name(spec.get("IndexName"), "indexName")
    key = _key_spec(spec.get("KeySchema"), types, where, multi=is_global)
    if not is_global:
        if table_key.range is None:
            raise invalid_parameter(
                "Table KeySchema does not have a range key, which is required when "
                "specifying a LocalSecondaryIndex"
            )
        if key.hash[0] != table_key.hash[0]:
            raise invalid_parameter(
                "Index KeySchema does not have the same leading hash key as table KeySchema "
                f"for index: {name}. index hash key: {key.hash[0]}, table hash key: "
                f"{table_key.hash[0]}"
            )
        if key.range is None:
            raise invalid_parameter(f"Index KeySchema does not have a range key for index: {name}")
    projection = spec.get("Projection")
    if not isinstance(projection, dict) or projection.get("ProjectionType") not in _PROJECTIONS:
        raise invalid_parameter(f"Unknown ProjectionType for index: {name}")
    non_key = tuple(projection.get("NonKeyAttributes") or ())
    if projection["ProjectionType"] == "INCLUDE" and not non_key:
        raise invalid_parameter(
            "ProjectionType is INCLUDE, but NonKeyAttributes is not specified"
        )
    if projection["ProjectionType"] != "INCLUDE" and non_key:
        raise invalid_parameter(
            f"ProjectionType is {projection['ProjectionType']}, but NonKeyAttributes is specified"
        )
    return IndexSchema(name, key, is_global, projection["ProjectionType"], non_key,
                       spec.get("ProvisionedThroughput"), spec.get("_slot", -1))


def refuse_streams(spec: Any) -> None:
    """Streams are not served: a request that turns one on is refused, clearly.

    Accepting ``StreamEnabled: true`` without a stream would let code wait forever for
    records that never come; a refusal says at once what is missing.
    """
    require_shape(isinstance(spec, dict), "StreamSpecification")
    if spec.get("StreamEnabled"):
        raise ValidationException(
            "lambdashift's DynamoDB does not serve streams (StreamSpecification with "
            "StreamEnabled: true); leave StreamSpecification out, or use --dynamodb moto "
            "or a DynamoDB endpoint of your own for code that reads a stream"
        )


def check_billing(billing: str, throughput: Any, indexes: list[IndexSchema]) -> None:
    if billing not in ("PROVISIONED", "PAY_PER_REQUEST"):
        raise ValidationException(
            f"1 validation error detected: Value '{billing}' at 'billingMode' failed to "
            "satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
        )
    if billing == "PAY_PER_REQUEST":
        if throughput:
            raise invalid_parameter(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
                "BillingMode is PAY_PER_REQUEST"
            )
        return
    if not throughput:
        raise invalid_parameter(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode "
            "is PROVISIONED"
        )
    for index in indexes:
        if index.is_global and not index.throughput:
            raise invalid_parameter(
                f"ProvisionedThroughput must be specified for index: {index.name}"
            )
