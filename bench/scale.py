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


def counters(endpoint: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{endpoint}/_lambdashift/control-plane", timeout=10) as resp:
        return json.load(resp)


def write_config(root: Path, pause: str) -> Path:
    steps = [{"weight": 10}, {"pause": pause}, {"weight": 50}, {"pause": pause},
             {"weight": 100}]
    config = {"target": "aws", "region": "us-east-1",
              "select": [{"names": ["scale-*"]}],
              # The control plane's throughput is measured, not the judge: plain pauses.
              "rollout": {"strategy": "custom", "analysis": "off", "steps": steps}}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--functions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=15.0, help="control-plane quota per second")
    parser.add_argument("--pause", default="1s", help="the canary's pauses (default 1s)")
    parser.add_argument("--poll", default="0.5", help="the controller's --poll (default 0.5)")
    parser.add_argument("--record", action="store_true",
                        help="store the figures in docs/figures.json and the README (make bench)")
    args = parser.parse_args()
    names = [f"scale-{i:04d}" for i in range(args.functions)]

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
            env = {**os.environ, "AWS_ENDPOINT_URL_LAMBDA": emulator.endpoint,
                   "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                   "AWS_REGION": "us-east-1", "LAMBDASHIFT_TARGET": "aws"}
            env.pop("AWS_PROFILE", None)
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
