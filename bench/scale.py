"""One `lambdashift deploy` across N functions under Lambda's 15 requests/s control-plane quota.

Run: .venv/bin/python bench/scale.py --functions 1000 [--rate 15] [--pause 1s] [--workers 32]

What it measures: the wall time of a canary rollout of every function (three alias changes
each: 10%, 50%, 100%, with a pause after the first two), divided by the *quota bound*, the
shortest time the control-plane calls it made could take at the quota (calls ÷ rate). A
ratio near 1 means the quota is the only limit: rollouts interleave and nothing else (the
controller's CPU, the state store, the pauses) holds them up.

How:

1. Set-up, outside the measured window and without the quota: an emulator with no quota
   creates the N functions (``scale-NNNN``, version 1 behind ``live``, a candidate version
   2), then stops. Creating 1,000 functions is ~5,000 calls, 5.5 minutes at 15/s, which
   would measure the set-up rather than lambdashift.
2. The measured window: the emulator restarts on the same data with
   ``--control-plane-rate RATE`` (429 TooManyRequestsException above it, as AWS), and
   ``lambdashift deploy`` runs as a separate process, as a user would: the functions are
   found by ``select: [{names: ["scale-*"]}]``, on the AWS code path (``target: aws``,
   ``AWS_ENDPOINT_URL_LAMBDA`` pointing at the emulator). The control-plane calls made and
   refused are the emulator's own counts (``/_lambdashift/control-plane``), so every call
   (retries included) is counted where AWS would count it.
3. Checking, outside the window: the emulator restarts once more without the quota and
   every alias must serve version 2 alone.

Prints the calls per function, throttled calls, rollouts failed (and failed by throttling),
the controller's peak memory (max RSS) and CPU time, and as its last line ``ratio R``.

``--controller``: the same N rollouts handed to the controller instead (issue 19). Set-up
adds lambdashift's own DynamoDB server (in memory, the state store: the controller reads
rollouts there) and the controller, deployed into the emulator as a Lambda function from
``lambdashift.controller.package``'s zip, its environment naming the emulator and the
DynamoDB endpoint. The measured window starts with ``deploy --detach`` (AWS code path, state
on that DynamoDB), which queues the N rollouts and invokes the controller asynchronously,
and ends when the store has every one of them ended; the controller's tick drives them all
in its worker process, its calls paced by the store's shared rate ledger. The calls counted
are the CLI's and the controller's together, as AWS would count them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lambdashift.aws.clients import make_client  # noqa: E402
from lambdashift.emulator.server import start_process  # noqa: E402

ROLE = "arn:aws:iam::000000000000:role/scale-bench"
HANDLER = "import os\n\ndef handler(event, context):\n    return os.environ.get('RELEASE')\n"
#: Functions settle at once: set-up publishes right after each update, and states are not measured.
NO_DELAY = ["--state-delay", "0"]
# The controller: `lambdashift deploy` in-process, reporting its own peak RSS and CPU time.
CONTROLLER = (
    "import json, resource, sys\n"
    "from lambdashift.cli.main import main\n"
    "try:\n"
    "    code = main(sys.argv[2:])\n"
    "finally:\n"
    "    r = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    with open(sys.argv[1], 'w') as out:\n"
    "        json.dump({'maxrss_kb': r.ru_maxrss, 'cpu_s': r.ru_utime + r.ru_stime}, out)\n"
    "sys.exit(code)\n"
)


def package() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("index.py", date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(info, HANDLER)
    return buf.getvalue()


def set_up(endpoint: str, names: list[str]) -> None:
    """N functions, version 1 live, candidate version 2 published (no quota: not measured)."""
    lam = make_client("lambda", endpoint_url=endpoint, local=True, max_pool=8)
    code = package()

    def one(name: str) -> None:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                            Handler="index.handler", Code={"ZipFile": code}, Publish=True,
                            Environment={"Variables": {"RELEASE": "v1"}})
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        lam.update_function_configuration(FunctionName=name,
                                          Environment={"Variables": {"RELEASE": "v2"}})
        lam.publish_version(FunctionName=name)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, names))


def aws_code_path(endpoint: str) -> dict[str, str]:
    """The environment of a `lambdashift` process on the AWS code path, at the emulator."""
    env = {**os.environ, "AWS_ENDPOINT_URL_LAMBDA": endpoint, "AWS_ACCESS_KEY_ID": "test",
           "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
           "LAMBDASHIFT_TARGET": "aws"}
    env.pop("AWS_PROFILE", None)
    return env


def counters(endpoint: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{endpoint}/_lambdashift/control-plane", timeout=10) as resp:
        return json.load(resp)


def write_config(root: Path, pause: str, state: dict | None = None) -> Path:
    steps = [{"weight": 10}, {"pause": pause}, {"weight": 50}, {"pause": pause},
             {"weight": 100}]
    config = {"target": "aws", "region": "us-east-1",
              "select": [{"names": ["scale-*"]}],
              # The control plane's throughput is measured, not the judge: plain pauses.
              "rollout": {"strategy": "custom", "analysis": "off", "steps": steps}}
    if state:
        config["state"] = state
    path = root / "lambdashift.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def verify(endpoint: str, names: list[str]) -> int:
    """How many aliases do not serve version 2 alone."""
    lam = make_client("lambda", endpoint_url=endpoint, local=True, max_pool=8)

    def wrong(name: str) -> bool:
        alias = lam.get_alias(FunctionName=name, Name="live")
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return alias["FunctionVersion"] != "2" or bool(weights)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(wrong, names))


TABLE = "lambdashift-state"
NAMESPACE = "aws:us-east-1"  # the store's namespace of target aws in us-east-1: the CLI's


def controller_env(lambda_endpoint: str, dynamodb_endpoint: str) -> dict[str, str]:
    from lambdashift.controller.settings import ControllerSettings

    return ControllerSettings(namespace=NAMESPACE, table=TABLE, region="us-east-1",
                              dynamodb_endpoint=dynamodb_endpoint, lambda_endpoint=lambda_endpoint,
                              logs_endpoint=lambda_endpoint, margin=5).environment()


def deploy_controller(endpoint: str, dynamodb_endpoint: str) -> None:
    """The controller as the local stack deploys it (set-up: not measured)."""
    from lambdashift.controller.package import build_controller_package
    from lambdashift.controller.settings import (
        DEFAULT_FUNCTION,
        DEFAULT_TIMEOUT,
        HANDLER,
        RUNTIME,
    )

    lam = make_client("lambda", endpoint_url=endpoint, local=True)
    lam.create_function(FunctionName=DEFAULT_FUNCTION, Runtime=RUNTIME, Handler=HANDLER,
                        Timeout=DEFAULT_TIMEOUT, MemorySize=1024, Role=ROLE,
                        Code={"ZipFile": build_controller_package().data},
                        Environment={"Variables": controller_env(endpoint, dynamodb_endpoint)})
    lam.get_waiter("function_active_v2").wait(FunctionName=DEFAULT_FUNCTION,
                                              WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})


def open_state(dynamodb_endpoint: str):  # noqa: ANN201
    """The state store on the bench's DynamoDB (the table made on first use)."""
    from lambdashift.store.factory import open_store
    from lambdashift.store.settings import StateConfig

    return open_store(StateConfig(store="dynamodb", table=TABLE, endpoint=dynamodb_endpoint),
                      namespace=NAMESPACE, sqlite_path=Path("unused.db"), region="us-east-1",
                      local_endpoint=None)


