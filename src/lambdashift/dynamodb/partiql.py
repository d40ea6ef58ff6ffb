"""PartiQL: ExecuteStatement and BatchExecuteStatement, for the statements AWS documents.

Served (developer guide, "PartiQL select/insert/update/delete statements for DynamoDB"):

* ``SELECT * | path, ... FROM "table"[."index"] [WHERE condition]``: with an equality on
  the partition key (and optionally one condition on the sort key) among the WHERE's
  top-level ANDs it is a Query, otherwise a Scan, the rest of the WHERE a filter;
* ``INSERT INTO "table" VALUE {'attr': value, ...}``: refused with DuplicateItemException
  if the item exists;
* ``UPDATE "table" SET path = value [+|- value] ... REMOVE path ... WHERE key = ... [AND
  condition]``: the item must exist (ConditionalCheckFailedException otherwise);
* ``DELETE FROM "table" WHERE key = ... [AND condition]``.

Values are ``?`` (the next of ``Parameters``), ``'strings'``, numbers, ``TRUE``/``FALSE``,
``NULL``, ``[lists]``, ``{'maps': ...}`` and ``<<sets>>``. A statement is translated
into the equivalent Query/Scan/PutItem/UpdateItem/DeleteItem request (placeholders for
every name and value), so it gets the same validation, conditions and indexes. Not
served: ``RETURNING``, ``ORDER BY``, ``EXISTS``/``IS MISSING``, ExecuteTransaction.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from lambdashift.dynamodb import items, reads
from lambdashift.dynamodb.errors import (
    ConditionalCheckFailedException,
    DuplicateItemException,
    DynamoError,
    ValidationException,
)
from lambdashift.dynamodb.partiql_parse import Statement, key_parts, key_values, malformed
from lambdashift.dynamodb.requests import table as table_schema
from lambdashift.dynamodb.store import Store


# ---------------------------------------------------------------------------------------
# The statements


def _select(store: Store, st: Statement, request: dict[str, Any]) -> dict[str, Any]:
    projection: list[str] | None = None
    if not st.op("*"):
        projection = [st.path()[1]]
        while st.op(","):
            projection.append(st.path()[1])
    st.need_word("FROM")
    table, index_name = st.source()
    parts = st.condition() if st.word("WHERE") else []
    if st.word("ORDER", "RETURNING"):
        raise ValidationException("lambdashift's DynamoDB serves SELECT without ORDER BY")
    st.done()
    schema = table_schema(store, {"TableName": table})
    spec = schema.index(index_name).key if index_name else schema.key
    keys, rest = key_parts(parts, spec.hash[0], spec.range[0] if spec.range else None)
    out = st.request(table, *projection or [], *keys, *rest)
    if index_name:
        out["IndexName"] = index_name
    if projection:
        out["ProjectionExpression"] = ", ".join(projection)
    if keys:
        out["KeyConditionExpression"] = " AND ".join(keys)
    if rest:
        out["FilterExpression"] = " AND ".join(rest)
    for name in ("Limit", "ConsistentRead", "ReturnConsumedCapacity"):
        if request.get(name) is not None:
            out[name] = request[name]
    token = request.get("NextToken")
    if token is not None:
        try:
            out["ExclusiveStartKey"] = json.loads(base64.b64decode(token))
        except (ValueError, TypeError):
            raise ValidationException("Invalid NextToken") from None
    answer = (reads.query if keys else reads.scan)(store, out)
    page = json.loads(answer) if isinstance(answer, str) else answer
    result: dict[str, Any] = {"Items": page.get("Items", [])}
    if "LastEvaluatedKey" in page:
        result["NextToken"] = base64.b64encode(
            json.dumps(page["LastEvaluatedKey"]).encode()).decode()
    if "ConsumedCapacity" in page:
        result["ConsumedCapacity"] = page["ConsumedCapacity"]
    return result


def _insert(store: Store, st: Statement) -> dict[str, Any]:
    st.need_word("INTO")
    table = st.identifier()
    st.need_word("VALUE")
    item = st.literal()
    st.done()
    if "M" not in item:
        raise malformed("INSERT takes one item: VALUE {'attribute': value, ...}")
    schema = table_schema(store, {"TableName": table})
    try:
        items.put_item(store, {
            "TableName": table, "Item": item["M"],
            "ConditionExpression": "attribute_not_exists(#k)",
            "ExpressionAttributeNames": {"#k": schema.key.hash[0]}})
    except ConditionalCheckFailedException:
        raise DuplicateItemException("Duplicate primary key exists in table") from None
    return {}


def _keyed(store: Store, st: Statement, table: str) -> tuple[dict[str, Any], list[str]]:
    """The key an UPDATE/DELETE's WHERE names, and its other conditions."""
    st.need_word("WHERE")
    parts = st.condition()
    st.done()
    schema = table_schema(store, {"TableName": table})
    names = schema.key.names()
    key = key_values(parts, names)
    if key is None:
        raise ValidationException("Where clause does not contain a mandatory equality on all "
                                  "key attributes")
    rest = [text for text, simple in parts
            if not (simple and simple[1] == "=" and simple[0] in names)]
    return key, rest


