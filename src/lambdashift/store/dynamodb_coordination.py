"""The DynamoDB store's coordination items: locks with leases, signals, the rate ledger.

Split from ``dynamodb`` (which holds the rollout records and the step log) to keep
each module readable; ``DynamoStateStore`` inherits these methods. Each is one conditional
write, or a read and a conditional write, on a single item: see that module's docstring
for the items and why conditional writes make the locks safe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lambdashift.aws.dynamodb_table import DynamoTable, n, s
from lambdashift.errors import ConditionFailedError, LambdashiftError, LockedError
from lambdashift.store.encoding import check_lease_seconds, strict_json
from lambdashift.store.ledger import gcra
from lambdashift.store.locks import describe_holder, describe_lost
from lambdashift.store.protocol import Lease, Signal


def seq_key(value: int) -> str:
    """A number from the namespace's counter as a sort key: fixed width, so that sort keys
    compare as strings compare numbers."""
    return f"{value:016d}"


class Coordination:
    """Leases, signals and the rate ledger of ``DynamoStateStore`` (a mixin: it provides
    ``table``, ``_table``, ``_clock``, ``_key``, ``_markers`` and ``_next_seq``)."""

    table: str
    _table: DynamoTable

    # -- leases ----------------------------------------------------------------------------

    def _lease_item(self, function: str) -> Lease | None:
        item = self._table.get(self._key("l", function), f"reading the lock of {function}")
        if item is None:
            return None
        return Lease(function, item["owner"]["S"], float(item["acquired_at"]["N"]),
                     float(item["expires_at"]["N"]))

    def acquire(self, function: str, owner: str, lease_seconds: float = 60) -> Lease:
        """Take the function's lock, or raise ``LockedError`` saying who holds it."""
        check_lease_seconds(lease_seconds)
        held = self._lease_item(function)
        now = self._clock()
        if held is not None and now < held.expires_at:
            raise LockedError(describe_holder(held, now))
        lease = Lease(function, owner, now, now + lease_seconds, taken_over_from=held)
        if held is None:
            condition, values = "attribute_not_exists(pk)", {}
        else:  # only the very lease we saw expire may be replaced
            condition = "#o = :o AND acquired_at = :a"
            values = {":o": s(held.owner), ":a": n(held.acquired_at)}
        item = {**self._key("l", function), "owner": s(owner), "acquired_at": n(now),
                "expires_at": n(lease.expires_at)}
        expression: dict[str, Any] = {"ConditionExpression": condition}
        if values:
            expression.update(ExpressionAttributeNames={"#o": "owner"},
                              ExpressionAttributeValues=values)
        try:
            self._table.put(item, f"locking {function}", **expression)
        except ConditionFailedError:
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
        check_lease_seconds(lease_seconds)
        now = self._clock()
        try:
            self._table.update(
                self._key("l", lease.function), f"renewing the lock of {lease.function}",
                UpdateExpression="SET expires_at = :e",
                ConditionExpression="#o = :o AND acquired_at = :a",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":e": n(now + lease_seconds), ":o": s(lease.owner),
                                           ":a": n(lease.acquired_at)})
        except ConditionFailedError:
            raise LockedError(describe_lost(lease, self._lease_item(lease.function),
                                            self._clock())) from None
        return replace(lease, expires_at=now + lease_seconds)

    def release(self, lease: Lease) -> None:
        """Give the lock back if ``lease`` is still the one held; otherwise do nothing."""
        try:
            self._table.delete(
                self._key("l", lease.function), f"unlocking {lease.function}",
                ConditionExpression="#o = :o AND acquired_at = :a",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":o": s(lease.owner), ":a": n(lease.acquired_at)})
        except ConditionFailedError:
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
        text = strict_json(details or {})
        seq, now = self._next_seq(), self._clock()
        item = {**self._key("s", function, seq_key(seq)), "kind": s(kind), "details": s(text),
                "at": n(now)}
        self._table.put(item, f"signalling {kind} to {function}")
        return Signal(function, kind, json.loads(text), now)

    def take_signals(self, function: str) -> list[Signal]:
        """Consume the queued signals of ``function`` meant for its active rollout, in order."""
        markers = self._markers(function)
        queued = self._table.query(self._key("s", function)["pk"], "reading")
        taken = []
        for item in queued:
            # Delete-and-return: of two processes taking at once, each signal goes to one.
            try:
                old = self._table.delete(
                    {"pk": item["pk"], "sk": item["sk"]}, f"taking the signals of {function}",
                    ConditionExpression="attribute_exists(pk)", ReturnValues="ALL_OLD")
            except ConditionFailedError:
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
        seconds to wait (``ledger.gcra``). The ledger item is updated only if it still holds
        the value read (a compare-and-set), so racing runners each get a slot of their own."""
        ledger = self._key("rate", key)
        for _ in range(50):
            item = self._table.get(ledger, f"reserving a {key} call")
            old = None if item is None else float(item["tat"]["N"])
            now = self._clock()
            wait, tat = gcra(old, now, rate, burst)
            condition = ("attribute_not_exists(pk)" if old is None else "tat = :old")
            values = {":old": n(old)} if old is not None else {}
            try:
                self._table.put({**ledger, "tat": n(tat)}, f"reserving a {key} call",
                                ConditionExpression=condition,
                                **({"ExpressionAttributeValues": values} if values else {}))
            except ConditionFailedError:
                continue  # another runner reserved in between: read again
            return wait
        raise LambdashiftError(f"state table {self.table}: the {key} rate ledger stayed "
                               "contended for 50 tries")