def tick_report(endpoint: str, timeout: float = 60.0) -> dict[str, str]:
    """The controller's last ``tick_done`` decision and REPORT line (its duration and max
    memory), from its log in the emulator."""
    from lambdashift.controller.settings import DEFAULT_FUNCTION

    logs = make_client("logs", endpoint_url=endpoint, local=True)
    deadline = time.monotonic() + timeout
    found: dict[str, str] = {}
    while time.monotonic() < deadline and len(found) < 2:
        try:
            events = logs.filter_log_events(
                logGroupName=f"/aws/lambda/{DEFAULT_FUNCTION}")["events"]
        except Exception:  # noqa: BLE001 - no log group before the first invocation ends
            events = []
        for event in events:
            text = event["message"]
            if text.startswith("REPORT"):
                found["report"] = text.strip()
            elif '"tick_done"' in text:
                found["tick"] = text.strip()
        time.sleep(0.5)
    return found


def run_controller(args: argparse.Namespace, names: list[str]) -> None:
    """``--controller``: the N rollouts detached to the controller in the emulator."""
    from lambdashift.local.processes import free_port, start_dynamodb

    if args.rate != 15.0:
        sys.exit("--controller: the controller paces its calls at Lambda's 15/s (its own "
                 "setting), so the quota must be --rate 15")
    with tempfile.TemporaryDirectory(prefix="lambdashift-scale-") as tmp:
        root = Path(tmp)
        data = root / "emulator"
        dynamodb, ddb = start_dynamodb(root / "dynamodb.log", detach=False)
        port = free_port()  # the same port at each restart: the controller's settings name it
        try:
            store = open_state(ddb)
            started = time.monotonic()
            emulator = start_process(data, port=port, extra_args=NO_DELAY)
            try:
                set_up(emulator.endpoint, names)
                deploy_controller(emulator.endpoint, ddb)
            finally:
                emulator.stop()
            print(f"set-up: {args.functions} functions and the controller created in "
                  f"{time.monotonic() - started:.1f} s on an emulator without quota (not measured)")

            config = write_config(root, args.pause, state={"store": "dynamodb", "table": TABLE,
                                                           "endpoint": ddb})
            usage = root / "usage.json"
            quota = ["--control-plane-rate", f"{args.rate:g}", *NO_DELAY]
            emulator = start_process(data, port=port, extra_args=quota)
            try:
                env = aws_code_path(emulator.endpoint)
                before = counters(emulator.endpoint)
                t0 = time.monotonic()
                out = subprocess.run(
                    [sys.executable, "-c", CONTROLLER, str(usage), "deploy", "--detach",
                     "--config", str(config), "--poll", args.poll, "--json", "--no-check",
                     "--handover-timeout", "120"],
                    capture_output=True, text=True, env=env, cwd=root)
                detached = time.monotonic() - t0
                if not out.stdout.strip():
                    sys.exit(f"deploy --detach printed nothing (exit {out.returncode}): "
                             f"{out.stderr[-2000:]}")
                rids = set(json.loads(out.stdout)["rollouts"].values())
                limit = t0 + max(600.0, 20 * args.functions)
                while any(s.rollout_id in rids for s in store.active()):
                    if time.monotonic() > limit:
                        sys.exit("the rollouts did not end in time")
                    time.sleep(0.2)
                wall = time.monotonic() - t0
                after = counters(emulator.endpoint)
                tick = tick_report(emulator.endpoint)
            finally:
                emulator.stop()
            phases = [store.load(rid).phase.value for rid in rids]
            emulator = start_process(data, port=port, extra_args=NO_DELAY)
            try:
                wrong = verify(emulator.endpoint, names)
            finally:
                emulator.stop()
            store.close()
        finally:
            dynamodb.terminate()
            dynamodb.wait(timeout=30)

    calls = after["calls"] - before["calls"]
    throttled = after["throttled"] - before["throttled"]
    bound = calls / args.rate
    failed = len(phases) - phases.count("succeeded")
    print(f"functions: {args.functions}, a canary with 3 alias changes each (10%, pause "
          f"{args.pause}, 50%, pause {args.pause}, 100%), quota {args.rate:g}/s, driven by the "
          "controller in the emulator")
    print(f"deploy --detach exit {out.returncode} after {detached:.1f} s (all taken); "
          f"{phases.count('succeeded')} rollouts succeeded, {failed} failed; aliases not on the "
          f"candidate afterwards: {wrong}")
    print(f"control-plane calls: {calls:.0f} ({calls / args.functions:.2f} per function), "
          f"throttled (429): {throttled:.0f}")
    print(f"wall time {wall:.1f} s (deploy --detach to the last rollout ended); quota bound "
          f"{bound:.1f} s (calls ÷ {args.rate:g}/s)")
    print(f"controller tick: {tick.get('report', 'no REPORT line')}")
    if out.returncode != 0 or failed or wrong:
        sys.exit(f"the rollouts did not all succeed: {tick.get('tick', '')[:2000]} "
                 f"{out.stderr[-2000:]}")
    print(f"ratio {wall / bound:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--functions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=15.0, help="control-plane quota per second")
    parser.add_argument("--pause", default="1s", help="the canary's pauses (default 1s)")
    parser.add_argument("--poll", default="0.5", help="the controller's --poll (default 0.5)")
    parser.add_argument("--record", action="store_true",
                        help="store the figures in docs/figures.json and the README (make bench)")
    parser.add_argument("--controller", action="store_true",
                        help="detach the rollouts to the controller running in the emulator")
    args = parser.parse_args()
    names = [f"scale-{i:04d}" for i in range(args.functions)]
    if args.controller:
        run_controller(args, names)
        return

    with tempfile.TemporaryDirectory(prefix="lambdashift-scale-") as tmp:
        root = Path(tmp)
        data = root / "emulator"
        started = time.monotonic()
        emulator = start_process(data, extra_args=NO_DELAY)
        try:
            set_up(emulator.endpoint, names)
        finally:
            emulator.stop()
        print(f"set-up: {args.functions} functions created in {time.monotonic() - started:.1f} s "
              "on an emulator without quota (not measured)")

        config = write_config(root, args.pause)
        usage = root / "usage.json"
        emulator = start_process(data, extra_args=["--control-plane-rate", f"{args.rate:g}", *NO_DELAY])
        try:
            env = aws_code_path(emulator.endpoint)
            before = counters(emulator.endpoint)
            t0 = time.monotonic()
            out = subprocess.run(
                [sys.executable, "-c", CONTROLLER, str(usage), "deploy", "--config", str(config),
                 # The rollouts' calls are measured; `check` costs 3 more per function.
                 "--poll", args.poll, "--json", "--no-check"],
                capture_output=True, text=True, env=env, cwd=root)
            wall = time.monotonic() - t0
            after = counters(emulator.endpoint)
        finally:
            emulator.stop()
        if not out.stdout.strip():
            sys.exit(f"deploy printed nothing (exit {out.returncode}): {out.stderr[-2000:]}")
        report = json.loads(out.stdout)
        used = json.loads(usage.read_text()) if usage.exists() else {"maxrss_kb": 0, "cpu_s": 0.0}
        emulator = start_process(data, extra_args=NO_DELAY)
        try:
            wrong = verify(emulator.endpoint, names)
        finally:
            emulator.stop()

    calls = after["calls"] - before["calls"]
    throttled = after["throttled"] - before["throttled"]
    bound = calls / args.rate
    phases = [r["phase"] for r in report["rollouts"].values()]
    errors = report["errors"]
    by_throttling = [e for e in errors.values() if "throttled" in e.lower()]
    print(f"functions: {args.functions}, a canary with 3 alias changes each "
          f"(10%, pause {args.pause}, 50%, pause {args.pause}, 100%), quota {args.rate:g}/s")
    print(f"deploy exit {out.returncode}: {phases.count('succeeded')} rollouts succeeded, "
          f"{len(phases) - phases.count('succeeded') + len(errors)} failed "
          f"({len(by_throttling)} by throttling); aliases not on the candidate afterwards: {wrong}")
    print(f"control-plane calls: {calls:.0f} ({calls / args.functions:.2f} per function), "
          f"throttled (429): {throttled:.0f}")
    print(f"wall time {wall:.1f} s; quota bound {bound:.1f} s (calls ÷ {args.rate:g}/s)")
    print(f"controller: peak memory {used['maxrss_kb'] / 1024:.0f} MB (max RSS), "
          f"CPU time {used['cpu_s']:.1f} s ({used['cpu_s'] / wall:.0%} of one core)")
    if out.returncode != 0 or wrong:
        sys.exit(f"the rollouts did not all succeed: {out.stderr[-2000:]}")
    print(f"ratio {wall / bound:.3f}")
    if args.record:
        import figures

        failed = len(phases) - phases.count("succeeded") + len(errors)
        figures.record("scale", {"deploy": (
            f"{wall:.1f} s wall for {calls:,.0f} control-plane calls ({calls / args.functions:.2f} "
            f"a function), ratio to the quota bound {wall / bound:.3f}; {throttled:.0f} throttled, "
            f"{failed} failed; controller {used['maxrss_kb'] / 1024:.0f} MB max RSS, "
            f"{used['cpu_s']:.1f} s CPU")},
            {"functions": args.functions, "rate": args.rate, "pause": args.pause})


if __name__ == "__main__":
    main()
