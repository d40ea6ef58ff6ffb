"""Lanes for the controller crash tests (``test_controller_crash.py``): one notes function
and one controller function scoped to it, armed with a failpoint through its environment,
and the cases a lane runs (detach, crash, disarm, the next tick, the checks)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from botocore.exceptions import ClientError

from lambdashift.aws.clients import make_client
from lambdashift.connections import open_controller_store
from lambdashift.controller.settings import (
    DEFAULT_FUNCTION,
    DEFAULT_SCHEDULE,
    ENV,
    ControllerSettings,
)
from lambdashift.model import Phase
from tests.e2e.conftest import NotesStack, settle
from tests.e2e.rollout_helpers import alias_traffic, new_version

FUNCTIONS = ["notes-create", "notes-get", "notes-list", "notes-update", "notes-delete"]
STEPS = [{"weight": 10}, {"pause": "0.2s"}, {"weight": 50}, {"pause": "0.2s"}, {"weight": 100}]
GATED = [{"weight": 30}, {"pause": "manual"}, {"weight": 100}]
FAILPOINTS, CENSUS = "LAMBDASHIFT_FAILPOINTS", "LAMBDASHIFT_FAILPOINT_CENSUS"



def schedule_state(stack: NotesStack, state: str) -> None:
    """The controller's schedule ENABLED or DISABLED (UpdateSchedule sends it whole)."""
    scheduler = make_client("scheduler", endpoint_url=stack.lambda_endpoint, local=True)
    schedule = scheduler.get_schedule(Name=DEFAULT_SCHEDULE)
    scheduler.update_schedule(Name=DEFAULT_SCHEDULE, State=state,
                              ScheduleExpression=schedule["ScheduleExpression"],
                              FlexibleTimeWindow=schedule["FlexibleTimeWindow"],
                              Target=schedule["Target"])


def open_store(stack: NotesStack):
    return open_controller_store(ControllerSettings(
        namespace="local", table="lambdashift-state", region="us-east-1",
        dynamodb_endpoint=stack.dynamodb_endpoint, lambda_endpoint=stack.lambda_endpoint))


def lambdashift(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lambdashift.cli.main", *args, "--config",
                           str(config)], capture_output=True, text=True, timeout=timeout)


def taken_events(store, rid: str) -> list[dict]:
    return [e.details for e in store.events(rid) if e.kind == "taken"]


