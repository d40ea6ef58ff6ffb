"""The team state store: one DynamoDB table shared by every CI runner and laptop.

Same contract as ``SqliteStateStore`` (``store.StateStore``), on a table keyed by a string
partition key ``pk`` and a string sort key ``sk`` (Terraform: examples/notes/infra/state.tf).
Every read is strongly consistent and everything that must be atomic is one conditional
write, so two processes can never both believe they hold a lock:

============================  =====================================  ==========================
item                          pk | sk                                 written by
============================  =====================================  ==========================
a rollout's latest state      ``NS|r|ID`` | ``-``                     ``save`` (one per rollout)
its place in a history        ``NS|h|FN`` | ``SEQ``                   the first ``save``
an unfinished rollout         ``NS|a`` | ``FN|SEQ``                   ``save``, deleted when it ends
a step-log line               ``NS|e|ID`` | ``TIME-WRITER``           ``record_event``
a lock (one per function)     ``NS|l|FN`` | ``-``                     ``acquire``/``renew``
a quota's rate ledger         ``NS|rate|KEY`` | ``-``                 ``reserve_rate``
a queued signal               ``NS|s|FN`` | ``SEQ``                   ``send_signal``
the namespace's counter       ``NS|seq`` | ``-``                      the first ``save``, signals
============================  =====================================  ==========================

``SEQ`` comes from one atomic counter per namespace (UpdateItem ADD), so "newest first" and
"signals sent before the rollout started" compare numbers that every process draws from the
same place, as SQLite's AUTOINCREMENT does. A lock is taken with a PutItem conditional on the
lock item being exactly as read (absent, or the expired lease), so of two racing takers one
wins and the other is told who holds it. Lease times come from this process's clock
(``clock``): DynamoDB has none to offer, so runners sharing a table need clocks in sync to
well within a lease (NTP does it; leases last minutes).

Items carry no TTL: a finished rollout's record is its history, kept until deleted.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.core.state import RolloutState
from lambdashift.errors import LambdashiftError
from lambdashift.rollout.dynamodb_coordination import (
    Coordination,
    _code,
    _json,
    _n,
    _s,
    _seq,
)
from lambdashift.rollout.store import Event

#: The table's key schema, for CreateTable here and for the Terraform.
KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"},
              {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"},
              {"AttributeName": "sk", "AttributeType": "S"}]
_ONE = "-"  # the sort key of items that are alone in their partition
_BATCH = 100  # BatchGetItem's limit on keys per request


class DynamoStateStore(Coordination):
    """``StateStore`` on a DynamoDB table (see the module docstring for its items).

    ``client`` is a boto3 DynamoDB client (AWS, or the local stack's endpoint). With
    ``create=True`` a missing table is created (the local stack; on AWS the Terraform owns it).
    """

    def __init__(self, client: Any, table: str, *, namespace: str,
                 clock: Callable[[], float] = time.time, create: bool = False) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"a namespace is a non-empty string, got {namespace!r}")
        self.client = client
        self.table = table
        self.namespace = namespace
        self._clock = clock
        self._lock = threading.Lock()
        self._writer = uuid.uuid4().hex[:8]  # tells this store's log lines from another's
        self._last_event = 0
        #: rollout id → (function, seq, terminal): the first two never change once written.
        self._known: dict[str, tuple[str, int, bool]] = {}
        self._check_table(create)

    def __repr__(self) -> str:
        return f"DynamoStateStore({self.table!r}, namespace={self.namespace!r})"

    def __enter__(self) -> DynamoStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release but the client's connections; idempotent."""
        self._known.clear()

    # -- the table -------------------------------------------------------------------------

    def _check_table(self, create: bool) -> None:
        try:
            self.client.describe_table(TableName=self.table)
            return
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise self._error(exc, "opening the state table") from exc
        except BotoCoreError as exc:
            raise self._error(exc, "opening the state table") from exc
        if not create:
            raise LambdashiftError(
                f"state table {self.table} does not exist: create it with the Terraform in "
                "examples/notes/infra (state.tf), or use the sqlite store")
        with self._call("creating the state table"):
            try:
                self.client.create_table(TableName=self.table, KeySchema=KEY_SCHEMA,
                                         AttributeDefinitions=ATTRIBUTES,
                                         BillingMode="PAY_PER_REQUEST")
            except ClientError as exc:
                if _code(exc) != "ResourceInUseException":  # another process created it first
                    raise

    def _key(self, kind: str, name: str = "", sk: str = _ONE) -> dict[str, Any]:
        pk = f"{self.namespace}|{kind}" + (f"|{name}" if name else "")
        return {"pk": _s(pk), "sk": _s(sk)}

    def _error(self, exc: Exception, doing: str) -> LambdashiftError:
        if isinstance(exc, ClientError):
            message = exc.response.get("Error", {}).get("Message", "") or _code(exc)
            return LambdashiftError(f"state table {self.table}: {_code(exc)}: {message} "
                                    f"(while {doing})")
        return LambdashiftError(f"state table {self.table} cannot be reached ({exc}) "
                                f"while {doing}")

    @contextmanager
    def _call(self, doing: str) -> Iterator[None]:
        """DynamoDB's errors as ``LambdashiftError`` naming the table; conditions pass."""
        try:
            yield
        except ClientError as exc:
            if _code(exc) in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            raise self._error(exc, doing) from exc
        except BotoCoreError as exc:
            raise self._error(exc, doing) from exc

    def _next_seq(self) -> int:
        with self._call("numbering"):
            out = self.client.update_item(
                TableName=self.table, Key=self._key("seq"), UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": _n(1)}, ReturnValues="UPDATED_NEW")
        return int(out["Attributes"]["n"]["N"])

    def _query(self, pk: dict[str, str], *, prefix: str = "", newest_first: bool = False,
               limit: int | None = None) -> list[dict[str, Any]]:
        """Every item of one partition (with a sort-key prefix), all pages, consistent."""
        request: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "ScanIndexForward": not newest_first,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :p)" if prefix else ""),
            "ExpressionAttributeValues": {":pk": pk, **({":p": _s(prefix)} if prefix else {})},
        }
        items: list[dict[str, Any]] = []
        while True:
            if limit is not None:
                request["Limit"] = limit - len(items)
            with self._call("reading"):
                page = self.client.query(**request)
            items.extend(page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start or (limit is not None and len(items) >= limit):
                return items
            request["ExclusiveStartKey"] = start

    # -- rollout states ----------------------------------------------------------------------

    def save(self, state: RolloutState) -> None:
        """Insert or replace the rollout's latest state; durable in DynamoDB when it returns."""
        doc = _json(state.to_dict())
        rid, terminal = state.rollout_id, state.phase.is_terminal
        known = self._known.get(rid) or self._lookup(rid)
        now = self._clock()
        if known is None:
            seq = self._next_seq()
            rollout = {**self._key("r", rid), "function": _s(state.function), "seq": _n(seq),
                       "doc": _s(doc), "terminal": {"BOOL": terminal}, "at": _n(now)}
            writes: list[dict[str, Any]] = [
                {"Put": {"TableName": self.table, "Item": rollout,
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"TableName": self.table,
                         "Item": {**self._key("h", state.function, _seq(seq)), "rid": _s(rid)}}},
            ]
            if not terminal:
                writes.append({"Put": {"TableName": self.table, "Item": {
                    **self._key("a", sk=f"{state.function}|{_seq(seq)}"), "rid": _s(rid)}}})
            try:
                with self._call(f"saving rollout {rid}"):
                    self.client.transact_write_items(TransactItems=writes)
            except ClientError:
                # Another process saved this rollout first (or a retry of ours landed).
                if self._lookup(rid) is None:
                    raise self._error(RuntimeError("the first save was refused"), "saving") from None
                return self.save(state)
            self._known[rid] = (state.function, seq, terminal)
            return
        function, seq, was_terminal = known
        if function != state.function:
            raise ValueError(f"rollout {rid} is of {function}, not {state.function}")
        update = {"Update": {
            "TableName": self.table, "Key": self._key("r", rid),
            "UpdateExpression": "SET doc = :doc, terminal = :t, #at = :at",
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": {":doc": _s(doc), ":t": {"BOOL": terminal},
                                          ":at": _n(now)}}}
        marker = self._key("a", sk=f"{function}|{_seq(seq)}")
        writes = [update]
        if terminal:
            writes.append({"Delete": {"TableName": self.table, "Key": marker}})
        elif was_terminal:
            writes.append({"Put": {"TableName": self.table, "Item": {**marker, "rid": _s(rid)}}})
        with self._call(f"saving rollout {rid}"):
            if len(writes) == 1:
                self.client.update_item(**update["Update"])
            else:
                self.client.transact_write_items(TransactItems=writes)
        self._known[rid] = (function, seq, terminal)

    def _lookup(self, rid: str) -> tuple[str, int, bool] | None:
        with self._call(f"loading rollout {rid}"):
            item = self.client.get_item(TableName=self.table, Key=self._key("r", rid),
                                        ConsistentRead=True).get("Item")
        if item is None:
            return None
        known = (item["function"]["S"], int(float(item["seq"]["N"])), item["terminal"]["BOOL"])
        self._known[rid] = known
        return known

    def _state(self, item: Mapping[str, Any]) -> RolloutState:
        try:
            return RolloutState.from_dict(json.loads(item["doc"]["S"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise LambdashiftError(
                f"state table {self.table}: a rollout cannot be read ({exc}); it was saved "
                "by another lambdashift version") from exc

    def _states(self, rids: list[str]) -> list[RolloutState]:
        """The rollouts ``rids`` in that order (BatchGetItem, consistent, all pages)."""
        found: dict[str, RolloutState] = {}
        for start in range(0, len(rids), _BATCH):
            keys = [self._key("r", rid) for rid in dict.fromkeys(rids[start:start + _BATCH])]
            request = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                with self._call("reading rollouts"):
                    out = self.client.batch_get_item(RequestItems=request)
                for item in out.get("Responses", {}).get(self.table, []):
                    found[item["pk"]["S"].rsplit("|", 1)[1]] = self._state(item)
                request = out.get("UnprocessedKeys") or {}
        return [found[rid] for rid in rids if rid in found]

    def load(self, rollout_id: str) -> RolloutState | None:
        """The latest saved state of a rollout, or None."""
        with self._call(f"loading rollout {rollout_id}"):
            item = self.client.get_item(TableName=self.table, Key=self._key("r", rollout_id),
                                        ConsistentRead=True).get("Item")
        return None if item is None else self._state(item)

    def _markers(self, function: str | None) -> list[tuple[int, str, str]]:
        """(seq, function, rollout id) of unfinished rollouts, newest first."""
        items = self._query(self._key("a")["pk"], prefix=f"{function}|" if function else "")
        markers = []
        for item in items:
            fn, _, seq = item["sk"]["S"].rpartition("|")
            markers.append((int(seq), fn, item["rid"]["S"]))
        return sorted(markers, reverse=True)

    def active(self, function: str | None = None) -> list[RolloutState]:
        """Non-terminal rollouts (of ``function``, or all), newest first."""
        states = self._states([rid for _, _, rid in self._markers(function)])
        return [s for s in states if not s.phase.is_terminal]

    def latest(self, function: str) -> RolloutState | None:
        """The most recently started rollout of ``function``, any phase."""
        states = self.history(function, limit=1)
        return states[0] if states else None

    def history(self, function: str, limit: int = 20) -> list[RolloutState]:
        """Up to ``limit`` rollouts of ``function``, newest first."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if limit == 0:
            return []
        items = self._query(self._key("h", function)["pk"], newest_first=True, limit=limit)
        return self._states([item["rid"]["S"] for item in items])

    # -- the step log ----------------------------------------------------------------------

    def record_event(self, rollout_id: str, function: str, kind: str,
                     details: Mapping[str, Any]) -> None:
        """Append to the rollout's step log; ``details`` must be strict JSON."""
        text = _json(details)
        now = self._clock()
        with self._lock:
            # Microseconds, never going backwards within this store: the log stays in order
            # even when two lines share a clock tick.
            self._last_event = max(self._last_event + 1, int(now * 1_000_000))
            sk = f"{self._last_event:020d}-{self._writer}"
        item = {**self._key("e", rollout_id, sk), "at": _n(now), "kind": _s(kind),
                "function": _s(function), "details": _s(text)}
        with self._call(f"recording {kind} of rollout {rollout_id}"):
            self.client.put_item(TableName=self.table, Item=item)

    def events(self, rollout_id: str) -> list[Event]:
        """The rollout's step log, oldest first."""
        items = self._query(self._key("e", rollout_id)["pk"])
        return [Event(float(i["at"]["N"]), i["kind"]["S"], json.loads(i["details"]["S"]))
                for i in items]
