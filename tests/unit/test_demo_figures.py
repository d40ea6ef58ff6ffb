"""The demo's figures: the binomial interval, the switches, the split and the p99 windows."""

from __future__ import annotations

import math
import random

from lambdashift.demo.figures import Mark, binomial_interval, canary_split, p99, switch_latency, switches
from lambdashift.loadgen import GET, Request
from lambdashift.model import Traffic


def test_the_binomial_interval_leaves_at_most_the_tails_outside():
    n, p = 2000, 0.1
    lo, hi = binomial_interval(n, p, 0.999)

    from fractions import Fraction

    q = Fraction(1, 10)

    def cdf(k: int) -> float:  # P(X <= k), exactly
        return float(sum(math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k + 1)))
    assert cdf(lo - 1) <= 0.0005 < cdf(lo)
    assert 1 - cdf(hi) <= 0.0005 < 1 - cdf(hi - 1)
    assert lo < 200 < hi


def test_a_fair_10_percent_split_falls_inside_its_interval_and_a_20_percent_one_does_not():
    rng = random.Random(1)
    fair = [Request(t / 100, GET, 200, "2" if rng.random() < 0.1 else "1", 5.0) for t in range(3000)]
    skewed = [Request(t / 100, GET, 200, "2" if rng.random() < 0.2 else "1", 5.0) for t in range(3000)]
    assert canary_split(fair, GET, "2", 0.1, 0, 30)["inside"] is True
    result = canary_split(skewed, GET, "2", 0.1, 0, 30)
    assert result["inside"] is False and 0.17 < result["observed"] < 0.23


def test_a_switch_is_a_change_of_a_functions_traffic_between_marks():
    marks = [Mark(1, "notes-get", "started", "", Traffic("1")),
             Mark(2, "notes-get", "prewarmed", "", Traffic("1")),
             Mark(3, "notes-get", "traffic", "", Traffic("1", "2", 0.1)),
             Mark(4, "", "step", "a demo step"),
             Mark(9, "notes-get", "succeeded", "", Traffic("2"))]
    found = switches(marks)
    assert [(m.t, str(before), str(m.traffic)) for m, before in found] == [
        (3, "1 (100%)", "1 (90%) + 2 (10%)"), (9, "1 (90%) + 2 (10%)", "2 (100%)")]


def test_the_switch_p99_compares_the_seconds_after_a_switch_with_the_seconds_before():
    before = [Request(i / 10, GET, 200, "1", 10.0) for i in range(100)]          # 0..10 s
    after = [Request(10 + i / 10, GET, 200, "2", 10.0) for i in range(100)]      # 10..20 s
    after[3] = after[3]._replace(ms=500.0)  # one cold start among 100 requests: the max
    after[4] = after[4]._replace(ms=400.0)
    row = switch_latency(before + after, GET, 10.0, window=10, baseline=10)
    assert row["p99_steady_ms"] == 10.0 and row["p99_switch_ms"] == 400.0 and row["ratio"] == 40.0
    assert p99([]) is None


# --- the chart's bins: what happened per bin, never a version before its switch ------------

from lambdashift.demo.figures import FAILED, bin_edges, rates, switch_time, timeline  # noqa: E402
from lambdashift.loadgen import CREATE  # noqa: E402


def _switching(at: float, *, early: float | None = None) -> list[Request]:
    """POSTs every 0.1 s for 30 s: v1 before ``at``, v2 from it (one sent at ``early`` too,
    as when the alias write precedes its notice)."""
    out = [Request(t / 10, CREATE, 201, "2" if t / 10 >= at else "1", 5.0) for t in range(300)]
    if early is not None:
        out.append(Request(early, CREATE, 201, "2", 5.0))
    return sorted(out)


