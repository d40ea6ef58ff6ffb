"""kill -9 at every step boundary and between every alias write and its persisted outcome.

First a census run counts how often each failpoint is passed in one rollout; then, for
every point and every pass, a deploy is killed there (SIGKILL, no clean-up), the alias is
checked to be owned by the unfinished rollout or on a single version, and ``resume`` must
finish the rollout on the candidate. The same for a rollback. Prints the counts.
"""

from __future__ import annotations

import json

from tests.e2e.conftest import NotesStack
from tests.reliability_log import record
from tests.e2e.rollout_helpers import alias_traffic, new_version, run, set_rollout

STEPS = [{"weight": 10}, {"pause": "0.2s"}, {"weight": 50}, {"pause": "0.2s"}, {"weight": 100}]
GATED = [{"weight": 30}, {"pause": "manual"}, {"weight": 100}]
FAST = ["--poll", "0.05"]


def census(stack: NotesStack, tmp_path, fn: str, *args: str) -> dict[str, int]:
    counts = tmp_path / f"census-{fn}.json"
    out = run(stack, *args, fn, *FAST, env={"LAMBDASHIFT_FAILPOINT_CENSUS": str(counts)})
    assert out.returncode in (0, 3), out.stderr
    return json.loads(counts.read_text())


def owned_or_single(stack: NotesStack, fn: str) -> tuple[bool, str]:
    """The alias serves one version, or the split the unfinished rollout owns."""
    primary, canary, _ = alias_traffic(stack, fn)
    if canary is None:
        return True, f"single version {primary}"
    status = json.loads(run(stack, "status", fn, "--json").stdout)["functions"][0]
    rollout = status.get("rollout")
    if rollout and (rollout["stable"], rollout["candidate"]) == (primary, canary):
        return True, f"split {primary}+{canary} owned by {rollout['id']}"
    return False, f"split {primary}+{canary} that no rollout owns"


def test_kill_9_at_every_failpoint_then_resume(notes_stack: NotesStack, tmp_path):
    fn = "notes-list"
    # The crash points of the alias writes and waits, not the judge's: `analysis: off`.
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off", "steps": STEPS})
    new_version(notes_stack, fn)
    points = census(notes_stack, tmp_path, fn, "deploy")
    assert points["before_alias_write"] == points["after_alias_write"] == 3
    cases, inconsistent, failures = 0, 0, []
    for point, passes in sorted(points.items()):
        for k in range(1, passes + 1):
            candidate = new_version(notes_stack, fn)
            crashed = run(notes_stack, "deploy", fn, *FAST, env={"LAMBDASHIFT_FAILPOINTS": f"{point}:{k}"})
            assert crashed.returncode == -9, (point, k, crashed.returncode, crashed.stderr)
            cases += 1
            ok, what = owned_or_single(notes_stack, fn)
            resumed = run(notes_stack, "resume", *FAST)
            final = alias_traffic(notes_stack, fn)
            if not ok or resumed.returncode != 0 or final != (candidate, None, 0.0):
                inconsistent += 1
                failures.append((point, k, what, resumed.returncode, final, resumed.stderr[-400:]))
    print(f"\ncrash matrix (rollout): {cases} kill -9 cases over {len(points)} failpoints "
          f"{dict(points)}; inconsistent outcomes: {inconsistent}")
    record("crash matrix", f"kill -9 of a deploy at each failpoint pass {dict(points)}, then resume",
           cases, f"{inconsistent} inconsistent outcomes (alias owned or single, resume finishes)",
           inconsistent)
    assert cases >= 10
    assert inconsistent == 0, failures


def test_kill_9_during_a_rollback_then_resume(notes_stack: NotesStack, tmp_path):
    fn = "notes-get"
    set_rollout(notes_stack, {"strategy": "custom", "steps": GATED})
    stable = alias_traffic(notes_stack, fn)[0]
    new_version(notes_stack, fn)
    assert run(notes_stack, "deploy", fn, "--no-wait", *FAST).returncode == 3
    points = census(notes_stack, tmp_path, fn, "rollback")
    assert points["before_alias_write"] == 1
    cases, inconsistent, failures = 0, 0, []
    for point, passes in sorted(points.items()):
        for k in range(1, passes + 1):
            new_version(notes_stack, fn)
            assert run(notes_stack, "deploy", fn, "--no-wait", *FAST).returncode == 3
            stable = alias_traffic(notes_stack, fn)[0]
            crashed = run(notes_stack, "rollback", fn, *FAST, env={"LAMBDASHIFT_FAILPOINTS": f"{point}:{k}"})
            assert crashed.returncode == -9, (point, k, crashed.stderr)
            cases += 1
            ok, what = owned_or_single(notes_stack, fn)
            resumed = run(notes_stack, "resume", *FAST)
            final = alias_traffic(notes_stack, fn)
            if not ok or resumed.returncode not in (0, 1) or final != (stable, None, 0.0):
                inconsistent += 1
                failures.append((point, k, what, resumed.returncode, final, resumed.stderr[-400:]))
    print(f"\ncrash matrix (rollback): {cases} kill -9 cases over {len(points)} failpoints "
          f"{dict(points)}; inconsistent outcomes: {inconsistent}")
    record("crash matrix", f"kill -9 of a rollback at each failpoint pass {dict(points)}, then resume",
           cases, f"{inconsistent} inconsistent outcomes (alias back on stable)", inconsistent)
    assert cases >= 3
    assert inconsistent == 0, failures
