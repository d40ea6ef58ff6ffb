"""`deploy --dry-run` says what each judged step can catch; `--rate` and `load` read their
flags as documented (issue 17 item 4): plain values, a fake target."""

from __future__ import annotations

import types

import pytest

from lambdashift.cli import load
from lambdashift.cli.main import main
from lambdashift.cli.plan_forecast import forecasts
from lambdashift.core.judge import VersionStats
from lambdashift.core.strategy import steps_for
from lambdashift.rollout.deploy import Candidate
from lambdashift.rollout.forecasting import parse_rate

STEPS = steps_for({"strategy": "canary", "weight": 10, "pause": "30s"}, judge=True)


class RecentMetrics:
    """``per_s`` requests/s to v1 through the alias, whatever the window."""

    recent = (10.0, 0.0)

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s

    def version_stats(self, function, alias, version, since, until) -> VersionStats:
        n = round(self.per_s * (until - since)) if version == "1" else 0
        return VersionStats(n, 0, version=version)


def session(metrics: object | None) -> object:
    config = types.SimpleNamespace(alias="live", analysis={})
    return types.SimpleNamespace(config=config, target=types.SimpleNamespace(metrics=metrics))


def test_the_dry_run_forecast_uses_the_alias_recent_traffic_times_the_weight():
    said = forecasts(session(RecentMetrics(42)), Candidate("notes-create", "1", "2", STEPS), None)
    assert said == {1: "forecast (live's traffic in the last 10 s: 42 requests/s): at 4.2 v2 "
                       "requests/s for 30 s, a v2 failing 5% is caught 96% of the time, one failing 1% 11%"}


def test_a_rate_on_the_command_line_wins_and_no_traffic_or_no_source_is_said():
    c = Candidate("notes-create", "1", "2", STEPS)
    assert forecasts(session(RecentMetrics(0)), c, 100.0)[1].startswith(
        "forecast (at --rate 100 requests/s to live): at 10 v2 requests/s for 30 s")
    assert forecasts(session(RecentMetrics(0)), c, None)[1] == (
        "forecast: live had no traffic in the last 10 s: nothing can be caught until requests "
        "arrive (--rate 40/s says what a rate would catch)")
    assert forecasts(session(None), c, None)[1].startswith("forecast: this target cannot tell")
    blue_green = steps_for({"strategy": "blue-green"}, judge=True)
    assert forecasts(session(RecentMetrics(42)), Candidate("f", "1", "2", blue_green), None) == {}


@pytest.mark.parametrize("text, per_s", [("40", 40.0), ("40/s", 40.0), ("600/min", 10.0),
                                         ("3600/h", 1.0), (" 2.5/s ", 2.5)])
def test_rates_read_as_documented(text, per_s):
    assert parse_rate(text) == per_s


@pytest.mark.parametrize("text", ["fast", "40/day", "-1", "inf", "nan"])
def test_a_bad_rate_is_refused(text):
    with pytest.raises(ValueError):
        parse_rate(text)


@pytest.mark.parametrize("argv, words", [
    (["deploy", "--rate", "40/s"], "--rate is for --dry-run"),
    (["load", "ftp://example.invalid/x"], "URL must be http(s)"),
    (["load", "http://127.0.0.1:9/", "--rate", "0"], "--rate must be above 0"),
    (["load", "http://127.0.0.1:9/", "--rate", "2000"], "at most 1000/s"),
    (["load", "http://127.0.0.1:9/", "--for", "2h"], "--for is at most 1h"),
    (["load", "http://127.0.0.1:9/", "-X", "BREW"], "--method must be one of"),
    (["load", "http://127.0.0.1:9/", "-H", "no colon"], "--header must be 'Name: value'"),
])
def test_bad_flags_exit_2_with_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


def test_the_load_summary_counts_versions_and_failures():
    from collections import Counter

    counts = Counter({("1", 201): 90, ("2", 201): 9, ("2", 500): 1, ("no answer", 0): 2})
    assert load.summary(counts, 100, 1.0) == (
        "load: 102 requests in 1 s (102/s of 100/s asked): v1 90 (0 failed), v2 10 (1 failed), "
        "no answer 2 (2 failed); 3 failed in all")


def test_traffic_begun_a_moment_ago_is_not_averaged_away():
    from lambdashift.rollout.forecasting import recent_traffic

    class Ramp(RecentMetrics):
        """100 requests/s to v1 for the last 3 s only."""

        def version_stats(self, function, alias, version, since, until) -> VersionStats:
            n = round(100 * max(0.0, until - max(since, until - 3))) if version == "1" else 0
            return VersionStats(n, 0, version=version)

    rate, _ = recent_traffic(Ramp(0), "f", "live", ("1", "2"), 1000.0)
    assert rate == pytest.approx(90.0)  # 300 requests in the last third (3.3 s), not 30/s over 10 s
    steady, _ = recent_traffic(RecentMetrics(42), "f", "live", ("1", "2"), 1000.0)
    assert steady == pytest.approx(42.0)
