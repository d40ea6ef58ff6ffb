"""Tables, items and indexes in SQLite, each with a real B-tree key.

Layout (one SQLite database per endpoint, ``<data dir>/dynamodb.sqlite3``):

* ``tables``: one row per DynamoDB table, its definition as JSON;
* ``t<N>`` per DynamoDB table: ``(ph, pk, sk, size, item)``, primary key ``(ph, pk, sk)``,
  where ``pk``/``sk`` are the key attributes encoded so that ``memcmp`` order is
  DynamoDB's order (``types.encode_key``; ``sk`` is empty without a sort key) and ``ph``
  is a hash of ``pk``: a Scan walks the table in hash order, as DynamoDB does, and a
  parallel Scan's segment is a range of ``ph``. ``item`` is the item's wire JSON;
* ``t<N>_<index>`` per secondary index: ``(ph, pk, sk, tpk, tsk, tph)``, primary key
  ``(ph, pk, sk, tpk, tsk)``, pointing at the table's row. Only items that have every key
  attribute of the index get a row, so indexes are sparse like DynamoDB's.

A Query is then one range of a primary key, read in order and stopped by ``LIMIT`` or
the caller: its cost follows the page, not the table. Every operation that writes runs
in one SQLite transaction (WAL journal), so a crash (``kill -9``) leaves each DynamoDB
write either entirely done, indexes included, or not at all.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lambdashift.dynamodb.definitions import schema_from_json
from lambdashift.dynamodb.keys import RowKey, key_of
from lambdashift.dynamodb.schema import IndexSchema, TableSchema
from lambdashift.dynamodb.types import prefix_end, scan_hash

#: The version of the on-disk layout (SQLite's ``user_version``); see ``Store._rehash``.
_LAYOUT = 1
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads


class Store:
    """The SQLite database behind one DynamoDB endpoint."""

    def __init__(self, data_dir: Path | None) -> None:
        """Open (or create) the database in ``data_dir``; None keeps it in memory."""
        if data_dir is None:
            target = ":memory:"
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            target = str(data_dir / "dynamodb.sqlite3")
        # One connection, used by the server's event-loop thread only: SQLite calls are
        # short (tens of microseconds) and a thread hop would cost more than they do.
        self.db = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives the process being killed; only an OS crash can lose
        # the last transactions, never corrupt the file.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-65536")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS tables (name TEXT PRIMARY KEY, number INTEGER "
            "NOT NULL UNIQUE, definition TEXT NOT NULL)"
        )
        self._depth = 0
        self._schemas: dict[str, tuple[int, TableSchema]] = {}
        for name, number, definition in self.db.execute("SELECT * FROM tables"):
            self._schemas[name] = (number, schema_from_json(json.loads(definition)))
        if self.db.execute("PRAGMA user_version").fetchone()[0] < _LAYOUT:
            self._rehash()

    def _rehash(self) -> None:
        """Layout 0 placed partitions by a CRC-32; layout 1 by DynamoDB's own scan order
        (``types.scan_hash``). Re-place every row of a database written before, once."""
        self.db.create_function("scan_hash", 2, scan_hash, deterministic=True)
        with self.transaction():
            for number, schema in self._schemas.values():
                kind = schema.key.hash[1]
                self.db.execute(f"UPDATE t{number} SET ph = scan_hash(pk, ?)", (kind,))
                for index in schema.indexes:
                    self.db.execute(
                        f"UPDATE t{number}_{index.slot} SET ph = scan_hash(pk, ?), "
                        "tph = scan_hash(tpk, ?)", (index.key.hash_kind, kind),
                    )
            self.db.execute(f"PRAGMA user_version = {_LAYOUT}")

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL into the main file)."""
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside are committed together or not at all (nests)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self._depth = 0

    # -- tables --------------------------------------------------------------------
    def schema(self, name: str) -> TableSchema | None:
        """The table's definition, or None if there is no such table."""
        found = self._schemas.get(name)
        return found[1] if found else None

    def table_names(self) -> list[str]:
        """Every table's name, sorted as ListTables answers them."""
        return sorted(self._schemas)

    def create_table(self, schema: TableSchema) -> None:
        """Create the SQLite tables of a new DynamoDB table and its indexes."""
        with self.transaction():
            number = 1 + (self.db.execute("SELECT max(number) FROM tables").fetchone()[0] or 0)
            self.db.execute(
                f"CREATE TABLE t{number} (ph INTEGER NOT NULL, pk BLOB NOT NULL, sk BLOB NOT "
                "NULL, size INTEGER NOT NULL, item TEXT NOT NULL, PRIMARY KEY (ph, pk, sk)) "
                "WITHOUT ROWID"
            )
            for index in schema.indexes:
                self._create_index_table(number, index)
            self.db.execute(
                "INSERT INTO tables VALUES (?, ?, ?)",
                (schema.name, number, json.dumps(schema.to_json())),
            )
        self._schemas[schema.name] = (number, schema)

    def _create_index_table(self, number: int, index: IndexSchema) -> None:
        self.db.execute(
            # Key columns first: SQLite 3.40's integrity_check misreports a NOT NULL
            # column placed between primary key columns of a WITHOUT ROWID table.
            f"CREATE TABLE t{number}_{index.slot} (ph INTEGER NOT NULL, pk BLOB NOT "
            "NULL, sk BLOB NOT NULL, tpk BLOB NOT NULL, tsk BLOB NOT NULL, tph INTEGER "
            "NOT NULL, PRIMARY KEY (ph, pk, sk, tpk, tsk)) WITHOUT ROWID"
        )

    def add_index(self, schema: TableSchema, index: IndexSchema) -> None:
        """Create ``index`` (already in ``schema``) and backfill it from the table's items."""
        number, _ = self._schemas[schema.name]
        with self.transaction():
            self._create_index_table(number, index)
            rows = self.db.execute(f"SELECT ph, pk, sk, item FROM t{number}").fetchall()
            for ph, pk, sk, item in rows:
                entry = key_of(index.key, _loads(item))
                if entry is not None:
                    self.db.execute(
                        f"INSERT INTO t{number}_{index.slot} VALUES (?, ?, ?, ?, ?, ?)",
                        (*entry, pk, sk, ph),
                    )
            self.save_schema(schema)

    def remove_index(self, schema: TableSchema, index: IndexSchema) -> None:
        """Drop ``index`` (no longer in ``schema``) and its rows."""
        number, _ = self._schemas[schema.name]
        with self.transaction():
            self.db.execute(f"DROP TABLE t{number}_{index.slot}")
            self.save_schema(schema)

    def save_schema(self, schema: TableSchema) -> None:
        """Persist a changed definition of an existing table (TTL, billing mode)."""
        number, _ = self._schemas[schema.name]
        with self.transaction():
            self.db.execute("UPDATE tables SET definition = ? WHERE name = ?",
                            (json.dumps(schema.to_json()), schema.name))
        self._schemas[schema.name] = (number, schema)

    def rows_mentioning(self, name: str, needle: str, after: RowKey | None, limit: int
                        ) -> list[tuple[RowKey, dict[str, Any]]]:
        """Up to ``limit`` items after ``after`` in scan order whose stored JSON contains
        ``needle`` (a cheap prefilter SQLite runs in C; the caller decides on the item)."""
        number, _ = self._schemas[name]
        rows = self.db.execute(
            f"SELECT ph, pk, sk, item FROM t{number} WHERE (ph, pk, sk) > (?, ?, ?) AND "
            "instr(item, ?) > 0 ORDER BY ph, pk, sk LIMIT ?",
            (*(after or (-1, b"", b"")), needle, limit),
        ).fetchall()
        return [((ph, pk, sk), _loads(item)) for ph, pk, sk, item in rows]

    def drop_table(self, name: str) -> None:
        """Delete a table, its items and its indexes."""
        number, schema = self._schemas[name]
        with self.transaction():
            for index in schema.indexes:
                self.db.execute(f"DROP TABLE t{number}_{index.slot}")
            self.db.execute(f"DROP TABLE t{number}")
            self.db.execute("DELETE FROM tables WHERE name = ?", (name,))
        del self._schemas[name]

    def stats(self, name: str) -> tuple[int, int, dict[str, tuple[int, int]]]:
        """Item count and bytes of the table, and ``(count, bytes)`` of each index."""
        number, schema = self._schemas[name]
        count, size = self.db.execute(
            f"SELECT count(*), coalesce(sum(size), 0) FROM t{number}"
        ).fetchone()
        indexes = {}
        for index in schema.indexes:
            indexes[index.name] = self.db.execute(
                f"SELECT count(*), coalesce(sum(b.size), 0) FROM t{number}_{index.slot} x "
                f"JOIN t{number} b ON b.ph = x.tph AND b.pk = x.tpk AND b.sk = x.tsk"
            ).fetchone()
        return count, size, indexes

    # -- items ---------------------------------------------------------------------
    def get(self, name: str, key: RowKey) -> dict[str, Any] | None:
        """The item stored under ``key``, or None."""
        row = self.get_raw(name, key)
        return _loads(row) if row is not None else None

    def get_raw(self, name: str, key: RowKey) -> str | None:
        """The item's wire JSON, as stored (answered without decoding it)."""
        row = self.db.execute(
            f"SELECT item FROM t{self._schemas[name][0]} WHERE ph = ? AND pk = ? AND sk = ?",
            key,
        ).fetchone()
        return row[0] if row is not None else None

    def write(self, name: str, key: RowKey, old: dict[str, Any] | None,
              new: dict[str, Any] | None, size: int = 0) -> None:
        """Replace ``old`` (the item now under ``key``, or None) by ``new`` (None: delete).

        Index rows change only for indexes whose key attributes changed; the caller holds
        a transaction if this is part of a larger write.
        """
        number, schema = self._schemas[name]
        with self.transaction():
            if new is None:
                self.db.execute(
                    f"DELETE FROM t{number} WHERE ph = ? AND pk = ? AND sk = ?", key
                )
            else:
                self.db.execute(
                    f"INSERT OR REPLACE INTO t{number} VALUES (?, ?, ?, ?, ?)",
                    (*key, size, _dumps(new)),
                )
            for index in schema.indexes:
                position = index.slot
                before = key_of(index.key, old) if old is not None else None
                after = key_of(index.key, new) if new is not None else None
                if before == after:
                    continue
                if before is not None:
                    self.db.execute(
                        f"DELETE FROM t{number}_{position} WHERE ph = ? AND pk = ? AND sk = ? "
                        "AND tpk = ? AND tsk = ?",
                        (*before, key[1], key[2]),
                    )
                if after is not None:
                    self.db.execute(
                        f"INSERT INTO t{number}_{position} VALUES (?, ?, ?, ?, ?, ?)",
                        (*after, key[1], key[2], key[0]),
                    )

    # -- reads in key order --------------------------------------------------------
    def query(self, name: str, index: IndexSchema | None, pk: bytes, condition: tuple,
              forward: bool, start: tuple[bytes, ...] | None,
              limit: int | None) -> Iterator[tuple[int, str]]:
        """``(size, item JSON)`` of one partition, in sort key order, lazily.

        ``condition`` is ``(op, value[, value2])`` on the encoded sort key (``()`` for
        none); ``start`` is the encoded position to continue after: ``(sk,)`` for the
        table, ``(sk, tpk, tsk)`` for an index.

        SQLite seeks a B-tree with one lower and one upper bound, so the bounds from the
        condition and from ``start`` are merged here into the tightest pair. In an index,
        rows after ``start`` that share its sort key (ties, ordered by the table's key)
        come first, from a seek of their own.
        """
        number, schema = self._schemas[name]
        position = index.slot if index is not None else None
        low, high = _bounds(condition)
        ties: tuple[Any, ...] | None = None
        if start is not None:
            edge = (start[0], False)
            if forward:
                low = edge if low is None or _tighter(edge, low, upper=False) else low
            else:
                high = edge if high is None or _tighter(edge, high, upper=True) else high
            if index is not None and _within(start[0], condition):
                ties = start
        order = "ASC" if forward else "DESC"
        base = _select(number, position) + " WHERE x.ph = ? AND x.pk = ?"
        spec = index.key if index is not None else schema.key
        args: list[Any] = [scan_hash(pk, spec.hash_kind), pk]
        tail = f" ORDER BY x.sk {order}" + (
            f", x.tpk {order}, x.tsk {order}" if index is not None else ""
        )
        if limit is not None:
            tail += f" LIMIT {int(limit)}"
        sql, values = base, list(args)
        for bound, below in ((low, False), (high, True)):
            if bound is not None:
                sql += f" AND x.sk {'<' if below else '>'}{'=' if bound[1] else ''} ?"
                values.append(bound[0])
        main = self.db.execute(sql + tail, values)
        if ties is None:
            return main  # type: ignore[return-value]
        first = self.db.execute(
            base + f" AND x.sk = ? AND (x.tpk, x.tsk) {'>' if forward else '<'} (?, ?)" + tail,
            [*args, *ties],
        )
        return _chain(first, main, limit)

    def scan(self, name: str, index: IndexSchema | None, start: tuple | None,
             segment: tuple[int, int] | None, limit: int | None) -> Iterator[tuple[int, str]]:
        """``(size, item JSON)`` of a whole table or index in scan order, lazily.

        ``start`` is the position to continue after: ``(ph, pk, sk)`` of the table or
        ``(ph, pk, sk, tpk, tsk)`` of an index; ``segment`` is ``(segment, total)``.
        """
        number, schema = self._schemas[name]
        columns = ("ph", "pk", "sk") if index is None else ("ph", "pk", "sk", "tpk", "tsk")
        where, args = [], []
        if segment is not None:
            # With a start key (inside the segment) the row value is the lower bound:
            # SQLite seeks with one, so the segment's own would cost a walk from its start.
            part, total = segment
            if start is None:
                where.append("x.ph >= ?")
                args.append(part * 2**32 // total)
            where.append("x.ph < ?")
            args.append((part + 1) * 2**32 // total)
        if start is not None:
            row = ", ".join(f"x.{c}" for c in columns)
            where.append(f"({row}) > ({', '.join('?' * len(start))})")
            args.extend(start)
        sql = _select(number, index.slot if index is not None else None)
        if where:
            sql += f" WHERE {' AND '.join(where)}"
        sql += " ORDER BY " + ", ".join(f"x.{c}" for c in columns)
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.execute(sql, args)  # type: ignore[return-value]


def _select(number: int, position: int | None) -> str:
    """Size and item of the table's rows, read through index ``position`` if given."""
    if position is None:
        return f"SELECT x.size, x.item FROM t{number} x"
    return (
        f"SELECT b.size, b.item FROM t{number}_{position} x JOIN t{number} b "
        "ON b.ph = x.tph AND b.pk = x.tpk AND b.sk = x.tsk"
    )


Bound = tuple[bytes, bool]  # (value, inclusive)


def _bounds(condition: tuple) -> tuple[Bound | None, Bound | None]:
    """A sort key condition as a lower and an upper bound (None: open)."""
    if not condition:
        return None, None
    op, *values = condition
    if op == "RANGE":  # explicit bounds (a multi-attribute sort key's condition)
        return values[0], values[1]
    if op == "=":
        return (values[0], True), (values[0], True)
    if op == "BETWEEN":
        return (values[0], True), (values[1], True)
    if op == "begins_with":
        end = prefix_end(values[0])
        return (values[0], True), (None if end is None else (end, False))
    if op in ("<", "<="):
        return None, (values[0], op == "<=")
    return (values[0], op == ">="), None


def _tighter(a: Bound, b: Bound, *, upper: bool) -> bool:
    """Whether bound ``a`` excludes more than bound ``b`` (both lower, or both upper)."""
    if a[0] != b[0]:
        return a[0] < b[0] if upper else a[0] > b[0]
    return not a[1] and b[1]


def _within(sk: bytes, condition: tuple) -> bool:
    """Whether a sort key satisfies the condition."""
    low, high = _bounds(condition)
    if low is not None and (sk < low[0] or (sk == low[0] and not low[1])):
        return False
    return high is None or sk < high[0] or (sk == high[0] and high[1])


def _chain(first: Iterator[Any], second: Iterator[Any], limit: int | None) -> Iterator[Any]:
    taken = 0
    for rows in (first, second):
        for row in rows:
            if limit is not None and taken == limit:
                return
            taken += 1
            yield row