def _update(store: Store, st: Statement) -> dict[str, Any]:
    table = st.identifier()
    sets: list[str] = []
    removes: list[str] = []
    while True:
        if st.word("SET"):
            while True:
                target = st.path()[1]
                st.need_op("=")
                value = st.operand()[0]
                sign = st.op("+", "-")
                if sign:
                    value += f" {sign} {st.operand()[0]}"
                sets.append(f"{target} = {value}")
                if not st.op(","):
                    break
        elif st.word("REMOVE"):
            removes.append(st.path()[1])
            while st.op(","):
                removes.append(st.path()[1])
        else:
            break
    if not sets and not removes:
        raise malformed("UPDATE needs SET or REMOVE")
    key, rest = _keyed(store, st, table)
    hash_name = st.name(next(iter(key)))
    update = " ".join(filter(None, [
        f"SET {', '.join(sets)}" if sets else "",
        f"REMOVE {', '.join(removes)}" if removes else ""]))
    condition = " AND ".join([f"attribute_exists({hash_name})", *rest])
    request = {**st.request(table, update, condition), "Key": key, "UpdateExpression": update,
               "ConditionExpression": condition}
    items.update_item(store, request)
    return {}


def _delete(store: Store, st: Statement) -> dict[str, Any]:
    st.need_word("FROM")
    table = st.identifier()
    key, rest = _keyed(store, st, table)
    request = {"TableName": table, "Key": key}
    if rest:
        request.update(st.request(table, *rest))
        request["ConditionExpression"] = " AND ".join(rest)
    items.delete_item(store, request)
    return {}


def _run(store: Store, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    st = Statement(request.get("Statement"), request.get("Parameters"))
    verb = st.word("SELECT", "INSERT", "UPDATE", "DELETE")
    if verb is None:
        raise malformed("A statement starts with SELECT, INSERT, UPDATE or DELETE")
    if verb == "SELECT":
        result = _select(store, st, request)
    else:
        result = {"INSERT": _insert, "UPDATE": _update, "DELETE": _delete}[verb](store, st)
    if st.used != len(st.params):
        raise ValidationException("Number of parameters in request and statement don't match.")
    return verb, result


def execute_statement(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """ExecuteStatement: one PartiQL statement. Writes answer ``{}``, reads their items."""
    _, result = _run(store, request)
    return result or {"Items": []}


def batch_execute_statement(store: Store, request: dict[str, Any]) -> dict[str, Any]:
    """BatchExecuteStatement: up to 25 statements, all reads or all writes, each answered
    on its own (an error is that statement's, the others still run)."""
    statements = request.get("Statements")
    if not isinstance(statements, list) or not 1 <= len(statements) <= 25:
        raise ValidationException(
            "1 validation error detected: Value at 'statements' failed to satisfy constraint: "
            "Member must have length less than or equal to 25, Member must have length "
            "greater than or equal to 1"
        )
    verbs = {str(s.get("Statement", "")).strip().split(" ", 1)[0].upper()
             for s in statements if isinstance(s, dict)}
    if "SELECT" in verbs and len(verbs) > 1:
        raise ValidationException("Statements in a batch must all be reads or all be writes")
    responses = []
    for entry in statements:
        body = dict(entry) if isinstance(entry, dict) else {}
        table = _table_of(body.get("Statement"))
        response: dict[str, Any] = {"TableName": table} if table else {}
        try:
            if verbs == {"SELECT"}:
                st = Statement(body.get("Statement"), body.get("Parameters"))
                st.need_word("SELECT")
                _require_full_key(store, st, body)
            verb, result = _run(store, {**body, "Limit": None})
            if verb == "SELECT" and result["Items"]:
                response["Item"] = result["Items"][0]
        except DynamoError as exc:
            code = _BATCH_CODES.get(exc.error_type, "ValidationError")
            response = {"Error": {"Code": code, "Message": exc.message}}
        responses.append(response)
    return {"Responses": responses}


_BATCH_CODES = {
    "ConditionalCheckFailedException": "ConditionalCheckFailed",
    "DuplicateItemException": "DuplicateItem",
    "ResourceNotFoundException": "ResourceNotFound",
    "ValidationException": "ValidationError",
}


def _table_of(statement: Any) -> str | None:
    """The table a statement names (for its batch response), best effort."""
    if not isinstance(statement, str):
        return None
    match = re.search(r"(?i)\b(?:FROM|INTO|UPDATE)\s+(\"(?:[^\"]|\"\")*\"|[A-Za-z0-9_.-]+)",
                      statement)
    return match.group(1).strip('"') if match else None


def _require_full_key(store: Store, st: Statement, body: dict[str, Any]) -> None:
    """A SELECT in a batch reads one item: its WHERE gives the whole primary key."""
    if not st.op("*"):
        st.path()
        while st.op(","):
            st.path()
    st.need_word("FROM")
    table, _ = st.source()
    parts = st.condition() if st.word("WHERE") else []
    schema = table_schema(store, {"TableName": table})
    if key_values(parts, schema.key.names()) is None:
        raise ValidationException("Select statements within BatchExecuteStatement must "
                                  "specify the primary key in the where clause.")
