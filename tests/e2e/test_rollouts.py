"""Rollouts through the CLI on the local stack: every strategy, gates, steering, order, races.

The engine talks to the local stack through the same boto3 code path as to AWS. Pauses
are a second or less and polling is fast, so a rollout here takes a few seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.e2e.conftest import NotesStack
from tests.e2e.rollout_helpers import alias_traffic, history, new_version, run, set_rollout, traffic_writes

FAST = ["--poll", "0.1"]


def test_canary_custom_steps_reach_the_candidate(notes_stack: NotesStack):
    # These tests are about the steps' mechanics: `analysis: off` makes a pause a plain wait
    # (test_analysis_e2e.py shows the judge, which is the default).
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 10}, {"pause": "1s"}, {"weight": 100}]})
    version = new_version(notes_stack, "notes-list")
    out = run(notes_stack, "deploy", "notes-list", *FAST)
    assert out.returncode == 0, out.stderr
    assert "target: local stack" in out.stderr
    assert alias_traffic(notes_stack, "notes-list") == (version, None, 0.0)
    last = history(notes_stack, "notes-list")[0]
    assert last["phase"] == "succeeded"
    stable = str(int(version) - 1)
    assert traffic_writes(last) == [f"{stable} (90%) + {version} (10%)", f"{version} (100%)"]


def test_linear_moves_in_equal_steps(notes_stack):
    set_rollout(notes_stack, {"strategy": "linear", "increments": 4, "pause": "0.2s", "analysis": "off"})
    version = new_version(notes_stack, "notes-update")
    out = run(notes_stack, "deploy", "notes-update", *FAST)
    assert out.returncode == 0, out.stderr
    writes = traffic_writes(history(notes_stack, "notes-update")[0])
    assert [w.split("+")[-1].strip() for w in writes] == [
        f"{version} (25%)", f"{version} (50%)", f"{version} (75%)", f"{version} (100%)"]


def test_blue_green_switches_all_at_once(notes_stack):
    set_rollout(notes_stack, {"strategy": "blue-green"})
    version = new_version(notes_stack, "notes-delete")
    out = run(notes_stack, "deploy", "notes-delete", *FAST)
    assert out.returncode == 0, out.stderr
    assert traffic_writes(history(notes_stack, "notes-delete")[0]) == [f"{version} (100%)"]


def test_codedeploy_preset_name_is_accepted_in_dry_run(notes_stack):
    version = new_version(notes_stack, "notes-get")
    before = alias_traffic(notes_stack, "notes-get")
    out = run(notes_stack, "deploy", "notes-get", "--strategy", "LambdaLinear10PercentEvery1Minute",
              "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)["plan"][0]
    assert len(plan["writes"]) == 10 and plan["writes"][-1] == f"{version} (100%)"
    # Judged by default: each of the nine 1-minute pauses is a look of the judge, said in words.
    judged = [s for s in plan["steps"] if s.startswith(f"judge v{version} against")]
    # Time-boxed: each preset minute is its clock (issue 17), and each says what it can catch.
    assert len(judged) == 9 and "goes on after 1m unless harm is seen" in judged[0]
    assert "looks every 0.2 s" in judged[0]
    assert len(plan["forecasts"]) == 9 and all(f.startswith("forecast") for f in plan["forecasts"].values())
    assert alias_traffic(notes_stack, "notes-get") == before  # a dry run changes nothing
    set_rollout(notes_stack, {"strategy": "custom", "steps": [{"weight": 100}]})
    assert run(notes_stack, "deploy", "notes-get", *FAST).returncode == 0


def test_invocation_pause_waits_for_candidate_traffic(notes_stack):
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 50}, {"pause": {"invocations": 5}}, {"weight": 100}]})
    version = new_version(notes_stack, "notes-list")
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=notes_stack.api_url, timeout=30) as http:
            while not stop.is_set():
                http.get("/notes")
                time.sleep(0.02)

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        out = run(notes_stack, "deploy", "notes-list", *FAST)
    finally:
        stop.set()
        sender.join()
    assert out.returncode == 0, out.stderr
    assert alias_traffic(notes_stack, "notes-list")[0] == version


def test_manual_gate_stops_with_exit_3_and_approve_continues(notes_stack):
    set_rollout(notes_stack, {"strategy": "custom", "steps": [{"weight": 20}, {"pause": "manual"}, {"weight": 100}]})
    version = new_version(notes_stack, "notes-update")
    stable = alias_traffic(notes_stack, "notes-update")[0]
    out = run(notes_stack, "deploy", "notes-update", "--no-wait", *FAST)
    assert out.returncode == 3, out.stderr
    assert alias_traffic(notes_stack, "notes-update") == (stable, version, 0.2)
    status = json.loads(run(notes_stack, "status", "notes-update", "--json").stdout)
    assert status["functions"][0]["rollout"]["phase"] == "paused"
    approved = run(notes_stack, "approve", "notes-update", *FAST)
    assert approved.returncode == 0, approved.stderr
    assert alias_traffic(notes_stack, "notes-update") == (version, None, 0.0)


def test_promote_passes_a_gate_with_all_traffic_to_the_candidate(notes_stack):
    set_rollout(notes_stack, {"strategy": "custom",
                              "steps": [{"weight": 10}, {"pause": "manual"}, {"weight": 50}, {"pause": "manual"},
                                        {"weight": 100}]})
    version = new_version(notes_stack, "notes-delete")
    assert run(notes_stack, "deploy", "notes-delete", "--no-wait", *FAST).returncode == 3
    promoted = run(notes_stack, "promote", "notes-delete", *FAST)
    assert promoted.returncode == 0, promoted.stderr
    assert alias_traffic(notes_stack, "notes-delete") == (version, None, 0.0)


def test_rollback_mid_rollout_restores_the_stable_version(notes_stack):
    set_rollout(notes_stack, {"strategy": "custom", "steps": [{"weight": 30}, {"pause": "manual"}, {"weight": 100}]})
    stable = alias_traffic(notes_stack, "notes-create")[0]
    new_version(notes_stack, "notes-create")
    assert run(notes_stack, "deploy", "notes-create", "--no-wait", *FAST).returncode == 3
    back = run(notes_stack, "rollback", "notes-create", "--reason", "testing rollback", *FAST)
    assert back.returncode == 0, back.stderr
    assert alias_traffic(notes_stack, "notes-create") == (stable, None, 0.0)
    last = history(notes_stack, "notes-create")[0]
    assert last["phase"] == "rolled_back" and "testing rollback" in last["reason"]


def test_shift_then_promote_and_rollback_after_a_rollout(notes_stack):
    v_old = alias_traffic(notes_stack, "notes-get")[0]
    v_new = new_version(notes_stack, "notes-get")
    out = run(notes_stack, "shift", "notes-get", "--to", v_new, "--weight", "25")
    assert out.returncode == 0, out.stderr
    assert alias_traffic(notes_stack, "notes-get") == (v_old, v_new, 0.25)
    assert run(notes_stack, "promote", "notes-get").returncode == 0
    assert alias_traffic(notes_stack, "notes-get") == (v_new, None, 0.0)
    assert run(notes_stack, "shift", "notes-get", "--to", v_old).returncode == 0
    assert alias_traffic(notes_stack, "notes-get") == (v_old, None, 0.0)
    bad = run(notes_stack, "shift", "notes-get", "--to", "999")
    assert bad.returncode == 2 and "no published version" in bad.stderr
    bad_weight = run(notes_stack, "shift", "notes-get", "--to", v_new, "--weight", "150")
    assert bad_weight.returncode == 2


def test_rollback_after_a_finished_rollout_returns_to_its_stable(notes_stack):
    set_rollout(notes_stack, {"strategy": "custom", "steps": [{"weight": 100}]})
    stable = alias_traffic(notes_stack, "notes-list")[0]
    version = new_version(notes_stack, "notes-list")
    assert run(notes_stack, "deploy", "notes-list", *FAST).returncode == 0
    assert alias_traffic(notes_stack, "notes-list")[0] == version
    assert run(notes_stack, "rollback", "notes-list").returncode == 0
    assert alias_traffic(notes_stack, "notes-list") == (stable, None, 0.0)
    entries = history(notes_stack, "notes-list")
    assert entries[0]["rollout_id"].startswith("rollback-") and entries[1]["phase"] == "succeeded"


def test_rollback_after_shift_and_promote_returns_to_the_version_before(notes_stack):
    """Issue 8: `rollback` after a shift + promote by hand goes back to what served before,
    and each change is its own history entry."""
    v_old = alias_traffic(notes_stack, "notes-update")[0]
    v_new = new_version(notes_stack, "notes-update")
    assert run(notes_stack, "shift", "notes-update", "--to", v_new, "--weight", "10").returncode == 0
    assert run(notes_stack, "promote", "notes-update").returncode == 0
    assert alias_traffic(notes_stack, "notes-update") == (v_new, None, 0.0)
    back = run(notes_stack, "rollback", "notes-update", "--reason", "bad release")
    assert back.returncode == 0, back.stderr
    assert alias_traffic(notes_stack, "notes-update") == (v_old, None, 0.0)
    entries = history(notes_stack, "notes-update")
    assert [e["rollout_id"].split("-")[0] for e in entries[:3]] == ["rollback", "promote", "shift"]
    written = [ev for ev in entries[0]["events"] if ev["kind"] == "alias_written"][0]["details"]
    assert (written["before"]["primary"], written["after"]["primary"]) == (v_new, v_old)
    assert written["revision_id"] == notes_stack.lam.get_alias(FunctionName="notes-update", Name="live")["RevisionId"]
    # A rollback is not undone by another one: it says so, and changes nothing.
    again = run(notes_stack, "rollback", "notes-update")
    assert again.returncode == 1 and "nothing to roll back" in again.stderr
    assert alias_traffic(notes_stack, "notes-update") == (v_old, None, 0.0)


def test_rollback_to_any_published_version(notes_stack):
    first = notes_stack.lam.list_versions_by_function(FunctionName="notes-update")["Versions"][1]["Version"]
    assert run(notes_stack, "rollback", "notes-update", "--to", first).returncode == 0
    assert alias_traffic(notes_stack, "notes-update") == (first, None, 0.0)
    assert history(notes_stack, "notes-update")[0]["rollout_id"].startswith("rollback-")
    bad = run(notes_stack, "rollback", "notes-update", "--to", "999")
    assert bad.returncode == 2 and "no published version" in bad.stderr


def test_rollback_is_revision_guarded_against_a_concurrent_change(notes_stack, monkeypatch, capsys):
    """Someone changes the alias between rollback's read and its write: AWS refuses the write
    (PreconditionFailed on the RevisionId read), the other change stands, nothing is recorded."""
    from lambdashift.aws.lambda_api import LambdaApi
    from lambdashift.cli.main import main

    fn = "notes-delete"
    v_old = alias_traffic(notes_stack, fn)[0]
    v_new = new_version(notes_stack, fn)
    assert run(notes_stack, "shift", "notes-delete", "--to", v_new).returncode == 0
    entries = len(history(notes_stack, fn))
    read = LambdaApi.get_alias

    def read_then_someone_writes(self, function, alias):  # noqa: ANN001, ANN202
        state = read(self, function, alias)
        notes_stack.lam.update_alias(FunctionName=fn, Name="live", FunctionVersion=v_new,
                                     RoutingConfig={"AdditionalVersionWeights": {v_old: 0.5}})
        return state
    monkeypatch.setattr(LambdaApi, "get_alias", read_then_someone_writes)
    code = main(["rollback", fn, "--config", str(notes_stack.root / "lambdashift.yaml")])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 1 and "changed by someone else" in err and "nothing was written" in err
    assert alias_traffic(notes_stack, fn) == (v_new, v_old, 0.5)  # the other writer's change stands
    assert len(history(notes_stack, fn)) == entries
    assert run(notes_stack, "rollback", fn).returncode == 0  # a split no rollout owns: to its primary
    assert alias_traffic(notes_stack, fn) == (v_new, None, 0.0)


def test_dependency_order_across_the_five_notes_functions(notes_stack):
    """notes-get declares after: [notes-create]: it starts only once notes-create succeeded."""
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 50}, {"pause": "0.5s"}, {"weight": 100}]})
    versions = {fn: new_version(notes_stack, fn) for fn in
                ("notes-create", "notes-get", "notes-list", "notes-update", "notes-delete")}
    out = run(notes_stack, "deploy", "--json", *FAST)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {fn: r["phase"] for fn, r in result["rollouts"].items()} == {fn: "succeeded" for fn in versions}
    for fn, version in versions.items():
        assert alias_traffic(notes_stack, fn)[0] == version
    create, get = history(notes_stack, "notes-create")[0], history(notes_stack, "notes-get")[0]
    create_done = max(e["at"] for e in create["events"])
    get_started = min(e["at"] for e in get["events"])
    assert get_started >= create_done
    # Independent functions ran side by side: notes-list started before notes-create ended.
    list_started = min(e["at"] for e in history(notes_stack, "notes-list")[0]["events"])
    assert list_started < create_done


def test_a_second_deploy_of_the_same_function_exits_2_naming_the_holder(notes_stack):
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 10}, {"pause": "4s"}, {"weight": 100}]})
    new_version(notes_stack, "notes-update")
    first = subprocess.Popen([sys.executable, "-m", "lambdashift.cli.main", "deploy", "notes-update", *FAST,
                              "--config", str(notes_stack.root / "lambdashift.yaml")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while alias_traffic(notes_stack, "notes-update")[1] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        second = run(notes_stack, "deploy", "notes-update", *FAST)
        assert second.returncode == 2, second.stderr
        assert "being rolled out by" in second.stderr and "pid" in second.stderr
        assert len(second.stderr.strip().splitlines()) <= 2  # the target line, then one error line
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err


def test_an_alias_changed_mid_rollout_is_detected_not_overwritten(notes_stack):
    set_rollout(notes_stack, {"strategy": "custom", "analysis": "off",
                              "steps": [{"weight": 10}, {"pause": "2s"}, {"weight": 100}]})
    stable = alias_traffic(notes_stack, "notes-delete")[0]
    new_version(notes_stack, "notes-delete")
    deploy = subprocess.Popen([sys.executable, "-m", "lambdashift.cli.main", "deploy", "notes-delete", *FAST,
                               "--config", str(notes_stack.root / "lambdashift.yaml")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while alias_traffic(notes_stack, "notes-delete")[1] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # Someone else (a person, Terraform) puts the alias back on the stable version.
    notes_stack.lam.update_alias(FunctionName="notes-delete", Name="live", FunctionVersion=stable,
                                 RoutingConfig={"AdditionalVersionWeights": {}})
    _, err = deploy.communicate(timeout=60)
    assert deploy.returncode == 1, err
    assert "drift" in err
    assert alias_traffic(notes_stack, "notes-delete") == (stable, None, 0.0)  # not overwritten
    last = history(notes_stack, "notes-delete")[0]
    assert last["phase"] == "failed" and last["reason"].startswith("drift")


def test_deploy_with_nothing_to_do_exits_0(notes_stack):
    out = run(notes_stack, "deploy", "notes-create", *FAST)
    assert out.returncode == 0, out.stderr
    assert "nothing to do" in out.stderr


def test_status_and_export_tfvars_agree(notes_stack):
    out = run(notes_stack, "export-tfvars")
    assert out.returncode == 0, out.stderr
    written = json.loads((notes_stack.root / "infra" / "traffic.auto.tfvars.json").read_text())
    status = json.loads(run(notes_stack, "status", "--json").stdout)
    assert status["warnings"] == []
    for row in status["functions"]:
        assert written["traffic"][row["function"]]["primary"] == row["primary"]
    new = new_version(notes_stack, "notes-list")
    assert run(notes_stack, "shift", "notes-list", "--to", new).returncode == 0
    status = json.loads(run(notes_stack, "status", "--json").stdout)
    assert any("notes-list" in w and "export-tfvars" in w for w in status["warnings"])


@pytest.mark.parametrize("args", [["deploy", "no-such-fn"], ["deploy", "--strategy", "sideways"],
                                  ["shift", "notes-get"], ["history"]])
def test_usage_errors_exit_2_with_one_line(notes_stack, args):
    out = run(notes_stack, *args)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
