"""One DynamoDB table through boto3's low-level client, its errors translated once.

The state store's DynamoDB backend talks to its table only through :class:`DynamoTable`:
every call names what it was doing, and botocore's errors come back as ours:

* a refused condition (``ConditionalCheckFailedException``, ``TransactionCanceledException``)
  is :class:`~lambdashift.errors.ConditionFailedError`, which callers catch: it is how two
  processes learn which of them won a race;
* any other error is a ``LambdashiftError`` naming the table and what was being done, the
  one line the CLI prints.

Attribute values are DynamoDB's own JSON (``{"S": ...}``, ``{"N": ...}``): :func:`s` and
:func:`n` write them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.errors import ConditionFailedError, LambdashiftError

__all__ = ["BATCH_GET_LIMIT", "DynamoTable", "n", "s"]

#: BatchGetItem's limit on keys per request.
BATCH_GET_LIMIT = 100
_CONDITIONS = ("ConditionalCheckFailedException", "TransactionCanceledException")


def s(value: str) -> dict[str, str]:
    """A string attribute value."""
    return {"S": value}


def n(value: float | int) -> dict[str, str]:
    """A number attribute value; a float keeps every digit (``repr``)."""
    return {"N": repr(float(value)) if isinstance(value, float) else str(value)}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class DynamoTable:
    """The table ``name`` on ``client`` (a boto3 DynamoDB client: AWS or the local stack).

    ``label`` starts every error message (``state table lambdashift-state: ...``).
    """

    def __init__(self, client: Any, name: str, *, label: str = "table") -> None:
        self.client = client
        self.name = name
        self.label = label

    def error(self, exc: Exception, doing: str) -> LambdashiftError:
        """``exc`` (an AWS error or a failure to reach the table) as the line a user reads."""
        if isinstance(exc, ClientError):
            message = exc.response.get("Error", {}).get("Message", "") or _code(exc)
            return LambdashiftError(f"{self.label} {self.name}: {_code(exc)}: {message} "
                                    f"(while {doing})")
        return LambdashiftError(f"{self.label} {self.name} cannot be reached ({exc}) "
                                f"while {doing}")

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            if _code(exc) in _CONDITIONS:
                raise ConditionFailedError(
                    f"{self.label} {self.name}: {_code(exc)} (while {doing})",
                    code=_code(exc), operation=doing) from exc
            raise self.error(exc, doing) from exc
        except BotoCoreError as exc:
            raise self.error(exc, doing) from exc

    # -- the table itself --------------------------------------------------------------------

    def exists(self, doing: str) -> bool:
        """Whether the table exists (DescribeTable)."""
        try:
            self.client.describe_table(TableName=self.name)
            return True
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise self.error(exc, doing) from exc
        except BotoCoreError as exc:
            raise self.error(exc, doing) from exc
        return False

    def create(self, doing: str, **params: Any) -> None:
        """CreateTable with ``params``; a table another process created first is fine."""
        with self._translated(doing):
            try:
                self.client.create_table(TableName=self.name, **params)
            except ClientError as exc:
                if _code(exc) != "ResourceInUseException":  # another process created it first
                    raise

    # -- items -------------------------------------------------------------------------------

    def get(self, key: dict[str, Any], doing: str) -> dict[str, Any] | None:
        """The item at ``key`` (a strongly consistent read), or None."""
        with self._translated(doing):
            return self.client.get_item(TableName=self.name, Key=key,
                                        ConsistentRead=True).get("Item")

    def put(self, item: dict[str, Any], doing: str, **params: Any) -> None:
        """PutItem; ``params`` add a condition (``ConditionFailedError`` when it fails)."""
        with self._translated(doing):
            self.client.put_item(TableName=self.name, Item=item, **params)

    def update(self, key: dict[str, Any], doing: str, **params: Any) -> dict[str, Any]:
        """UpdateItem; its answer (``Attributes`` when ``ReturnValues`` asks for them)."""
        with self._translated(doing):
            return self.client.update_item(TableName=self.name, Key=key, **params)

    def delete(self, key: dict[str, Any], doing: str, **params: Any) -> dict[str, Any]:
        """DeleteItem; its answer (``Attributes`` when ``ReturnValues`` asks for them)."""
        with self._translated(doing):
            return self.client.delete_item(TableName=self.name, Key=key, **params)

    def transact_write(self, writes: list[dict[str, Any]], doing: str) -> None:
        """TransactWriteItems: all of ``writes`` or none (``TableName`` filled in for each)."""
        items = [{kind: {"TableName": self.name, **body} for kind, body in write.items()}
                 for write in writes]
        with self._translated(doing):
            self.client.transact_write_items(TransactItems=items)

    def query(self, pk: dict[str, str], doing: str, *, prefix: str = "",
              newest_first: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Every item of one partition (with a sort-key prefix), all pages, consistent.

        The key attributes are ``pk`` and ``sk``; ``newest_first`` reads the sort key backwards.
        """
        request: dict[str, Any] = {
            "TableName": self.name, "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :p)" if prefix else ""),
            "ExpressionAttributeValues": {":pk": pk, **({":p": s(prefix)} if prefix else {})},
        }
        items: list[dict[str, Any]] = []
        while True:
            if limit is not None:
                request["Limit"] = limit - len(items)
            with self._translated(doing):
                page = self.client.query(**request)
            items.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start or (limit is not None and len(items) >= limit):
                return items
            request["ExclusiveStartKey"] = start

    def batch_get(self, keys: list[dict[str, Any]], doing: str) -> list[dict[str, Any]]:
        """The items at ``keys`` that exist, in no particular order (consistent, all pages)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            request = {self.name: {"Keys": keys[start:start + BATCH_GET_LIMIT],
                                   "ConsistentRead": True}}
            while request:
                with self._translated(doing):
                    out = self.client.batch_get_item(RequestItems=request)
                found.extend(out.get("Responses", {}).get(self.name, []))
                request = out.get("UnprocessedKeys") or {}
        return found
