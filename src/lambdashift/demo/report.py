"""``demo-report.json``, the pictures, and the plain-words summary of a demo run."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lambdashift.demo import checks, figures
from lambdashift.demo.figures import ROUTE_OF, Mark
from lambdashift.loadgen import LIST, Request

REPORT = "demo-report.json"
#: A pre-warmed switch passes when its p99 is at most this many times the steady state's.
P99_RATIO_LIMIT = 1.5


def build(*, requests: list[Request], marks: list[Mark], steps: list[dict[str, Any]],
          releases: list[dict[str, Any]], mixed: dict[str, Any], canary: dict[str, Any] | None,
          naive: dict[str, Any] | None, pace: Any, lambdashift_end: float, began: float) -> dict[str, Any]:
    """Every figure of the run, as a JSON-ready dict: what happened, whatever the story said
    (``naive`` is None and later releases are missing when the story stopped early)."""
    start = requests[0].t if requests else began
    by_function = {r["function"]: r for r in releases}
    # The broken release: failures served by its candidate version on its route.
    broken = by_function.get("notes-list", {})
    bad_version = broken.get("to")
    in_broken = [r for r in requests if r.failed and r.route == LIST and r.version == bad_version]
    failed = [r for r in requests if r.failed]
    result: dict[str, Any] = {
        "report_version": 2, "mode": pace.name, "rate": pace.rate, "clients": pace.clients,
        "switch_window": pace.switch_window,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(began)),
        "requests": {"total": len(requests), "failed": len(failed),
                     "unexpected_4xx": sum(1 for r in requests if r.unexpected),
                     "by_route_version_status": figures.by_route_version_status(requests)},
        "lambdashift_section": {"start": start, "end": lambdashift_end, "requests": len(requests),
                                "failed": len(failed), "failed_in_broken_release": len(in_broken),
                                "failed_outside_broken_release": len(failed) - len(in_broken)},
        "releases": releases, "mixed_fleet": mixed, "steps": steps,
        "failed_step": checks.first_failed(steps),
    }
    # Every switch: p99 of the function's route just after it, against just before.
    switch_rows, switch_marks = [], []
    for mark, before in figures.switches(marks):
        # A pre-warm is noticed right before its write: the function's notice before the switch.
        earlier = [m for m in marks if m.function == mark.function and m.t <= mark.t and m is not mark]
        row = {"function": mark.function, "at": mark.t, "from": str(before), "to": str(mark.traffic),
               "prewarmed": bool(earlier) and earlier[-1].event == "prewarmed",
               **figures.switch_latency(requests, ROUTE_OF[mark.function], mark.t,
                                        window=pace.switch_window, baseline=pace.steady)}
        switch_rows.append(row)
        after = mark.traffic
        if mark.event == "rolled_back":
            label = f"rolled back to v{after.primary}"
        elif after.canary is not None:
            label = f"v{after.canary} {after.weight * 100:g}%"
        else:
            label = f"v{after.primary} 100%"
        switch_marks.append({"t": mark.t, "function": mark.function, "label": label})
    result["switches"] = switch_rows
    result["switch_marks"] = switch_marks
    bg = [s for s in switch_rows if s["function"] == "notes-create"]
    cold = [s for s in switch_rows if s["function"] == "notes-update"]
    result["prewarm_comparison"] = {"limit_ratio": P99_RATIO_LIMIT,
                                    "prewarmed": bg[0] if bg else None,
                                    "not_prewarmed": cold[0] if cold else None}
    result["canary"] = canary
    result["broken_release"] = {
        "function": "notes-list", "version": bad_version, "released": bool(broken),
        "rolled_back": broken.get("outcome") == "rolled_back", "failed_requests": len(in_broken),
        "reason": broken.get("reason", "")} if broken else None
    if naive is not None:
        naive_requests = [Request(*r) for r in naive.pop("records", [])]
        # Cut at the two calls, moved to the first answer of release 2 as for the switches.
        code_at = figures.switch_time(naive_requests, naive["code_update_at"], ["2"], after=naive["start"])
        naive["timeline"] = figures.series(naive_requests, naive["start"], naive["end"],
                                           [code_at, naive["config_update_at"]])
    result["naive"] = naive
    result["timeline"] = figures.timeline(requests, marks, start, lambdashift_end)
    result["marks"] = [{**asdict(m), "traffic": str(m.traffic) if m.traffic else None} for m in marks]
    result["records"] = {"fields": list(Request._fields), "rows": [list(r) for r in requests]}
    result["wall_seconds"] = round(time.time() - began, 1)
    _words(result)
    return result


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} ms"


def _release_words(rel: dict[str, Any]) -> str:
    """What a release did, from its record: never the story's intent."""
    f = rel["function"]
    if not rel["published"]:
        return f"{f}: no new version published; live serves {rel['alias_after']}"
    verb = {"succeeded": "promoted", "rolled_back": "rolled back", "none": "no rollout ran"}.get(
        rel["outcome"], rel["outcome"])
    return (f"{f} {rel['strategy']} v{rel['from']} → v{rel['to']}"
            f"{'' if rel['prewarm'] else ' (no pre-warm)'}: {verb}, live serves {rel['alias_after']}")


