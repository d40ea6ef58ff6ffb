"""DynamoDB's expression language: the tree the parser builds, and the placeholders.

``parser.py`` turns the five kinds of expression (condition, filter, key condition,
update, projection) into these nodes; ``evaluate.py`` runs them against items.
``#name`` and ``:value`` placeholders are resolved while parsing, so a tree holds real
attribute names and AttributeValues and is evaluated without the request;
:class:`Placeholders` records which were used, for AWS's "unused" check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from lambdashift.dynamodb.errors import DETECTED, ValidationException, require_shape
from lambdashift.dynamodb.types import check_value

# ---------------------------------------------------------------------------------------
# The tree


@dataclass(frozen=True)
class Path:
    """A document path: attribute names (str) and list indexes (int)."""

    parts: tuple[str | int, ...]

    def __str__(self) -> str:
        # AWS's way in its messages: ``[a, [3], b]`` for ``a[3].b``.
        return "[" + ", ".join(f"[{p}]" if isinstance(p, int) else p for p in self.parts) + "]"


@dataclass(frozen=True)
class Literal:
    """An ``:value`` placeholder, resolved."""

    value: dict[str, Any]


@dataclass(frozen=True)
class Call:
    """A function: ``size``, ``attribute_exists``..., ``if_not_exists``, ``list_append``."""

    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Arith:
    """``a + b`` or ``a - b`` in a SET action."""

    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Compare:
    """``= <> < <= > >=``."""

    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Between:
    """``operand BETWEEN low AND high``."""

    operand: Any
    low: Any
    high: Any


@dataclass(frozen=True)
class In:
    """``operand IN (a, b, ...)``."""

    operand: Any
    options: tuple[Any, ...]


@dataclass(frozen=True)
class Logic:
    """``AND`` / ``OR`` of two conditions, or ``NOT`` of one (``right`` is None)."""

    op: str
    left: Any
    right: Any = None


Operand = Union[Path, Literal, Call, Arith]


@dataclass
class Update:
    """An UpdateExpression: its four clauses, in the order written."""

    set: list[tuple[Path, Any]] = field(default_factory=list)
    remove: list[Path] = field(default_factory=list)
    add: list[tuple[Path, Literal]] = field(default_factory=list)
    delete: list[tuple[Path, Literal]] = field(default_factory=list)

    def paths(self) -> list[Path]:
        """Every path the update writes."""
        return [
            *(p for p, _ in self.set),
            *self.remove,
            *(p for p, _ in self.add),
            *(p for p, _ in self.delete),
        ]


CONDITION_FUNCTIONS = {
    "attribute_exists": 1,
    "attribute_not_exists": 1,
    "attribute_type": 2,
    "begins_with": 2,
    "contains": 2,
}
UPDATE_FUNCTIONS = {"if_not_exists": 2, "list_append": 2}
# A part of DynamoDB's ~570 reserved words: those attribute names most often collide
# with. An expression using a rarer one works here and fails on AWS (a known gap).
RESERVED = frozenset(
    """ACTION ADD ALL AND ANY AS ASC ATTRIBUTE BATCH BETWEEN BINARY BOOLEAN BY CAPACITY CASE
    CAST CHAR COLLECTION COLUMN COMMENT CONDITION CONNECTION COUNT COUNTER CREATE CURRENT
    DATA DATABASE DATE DATETIME DAY DECIMAL DEFAULT DELETE DESC DESCRIBE DOMAIN DOUBLE DROP
    DURATION ELEMENT ELSE EMPTY END ERROR EXISTS EXPRESSION FALSE FILE FILTER FIRST FOR
    FORMAT FROM FUNCTION GROUP HASH HOUR IF IN INDEX INSERT INTO IS JOIN KEY LEVEL LIKE LIMIT
    LIST LOCATION MAP MINUTE MONTH NAME NOT NULL NUMBER OR ORDER OWNER PATH PRIMARY RANGE
    REMOVE RETURN ROLE ROW ROWS SCHEMA SECOND SELECT SESSION SET SIZE SOURCE STATE STATUS
    STRING TABLE TIME TIMESTAMP TO TOTAL TRANSACTION TRUE TYPE UNION UNIQUE UPDATE USER USERS
    USING VALUE VALUES VIEW WHEN WHERE WITH YEAR ZONE""".split()
)

# ---------------------------------------------------------------------------------------
# Placeholders


class Placeholders:
    """ExpressionAttributeNames/Values of one request, and which of them were used."""

    def __init__(self, names: Any, values: Any, *, transaction: bool = False) -> None:
        """Check the maps; ``transaction``: AWS words the empty-map errors without its
        ``1 validation error detected`` prefix inside TransactWriteItems/TransactGetItems."""
        if names is not None and not isinstance(names, dict):
            raise ValidationException("ExpressionAttributeNames must be a map")
        if values is not None and not isinstance(values, dict):
            raise ValidationException("ExpressionAttributeValues must be a map")
        prefix = "" if transaction else DETECTED
        if names == {}:
            raise ValidationException(f"{prefix}ExpressionAttributeNames must not be empty")
        if values == {}:
            raise ValidationException(f"{prefix}ExpressionAttributeValues must not be empty")
        self.names: dict[str, str] = names or {}
        self.values: dict[str, Any] = {}
        for key, value in (values or {}).items():
            if not key.startswith(":"):
                raise ValidationException(
                    "ExpressionAttributeValues contains invalid key: Syntax error; key: "
                    f'"{key}"'
                )
            try:
                self.values[key] = check_value(value)
            except ValidationException as exc:
                if exc.message.startswith(DETECTED):  # an empty set: AWS's model says it as is
                    raise
                raise ValidationException(
                    f"ExpressionAttributeValues contains invalid value: {exc.message} "
                    f"for key {key}"
                ) from None
        for key, value in self.names.items():
            require_shape(isinstance(value, str), "ExpressionAttributeNames")
            if not key.startswith("#"):
                raise ValidationException(
                    "ExpressionAttributeNames contains invalid key: Syntax error; key: "
                    f'"{key}"'
                )
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def check_all_used(self, prefixed: bool = False) -> None:
        """AWS refuses a placeholder that no expression of the request uses.

        ``prefixed``: PutItem, UpdateItem and DeleteItem word it with AWS's ``1 validation
        error detected: `` prefix; reads, batches and transactions do not.
        """
        prefix = DETECTED if prefixed else ""
        unused = sorted(set(self.names) - self.used_names)
        if unused:
            raise ValidationException(
                f"{prefix}Value provided in ExpressionAttributeNames unused in expressions: "
                f"keys: {{{', '.join(unused)}}}"
            )
        unused = sorted(set(self.values) - self.used_values)
        if unused:
            raise ValidationException(
                f"{prefix}Value provided in ExpressionAttributeValues unused in expressions: "
                f"keys: {{{', '.join(unused)}}}"
            )
