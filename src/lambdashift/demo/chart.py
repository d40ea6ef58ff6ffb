"""The release at a glance: a PNG and a self-contained HTML page of the demo's timeline.

One panel per function that was released (and one for the naive redeploy): for each bin of
about a second, cut at every alias switch so that no bin spans one, the requests sent in it
per second, stacked by the version that answered them, with the failed ones (5xx, 429, no
answer) in red on top. Nothing is smoothed, so a version appears only in bins after the
switch that gave it traffic. The alias's share of the new version is a black line on the
right axis; the demo's steps are labelled vertical lines. The HTML page carries the same
chart as inline SVG (no script, no CDN), the plain-words summary and the key figures.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never a window, never a display

import matplotlib.pyplot as plt  # noqa: E402

from lambdashift.demo.figures import FAILED  # noqa: E402
from lambdashift.model import Traffic  # noqa: E402

_COLOURS = {"1": "#4c78a8", "2": "#72b7b2", "3": "#f58518", "4": "#b279a2", "-": "#999999",
            FAILED: "#d62728"}
#: What a panel's stacks mean, under the chart.
NOTE = ("Each bar: the requests sent in one bin (1 s, cut at every alias switch so that no bin spans one), "
        "per second, by the version that answered them;\nfailed requests (5xx, 429, no answer) in red on "
        "top. Nothing is smoothed.")


def legend_label(key: str, *, served: str = "served by v", unversioned: str = "answered without a version header") -> str:
    """The legend's words for a stack: a version, the failed requests, or answers that named
    no version (``-``)."""
    if key.isdigit():
        return f"{served}{key}"
    if key == FAILED:
        return "failed (5xx, 429 or no answer)"
    if key == "-":
        return unversioned
    return key


def _share_line(weights: list[dict[str, Any]], end: float) -> tuple[str, list[float], list[float]] | None:
    """The newest version's share of the alias over time, as step coordinates."""
    if not weights:
        return None
    named = {w["primary"] for w in weights} | {w["canary"] for w in weights if w["canary"]}
    newest = max(named, key=int)
    xs, ys = [], []
    for w in weights:
        share = Traffic(w["primary"], w["canary"], w["weight"]).share_of(newest) * 100
        if ys:
            xs.append(w["t"])
            ys.append(ys[-1])
        xs.append(w["t"])
        ys.append(share)
    xs.append(end)
    ys.append(ys[-1])
    return newest, xs, ys


def stacks(series: dict[str, Any]) -> list[str]:
    """The panel's stacks, bottom to top: versions in order, other answers, failed last."""
    rate = series["rate"]
    return (sorted((v for v in rate if v.isdigit()), key=int)
            + sorted(v for v in rate if not v.isdigit() and v != FAILED) + [v for v in rate if v == FAILED])


