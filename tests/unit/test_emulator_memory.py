"""What a busy emulator keeps in memory costs its collector nothing (issue 20, p99).

The invocation records and log events are kept as exact tuples of plain values, which
CPython's collector stops tracking after one collection. Kept as objects, 200,000 of them
made full collections of 35-260 ms in the emulator process, which set the p99 of every
runtime under wrk (bench/emulator_invoke.py).
"""

from __future__ import annotations

import gc

from lambdashift.emulator.awslambda.invocation_records import InvocationRecord, MetricsRecorder
from lambdashift.emulator.logs.store import LogStore


def _kept_tracked(containers) -> int:  # noqa: ANN001
    gc.collect()  # a collection is when CPython untracks tuples of untracked values
    return sum(gc.is_tracked(item) for container in containers for item in container)


def test_invocation_records_are_kept_untracked_and_read_back_whole():
    recorder = MetricsRecorder()
    for i in range(1000):
        recorder.record(InvocationRecord(float(i), "fn", "live", "2", 1.5, None, i % 10 == 0, False))
    assert _kept_tracked(recorder._records.values()) == 0
    back = recorder.records("fn", since=990.0, qualifier="live")
    assert [r.timestamp for r in back] == [float(i) for i in range(990, 1000)]
    assert back[0] == InvocationRecord(990.0, "fn", "live", "2", 1.5, None, True, False)


def test_log_events_are_kept_untracked_and_read_back_whole():
    logs = LogStore(clock=lambda: 1.0)
    logs.put("/aws/lambda/fn", "s1", [(1000 + i, f"line {i}") for i in range(1000)])
    group = logs._groups["/aws/lambda/fn"]
    assert _kept_tracked(s.events for s in group.streams.values()) == 0
    events = logs.stream_events("/aws/lambda/fn", "s1")
    assert [e.message for e in events[:2]] == ["line 0", "line 1"]
    assert events[0].size > len("line 0") and events[1].event_id > events[0].event_id
