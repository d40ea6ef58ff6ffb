"""The release at a glance: a PNG and a self-contained HTML page of the demo's timeline.

One panel per function that was released (and one for the naive redeploy): requests per
second by the version that served them (stacked), failed requests in red, and the alias's
share of the new version as a black line on the right axis; the demo's steps as labelled
vertical lines. The HTML page carries the same chart as inline SVG (no script, no CDN),
the plain-words summary and the key figures.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never a window, never a display

import matplotlib.pyplot as plt  # noqa: E402

from lambdashift.model import Traffic  # noqa: E402

_COLOURS = {"1": "#4c78a8", "2": "#72b7b2", "3": "#f58518", "4": "#b279a2", "-": "#999999",
            "no answer": "#000000"}
_SMOOTH = 3  # seconds: a moving average, so a 10% share reads as a band, not as noise


def _smooth(values: list[float]) -> list[float]:
    """A centred moving average (a trailing one would draw every switch late)."""
    half = _SMOOTH // 2
    out = []
    for i in range(len(values)):
        window = values[max(0, i - half): i + half + 1]
        out.append(sum(window) / len(window))
    return out


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


def _panel(ax: Any, title: str, series: dict[str, Any], step: float, end: float,
           marks: list[tuple[float, str]], *, served: str = "served by v") -> None:
    rate, errors = series["rate"], series["errors"]
    versions = sorted((v for v in rate if v.isdigit()), key=int) + [v for v in rate if not v.isdigit()]
    if versions:
        length = len(next(iter(rate.values())))
        xs = [i * step for i in range(length)]
        ax.stackplot(xs, *[_smooth(rate[v]) for v in versions], step="post",
                     labels=[f"{served}{v}" if v.isdigit() else v for v in versions],
                     colors=[_COLOURS.get(v, "#bbbbbb") for v in versions], alpha=0.85)
        failed = [sum(errors[v][i] for v in errors) for i in range(length)]
        if any(failed):
            ax.bar(xs, [f / step for f in failed], width=step, align="edge", color="#d62728",
                   label="failed requests/s", zorder=3)
        total = sum(sum(v) for v in errors.values())
        if total:
            first = min(i for i in range(length) if failed[i])
            ax.annotate(f"{total} failed", (first * step, max(failed) / step / 2), xytext=(-14, 0),
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
    line = _share_line(series.get("weights", []), end)
    if line is not None:
        newest, lx, ly = line
        twin = ax.twinx()
        twin.plot(lx, ly, color="black", linewidth=1.8, label=f"alias share of v{newest} (%)")
        twin.set_ylim(-5, 105)
        twin.set_ylabel(f"% to v{newest}")
        twin.legend(loc="center right", fontsize=7, framealpha=0.8)
    ax.legend(loc="center left", fontsize=7, framealpha=0.8)


def figure(report: dict[str, Any]) -> Any:
    """The matplotlib figure of a demo report."""
    tl = report["timeline"]
    step, start = tl["step"], tl["start"]
    end = report["lambdashift_section"]["end"] - start
    released = [f for f in ("notes-create", "notes-get", "notes-update", "notes-list")
                if tl["functions"].get(f, {}).get("weights")]
    naive = report.get("naive")
    rows = len(released) + (1 if naive else 0)
    fig, axes = plt.subplots(rows + 1, 1, figsize=(13, 2.5 * rows + 2.2), squeeze=False,
                             gridspec_kw={"height_ratios": [0.55] + [1] * rows})
    # The story's steps, numbered, on a strip above the panels (their lines run through them).
    strip = axes[0, 0]
    strip.set_xlim(0, end)
    strip.set_ylim(0, 1)
    strip.axis("off")
    steps = [(max(0.0, m["t"] - start), m["label"], m.get("short") or m["text"]) for m in report["steps"]
             if m["t"] - start <= end]
    strip.set_title("the story's steps", loc="left", fontsize=9, color="#555555")
    for i, (t, label, text) in enumerate(steps):
        strip.annotate(f"{label}. {_short(text)}", (t, 0.72 - 0.33 * (i % 3)), fontsize=9,
                       color="#222222", xytext=(3, 0), textcoords="offset points", fontweight="bold")
        strip.axvline(t, color="#999999", linewidth=0.8, ymax=0.95)
    for ax, function in zip(axes[1:, 0], released):
        series = tl["functions"][function]
        own = [(m["t"] - start, m["label"]) for m in report["switch_marks"] if m["function"] == function]
        release = next((r for r in report.get("releases", []) if r["function"] == function), {})
        outcome = {"succeeded": "promoted", "rolled_back": "ROLLED BACK by the judge"}.get(
            release.get("outcome", ""), release.get("outcome", ""))
        what = f": {release['strategy']} v{release['from']} → v{release['to']}" if release.get("to") else ""
        cold = "" if release.get("prewarm", True) else " without pre-warm"
        _panel(ax, f"{function} ({series['route']}){what}{cold}, {outcome}", series, step, end, own)
        for t, _, _ in steps:
            ax.axvline(t, color="#bbbbbb", linewidth=0.6, zorder=0)
    axes[len(released), 0].set_xlabel("seconds since the live traffic started")
    if naive:
        ax = axes[-1, 0]
        t0 = naive["start"]
        _panel(ax, f"for contrast, reported apart: {naive['function']} redeployed in place "
                   f"(no versions, no alias; every caller on $LATEST; the {naive['gap_seconds']:g} s "
                   "between the two calls stand in for AWS's code-update time)", naive["timeline"],
               naive["timeline"]["step"], naive["end"] - t0,
               [(naive["code_update_at"] - t0, "UpdateFunctionCode"),
                (naive["config_update_at"] - t0, "   UpdateFunctionConfiguration")],
               served="answered by release ")
        ax.set_xlabel("seconds since the naive section started")
    fig.suptitle(_wrap(report["headline"]), fontsize=11, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
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