def wait_for(what: str, condition, timeout: float = 60.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(every)
    return value


@dataclass
class Lane:
    """One notes function and the controller function that alone may drive it."""

    stack: NotesStack
    function: str
    controller: str
    base_env: dict[str, str]
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.config = self.stack.root / f"lane-{self.function}.yaml"
        self.lam = make_client("lambda", endpoint_url=self.stack.lambda_endpoint, local=True)
        self.logs = make_client("logs", endpoint_url=self.stack.lambda_endpoint, local=True)
        self.store = open_store(self.stack)

    def arm(self, **extra: str) -> None:
        """The controller's environment: the stack's, scoped to this lane, plus ``extra``."""
        env = {**self.base_env, ENV["functions"]: self.function, **extra}
        self.lam.update_function_configuration(FunctionName=self.controller,
                                               Environment={"Variables": env})
        settle(self.lam, self.controller)

    def rollout(self, steps: list[dict]) -> None:
        """This lane's own config file (beside the stack's) with ``steps``."""
        data = yaml.safe_load((self.stack.root / "lambdashift.yaml").read_text())
        data["rollout"] = {"strategy": "custom", "analysis": "off", "bake": 0, "steps": steps}
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def detach(self) -> tuple[str, str]:
        """``deploy FN --detach`` to this lane's controller: (rollout id, the request id of
        the controller invocation that took it)."""
        out = lambdashift(self.config, "deploy", self.function, "--detach", "--json",
                          "--no-check", "--poll", "0.05", "--controller", self.controller)
        assert out.returncode == 0, out.stderr
        rid = json.loads(out.stdout)["rollouts"][self.function]
        taken = taken_events(self.store, rid)
        assert len(taken) == 1, taken
        return rid, taken[0]["request_id"]

    def crash_of(self, request_id: str) -> str:
        """The emulator's words for the invocation whose worker process died, from the
        controller's log ("" while it has none)."""
        try:
            events = self.logs.filter_log_events(logGroupName=f"/aws/lambda/{self.controller}",
                                                 filterPattern="Runtime")["events"]
        except ClientError as exc:  # its first invocation has not ended yet: no log group
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            return ""
        for event in events:
            if request_id in event["message"] and "Runtime exited" in event["message"]:
                return event["message"].strip()
        return ""

    def tick(self, rid: str) -> dict:
        """One synchronous invocation of the controller, as the schedule's would be."""
        out = self.lam.invoke(FunctionName=self.controller,
                              Payload=json.dumps({"rollouts": [rid]}).encode())
        payload = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, payload
        return payload


@dataclass
class Case:
    scenario: str          # "rollout": to the candidate; "rollback": asked at the gate
    point: str = ""        # "" : the census run (no crash)
    nth: int = 0
    outcome: dict = field(default_factory=dict)


def run_case(lane: Lane, case: Case, census: Path | None = None) -> dict:
    """Arm, detach, crash, disarm, tick; what happened (``problems`` empty: consistent)."""
    armed = {CENSUS: str(census)} if census else {FAILPOINTS: f"{case.point}:{case.nth}"}
    lane.arm(**armed)
    lane.rollout(STEPS if case.scenario == "rollout" else GATED)
    stable = alias_traffic(lane.stack, lane.function)[0]
    candidate = new_version(lane.stack, lane.function)
    rid, first_request = lane.detach()
    found: dict = {"case": f"{case.scenario} {case.point}:{case.nth}", "rollout": rid}
    problems = found["problems"] = []
    if case.scenario == "rollback":
        wait_for(f"{rid} at its gate", lambda: lane.store.load(rid).phase is Phase.PAUSED)
        if census:
            found["forward"] = json.loads(census.read_text())
        # What `lambdashift rollback FN` sends when another process drives the rollout.
        lane.store.send_signal(lane.function, "rollback", {"reason": "crash test"})
    if census:
        wait_for(f"{rid} ended", lambda: lane.store.load(rid).phase.is_terminal)
        found["census"] = json.loads(census.read_text())
        lane.arm()
        return found
    t0 = time.monotonic()
    found["crash"] = wait_for(f"the worker of {first_request} died",
                              lambda: lane.crash_of(first_request), every=0.1)
    found["detected_s"] = time.monotonic() - t0
    if "signal: killed" not in found["crash"]:
        problems.append(f"not a SIGKILL: {found['crash']}")
    # The alias serves what the crashed rollout saved, or the write it meant to make.
    left = lane.store.load(rid)
    traffic = alias_traffic(lane.stack, lane.function)
    owned = {(t.primary, t.canary, t.weight) for t in
             (left.traffic, left.intent.traffic if left.intent else None) if t is not None}
    if traffic not in owned:
        problems.append(f"alias {traffic} is neither the saved traffic nor the intent {owned}")
    # Killed after its last save (the end saved): nothing is left for the next tick.
    over = left.phase.is_terminal
    lane.arm()  # disarmed: the next worker must not crash again
    t1 = time.monotonic()
    summary = lane.tick(rid)
    found["resumed_s"] = time.monotonic() - t1
    want = Phase.SUCCEEDED if case.scenario == "rollout" else Phase.ROLLED_BACK
    final = lane.store.load(rid)
    expected_alias = (candidate if want is Phase.SUCCEEDED else stable, None, 0.0)
    said = summary.get("taken") == [] if over else summary.get("ended", {}).get(rid) == want.value
    if not said or final.phase is not want:
        problems.append(f"ended {final.phase.value}, tick said {summary}")
    if alias_traffic(lane.stack, lane.function) != expected_alias:
        problems.append(f"alias {alias_traffic(lane.stack, lane.function)} != {expected_alias}")
    if lane.store.active(lane.function):
        problems.append("a rollout is still unfinished")
    takes = taken_events(lane.store, rid)
    if len(takes) != (1 if over else 2) or len({t["request_id"] for t in takes}) != len(takes) \
            or takes[0]["request_id"] != first_request:
        problems.append(f"taken events: {takes}")
    found["over_at_crash"] = over
    return found


def run_lanes(lanes: list[Lane], cases: list[Case]) -> list[dict]:
    """Every case, each lane taking the next one as it is free."""
    todo: queue.Queue[Case] = queue.Queue()
    for case in cases:
        todo.put(case)
    results: list[dict] = []

    def work(lane: Lane) -> None:
        while True:
            try:
                case = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results.append(run_case(lane, case))
            except Exception as exc:  # noqa: BLE001 - said with the case, asserted below
                results.append({"case": f"{case.scenario} {case.point}:{case.nth}",
                                "problems": [f"{type(exc).__name__}: {exc}"]})
                lane.arm()

    threads = [threading.Thread(target=work, args=(lane,)) for lane in lanes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def decisions(stack: NotesStack, request_ids: set[str]) -> dict[str, dict]:
    """request id → the summary line (``tick_done`` or ``idle``) its tick logged."""
    logs = make_client("logs", endpoint_url=stack.lambda_endpoint, local=True)
    found = {}
    kwargs = {"logGroupName": f"/aws/lambda/{DEFAULT_FUNCTION}", "filterPattern": "controller"}
    while True:
        page = logs.filter_log_events(**kwargs)
        for event in page["events"]:
            try:
                line = json.loads(event["message"])
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("request_id") in request_ids and \
                    line.get("controller") in ("tick_done", "idle"):
                found[line["request_id"]] = line
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]
