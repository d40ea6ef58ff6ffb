"""The functions of one account and region, kept in memory and persisted in SQLite.

Each function is one JSON document written in one transaction, so a crash leaves the
state before or after a change, never half of it. Version numbers come from a counter
table that outlives the functions: AWS never reuses a version number, not even after a
function is deleted and created again under the same name. Everything is kept in memory
too, so the invoke path reads no disk.

:class:`FunctionTable` holds no AWS rule beyond finding what a name or ARN names: the
store (``store.py``) and the rules it owns (``aliases.py``, ``permissions.py``,
``concurrency.py``) each get this table, look functions up in it and save them through it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.awslambda.models import Arns, Function
from lambdashift.emulator.awslambda.sealing import EnvSealer
from lambdashift.emulator.errors import InvalidParameterValueException, ResourceNotFoundException

_SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS version_counters (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
"""


class FunctionTable:
    """Functions by name: lookups as AWS resolves names and ARNs, and durable saves."""

    def __init__(self, data_dir: Path, arns: Arns) -> None:
        self.arns = arns
        self._db = sqlite3.connect(data_dir / "lambda.db", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._sealer = EnvSealer(data_dir)  # environment values encrypted at rest, as on AWS
        self._functions: dict[str, Function] = {
            name: Function.from_doc(self._sealer.open(json.loads(doc)))
            for name, doc in self._db.execute("SELECT name, doc FROM functions")
        }

    def close(self) -> None:
        """Close the database (again: a no-op)."""
        self._db.close()

    # -- reading ---------------------------------------------------------------------

    def function(self, raw_name: str, where: str = "functionName",
                 missing_qualifier: str | None = None) -> tuple[Function, str | None]:
        """The function a name or ARN names, and the qualifier embedded in it.

        ``missing_qualifier``: the qualifier the not-found message names (CreateAlias
        names the version it was asked to point at)."""
        name, qualifier = v.split_function_name(raw_name, where)
        self.check_region(raw_name)
        fn = self._functions.get(name)
        if fn is None:
            shown = self.arns.function(name, missing_qualifier)
            raise ResourceNotFoundException(f"Function not found: {shown}")
        return fn, qualifier

    def check_region(self, raw_name: str) -> None:
        """An ARN of another region never reaches this region's functions (AWS: 404)."""
        region = v.function_region(raw_name)
        if region is not None and region != self.arns.region:
            raise ResourceNotFoundException(
                f"Functions from '{region}' are not reachable in this region ('{self.arns.region}')")

    def qualified(self, raw_name: str, qualifier: str | None) -> tuple[Function, str | None]:
        """The function and the one qualifier a name (maybe qualified) and ``Qualifier`` name."""
        fn, embedded = self.function(raw_name)
        if qualifier is not None:
            v.check_pattern(qualifier, "qualifier", v.QUALIFIER_PATTERN, max_len=128)
        if embedded and qualifier and embedded != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        return fn, (embedded or qualifier or None)

    def __contains__(self, name: str) -> bool:
        return name in self._functions

    def by_name(self) -> Iterator[Function]:
        """Every function, in name order."""
        for name in sorted(self._functions):
            yield self._functions[name]

    def names(self) -> list[str]:
        """Names of all functions."""
        return sorted(self._functions)

    def next_version(self, name: str) -> int:
        """The number the function's next published version gets (never one used before)."""
        row = self._db.execute("SELECT last FROM version_counters WHERE name = ?", (name,)).fetchone()
        return (row[0] if row else 0) + 1

    # -- writing ---------------------------------------------------------------------

    def save(self, fn: Function) -> None:
        """Write the function (and its version counter) in one transaction."""
        doc = json.dumps(self._sealer.seal(fn.to_doc()), sort_keys=True)
        top = max(fn.versions, default=0)
        try:
            with _Transaction(self._db):
                self._db.execute("INSERT OR REPLACE INTO functions (name, doc) VALUES (?, ?)",
                                 (fn.name, doc))
                self._db.execute(
                    "INSERT INTO version_counters (name, last) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET last = MAX(last, excluded.last)",
                    (fn.name, top),
                )
        except sqlite3.Error:
            self._reload(fn.name)  # callers changed the record in place: undo it in memory
            raise
        self._functions[fn.name] = fn

    def delete(self, name: str) -> None:
        """Forget the function (its version counter stays: numbers are never reused)."""
        del self._functions[name]
        self._db.execute("DELETE FROM functions WHERE name = ?", (name,))

    def _reload(self, name: str) -> None:
        row = self._db.execute("SELECT doc FROM functions WHERE name = ?", (name,)).fetchone()
        if row is None:
            self._functions.pop(name, None)
        else:
            self._functions[name] = Function.from_doc(self._sealer.open(json.loads(row[0])))


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