def _words(r: dict[str, Any]) -> None:
    """The summary lines, the chart's headline and the key figures, from what happened."""
    sec, canary, broken, naive = r["lambdashift_section"], r["canary"], r["broken_release"], r["naive"]
    pw = r["prewarm_comparison"]
    lines, headline = [], []
    failed_step = r["failed_step"]
    if failed_step:
        headline.append(f"DEMO FAILED at step {failed_step['label']} ({failed_step['short']}): "
                        f"{failed_step['problems'][0]}")
    lines.append("steps: " + "; ".join(
        f"{s['label']} {s['short']} " + ("NOT AS DESCRIBED" if s["problems"] else "as described")
        for s in r["steps"]))
    for rel in r["releases"]:
        lines.append(_release_words(rel))
        if rel["function"] == "notes-create" and rel["published"]:  # else the failed step says it
            headline.append(_release_words(rel).split(", live serves")[0])
    if canary and canary["requests"]:
        lines.append(f"notes-get canary at 10%: v{canary['candidate']} served {canary['served_by_candidate']:,} of "
                     f"{canary['requests']:,} reads ({_pct(canary['observed'])}); 99.9% binomial interval "
                     f"{_pct(canary['interval_99_9'][0])}–{_pct(canary['interval_99_9'][1])}: "
                     + ("inside" if canary["inside"] else "OUTSIDE"))
        get = next((x for x in r["releases"] if x["function"] == "notes-get"), {})
        verb = {"succeeded": "promoted", "rolled_back": "rolled back"}.get(get.get("outcome", ""), get.get("outcome"))
        headline.append(f"notes-get canary 10% (observed {_pct(canary['observed'])}) → {verb}")
    m = r["mixed_fleet"]
    if m:
        lines.append(f"mixed fleet: notes-get v{m.get('read_by')} read a note notes-create v{m.get('written_by')} "
                     f"wrote; created_at {'passed through' if m.get('ok') else 'MISSING'}")
    for key, words in (("prewarmed", "pre-warmed switch (notes-create, blue-green)"),
                       ("not_prewarmed", "switch without pre-warm (notes-update, blue-green)")):
        s = pw[key]
        if s:
            ratio = "-" if s["ratio"] is None else f"{s['ratio']:.2f}×"
            lines.append(f"{words}: p99 {_ms(s['p99_switch_ms'])} in the {r['switch_window']:g} s after it vs "
                         f"{_ms(s['p99_steady_ms'])} steady = {ratio}")
    every = [f"{s['function']} → {s['to']}{'' if s['prewarmed'] else ' (cold)'}: "
             + ("-" if s["ratio"] is None else f"{s['ratio']:.2f}×") for s in r["switches"]]
    if every:
        lines.append("every switch, p99 after it / p99 before it: " + "; ".join(every))
    if broken:
        rolled = "rolled back by the judge" if broken["rolled_back"] else "NOT rolled back"
        why = broken["reason"].removeprefix("rolled back: ").split(";")[0]
        lines.append(f"notes-list v{broken['version']} (broken): {rolled} after {broken['failed_requests']} "
                     f"failed requests ({why})")
        headline.append(f"notes-list v{broken['version']} {'rolled back' if broken['rolled_back'] else 'NOT rolled back'} "
                        f"after {broken['failed_requests']} failed requests")
    outside = sec["failed_outside_broken_release"]
    where = " outside the broken release" if broken else ""
    lines.append(f"{outside} of {sec['requests']:,} requests failed{where} "
                 f"({r['requests']['unexpected_4xx']} unexpected 4xx)")
    headline.append(f"{outside} of {sec['requests']:,} requests failed{where}")
    if naive:
        lines.append(f"for contrast, naive redeploy in place of {naive['function']}: {naive['failed']} of "
                     f"{naive['requests']:,} requests failed ({naive['failed_between_the_two_calls']} between "
                     f"UpdateFunctionCode and UpdateFunctionConfiguration, {naive['gap_seconds']:g} s apart; "
                     f"{naive['answered_by_release_1_after_the_code_update']} more answered by release 1 after "
                     f"the code update); p99 {_ms(naive['p99_redeploy_ms'])} around the redeploy vs "
                     f"{_ms(naive['p99_steady_ms'])} before")
    r["summary"] = lines
    r["headline"] = "; ".join(headline)
    r["key_figures"] = {
        "steps as described": f"{sum(1 for s in r['steps'] if not s['problems'])} of {len(r['steps'])}",
        "requests (lambdashift part)": f"{sec['requests']:,}",
        "failed outside the broken release": outside,
        "failed in the broken release": sec["failed_in_broken_release"],
        "10% canary observed": _pct(canary["observed"]) if canary else "-",
        "99.9% interval": (f"{_pct(canary['interval_99_9'][0])}–{_pct(canary['interval_99_9'][1])}"
                           if canary else "-"),
        "p99 ratio, pre-warmed switch": f"{pw['prewarmed']['ratio']:.2f}" if pw["prewarmed"] and pw["prewarmed"]["ratio"] else "-",
        "p99 ratio, no pre-warm": f"{pw['not_prewarmed']['ratio']:.2f}" if pw["not_prewarmed"] and pw["not_prewarmed"]["ratio"] else "-",
        "naive redeploy: failed": f"{naive['failed']} of {naive['requests']:,}" if naive else "-",
        "wall time": f"{r['wall_seconds']:.0f} s",
    }


def write(r: dict[str, Any], directory: Path) -> None:
    """Save the report and the pictures, print the summary (the demo's verdict is its steps')."""
    from lambdashift.demo import chart

    path = directory / REPORT
    png, page = chart.write(r, directory)
    r["files"] = {"report": str(path.resolve()), "png": str(png.resolve()), "html": str(page.resolve())}
    path.write_text(json.dumps(r, indent=1, default=str) + "\n")
    print("\n== summary", flush=True)
    for line in r["summary"]:
        print(f"  - {line}")
    print(f"\nreport:  {path.resolve()}\npicture: {png.resolve()}\npage:    {page.resolve()}")