def _panel(ax: Any, title: str, series: dict[str, Any], end: float, marks: list[tuple[float, str]],
           **words: str) -> None:
    rate, errors, edges = series["rate"], series["errors"], series["edges"]
    keys = stacks(series)
    if keys:
        # step="post" draws each value from its bin's left edge to the next: repeat the last.
        ax.stackplot(edges, *[rate[k] + rate[k][-1:] for k in keys], step="post",
                     labels=[legend_label(k, **words) for k in keys],
                     colors=[_COLOURS.get(k, "#bbbbbb") for k in keys], alpha=0.85)
        total = sum(sum(v) for v in errors.values())
        if total:
            failed = rate[FAILED]
            first = min(i for i in range(len(failed)) if failed[i])
            # The arrow points at the first red bar, on top of its bin's stack.
            y = sum(rate[k][first] for k in keys) - failed[first] / 2
            ax.annotate(f"{total} failed", (edges[first], y), xytext=(-14, 0),
                        textcoords="offset points", color="#d62728", fontsize=9, ha="right",
                        va="center", fontweight="bold",
                        arrowprops={"arrowstyle": "->", "color": "#d62728"},
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.set_xlim(0, end)
    ax.set_ylabel("requests/s")
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    for i, (t, label) in enumerate(marks):
        ax.axvline(t, color="#444444", linestyle=":", linewidth=0.9)
        ax.annotate(label, (t, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3 - 13 * (i % 2)),
                    textcoords="offset points", fontsize=8, va="top", fontweight="bold",
                    color="#222222", bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    # While the alias is split, shade it: orange for a canary, red for one that was rolled back.
    weights = series.get("weights", [])
    for i, w in enumerate(weights):
        if w["canary"] is None:
            continue
        until = weights[i + 1]["t"] if i + 1 < len(weights) else end
        rolled = i + 1 < len(weights) and weights[i + 1]["primary"] == w["primary"] and weights[i + 1]["canary"] is None
        ax.axvspan(w["t"], until, color="#f4cccc" if rolled else "#fde9c8", zorder=0, alpha=0.7)
    handles, labels = ax.get_legend_handles_labels()
    line = _share_line(series.get("weights", []), end)
    if line is not None:
        newest, lx, ly = line
        twin = ax.twinx()
        twin.plot(lx, ly, color="black", linewidth=1.8, label=f"alias share of v{newest} (%)")
        twin.set_ylim(-5, 105)
        twin.set_ylabel(f"% to v{newest}")
        more = twin.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if handles:
        # One legend, on the left: over the steady state before the releases, where the
        # story's events (switches, failures, rollbacks) are not.
        (twin if line is not None else ax).legend(handles, labels, loc="center left", fontsize=7, framealpha=0.85)


def panel_title(function: str, route: str, release: dict[str, Any]) -> str:
    """A released function's panel title, from what its release did."""
    if not release.get("published", True):
        return f"{function} ({route}): no new version published; live serves {release.get('alias_after')}"
    outcome = {"succeeded": "promoted", "none": "no rollout ran",
               "rolled_back": "ROLLED BACK" + (" by the judge" if "analysis" in release.get("reason", "") else "")
               }.get(release.get("outcome", ""), release.get("outcome", ""))
    cold = "" if release.get("prewarm", True) else " without pre-warm"
    return f"{function} ({route}): {release['strategy']} v{release['from']} → v{release['to']}{cold}, {outcome}"


def switch_labels(weights: list[dict[str, Any]]) -> list[tuple[float, str]]:
    """Each switch of an alias (after its first state), at the time it took effect."""
    out = []
    for before, w in zip(weights, weights[1:]):
        if w["canary"] is not None:
            out.append((w["t"], f"v{w['canary']} {w['weight'] * 100:g}%"))
        elif before["canary"] is not None and before["primary"] == w["primary"]:
            out.append((w["t"], f"rolled back to v{w['primary']}"))
        else:
            out.append((w["t"], f"v{w['primary']} 100%"))
    return out


def figure(report: dict[str, Any]) -> Any:
    """The matplotlib figure of a demo report."""
    tl = report["timeline"]
    start = tl["start"]
    end = report["lambdashift_section"]["end"] - start
    releases = {r["function"]: r for r in report.get("releases", [])}
    released = [f for f in releases if f in tl["functions"]]
    naive = report.get("naive")
    rows = len(released) + (1 if naive else 0)
    headline = _wrap(report["headline"])
    height = 2.5 * rows + 2.4 + 0.2 * headline.count("\n")
    fig, axes = plt.subplots(rows + 1, 1, figsize=(13, height), squeeze=False,
                             gridspec_kw={"height_ratios": [0.55] + [1] * rows})
    # The story's steps, numbered, on a strip above the panels (their lines run through them).
    strip = axes[0, 0]
    strip.set_xlim(0, end)
    strip.set_ylim(0, 1)
    strip.axis("off")
    steps = [(max(0.0, m["t"] - start), m["label"], m.get("short") or m["text"], bool(m.get("problems")))
             for m in report["steps"] if m["t"] - start <= end]
    strip.set_title("the story's steps (red: did not happen as described)", loc="left", fontsize=9, color="#555555")
    for i, (t, label, text, wrong) in enumerate(steps):
        strip.annotate(f"{label}. {_short(text)}" + (" ✗" if wrong else ""), (t, 0.72 - 0.33 * (i % 3)),
                       fontsize=9, color="#d62728" if wrong else "#222222", xytext=(3, 0),
                       textcoords="offset points", fontweight="bold")
        strip.axvline(t, color="#999999", linewidth=0.8, ymax=0.95)
    for ax, function in zip(axes[1:, 0], released):
        series = tl["functions"][function]
        title = panel_title(function, series["route"], releases[function])
        _panel(ax, title, series, end, switch_labels(series["weights"]))
        for t, *_ in steps:
            ax.axvline(t, color="#bbbbbb", linewidth=0.6, zorder=0)
    if released:
        axes[len(released), 0].set_xlabel("seconds since the live traffic started")
    if naive:
        ax = axes[-1, 0]
        t0 = naive["start"]
        _panel(ax, f"for contrast, reported apart: {naive['function']} redeployed in place (no versions, "
                   f"no alias; every caller on $LATEST)\nthe {naive['gap_seconds']:g} s between the two calls "
                   "stand in for the time AWS takes to finish a code update", naive["timeline"],
               naive["end"] - t0,
               [(naive["code_update_at"] - t0, "UpdateFunctionCode"),
                (naive["config_update_at"] - t0, "   UpdateFunctionConfiguration")],
               served="answered by release ", unversioned="refused by the Lambda API")
        ax.set_xlabel("seconds since the naive section started")
    fig.suptitle(headline, fontsize=11, x=0.01, ha="left",
                 color="#d62728" if report.get("failed_step") else "black")
    fig.text(0.01, 0.005, NOTE, fontsize=8, color="#555555", ha="left", va="bottom")
    top = 1 - (0.3 + 0.2 * headline.count("\n")) / height
    fig.tight_layout(rect=(0, 0.3 / height, 1, top))
    return fig


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:59] + "…"


def _wrap(text: str, width: int = 150) -> str:
    words, lines, current = text.split(" "), [], ""
    for w in words:
        if current and len(current) + 1 + len(w) > width:
            lines.append(current)
            current = w
        else:
            current = f"{current} {w}".strip()
    return "\n".join([*lines, current])


def write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """``demo-timeline.png`` and ``demo-timeline.html`` in ``directory``."""
    fig = figure(report)
    png = directory / "demo-timeline.png"
    fig.savefig(png, dpi=110)
    svg = io.StringIO()
    fig.savefig(svg, format="svg")
    plt.close(fig)
    page = directory / "demo-timeline.html"
    svg_text = svg.getvalue()
    svg_text = svg_text[svg_text.find("<svg"):]  # drop the XML prolog: inline in HTML
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in report["key_figures"].items())
    summary = "".join(f"<li>{html.escape(s)}</li>" for s in report["summary"])
    page.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lambdashift demo: the release at a glance</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:1400px}}
table{{border-collapse:collapse}}th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
svg{{max-width:100%;height:auto}}</style></head><body>
<h1>lambdashift demo: the release at a glance</h1>
<ul>{summary}</ul>
{svg_text}
<h2>Key figures</h2><table>{rows}</table>
<p>Every figure comes from <code>demo-report.json</code> beside this page.</p>
</body></html>
""", encoding="utf-8")
    return png, page
