"""The DynamoDB store's coordination items: locks with leases, signals, the rate ledger.

Split from ``dynamodb_store`` (which holds the rollout records and the step log) to keep
each module readable; ``DynamoStateStore`` inherits these methods. Each is one conditional
write, or a read and a conditional write, on a single item: see that module's docstring
for the items and why conditional writes make the locks safe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from lambdashift.errors import LambdashiftError, LockedError
from lambdashift.rollout.store import Lease, Signal, describe_holder, describe_lost, gcra


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": repr(float(value)) if isinstance(value, float) else str(value)}


def _seq(value: int) -> str:
    return f"{value:016d}"  # fixed width: sort keys compare as strings


class Coordination:
    """Leases, signals and the rate ledger of ``DynamoStateStore`` (a mixin: it provides
    ``client``, ``table``, ``_clock``, ``_key``, ``_call``, ``_query``, ``_markers``,
    ``_next_seq`` and ``_error``)."""

    client: Any
    table: str

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
