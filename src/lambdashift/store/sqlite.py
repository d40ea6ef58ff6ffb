"""The default state store: one SQLite file, shared by threads and processes.

Why it is safe to share:

* WAL mode lets readers go on while one writer writes; ``busy_timeout`` makes a writer wait
  for another instead of failing at once.
* Every write is one ``BEGIN IMMEDIATE`` transaction: the write lock is taken *before*
  reading, so a check-then-write (is the lease free? then take it) cannot interleave with
  another process's. The clock is read inside that transaction, after the wait.
* ``synchronous=FULL``: a commit is on disk when ``save`` returns, so a ``kill -9`` (or a
  power cut) right after it still finds the intent. Saves are a few per step, so the fsync
  costs nothing that matters next to an AWS call.
* Threads share one connection behind a lock: each operation is a few short statements,
  and SQLite serialises writers anyway. Do not carry a store across ``fork``: open another.

The file is recognised by its ``application_id``; anything else (a foreign database, a
corrupt file) is refused with an error naming the path, and left untouched.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from lambdashift.core.state import RolloutState
from lambdashift.errors import LambdashiftError, LockedError
from lambdashift.store.encoding import check_lease_seconds, read_state, strict_json
from lambdashift.store.ledger import gcra
from lambdashift.store.locks import describe_holder, describe_lost
from lambdashift.store.protocol import Event, Lease, Signal

APPLICATION_ID = 0x4C534854  # "LSHT" in the file header: this file is a lambdashift store
SCHEMA_VERSION = 2  # PRAGMA user_version once every migration below has run

# One tuple of statements per schema version; version N is reached by running the N-th.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # seq orders rollouts by when they were first saved ("newest first"), independent
        # of clocks; AUTOINCREMENT so that a number is never reused.
        # signal_floor: the highest signal id when the rollout started; anything at or
        # below it was sent to an earlier rollout.
        """CREATE TABLE rollouts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL,
            rollout_id TEXT NOT NULL,
            function TEXT NOT NULL,
            phase TEXT NOT NULL,
            terminal INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            signal_floor INTEGER NOT NULL,
            doc TEXT NOT NULL,
            UNIQUE (namespace, rollout_id))""",
        "CREATE INDEX rollouts_by_function ON rollouts (namespace, function, seq)",
        "CREATE INDEX rollouts_by_terminal ON rollouts (namespace, terminal, seq)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL,
            rollout_id TEXT NOT NULL,
            function TEXT NOT NULL,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            details TEXT NOT NULL)""",
        "CREATE INDEX events_by_rollout ON events (namespace, rollout_id, id)",
        """CREATE TABLE leases (
            namespace TEXT NOT NULL,
            function TEXT NOT NULL,
            owner TEXT NOT NULL,
            acquired_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (namespace, function))""",
        """CREATE TABLE signals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            namespace TEXT NOT NULL,
            function TEXT NOT NULL,
            kind TEXT NOT NULL,
            details TEXT NOT NULL,
            sent_at REAL NOT NULL)""",
        "CREATE INDEX signals_by_function ON signals (namespace, function, id)",
    ),
    (
        # The rate ledger: one "theoretical arrival time" per quota (see reserve_rate).
        """CREATE TABLE rate_ledger (
            namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            tat REAL NOT NULL,
            PRIMARY KEY (namespace, key))""",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION


class SqliteStateStore:
    """``StateStore`` on one SQLite file; see the module docstring for why it is safe to share.

    ``path`` is created (with its directory) on first use. ``namespace`` separates targets
    sharing the file. ``clock`` gives the times of leases, events and signals.
    """

    #: Only processes of this machine read it: no other driver (the controller) can.
    shared = False

    def __init__(
        self, path: Path, *, namespace: str, clock: Callable[[], float] = time.time,
        busy_timeout: float = 10.0,
    ) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"a namespace is a non-empty string, got {namespace!r}")
        self.path = Path(path)
        self.namespace = namespace
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._lock = threading.RLock()
        with self._translated("opening"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._prepare()
            except BaseException:
                self._db.close()
                raise

    def __repr__(self) -> str:
        return f"SqliteStateStore({str(self.path)!r}, namespace={self.namespace!r})"

    def __enter__(self) -> SqliteStateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database; idempotent."""
        with self._lock:
            self._db.close()

    # -- opening: recognise the file, then create or migrate its schema ----------------------

    def _prepare(self) -> None:
        db = self._db
        # Look before touching anything: switching a foreign file to WAL would change it.
        # One read transaction, so that a schema another process is creating is seen whole.
        db.execute("BEGIN")
        try:
            self._check_ours(db)
        finally:
            db.execute("COMMIT")
        self._retry_locked(lambda: db.execute("PRAGMA journal_mode=WAL").fetchone())
        db.execute("PRAGMA synchronous=FULL")
        if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            self._check_ours(db)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    db.execute(statement)
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _check_ours(self, db: sqlite3.Connection) -> None:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = [row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )]
        if app_id == 0 and version == 0 and not tables:
            return  # a new, empty database
        if app_id != APPLICATION_ID:
            held = ", ".join(sorted(tables)) or "no tables"
            raise LambdashiftError(
                f"{self.path} is not a lambdashift state database (it holds {held}); "
                "move it away or point lambdashift at another directory"
            )
        if version > SCHEMA_VERSION:
            raise LambdashiftError(
                f"{self.path} was written by a newer lambdashift (schema {version}; this one "
                f"knows up to {SCHEMA_VERSION}): upgrade lambdashift"
            )

    def _retry_locked(self, operation: Callable[[], object]) -> None:
        # Changing the journal mode can report "locked" at once, without the busy handler,
        # while another process creates the file; retry within the busy timeout.
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                operation()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    # -- transactions and errors ---------------------------------------------------------

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Turn SQLite's errors into ``LambdashiftError`` naming the file."""
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.IntegrityError):
            raise  # our bug (or a closed store), not the file's fault
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise LambdashiftError(
                    f"state database {self.path} stayed locked by another process for "
                    f"{self._busy_timeout:g} s while {doing}"
                ) from exc
            raise LambdashiftError(f"state database {self.path}: {exc} (while {doing})") from exc
        except sqlite3.DatabaseError as exc:
            raise LambdashiftError(
                f"state database {self.path} is unreadable ({exc}); move it aside to start "
                "afresh (the rollouts recorded in it are then forgotten)"
            ) from exc

    @contextmanager
    def _reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translated(doing):
            yield self._db

    @contextmanager
    def _writing(self, doing: str) -> Iterator[tuple[sqlite3.Connection, float]]:
        """One write transaction, with the clock read once the write lock is ours."""
        with self._lock, self._translated(doing):
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db, self._clock()
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- rollout states ------------------------------------------------------------------

    def save(self, state: RolloutState) -> None:
        """Insert or replace the rollout's latest state; on disk when this returns."""
        doc = strict_json(state.to_dict())
        with self._writing(f"saving rollout {state.rollout_id}") as (db, now):
            row = db.execute(
                "SELECT function FROM rollouts WHERE namespace = ? AND rollout_id = ?",
                (self.namespace, state.rollout_id),
            ).fetchone()
            if row is not None and row[0] != state.function:
                raise ValueError(
                    f"rollout {state.rollout_id} is of {row[0]}, not {state.function}"
                )
            db.execute(
                """INSERT INTO rollouts (namespace, rollout_id, function, phase, terminal,
                       created_at, updated_at, signal_floor, doc)
                   VALUES (?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(id), 0) FROM signals), ?)
                   ON CONFLICT (namespace, rollout_id) DO UPDATE SET
                       phase = excluded.phase, terminal = excluded.terminal,
                       updated_at = excluded.updated_at, doc = excluded.doc""",
                (self.namespace, state.rollout_id, state.function, state.phase.value,
                 int(state.phase.is_terminal), now, now, doc),
            )

    def _states(self, rows: list[tuple[str, str]]) -> list[RolloutState]:
        return [read_state(doc, f"state database {self.path}: rollout {rollout_id}")
                for rollout_id, doc in rows]

    def load(self, rollout_id: str) -> RolloutState | None:
        """The latest saved state of a rollout, or None."""
        with self._reading(f"loading rollout {rollout_id}") as db:
            rows = db.execute(
                "SELECT rollout_id, doc FROM rollouts WHERE namespace = ? AND rollout_id = ?",
                (self.namespace, rollout_id),
            ).fetchall()
        states = self._states(rows)
        return states[0] if states else None

    def active(self, function: str | None = None) -> list[RolloutState]:
        """Non-terminal rollouts (of ``function``, or all), newest first."""
        query = "SELECT rollout_id, doc FROM rollouts WHERE namespace = ? AND terminal = 0"
        params: tuple[str, ...] = (self.namespace,)
        if function is not None:
            query += " AND function = ?"
            params += (function,)
        with self._reading("listing active rollouts") as db:
            rows = db.execute(query + " ORDER BY seq DESC", params).fetchall()
        return self._states(rows)

    def latest(self, function: str) -> RolloutState | None:
        """The most recently started rollout of ``function``, any phase."""
        states = self.history(function, limit=1)
        return states[0] if states else None

    def history(self, function: str, limit: int = 20) -> list[RolloutState]:
        """Up to ``limit`` rollouts of ``function``, newest first."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        with self._reading(f"reading the history of {function}") as db:
            rows = db.execute(
                "SELECT rollout_id, doc FROM rollouts WHERE namespace = ? AND function = ? "
                "ORDER BY seq DESC LIMIT ?",
                (self.namespace, function, limit),
            ).fetchall()
        return self._states(rows)

    # -- the step log ----------------------------------------------------------------------

    def record_event(
        self, rollout_id: str, function: str, kind: str, details: Mapping[str, Any]
    ) -> None:
        """Append to the rollout's step log; ``details`` must be strict JSON (``strict_json``)."""
        text = strict_json(details)
        with self._writing(f"recording {kind} of rollout {rollout_id}") as (db, now):
            db.execute(
                "INSERT INTO events (namespace, rollout_id, function, at, kind, details) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (self.namespace, rollout_id, function, now, kind, text),
            )

    def events(self, rollout_id: str) -> list[Event]:
        """The rollout's step log, oldest first."""
        with self._reading(f"reading the events of rollout {rollout_id}") as db:
            rows = db.execute(
                "SELECT at, kind, details FROM events WHERE namespace = ? AND rollout_id = ? "
                "ORDER BY id",
                (self.namespace, rollout_id),
            ).fetchall()
        return [Event(at, kind, json.loads(details)) for at, kind, details in rows]

    # -- leases ----------------------------------------------------------------------------

    def _lease_row(self, db: sqlite3.Connection, function: str) -> Lease | None:
        row = db.execute(
            "SELECT owner, acquired_at, expires_at FROM leases "
            "WHERE namespace = ? AND function = ?",
            (self.namespace, function),
        ).fetchone()
        return None if row is None else Lease(function, *row)

    def acquire(self, function: str, owner: str, lease_seconds: float = 60) -> Lease:
        """Take the function's lock, or raise ``LockedError`` saying who holds it."""
        check_lease_seconds(lease_seconds)
        with self._writing(f"locking {function}") as (db, now):
            held = self._lease_row(db, function)
            if held is not None and now < held.expires_at:
                raise LockedError(describe_holder(held, now))
            db.execute(
                "INSERT OR REPLACE INTO leases (namespace, function, owner, acquired_at, "
                "expires_at) VALUES (?, ?, ?, ?, ?)",
                (self.namespace, function, owner, now, now + lease_seconds),
            )
        return Lease(function, owner, now, now + lease_seconds, taken_over_from=held)

    def renew(self, lease: Lease, lease_seconds: float = 60) -> Lease:
        """Extend ``lease`` from now; ``LockedError`` if it was released or taken over."""
        check_lease_seconds(lease_seconds)
        with self._writing(f"renewing the lock of {lease.function}") as (db, now):
            held = self._lease_row(db, lease.function)
            if held is None or (held.owner, held.acquired_at) != (lease.owner, lease.acquired_at):
                raise LockedError(describe_lost(lease, held, now))
            db.execute(
                "UPDATE leases SET expires_at = ? WHERE namespace = ? AND function = ?",
                (now + lease_seconds, self.namespace, lease.function),
            )
        return replace(lease, expires_at=now + lease_seconds)

    def release(self, lease: Lease) -> None:
        """Give the lock back if ``lease`` is still the one held; otherwise do nothing."""
        with self._writing(f"unlocking {lease.function}") as (db, _):
            db.execute(
                "DELETE FROM leases WHERE namespace = ? AND function = ? AND owner = ? "
                "AND acquired_at = ?",
                (self.namespace, lease.function, lease.owner, lease.acquired_at),
            )

    def holder(self, function: str) -> Lease | None:
        """The unexpired lease on ``function``, or None."""
        with self._reading(f"reading the lock of {function}") as db:
            held = self._lease_row(db, function)
            now = self._clock()
        return held if held is not None and now < held.expires_at else None

    # -- signals ---------------------------------------------------------------------------

    def send_signal(
        self, function: str, kind: str, details: Mapping[str, Any] | None = None
    ) -> Signal:
        """Queue ``kind`` for the rollout of ``function``; ``details`` must be strict JSON."""
        if not kind:
            raise ValueError("a signal needs a kind")
        text = strict_json(details or {})
        with self._writing(f"signalling {kind} to {function}") as (db, now):
            db.execute(
                "INSERT INTO signals (namespace, function, kind, details, sent_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (self.namespace, function, kind, text, now),
            )
        return Signal(function, kind, json.loads(text), now)

    def take_signals(self, function: str) -> list[Signal]:
        """Consume the queued signals of ``function`` meant for its active rollout, in order."""
        with self._writing(f"taking the signals of {function}") as (db, _):
            floor = db.execute(
                "SELECT signal_floor FROM rollouts WHERE namespace = ? AND function = ? "
                "AND terminal = 0 ORDER BY seq DESC LIMIT 1",
                (self.namespace, function),
            ).fetchone()
            rows = db.execute(
                "SELECT id, kind, details, sent_at FROM signals "
                "WHERE namespace = ? AND function = ? ORDER BY id",
                (self.namespace, function),
            ).fetchall()
            if rows:
                db.execute(
                    "DELETE FROM signals WHERE namespace = ? AND function = ? AND id <= ?",
                    (self.namespace, function, rows[-1][0]),
                )
        if floor is None:
            return []  # no rollout is running: whatever was queued had no one to go to
        return [
            Signal(function, kind, json.loads(details), sent_at)
            for signal_id, kind, details, sent_at in rows
            if signal_id > floor[0]
        ]

    # -- the rate ledger ---------------------------------------------------------------------

    def reserve_rate(self, key: str, rate: float, burst: int) -> float:
        """Reserve one call of the quota ``key`` shared by every process on this file;
        the seconds to wait before making it (see ``ledger.gcra``)."""
        with self._writing(f"reserving a {key} call") as (db, now):
            row = db.execute("SELECT tat FROM rate_ledger WHERE namespace = ? AND key = ?",
                             (self.namespace, key)).fetchone()
            wait, tat = gcra(None if row is None else row[0], now, rate, burst)
            db.execute("INSERT OR REPLACE INTO rate_ledger (namespace, key, tat) VALUES (?, ?, ?)",
                       (self.namespace, key, tat))
        return wait