def test_no_bin_spans_a_cut_and_every_bin_is_between_half_a_step_and_one_and_a_half():
    rng = random.Random(3)
    for _ in range(200):
        cuts = sorted(rng.uniform(0, 30) for _ in range(rng.randrange(4)))
        cuts = [c for i, c in enumerate(cuts) if i == 0 or c - cuts[i - 1] >= 0.5]
        edges = bin_edges(0.0, 30.0, cuts)
        assert edges[0] == 0.0 and edges[-1] == 30.0 and set(cuts) <= set(edges)
        widths = [b - a for a, b in zip(edges, edges[1:])]
        assert all(w < 1.5 + 1e-9 for w in widths)
        # Narrower than half a step only where two cuts, or a cut and an end, are that close.
        for a, b in zip(edges, edges[1:]):
            assert b - a >= 0.5 - 1e-9 or a in cuts or b in cuts or a == 0.0


def test_a_v2_bar_never_appears_before_its_switch_time():
    """The old chart's 3 s centred moving average drew v2 a second before the switch."""
    rng = random.Random(5)
    for _ in range(50):
        at = rng.uniform(3, 27)
        marks = [Mark(0.0, "notes-create", "started", "", Traffic("1")),
                 Mark(at, "notes-create", "succeeded", "", Traffic("2"))]
        tl = timeline(_switching(at), marks, 0.0, 30.0)["functions"]["notes-create"]
        switch = tl["weights"][1]["t"]
        assert switch == at
        edges, v2 = tl["edges"], tl["rate"]["2"]
        assert all(edges[i] >= switch for i in range(len(v2)) if v2[i] > 0)
        assert all(edges[i + 1] <= switch for i, x in enumerate(tl["rate"]["1"]) if x > 0)


def test_a_request_v2_answered_just_before_the_notice_moves_the_switch_to_it_not_before():
    marks = [Mark(0.0, "notes-create", "started", "", Traffic("1")),
             Mark(12.5, "notes-create", "succeeded", "", Traffic("2"))]
    tl = timeline(_switching(12.5, early=12.46), marks, 0.0, 30.0)["functions"]["notes-create"]
    assert tl["weights"][1]["t"] == 12.46  # when the clients saw it: drawn there, cut there
    assert all(tl["edges"][i] >= 12.46 for i, x in enumerate(tl["rate"]["2"]) if x)
    # One sent long before the notice is not explained by the write: it stays where it was.
    assert switch_time(_switching(12.5, early=3.0), 12.5, ["2"], after=0.0) == 12.5


def test_bins_count_what_happened_in_them_per_second_failed_requests_apart():
    requests = [Request(0.2, CREATE, 201, "1", 5.0), Request(0.7, CREATE, 500, "2", 5.0),
                Request(1.1, CREATE, 0, "-", 5.0), Request(2.5, CREATE, 201, "2", 5.0)]
    rate, errors = rates(requests, [0.0, 1.0, 2.0, 3.0])
    assert rate == {"1": [1.0, 0.0, 0.0], FAILED: [1.0, 1.0, 0.0], "2": [0.0, 0.0, 1.0]}
    assert errors == {"2": [1, 0, 0], "no answer": [0, 1, 0]}
    # Per second of the bin's own width: one request in half a second is 2 requests/s.
    assert rates(requests[:1], [0.0, 0.5, 1.0])[0] == {"1": [2.0, 0.0]}


# --- the picture: every legend entry named, every title inside the figure --------------------

