"""The team state store: one DynamoDB table shared by every CI runner and laptop.

Same contract as ``SqliteStateStore`` (``protocol.StateStore``), on a table keyed by a string
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

Items carry no TTL: a finished rollout's record is its history, kept until deleted. The
table is reached through ``aws.dynamodb_table.DynamoTable``, which turns botocore's errors
into ours; the locks, signals and rate ledger are in ``dynamodb_coordination``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from lambdashift.aws.dynamodb_table import DynamoTable, n, s
from lambdashift.core.state import RolloutState
from lambdashift.errors import ConditionFailedError, LambdashiftError
from lambdashift.store.dynamodb_coordination import Coordination, seq_key
from lambdashift.store.encoding import read_state, strict_json
from lambdashift.store.protocol import Event

#: The table's key schema, for CreateTable here and for the Terraform.
KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"},
              {"AttributeName": "sk", "KeyType": "RANGE"}]
ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"},
              {"AttributeName": "sk", "AttributeType": "S"}]
_ONE = "-"  # the sort key of items that are alone in their partition


class DynamoStateStore(Coordination):
    """``StateStore`` on a DynamoDB table (see the module docstring for its items).

    ``client`` is a boto3 DynamoDB client (AWS, or the local stack's endpoint). With
    ``create=True`` a missing table is created (the local stack; on AWS the Terraform owns it).
    """

    #: Read by every process with the table: CI runners, laptops, the controller.
    shared = True

    def __init__(self, client: Any, table: str, *, namespace: str,
                 clock: Callable[[], float] = time.time, create: bool = False) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"a namespace is a non-empty string, got {namespace!r}")
        self.client = client
        self.table = table
        self._table = DynamoTable(client, table, label="state table")
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
        if self._table.exists("opening the state table"):
            return
        if not create:
            raise LambdashiftError(
                f"state table {self.table} does not exist: create it with the Terraform in "
                "examples/notes/infra (state.tf), or use the sqlite store")
        self._table.create("creating the state table", KeySchema=KEY_SCHEMA,
                           AttributeDefinitions=ATTRIBUTES, BillingMode="PAY_PER_REQUEST")

    def _key(self, kind: str, name: str = "", sk: str = _ONE) -> dict[str, Any]:
        pk = f"{self.namespace}|{kind}" + (f"|{name}" if name else "")
        return {"pk": s(pk), "sk": s(sk)}

    def _next_seq(self) -> int:
        out = self._table.update(self._key("seq"), "numbering", UpdateExpression="ADD n :one",
                                 ExpressionAttributeValues={":one": n(1)},
                                 ReturnValues="UPDATED_NEW")
        return int(out["Attributes"]["n"]["N"])

    # -- rollout states ----------------------------------------------------------------------

    def save(self, state: RolloutState) -> None:
        """Insert or replace the rollout's latest state; durable in DynamoDB when it returns."""
        doc = strict_json(state.to_dict())
        rid, terminal = state.rollout_id, state.phase.is_terminal
        known = self._known.get(rid) or self._lookup(rid)
        now = self._clock()
        if known is None:
            seq = self._next_seq()
            rollout = {**self._key("r", rid), "function": s(state.function), "seq": n(seq),
                       "doc": s(doc), "terminal": {"BOOL": terminal}, "at": n(now)}
            writes: list[dict[str, Any]] = [
                {"Put": {"Item": rollout, "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Put": {"Item": {**self._key("h", state.function, seq_key(seq)),
                                  "rid": s(rid)}}},
            ]
            if not terminal:
                writes.append({"Put": {"Item": {
                    **self._key("a", sk=f"{state.function}|{seq_key(seq)}"), "rid": s(rid)}}})
            try:
                self._table.transact_write(writes, f"saving rollout {rid}")
            except ConditionFailedError:
                # Another process saved this rollout first (or a retry of ours landed).
                if self._lookup(rid) is None:
                    raise self._table.error(RuntimeError("the first save was refused"),
                                            "saving") from None
                return self.save(state)
            self._known[rid] = (state.function, seq, terminal)
            return
        function, seq, was_terminal = known
        if function != state.function:
            raise ValueError(f"rollout {rid} is of {function}, not {state.function}")
        update = {
            "UpdateExpression": "SET doc = :doc, terminal = :t, #at = :at",
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": {":doc": s(doc), ":t": {"BOOL": terminal},
                                          ":at": n(now)}}
        marker = self._key("a", sk=f"{function}|{seq_key(seq)}")
        doing = f"saving rollout {rid}"
        if terminal:
            self._table.transact_write([{"Update": {"Key": self._key("r", rid), **update}},
                                        {"Delete": {"Key": marker}}], doing)
        elif was_terminal:
            self._table.transact_write([{"Update": {"Key": self._key("r", rid), **update}},
                                        {"Put": {"Item": {**marker, "rid": s(rid)}}}], doing)
        else:
            self._table.update(self._key("r", rid), doing, **update)
        self._known[rid] = (function, seq, terminal)

    def _lookup(self, rid: str) -> tuple[str, int, bool] | None:
        item = self._table.get(self._key("r", rid), f"loading rollout {rid}")
        if item is None:
            return None
        known = (item["function"]["S"], int(float(item["seq"]["N"])), item["terminal"]["BOOL"])
        self._known[rid] = known
        return known

    def _state(self, item: Mapping[str, Any]) -> RolloutState:
        return read_state(item["doc"]["S"], f"state table {self.table}: a rollout")

    def _states(self, rids: list[str]) -> list[RolloutState]:
        """The rollouts ``rids`` in that order (BatchGetItem, consistent, all pages)."""
        keys = [self._key("r", rid) for rid in dict.fromkeys(rids)]
        found = {item["pk"]["S"].rsplit("|", 1)[1]: self._state(item)
                 for item in self._table.batch_get(keys, "reading rollouts")}
        return [found[rid] for rid in rids if rid in found]

    def load(self, rollout_id: str) -> RolloutState | None:
        """The latest saved state of a rollout, or None."""
        item = self._table.get(self._key("r", rollout_id), f"loading rollout {rollout_id}")
        return None if item is None else self._state(item)

    def _markers(self, function: str | None) -> list[tuple[int, str, str]]:
        """(seq, function, rollout id) of unfinished rollouts, newest first."""
        items = self._table.query(self._key("a")["pk"], "reading",
                                  prefix=f"{function}|" if function else "")
        markers = []
        for item in items:
            fn, _, seq = item["sk"]["S"].rpartition("|")
            markers.append((int(seq), fn, item["rid"]["S"]))
        return sorted(markers, reverse=True)

    def active(self, function: str | None = None) -> list[RolloutState]:
        """Non-terminal rollouts (of ``function``, or all), newest first."""
        states = self._states([rid for _, _, rid in self._markers(function)])
        return [st for st in states if not st.phase.is_terminal]

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
        items = self._table.query(self._key("h", function)["pk"], "reading", newest_first=True,
                                  limit=limit)
        return self._states([item["rid"]["S"] for item in items])

    # -- the step log ----------------------------------------------------------------------

    def record_event(self, rollout_id: str, function: str, kind: str,
                     details: Mapping[str, Any]) -> None:
        """Append to the rollout's step log; ``details`` must be strict JSON."""
        text = strict_json(details)
        now = self._clock()
        with self._lock:
            # Microseconds, never going backwards within this store: the log stays in order
            # even when two lines share a clock tick.
            self._last_event = max(self._last_event + 1, int(now * 1_000_000))
            sk = f"{self._last_event:020d}-{self._writer}"
        item = {**self._key("e", rollout_id, sk), "at": n(now), "kind": s(kind),
                "function": s(function), "details": s(text)}
        self._table.put(item, f"recording {kind} of rollout {rollout_id}")

    def events(self, rollout_id: str) -> list[Event]:
        """The rollout's step log, oldest first."""
        items = self._table.query(self._key("e", rollout_id)["pk"], "reading")
        return [Event(float(i["at"]["N"]), i["kind"]["S"], json.loads(i["details"]["S"]))
                for i in items]
