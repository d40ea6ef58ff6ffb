"""The state store on plain values and a fake clock: states, the step log, leases, signals."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from lambdashift.core.state import Intent, RolloutState, VerdictRecord
from lambdashift.errors import LambdashiftError, LockedError
from lambdashift.model import AnalysisStep, ManualGate, Phase, Traffic, Verdict, WeightStep
from lambdashift.store.sqlite import APPLICATION_ID, SCHEMA_VERSION, SqliteStateStore
from lambdashift.store.locks import describe_takeover, owner_id
from lambdashift.store.protocol import Event, Lease, Signal, StateStore

# Noon UTC on a fixed day: a few minutes later is still the same local day in every time
# zone, so that messages show a time of day without a date.
T0 = 1_750_000_000.0 - (1_750_000_000 % 86400) + 12 * 3600


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def hms(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "project" / ".lambdashift" / "state.db"


@pytest.fixture
def store(db_path: Path, clock: FakeClock):
    with SqliteStateStore(db_path, namespace="local", clock=clock) as s:
        yield s


STEPS = (WeightStep(0.1), ManualGate(), AnalysisStep({"max_error_rate": 0.01}, ("errors",)),
         WeightStep(1.0))


def rollout(rollout_id: str = "r-1", function: str = "notes-get", **changes) -> RolloutState:
    state = RolloutState.new(rollout_id, function, "live", "1", "2", STEPS, now=T0)
    return dataclasses.replace(state, **changes) if changes else state


# --- states ---------------------------------------------------------------------------------


def test_a_saved_state_loads_back_equal_with_intent_and_verdicts(store):
    state = rollout(
        phase=Phase.PROGRESSING, step_index=2, started_at=T0, updated_at=T0 + 5,
        traffic=Traffic("1", "2", 0.1), revision_id="rev-1",
        intent=Intent(Traffic("2"), "rev-1"),
        verdicts=(VerdictRecord(2, Verdict.CONTINUE, ("not enough data",), T0 + 4),),
        reason="analysing",
    )
    store.save(state)
    assert store.load("r-1") == state


def test_load_of_an_unknown_rollout_is_none(store):
    assert store.load("r-nope") is None


def test_saving_again_replaces_the_state_and_keeps_one_rollout(store):
    store.save(rollout())
    progressing = rollout(phase=Phase.PROGRESSING, intent=Intent(Traffic("1", "2", 0.1), "a"))
    store.save(progressing)
    assert store.load("r-1") == progressing
    assert store.history("notes-get") == [progressing]


def test_a_rollout_id_cannot_move_to_another_function(store):
    store.save(rollout("r-1", "notes-get"))
    with pytest.raises(ValueError, match="r-1 is of notes-get, not notes-list"):
        store.save(rollout("r-1", "notes-list"))
    assert store.load("r-1").function == "notes-get"


def test_active_lists_non_terminal_rollouts_newest_first(store, clock):
    store.save(rollout("r-1", "notes-get", phase=Phase.SUCCEEDED))
    store.save(rollout("r-2", "notes-get", phase=Phase.PAUSED))
    store.save(rollout("r-3", "notes-list", phase=Phase.PROGRESSING))
    store.save(rollout("r-4", "notes-list", phase=Phase.ROLLED_BACK))
    store.save(rollout("r-5", "notes-create"))  # pending counts as active
    assert [s.rollout_id for s in store.active()] == ["r-5", "r-3", "r-2"]
    assert [s.rollout_id for s in store.active("notes-list")] == ["r-3"]
    assert store.active("notes-delete") == []


def test_a_rollout_that_ends_leaves_active(store):
    store.save(rollout(phase=Phase.PROGRESSING))
    store.save(rollout(phase=Phase.FAILED))
    assert store.active() == []


def test_latest_and_history_order_by_start_not_by_last_save(store, clock):
    for n in (1, 2, 3):
        store.save(rollout(f"r-{n}", phase=Phase.PROGRESSING))
        clock.advance(10)
    # r-1 is saved last, but r-3 started last: newest means most recently started.
    store.save(rollout("r-1", phase=Phase.ROLLED_BACK))
    store.save(rollout("r-other", "notes-list"))
    assert store.latest("notes-get").rollout_id == "r-3"
    assert [s.rollout_id for s in store.history("notes-get")] == ["r-3", "r-2", "r-1"]
    assert [s.rollout_id for s in store.history("notes-get", limit=2)] == ["r-3", "r-2"]
    assert store.history("notes-get", limit=0) == []
    assert store.latest("notes-delete") is None


def test_history_order_holds_when_the_clock_stands_still(store):
    for n in range(5):
        store.save(rollout(f"r-{n}"))
    assert [s.rollout_id for s in store.history("notes-get")] == [f"r-{n}" for n in (4, 3, 2, 1, 0)]


def test_history_refuses_a_negative_limit(store):
    with pytest.raises(ValueError):
        store.history("notes-get", limit=-1)


# --- the step log -----------------------------------------------------------------------------


def test_events_come_back_in_order_with_the_store_times(store, clock):
    store.record_event("r-1", "notes-get", "step", {"step": 0, "weight": 0.1})
    clock.advance(2.5)
    store.record_event("r-2", "notes-get", "step", {"step": 0})
    store.record_event("r-1", "notes-get", "verdict",
                       {"verdict": "rollback", "reasons": ["errors 4% > 1%"]})
    clock.advance(1)
    store.record_event("r-1", "notes-get", "outcome", {"phase": "rolled_back"})
    assert store.events("r-1") == [
        Event(T0, "step", {"step": 0, "weight": 0.1}),
        Event(T0 + 2.5, "verdict", {"verdict": "rollback", "reasons": ["errors 4% > 1%"]}),
        Event(T0 + 3.5, "outcome", {"phase": "rolled_back"}),
    ]
    assert store.events("r-2") == [Event(T0 + 2.5, "step", {"step": 0})]
    assert store.events("r-none") == []


def test_event_details_are_read_only(store):
    store.record_event("r-1", "notes-get", "step", {"step": 0})
    with pytest.raises(TypeError):
        store.events("r-1")[0].details["step"] = 1  # type: ignore[index]


def test_an_event_that_is_not_strict_json_is_refused_and_nothing_is_written(store):
    with pytest.raises(TypeError):
        store.record_event("r-1", "notes-get", "verdict", {"verdict": Verdict.PROMOTE})
    with pytest.raises(ValueError):
        store.record_event("r-1", "notes-get", "evidence", {"error_rate": float("nan")})
    assert store.events("r-1") == []


# --- leases -----------------------------------------------------------------------------------


def test_acquire_gives_a_lease_from_the_store_clock(store):
    lease = store.acquire("notes-get", "alice@host pid 4242", lease_seconds=60)
    assert lease == Lease("notes-get", "alice@host pid 4242", T0, T0 + 60)
    assert store.holder("notes-get") == lease
    assert describe_takeover(lease) == ""


def test_a_held_lock_is_refused_with_who_since_when_and_expiry(store, clock):
    store.acquire("notes-get", "alice@host pid 4242", lease_seconds=180)
    clock.advance(135)
    with pytest.raises(LockedError) as caught:
        store.acquire("notes-get", "bob@other pid 7")
    assert str(caught.value) == (
        f"notes-get is being rolled out by alice@host pid 4242 since {hms(T0)} (2 min ago); "
        "its lease expires in 45 s unless renewed — steer it with "
        "`lambdashift promote|approve|rollback`, or, if its process is gone, `lambdashift resume`"
    )


def test_a_held_lock_long_ago_names_the_day(store, clock):
    store.acquire("notes-get", "alice@host pid 4242", lease_seconds=3 * 86400)
    clock.advance(86400 + 3600 + 120)
    with pytest.raises(LockedError) as caught:
        store.acquire("notes-get", "bob@other pid 7")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(T0))
    assert f"since {since} (1 d 1 h ago)" in str(caught.value)
    assert "expires in 1 d 22 h" in str(caught.value)


def test_the_same_owner_cannot_acquire_twice(store):
    store.acquire("notes-get", "alice@host pid 4242")
    with pytest.raises(LockedError, match="rolled out by alice@host pid 4242"):
        store.acquire("notes-get", "alice@host pid 4242")


def test_locks_are_per_function(store):
    store.acquire("notes-get", "alice@host pid 1")
    assert store.acquire("notes-list", "bob@host pid 2").owner == "bob@host pid 2"


def test_an_expired_lease_is_taken_over_and_says_from_whom(store, clock):
    old = store.acquire("notes-get", "alice@host pid 4242", lease_seconds=60)
    clock.advance(60)  # expires_at itself counts as expired
    new = store.acquire("notes-get", "bob@other pid 7", lease_seconds=30)
    assert new == Lease("notes-get", "bob@other pid 7", T0 + 60, T0 + 90, taken_over_from=old)
    assert describe_takeover(new) == (
        f"took over the lock of notes-get from alice@host pid 4242, which held it since "
        f"{hms(T0)} and whose lease expired 0 s ago; its rollout is left to resume"
    )
    assert store.holder("notes-get") == dataclasses.replace(new, taken_over_from=None)


def test_breaking_a_dead_local_holders_lock_says_from_whom(store, clock):
    """kill -9 of a deploy on this host: its lock is broken at once (no lease to wait out),
    and the new lease names the dead holder, as a taken-over expired one does."""
    import subprocess
    import sys

    from lambdashift.store import locks

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid names no process of this host now
    dead = f"alice@{locks.socket.gethostname()} pid {gone.pid}"
    old = store.acquire("notes-get", dead, lease_seconds=60)
    clock.advance(5)  # well inside its lease
    new = locks.acquire(store, "notes-get", "bob@other pid 7", lease_seconds=30)
    assert new.owner == "bob@other pid 7" and new.taken_over_from == old
    assert describe_takeover(new) == (
        f"took over the lock of notes-get from {dead}, which held it since {hms(T0)} and whose "
        "process on this host is gone; its rollout is left to resume")
    assert store.holder("notes-get") == dataclasses.replace(new, taken_over_from=None)


def test_holder_is_none_once_the_lease_expires(store, clock):
    store.acquire("notes-get", "alice@host pid 4242", lease_seconds=10)
    clock.advance(10)
    assert store.holder("notes-get") is None
    assert store.holder("never-locked") is None


def test_renew_extends_from_now_and_keeps_the_acquisition(store, clock):
    lease = store.acquire("notes-get", "alice@host pid 4242", lease_seconds=60)
    clock.advance(50)
    renewed = store.renew(lease, lease_seconds=60)
    assert renewed == dataclasses.replace(lease, expires_at=T0 + 110)
    clock.advance(50)  # past the first expiry, within the renewed one
    with pytest.raises(LockedError):
        store.acquire("notes-get", "bob@other pid 7")
    # Renewing the stale copy works too: it names the same acquisition.
    assert store.renew(lease, lease_seconds=5).expires_at == T0 + 105


def test_a_lapsed_lease_nobody_took_can_still_be_renewed(store, clock):
    lease = store.acquire("notes-get", "alice@host pid 4242", lease_seconds=10)
    clock.advance(30)
    assert store.renew(lease, lease_seconds=10).expires_at == T0 + 40


def test_renew_after_a_take_over_fails_naming_the_new_holder(store, clock):
    lease = store.acquire("notes-get", "alice@host pid 4242", lease_seconds=10)
    clock.advance(15)
    store.acquire("notes-get", "bob@other pid 7")
    clock.advance(5)
    with pytest.raises(LockedError) as caught:
        store.renew(lease)
    assert str(caught.value) == (
        f"alice@host pid 4242 no longer holds the lock of notes-get: bob@other pid 7 took it "
        f"over at {hms(T0 + 15)} (5 s ago) after the lease expired at {hms(T0 + 10)}"
    )


def test_renew_after_release_fails(store):
    lease = store.acquire("notes-get", "alice@host pid 4242")
    store.release(lease)
    with pytest.raises(LockedError, match="no longer holds the lock of notes-get: its lease was released"):
        store.renew(lease)


def test_release_frees_the_lock_and_is_idempotent(store):
    lease = store.acquire("notes-get", "alice@host pid 4242")
    store.release(lease)
    store.release(lease)
    assert store.holder("notes-get") is None
    assert store.acquire("notes-get", "bob@other pid 7").taken_over_from is None


def test_release_by_a_former_holder_does_not_free_the_new_one(store, clock):
    old = store.acquire("notes-get", "alice@host pid 4242", lease_seconds=10)
    clock.advance(10)
    new = store.acquire("notes-get", "bob@other pid 7")
    store.release(old)
    store.release(dataclasses.replace(new, owner="mallory@host pid 1"))
    assert store.holder("notes-get").owner == "bob@other pid 7"


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_lease_must_last_some_time(store, seconds):
    with pytest.raises(ValueError):
        store.acquire("notes-get", "alice@host pid 1", lease_seconds=seconds)
    lease = store.acquire("notes-get", "alice@host pid 1")
    with pytest.raises(ValueError):
        store.renew(lease, lease_seconds=seconds)


def test_threads_racing_for_a_lock_let_exactly_one_win(store):
    barrier = threading.Barrier(8)
    won: list[str] = []
    refused: list[str] = []

    def contend(n: int) -> None:
        barrier.wait()
        try:
            won.append(store.acquire("notes-get", f"thread {n}").owner)
        except LockedError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    assert all(f"rolled out by {won[0]} since" in message for message in refused)


def test_owner_id_is_user_at_host_pid():
    assert re.fullmatch(r"\S+@\S+ pid \d+", owner_id())


# --- signals ----------------------------------------------------------------------------------


def test_signals_are_taken_once_in_order(store, clock):
    store.save(rollout(phase=Phase.PAUSED))
    clock.advance(1)
    sent = store.send_signal("notes-get", "approve", {"by": "alice"})
    clock.advance(1)
    store.send_signal("notes-get", "promote")
    store.send_signal("notes-list", "rollback", {"reason": "other function"})
    assert sent == Signal("notes-get", "approve", {"by": "alice"}, T0 + 1)
    assert store.take_signals("notes-get") == [
        Signal("notes-get", "approve", {"by": "alice"}, T0 + 1),
        Signal("notes-get", "promote", {}, T0 + 2),
    ]
    assert store.take_signals("notes-get") == []


def test_signals_sent_before_the_rollout_started_are_discarded(store):
    store.save(rollout("r-1", phase=Phase.PAUSED))
    store.send_signal("notes-get", "rollback", {"reason": "meant for r-1"})
    store.save(rollout("r-1", phase=Phase.ROLLED_BACK))  # ended before taking it
    store.save(rollout("r-2", phase=Phase.PROGRESSING))
    store.send_signal("notes-get", "promote")
    assert [s.kind for s in store.take_signals("notes-get")] == ["promote"]
    assert store.take_signals("notes-get") == []


def test_signals_without_an_active_rollout_are_discarded(store):
    store.send_signal("notes-get", "promote")
    assert store.take_signals("notes-get") == []
    store.save(rollout(phase=Phase.PROGRESSING))
    assert store.take_signals("notes-get") == []  # the old one is gone, not delivered late


def test_a_signal_to_a_crashed_rollout_waits_for_its_resume(store, clock):
    store.save(rollout(phase=Phase.PAUSED))
    store.acquire("notes-get", "alice@host pid 1", lease_seconds=10)
    store.send_signal("notes-get", "rollback", {"reason": "bad"})
    clock.advance(60)  # the holder died; `lambdashift resume` takes over and looks
    store.acquire("notes-get", "bob@host pid 2")
    assert store.take_signals("notes-get") == [
        Signal("notes-get", "rollback", {"reason": "bad"}, T0)
    ]


def test_a_signal_needs_a_kind_and_json_details(store):
    with pytest.raises(ValueError):
        store.send_signal("notes-get", "")
    with pytest.raises(TypeError):
        store.send_signal("notes-get", "promote", {"at": object()})
    with pytest.raises(ValueError):
        store.send_signal("notes-get", "promote", {"weight": float("inf")})


# --- namespaces -------------------------------------------------------------------------------


def test_namespaces_sharing_a_file_never_see_each_other(db_path, clock):
    with SqliteStateStore(db_path, namespace="local", clock=clock) as local, \
            SqliteStateStore(db_path, namespace="aws:us-east-1", clock=clock) as aws:
        local.save(rollout("r-1", phase=Phase.PAUSED))
        local.record_event("r-1", "notes-get", "step", {})
        local.send_signal("notes-get", "promote")
        local.acquire("notes-get", "alice@host pid 1")

        assert aws.load("r-1") is None
        assert aws.active() == [] and aws.latest("notes-get") is None
        assert aws.events("r-1") == []
        assert aws.holder("notes-get") is None
        aws.acquire("notes-get", "bob@host pid 2")  # not locked here
        aws.save(rollout("r-9", phase=Phase.PAUSED))
        assert aws.take_signals("notes-get") == []
        assert [s.kind for s in local.take_signals("notes-get")] == ["promote"]
        assert [s.rollout_id for s in local.active()] == ["r-1"]


def test_the_same_rollout_id_can_exist_in_two_namespaces(db_path, clock):
    with SqliteStateStore(db_path, namespace="local", clock=clock) as local, \
            SqliteStateStore(db_path, namespace="aws:eu-west-1", clock=clock) as aws:
        local.save(rollout("r-1", "notes-get"))
        aws.save(rollout("r-1", "notes-list"))
        assert local.load("r-1").function == "notes-get"
        assert aws.load("r-1").function == "notes-list"


def test_a_namespace_is_required(db_path):
    with pytest.raises(ValueError):
        SqliteStateStore(db_path, namespace="")


# --- the file ---------------------------------------------------------------------------------


def test_the_schema_and_directory_are_created_on_first_use(db_path, clock):
    assert not db_path.parent.exists()
    SqliteStateStore(db_path, namespace="local", clock=clock).close()
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_data_outlives_the_store_object(db_path, clock):
    with SqliteStateStore(db_path, namespace="local", clock=clock) as first:
        first.save(rollout())
        first.acquire("notes-get", "alice@host pid 1")
    with SqliteStateStore(db_path, namespace="local", clock=clock) as second:
        assert second.load("r-1") == rollout()
        assert second.holder("notes-get").owner == "alice@host pid 1"


def test_the_store_satisfies_the_protocol(store):
    assert isinstance(store, StateStore)


def test_a_garbage_file_is_refused_naming_its_path(db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(LambdashiftError, match=re.escape(str(db_path)) + ".*unreadable"):
        SqliteStateStore(db_path, namespace="local")
    assert db_path.read_bytes() == b"this is not a database\n" * 200


def test_a_foreign_database_is_refused_and_left_untouched(db_path):
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE photos (id INTEGER)")
    db.close()
    before = db_path.read_bytes()
    with pytest.raises(LambdashiftError) as caught:
        SqliteStateStore(db_path, namespace="local")
    assert str(caught.value).startswith(f"{db_path} is not a lambdashift state database")
    assert "photos" in str(caught.value)
    assert db_path.read_bytes() == before


def test_a_database_from_a_newer_lambdashift_is_refused(db_path):
    SqliteStateStore(db_path, namespace="local").close()
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(LambdashiftError, match="newer lambdashift"):
        SqliteStateStore(db_path, namespace="local")


def test_a_directory_in_place_of_the_file_is_a_clear_error(db_path):
    db_path.mkdir(parents=True)
    with pytest.raises(LambdashiftError, match=re.escape(str(db_path))):
        SqliteStateStore(db_path, namespace="local")


def test_a_state_saved_by_an_unknown_schema_is_a_clear_error(store, db_path):
    store.save(rollout())
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE rollouts SET doc = json_set(doc, '$.schema', 99)")
    db.close()
    with pytest.raises(LambdashiftError, match="rollout r-1 cannot be read"):
        store.load("r-1")


def test_a_writer_that_holds_the_file_too_long_is_a_clear_error(db_path, clock):
    with SqliteStateStore(db_path, namespace="local", clock=clock, busy_timeout=0.1) as s:
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(LambdashiftError, match="stayed locked by another process"):
                s.acquire("notes-get", "alice@host pid 1")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert s.acquire("notes-get", "alice@host pid 1").owner == "alice@host pid 1"


# --- the rate ledger --------------------------------------------------------------------------


def test_the_rate_ledger_grants_a_burst_then_one_slot_per_interval(store, clock):
    waits = [store.reserve_rate("lambda", 10.0, 3) for _ in range(6)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3], abs=1e-5)


def test_the_rate_ledger_refills_while_idle_but_never_beyond_the_burst(store, clock):
    for _ in range(5):
        store.reserve_rate("lambda", 10.0, 3)
    clock.advance(60)  # idle for a minute: a full burst again, not 600 saved-up calls
    waits = [store.reserve_rate("lambda", 10.0, 3) for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.1], abs=1e-5)


def test_rate_ledgers_are_per_key(store, clock):
    assert store.reserve_rate("a", 1.0, 1) == 0.0
    assert store.reserve_rate("b", 1.0, 1) == 0.0
    assert store.reserve_rate("a", 1.0, 1) == pytest.approx(1.0, abs=1e-5)


def test_threads_reserving_at_once_get_distinct_slots(store, clock):
    barrier = threading.Barrier(8)
    waits: list[float] = []

    def reserve() -> None:
        barrier.wait()
        waits.append(store.reserve_rate("lambda", 4.0, 1))

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([n / 4.0 for n in range(8)], abs=1e-5)
