"""The state store shared by real processes: lock races, killed holders, durable intents.

Children are started with ``spawn`` (a fresh interpreter, as a second `lambdashift` command
would be) and use the real clock; the tests assert the order of what happened, never
absolute times.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from lambdashift.core.state import Intent, RolloutState
from lambdashift.errors import LockedError
from lambdashift.model import Phase, Traffic, WeightStep
from lambdashift.store.sqlite import SqliteStateStore
from lambdashift.store.locks import owner_id

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")

SPAWN = multiprocessing.get_context("spawn")
WAIT = 60.0  # generous bound on any one wait; a healthy run takes well under a second each
NAMESPACE = "local"


def pending(rollout_id: str) -> RolloutState:
    return RolloutState.new(rollout_id, "notes-get", "live", "1", "2",
                            (WeightStep(0.1), WeightStep(1.0)), now=1.0)


def with_intent(rollout_id: str) -> RolloutState:
    """The state the engine saves just before writing the alias to 10%."""
    return RolloutState(
        rollout_id, "notes-get", "live", "1", "2", (WeightStep(0.1), WeightStep(1.0)),
        phase=Phase.PROGRESSING, revision_id="rev-a", started_at=2.0, updated_at=2.0,
        intent=Intent(Traffic("1", "2", 0.1), "rev-a"),
    )


def run(target, *args: Any) -> multiprocessing.process.BaseProcess:
    process = SPAWN.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def drain(q: Any, count: int) -> list[Any]:
    return [q.get(timeout=WAIT) for _ in range(count)]


# --- children (module level, so that spawn can import them) ---------------------------------


def race_for_the_lock(path: Path, barrier: Any, results: Any) -> None:
    me = owner_id()
    barrier.wait(timeout=WAIT)
    try:
        # Opening after the barrier too: the schema is created by racing processes.
        with SqliteStateStore(path, namespace=NAMESPACE) as store:
            store.acquire("notes-get", me, lease_seconds=60)
        results.put(("won", me, ""))
    except LockedError as exc:
        results.put(("locked", me, str(exc)))
    except Exception as exc:  # reported, so that the parent fails with the reason
        results.put(("error", me, repr(exc)))


def open_fresh_files(paths: list[Path], barrier: Any, results: Any) -> None:
    for path in paths:
        barrier.wait(timeout=WAIT)
        try:
            with SqliteStateStore(path, namespace=NAMESPACE) as store:
                store.record_event("r-1", "notes-get", "opened", {})
            results.put("ok")
        except Exception as exc:
            results.put(repr(exc))


def acquire_and_hang(path: Path, lease_seconds: float, out: Any) -> None:
    store = SqliteStateStore(path, namespace=NAMESPACE)
    lease = store.acquire("notes-get", owner_id(), lease_seconds=lease_seconds)
    out.put((lease.owner, lease.acquired_at, lease.expires_at))
    time.sleep(WAIT)  # killed long before this ends


def contend_until_acquired(path: Path, go: Any, log: Any) -> None:
    with SqliteStateStore(path, namespace=NAMESPACE) as store:
        go.wait(timeout=WAIT)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                lease = store.acquire("notes-get", owner_id(), lease_seconds=30)
            except LockedError as exc:
                log.put(("locked", str(exc)))
                time.sleep(0.05)
                continue
            old = lease.taken_over_from
            log.put(("won", lease.acquired_at, old.owner if old else None,
                     old.expires_at if old else None))
            return
        log.put(("gave up",))


def save_intent_then_die(path: Path, rollout_id: str) -> None:
    store = SqliteStateStore(path, namespace="aws:us-east-1")
    store.save(pending(rollout_id))
    store.save(with_intent(rollout_id))
    # As if the machine died right before the alias write: no close, no outcome saved.
    os.kill(os.getpid(), signal.SIGKILL)


def write_many(path: Path, worker: int, count: int) -> None:
    with SqliteStateStore(path, namespace=NAMESPACE) as store:
        for n in range(count):
            store.save(pending(f"r-{worker}-{n}"))
            store.record_event("r-shared", "notes-get", "step", {"worker": worker, "n": n})


def send_signals(path: Path, count: int) -> None:
    with SqliteStateStore(path, namespace=NAMESPACE) as store:
        for n in range(count):
            store.send_signal("notes-get", "approve", {"n": n})


def take_until_done(path: Path, done: Any, out: Any) -> None:
    taken: list[int] = []
    with SqliteStateStore(path, namespace=NAMESPACE) as store:
        while True:
            finished = done.is_set()  # read first: one more take after it is set gets the rest
            taken += [s.details["n"] for s in store.take_signals("notes-get")]
            if finished:
                break
            time.sleep(0.001)
    out.put(taken)


# --- tests ----------------------------------------------------------------------------------


def test_eight_processes_race_for_one_lock_and_exactly_one_wins(tmp_path):
    path = tmp_path / ".lambdashift" / "state.db"  # not there yet: created by the racers
    barrier, results = SPAWN.Barrier(8), SPAWN.Queue()
    children = [run(race_for_the_lock, path, barrier, results) for _ in range(8)]
    outcomes = drain(results, 8)
    for child in children:
        child.join(WAIT)

    assert [o for o in outcomes if o[0] == "error"] == []
    winners = [owner for kind, owner, _ in outcomes if kind == "won"]
    assert len(winners) == 1
    refusals = [message for kind, _, message in outcomes if kind == "locked"]
    assert len(refusals) == 7
    for message in refusals:
        assert message.startswith(f"notes-get is being rolled out by {winners[0]} since ")
    with SqliteStateStore(path, namespace=NAMESPACE) as store:
        assert store.holder("notes-get").owner == winners[0]


def test_processes_creating_the_file_at_once_all_get_a_working_store(tmp_path):
    # A reader must see another process's schema creation whole, never half done.
    paths = [tmp_path / f"round-{n}" / "state.db" for n in range(10)]
    barrier, results = SPAWN.Barrier(8), SPAWN.Queue()
    children = [run(open_fresh_files, paths, barrier, results) for _ in range(8)]
    outcomes = drain(results, 8 * len(paths))
    for child in children:
        child.join(WAIT)
    assert [o for o in outcomes if o != "ok"] == []
    for path in paths:
        with SqliteStateStore(path, namespace=NAMESPACE) as store:
            assert len(store.events("r-1")) == 8


def test_a_killed_holder_keeps_the_lock_until_its_lease_expires_then_it_is_taken_over(tmp_path):
    path = tmp_path / "state.db"
    SqliteStateStore(path, namespace=NAMESPACE).close()
    go, log, held = SPAWN.Event(), SPAWN.Queue(), SPAWN.Queue()
    contender = run(contend_until_acquired, path, go, log)  # ready and waiting, so it is quick
    holder = run(acquire_and_hang, path, 2.0, held)  # short, yet long enough on a busy machine
    dead_owner, _, dead_expiry = held.get(timeout=WAIT)
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(WAIT)
    assert holder.exitcode == -signal.SIGKILL
    go.set()

    attempts = []
    while not attempts or attempts[-1][0] == "locked":
        attempts.append(log.get(timeout=WAIT))
    contender.join(WAIT)

    *refused, (kind, won_at, taken_from, taken_expiry) = attempts
    assert kind == "won"
    # The dead process's lease held while it lasted: the first tries were refused, naming it.
    assert refused, "the contender should have met the dead holder's lease"
    assert all(f"rolled out by {dead_owner} since" in message for _, message in refused)
    # Then it was taken over, from the dead owner, no earlier than its expiry.
    assert taken_from == dead_owner
    assert taken_expiry == dead_expiry
    assert won_at >= dead_expiry


def test_an_intent_saved_just_before_a_kill_is_on_disk(tmp_path):
    path = tmp_path / "state.db"
    for n in range(3):
        child = run(save_intent_then_die, path, f"r-{n}")
        child.join(WAIT)
        assert child.exitcode == -signal.SIGKILL
    with SqliteStateStore(path, namespace="aws:us-east-1") as store:
        for n in range(3):
            assert store.load(f"r-{n}") == with_intent(f"r-{n}")
        assert len(store.active("notes-get")) == 3


def test_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "state.db"
    SqliteStateStore(path, namespace=NAMESPACE).close()
    children = [run(write_many, path, worker, 25) for worker in range(4)]
    for child in children:
        child.join(WAIT)
        assert child.exitcode == 0
    with SqliteStateStore(path, namespace=NAMESPACE) as store:
        assert len(store.history("notes-get", limit=1000)) == 100
        events = store.events("r-shared")
    assert len(events) == 100
    for worker in range(4):  # each writer's own events stay in its order
        mine = [e.details["n"] for e in events if e.details["worker"] == worker]
        assert mine == list(range(25))


def test_signals_taken_by_racing_processes_are_each_delivered_once_in_order(tmp_path):
    path = tmp_path / "state.db"
    with SqliteStateStore(path, namespace=NAMESPACE) as store:
        store.save(pending("r-1"))  # the active rollout the signals are for
    done, out = SPAWN.Event(), SPAWN.Queue()
    consumers = [run(take_until_done, path, done, out) for _ in range(2)]
    producer = run(send_signals, path, 100)
    producer.join(WAIT)
    assert producer.exitcode == 0
    done.set()
    taken = drain(out, 2)
    for consumer in consumers:
        consumer.join(WAIT)

    assert sorted(taken[0] + taken[1]) == list(range(100))  # none lost, none twice
    for mine in taken:
        assert mine == sorted(mine)
