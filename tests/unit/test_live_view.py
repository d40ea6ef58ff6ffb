"""What a running deploy shows: the live table on a terminal, plain lines with a heartbeat elsewhere."""

from __future__ import annotations

import dataclasses
import io
import time

from rich.console import Console

from lambdashift.cli import live
from lambdashift.core.machine import Notify, RolloutState
from lambdashift.core.strategy import steps_for
from lambdashift.model import Phase, Traffic


def _paused(now: float) -> RolloutState:
    """notes-get at 10%, in its 30 s pause, 10 s in."""
    state = RolloutState.new("r-1", "notes-get", "live", "1", "2",
                             steps_for({"strategy": "canary", "weight": 10, "pause": "30s"}))
    return dataclasses.replace(state, phase=Phase.PROGRESSING, step_index=1,
                               traffic=Traffic("1", "2", 0.1), step_started_at=now - 10,
                               wait_until=now + 20)


def _stats(function, alias, version, since, until):  # noqa: ANN001, ANN202
    return (100, 0, 12.0) if version == "1" else (10, 1, 30.0)


def test_a_waiting_rollout_prints_a_heartbeat_saying_what_it_waits_for(capsys):
    view = live.PlainReporter(_stats, heartbeat=0.3)
    err = ""
    with view:
        view.notify(_paused(time.time()), Notify("traffic", {"traffic": "1 (90%) + 2 (10%)", "step": 0}))
        deadline = time.monotonic() + 10
        while "waiting" not in err and time.monotonic() < deadline:
            time.sleep(0.1)
            err += capsys.readouterr().err
    assert "traffic now 1 (90%) + 2 (10%)" in err  # the change itself, then the heartbeat
    assert "… step 2/3: pause 30s" in err and "waiting: pause" in err
    assert "v2 1.0 req/s, 1 errors, p99 30 ms" in err


def test_no_heartbeat_after_the_rollout_ended(capsys):
    view = live.PlainReporter(None, heartbeat=0.2)
    with view:
        state = dataclasses.replace(_paused(time.time()), phase=Phase.SUCCEEDED, traffic=Traffic("2"))
        view.notify(state, Notify("succeeded", {"reason": "live serves 2"}))
        capsys.readouterr()
        time.sleep(0.8)
    assert "…" not in capsys.readouterr().err


def test_the_live_table_shows_step_split_per_version_figures_verdict_and_wait():
    out = io.StringIO()
    view = live.LiveReporter(_stats, console=Console(file=out, width=200, force_terminal=False))
    now = time.time()
    view.notify(_paused(now), Notify("verdict", {"verdict": "continue", "reasons": ["ran 10 s of 30 s"]}))
    view._refresh_stats()
    Console(file=out, width=200).print(view.render())
    text = out.getvalue()
    assert "step 2/3: pause" in text and "1 (90%) + 2 (10%)" in text
    assert "v1 10.0 req/s, 0 errors, p99 12 ms" in text and "v2 1.0 req/s" in text
    assert "not sure yet (ran 10 s of 30 s)" in text and "pause, 20 s left" in text


def test_a_shared_reporter_is_what_commands_report_into():
    shared = live.PlainReporter(None)
    with live.shared(shared):
        assert live.reporter_for(plain=False, metrics=None, local=True) is shared
    assert live.reporter_for(plain=True, metrics=None, local=True) is not shared


def test_a_time_boxed_analysis_says_it_decides_by_promote_after_not_max_wait():
    """With `promote_after: 5m` the step ends by 300 s; max_wait (3600 s) is not the horizon."""
    now = time.time()
    for params, limit in (({"promote_after": "5m"}, 300), ({}, 3600)):
        steps = steps_for({"strategy": "custom",
                           "steps": [{"weight": 10}, {"analysis": params}, {"weight": 100}]})
        state = dataclasses.replace(
            RolloutState.new("r-1", "notes-get", "live", "1", "2", steps),
            phase=Phase.PROGRESSING, step_index=1, traffic=Traffic("1", "2", 0.1),
            step_started_at=now - 60)
        fraction, words = live.wait_progress(state, now)
        assert words == f"analysis, 60 s (decides by {limit} s at the latest)"
        assert fraction == 60 / limit


def test_a_judged_pause_shows_its_clock():
    """`pause: 30s`, judged: time-boxed by default, the step ends at 30 s unless harm is seen."""
    now = time.time()
    steps = steps_for({"strategy": "canary", "weight": 10, "pause": "30s"}, judge=True)
    state = dataclasses.replace(
        RolloutState.new("r-1", "notes-get", "live", "1", "2", steps),
        phase=Phase.PROGRESSING, step_index=1, traffic=Traffic("1", "2", 0.1), step_started_at=now - 12)
    fraction, words = live.wait_progress(state, now)
    assert words == "analysis, 12 s of 30 s, then on unless harm is seen" and fraction == 12 / 30


FORECAST = ("forecast: at 4.2 v2 requests/s for 30 s, a v2 failing 5% is caught 96% of the time, "
            "one failing 1% 11%")


def test_the_live_view_prints_what_a_step_can_catch_as_it_starts_and_not_each_look():
    out = io.StringIO()
    view = live.LiveReporter(_stats, console=Console(file=out, width=250, force_terminal=False))
    state = _paused(time.time())
    view.notify(state, Notify("verdict", {"verdict": "continue", "reasons": [FORECAST, "waiting: …"]}))
    view.notify(state, Notify("verdict", {"verdict": "continue", "reasons": ["waiting: ran 1 s of 30 s"]}))
    printed = out.getvalue()
    assert f"notes-get            {FORECAST}" in printed
    assert "waiting: ran 1 s" not in printed


def test_plain_lines_print_the_forecast_whole(capsys):
    view = live.PlainReporter(None, heartbeat=60)
    with view:
        view.notify(_paused(time.time()), Notify("verdict", {"verdict": "continue",
                                                             "reasons": [FORECAST, "waiting: …"]}))
    assert capsys.readouterr().err.rstrip().endswith(f"notes-get            {FORECAST}")
