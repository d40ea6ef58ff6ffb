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
from dataclasses import replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambdashift.core.state import RolloutState
from lambdashift.errors import LambdashiftError, LockedError
from lambdashift.rollout.store import (
    Event,
    Lease,
    Signal,
    describe_holder,
    describe_lost,
    gcra,
)

#: The table's key schema, for CreateTable here and for the Terraform.
KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"},
              {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"},
              {"AttributeName": "sk", "AttributeType": "S"}]
_ONE = "-"  # the sort key of items that are alone in their partition
_BATCH = 100  # BatchGetItem's limit on keys per request


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(float(value)) if isinstance(value, float) else str(value)}


def _seq(value: int) -> str:
    return f"{value:016d}"  # fixed width: sort keys compare as strings


class DynamoStateStore:
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

    # -- leases ----------------------------------------------------------------------------

    def _lease_item(self, function: str) -> Lease | None:
        with self._call(f"reading the lock of {function}"):
            item = self.client.get_item(TableName=self.table, Key=self._key("l", function),
                                        ConsistentRead=True).get("Item")
        if item is None:
            return None
        return Lease(function, item["owner"]["S"], float(item["acquired_at"]["N"]),
                     float(item["expires_at"]["N"]))

    def acquire(self, function: str, owner: str, lease_seconds: float = 60) -> Lease:
        """Take the function's lock, or raise ``LockedError`` saying who holds it."""
        _check_lease_seconds(lease_seconds)
        held = self._lease_item(function)
        now = self._clock()
        if held is not None and now < held.expires_at:
            raise LockedError(describe_holder(held, now))
        lease = Lease(function, owner, now, now + lease_seconds, taken_over_from=held)
        if held is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:  # only the very lease we saw expire may be replaced
            condition = "#o = :o AND acquired_at = :a"
            values = {":o": _s(held.owner), ":a": _n(held.acquired_at)}
        item = {**self._key("l", function), "owner": _s(owner), "acquired_at": _n(now),
                "expires_at": _n(lease.expires_at)}
        expression: dict[str, Any] = {"ConditionExpression": condition}
        if values:
            expression.update(ExpressionAttributeNames={"#o": "owner"},
                              ExpressionAttributeValues=values)
        try:
            with self._call(f"locking {function}"):
                self.client.put_item(TableName=self.table, Item=item, **expression)
        except ClientError:
            current = self._lease_item(function)
            if current is not None and (current.owner, current.acquired_at) == (owner, now):
                return lease  # a retry of our own write found it in place
            if current is None:
                raise LockedError(f"{function}'s lock changed hands while taking it; "
                                  "try again") from None
            raise LockedError(describe_holder(current, self._clock())) from None
        return lease

    def renew(self, lease: Lease, lease_seconds: float = 60) -> Lease:
        """Extend ``lease`` from now; ``LockedError`` if it was released or taken over."""
        _check_lease_seconds(lease_seconds)
        now = self._clock()
        try:
            with self._call(f"renewing the lock of {lease.function}"):
                self.client.update_item(
                    TableName=self.table, Key=self._key("l", lease.function),
                    UpdateExpression="SET expires_at = :e",
                    ConditionExpression="#o = :o AND acquired_at = :a",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":e": _n(now + lease_seconds),
                                               ":o": _s(lease.owner),
                                               ":a": _n(lease.acquired_at)})
        except ClientError:
            raise LockedError(describe_lost(lease, self._lease_item(lease.function),
                                            self._clock())) from None
        return replace(lease, expires_at=now + lease_seconds)

    def release(self, lease: Lease) -> None:
        """Give the lock back if ``lease`` is still the one held; otherwise do nothing."""
        try:
            with self._call(f"unlocking {lease.function}"):
                self.client.delete_item(
                    TableName=self.table, Key=self._key("l", lease.function),
                    ConditionExpression="#o = :o AND acquired_at = :a",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":o": _s(lease.owner),
                                               ":a": _n(lease.acquired_at)})
        except ClientError:
            pass  # someone else's lease now, or none: nothing of ours to give back

    def holder(self, function: str) -> Lease | None:
        """The unexpired lease on ``function``, or None."""
        held = self._lease_item(function)
        return held if held is not None and self._clock() < held.expires_at else None

    # -- signals ---------------------------------------------------------------------------

    def send_signal(self, function: str, kind: str,
                    details: Mapping[str, Any] | None = None) -> Signal:
        """Queue ``kind`` for the rollout of ``function``; ``details`` must be strict JSON."""
        if not kind:
            raise ValueError("a signal needs a kind")
        text = _json(details or {})
        seq, now = self._next_seq(), self._clock()
        item = {**self._key("s", function, _seq(seq)), "kind": _s(kind), "details": _s(text),
                "at": _n(now)}
        with self._call(f"signalling {kind} to {function}"):
            self.client.put_item(TableName=self.table, Item=item)
        return Signal(function, kind, json.loads(text), now)

    def take_signals(self, function: str) -> list[Signal]:
        """Consume the queued signals of ``function`` meant for its active rollout, in order."""
        markers = self._markers(function)
        queued = self._query(self._key("s", function)["pk"])
        taken = []
        for item in queued:
            # Delete-and-return: of two processes taking at once, each signal goes to one.
            try:
                with self._call(f"taking the signals of {function}"):
                    old = self.client.delete_item(
                        TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]},
                        ConditionExpression="attribute_exists(pk)", ReturnValues="ALL_OLD")
            except ClientError:
                continue
            if old.get("Attributes"):
                taken.append(item)
        if not markers:
            return []  # no rollout is running: whatever was queued had no one to go to
        floor = markers[0][0]
        return [Signal(function, i["kind"]["S"], json.loads(i["details"]["S"]),
                       float(i["at"]["N"]))
                for i in taken if int(i["sk"]["S"]) > floor]


    # -- the rate ledger ---------------------------------------------------------------------

    def reserve_rate(self, key: str, rate: float, burst: int) -> float:
        """Reserve one call of the quota ``key`` shared by every runner on this table; the
        seconds to wait (``store.gcra``). The ledger item is updated only if it still holds
        the value read (a compare-and-set), so racing runners each get a slot of their own."""
        ledger = self._key("rate", key)
        for _ in range(50):
            with self._call(f"reserving a {key} call"):
                item = self.client.get_item(TableName=self.table, Key=ledger,
                                            ConsistentRead=True).get("Item")
            old = None if item is None else float(item["tat"]["N"])
            now = self._clock()
            wait, tat = gcra(old, now, rate, burst)
            condition = ("attribute_not_exists(pk)" if old is None else "tat = :old")
            values = {":old": _n(old)} if old is not None else {}
            try:
                with self._call(f"reserving a {key} call"):
                    self.client.put_item(TableName=self.table, Item={**ledger, "tat": _n(tat)},
                                         ConditionExpression=condition,
                                         **({"ExpressionAttributeValues": values} if values else {}))
            except ClientError:
                continue  # another runner reserved in between: read again
            return wait
        raise LambdashiftError(f"state table {self.table}: the {key} rate ledger stayed "
                               "contended for 50 tries")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _json(data: Mapping[str, Any]) -> str:
    """Strict JSON, as the SQLite store writes it (NaN and infinity refused)."""
    return json.dumps(dict(data), separators=(",", ":"), allow_nan=False)


def _check_lease_seconds(lease_seconds: float) -> None:
    if not lease_seconds > 0:
        raise ValueError(f"a lease lasts a positive number of seconds, got {lease_seconds!r}")