def _report(*, failed_step: bool = False) -> dict:
    """A demo report from made-up records: notes-create switched at 10.4 s, notes-list split
    at 15 s and rolled back at 20 s after failures, and a naive section with refusals."""
    from lambdashift.demo import report
    from lambdashift.demo.story import FAST
    from lambdashift.loadgen import LIST

    rng = random.Random(2)
    requests = _switching(10.4)
    for i in range(300):
        t = i / 10
        v2 = 15 <= t < 20 and rng.random() < 0.25
        requests.append(Request(t, LIST, 500 if v2 and rng.random() < 0.3 else 200, "2" if v2 else "1", 5.0))
    requests.sort()
    marks = [Mark(0.0, "notes-create", "started", "", Traffic("1")),
             Mark(10.4, "notes-create", "succeeded", "", Traffic("2")),
             Mark(14.0, "notes-list", "started", "", Traffic("1")),
             Mark(15.0, "notes-list", "traffic", "", Traffic("1", "2", 0.25)),
             Mark(20.0, "notes-list", "rolled_back", "", Traffic("1"))]
    create = {"function": "notes-create", "strategy": "blue-green", "prewarm": True, "exit_code": 0,
              "outcome": "succeeded", "reason": "", "from": "1", "to": "2", "published": not failed_step,
              "path": [], "switches": [], "alias_after": "2 (100%)", "prewarmed": True}
    listing = {**create, "function": "notes-list", "strategy": "judged canary 25%", "outcome": "rolled_back",
               "reason": "rolled back: analysis: v2 errors", "exit_code": 1, "alias_after": "1 (100%)"}
    steps = [{"t": 0.0, "label": "1", "text": "v1 live", "short": "v1 live", "problems": []},
             {"t": 9.0, "label": "2", "text": "create", "short": "create blue-green",
              "problems": ["no rollout ran, not succeeded"] if failed_step else []}]
    naive_rows = ([[t / 10, "GET /notes (naive)", 409, "-", 3.0] for t in range(10)]
                  + [[1 + t / 10, "GET /notes (naive)", 200, "1", 3.0] for t in range(50)]
                  + [[6 + t / 10, "GET /notes (naive)", 500, "2", 3.0] for t in range(20)]
                  + [[8 + t / 10, "GET /notes (naive)", 200, "2", 3.0] for t in range(40)])
    naive = {"function": "notes-list-naive", "start": 0.0, "end": 12.0, "code_update_at": 6.0,
             "config_update_at": 8.0, "gap_seconds": 2, "requests": 120, "failed": 20,
             "failed_between_the_two_calls": 20, "answered_by_release_1_after_the_code_update": 0,
             "answered_by_release_2_at_the_end": 40, "p99_steady_ms": 3.0, "p99_redeploy_ms": 3.0,
             "records": naive_rows}
    return report.build(requests=requests, marks=marks, steps=steps, releases=[create, listing], mixed={},
                        canary=None, naive=naive, pace=FAST, lambdashift_end=30.0, began=0.0)


def test_every_legend_entry_is_named_and_the_naive_refusals_are_not_a_dash():
    from lambdashift.demo import chart

    fig = chart.figure(_report())
    labels = {t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()}
    assert {"served by v1", "served by v2", "failed (5xx, 429 or no answer)", "answered by release 1",
            "answered by release 2", "refused by the Lambda API", "alias share of v2 (%)"} <= labels
    assert all(label.strip() and label.strip() != "-" and not label.startswith("_") for label in labels)
    assert chart.legend_label("-") == "answered without a version header"


def test_every_title_and_the_note_fit_inside_the_picture():
    from lambdashift.demo import chart

    fig = chart.figure(_report())
    fig.canvas.draw()
    renderer, page = fig.canvas.get_renderer(), fig.bbox
    texts = [ax.title for ax in fig.axes if ax.get_title(loc="left")] + [fig._suptitle, *fig.texts]
    texts += [ax._left_title for ax in fig.axes if ax.get_title(loc="left")]
    for text in texts:
        box = text.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1, text.get_text()
    assert any("redeployed in place" in ax.get_title(loc="left") for ax in fig.axes)


def test_the_headline_says_what_happened_not_what_the_story_planned():
    ok, failed = _report(), _report(failed_step=True)
    assert ok["headline"].startswith("notes-create blue-green v1 → v2: promoted")
    assert "notes-list v2 rolled back after" in ok["headline"]
    assert failed["headline"].startswith("DEMO FAILED at step 2 (create blue-green): no rollout ran")
    assert "notes-create blue-green" not in failed["headline"]
