"""What the emulator adds to a warm invocation, per runtime: Python, Node.js and provided.

Measured in the same run on this machine, with ``wrk`` (Debian's ``apt-get install wrk``: a C
client that is not the bottleneck), 1 thread and ``--connections`` keep-alive connections,
against the Lambda API's Invoke of a version:

- the floor: the same server answering a route that runs nothing (``GET
  /_lambdashift/runtime``), same client, same connections;
- for each runtime: warm invocations/s, p50 and p99, and what the invocation adds over the
  floor's p50/p99; Node.js runs with the machine's ``node`` and our runtime client, the
  ``provided.al2023`` bootstrap is a Python script keeping one keep-alive connection to the
  Runtime API (a compiled Go or Rust bootstrap would be faster);
- the cold start of each (first invocation of a version: process start + init).

Every figure is the median of ``--rounds`` rounds, each round measuring the floor and the
three runtimes one after the other. With wrk it also prints the emulator process's CPU time
per invocation (from ``/proc``): what each runtime costs the server's event loop, which
moves less than rates and latencies with what else runs on a shared machine (it still
moves: fewer requests per wake-up under load cost more each).

Without wrk the bench says so and falls back to Python client processes, which take CPU
from the server on a small machine (their figures are lower and not comparable).

Targets (issue 20): Node.js and provided >= half of Python's throughput; p99 under 10 ms at
4 connections for all three.

    .venv/bin/python bench/emulator_invoke.py [--seconds 5] [--connections 4] [--record]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lambdashift.emulator.server import start_process  # noqa: E402
from tests.conftest import ROLE, lambda_client  # noqa: E402

PYTHON = """
def handler(event, context):
    return {"ok": True, "version": context.function_version, "echo": event.get("n")}
"""
NODE = """
export const handler = async (event, context) =>
  ({ok: true, version: context.functionVersion, echo: event.n});
"""
BOOTSTRAP = f"""#!{sys.executable}
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    r = conn.getresponse()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(r.read())
    body = json.dumps({{"ok": True, "version": version, "echo": event.get("n")}})
    conn.request("POST", f"/2018-06-01/runtime/invocation/{{rid}}/response", body)
    conn.getresponse().read()
"""
RUNTIMES = (("python", "python3.12", {"index.py": PYTHON}),
            ("node", "nodejs20.x", {"index.mjs": NODE}),
            ("provided", "provided.al2023", {"bootstrap": BOOTSTRAP}))
WRK_SCRIPT = 'wrk.method = "POST"\nwrk.body = \'{"n": 1}\'\n' \
             'wrk.headers["Content-Type"] = "application/json"\n'


def package(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name == "bootstrap" else 0o644) << 16
            archive.writestr(info, text)
    return buf.getvalue()


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, connections: int, seconds: float, script: Path | None) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) from ``wrk --latency``; non-2xx answers are an error."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"wrk got error answers from {url}:\n{out}")
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rate": rate, "p50": _ms(latency["50"]), "p99": _ms(latency["99"]), "count": count}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client_loop(args: tuple[str, str, float]) -> list[float]:
    endpoint, path, seconds = args
    url = urllib.parse.urlparse(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    times: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        start = time.perf_counter()
        conn.request("POST", path, body=b'{"n": 1}', headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200:
            times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return times


def run_python_clients(endpoint: str, path: str, clients: int, seconds: float) -> dict[str, float]:
    """The fallback: Python client processes in a closed loop (they share the server's CPU)."""
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        start = time.monotonic()
        runs = pool.map(_client_loop, [(endpoint, path, seconds)] * clients)
        elapsed = time.monotonic() - start
    times = sorted(t for run in runs for t in run)
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    return {"rate": len(times) / max(elapsed, seconds), "p50": pick(0.5), "p99": pick(0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=4, help="wrk's connections")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of every measurement; the medians are printed")
    parser.add_argument("--record", action="store_true",
                        help="store the figures in docs/figures.json and the README (make bench)")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    client = (f"wrk -t1 -c{args.connections}" if wrk else
              f"{args.connections} Python client processes (wrk not found)")
    if not wrk:
        print("wrk is not installed (apt-get install wrk): falling back to Python client "
              "processes, which share the CPU with the server; the figures are lower and not "
              "comparable with wrk's")

    results: dict[str, dict[str, float]] = {}
    cold: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT)
        emulator = start_process(Path(tmp) / "data",
                                 extra_args=["--concurrency", "50", "--state-delay", "0"])
        try:
            lam = lambda_client(emulator.endpoint)
            for label, runtime, files in RUNTIMES:
                lam.create_function(FunctionName=f"bench-{label}", Runtime=runtime, Role=ROLE,
                                    Handler="index.handler", Publish=True,
                                    Code={"ZipFile": package(files)})
                start = time.perf_counter()
                answer = lam.invoke(FunctionName=f"bench-{label}", Qualifier="1", Payload=b"{}")
                cold[label] = (time.perf_counter() - start) * 1000
                assert "FunctionError" not in answer, answer["Payload"].read()

            def measure(path: str, post: bool) -> dict[str, float]:
                if wrk:
                    before = cpu_seconds(emulator.process.pid)
                    figures = run_wrk(emulator.endpoint + path, args.connections, args.seconds,
                                      script if post else None)
                    used = cpu_seconds(emulator.process.pid) - before
                    figures["cpu_us"] = used / max(1, figures.pop("count")) * 1e6
                    return figures
                return run_python_clients(emulator.endpoint, path, args.connections,
                                          args.seconds)

            paths = {label: f"/2015-03-31/functions/bench-{label}/invocations?Qualifier=1"
                     for label, _, _ in RUNTIMES}
            length = args.seconds
            args.seconds = min(1.0, length)  # a short run starts every environment
            for path in paths.values():
                measure(path, True)
            args.seconds = length
            # Rounds, each measuring everything once, and the median of each figure: on a
            # shared machine a burst of other work then spoils one round, not one runtime.
            rounds: dict[str, list[dict[str, float]]] = {k: [] for k in ("floor", *paths)}
            for _ in range(args.rounds):
                rounds["floor"].append(measure("/_lambdashift/runtime", False) if wrk else
                                       {"rate": 0.0, "p50": 0.0, "p99": 0.0})
                for label, path in paths.items():
                    rounds[label].append(measure(path, True))
            results = {k: {m: statistics.median(r.get(m, 0.0) for r in runs)
                           for m in ("rate", "p50", "p99", "cpu_us")}
                       for k, runs in rounds.items()}
        finally:
            emulator.stop()

    floor = results["floor"]
    print(f"emulator warm invoke benchmark ({client}, {args.seconds:g} s each, medians of "
          f"{args.rounds} rounds, same run)")
    if wrk:
        print(f"  floor (same server, no invocation): {floor['rate']:8.0f} req/s   "
              f"p50 {floor['p50']:.2f} ms   p99 {floor['p99']:.2f} ms")
    python_rate = results["python"]["rate"]
    for label, _, _ in RUNTIMES:
        r = results[label]
        print(f"  {label:9} {r['rate']:8.0f} invocations/s   p50 {r['p50']:.2f} ms   "
              f"p99 {r['p99']:.2f} ms   added over the floor p50 {r['p50'] - floor['p50']:+.2f} "
              f"ms, p99 {r['p99'] - floor['p99']:+.2f} ms   ratio to python "
              f"{r['rate'] / python_rate:.2f}   cold start {cold[label]:.0f} ms")
        if wrk:
            print(f"            emulator CPU per invocation {r['cpu_us']:.0f} us "
                  f"(floor: {floor['cpu_us']:.0f} us a request): "
                  f"{r['cpu_us'] / results['python']['cpu_us']:.2f} x python's")
    half = all(results[x]["rate"] >= python_rate / 2 for x in ("node", "provided"))
    p99 = all(results[x]["p99"] < 10 for x, _, _ in RUNTIMES)
    print(f"  targets: node and provided >= 0.5 x python {'PASS' if half else 'FAIL'}; "
          f"p99 < 10 ms at {args.connections} connections {'PASS' if p99 else 'FAIL'}"
          f"{'' if wrk else ' (Python clients: not the reference client)'}")
    if args.record:
        import figures

        words = "; ".join(
            f"{label} {results[label]['rate']:,.0f}/s, p50 {results[label]['p50']:.2f} ms, "
            f"p99 {results[label]['p99']:.2f} ms" for label, _, _ in RUNTIMES)
        figures.record("emulator_invoke", {
            "throughput": f"{words} (floor: {floor['rate']:,.0f} req/s, p50 "
                          f"{floor['p50']:.2f} ms, p99 {floor['p99']:.2f} ms)",
            "cold_start": ", ".join(f"{label} {cold[label]:.0f} ms" for label, _, _ in RUNTIMES),
            **({"cpu": ", ".join(f"{label} {results[label]['cpu_us']:.0f} µs" for label, _, _
                                 in RUNTIMES) + f" (floor {floor['cpu_us']:.0f} µs a request)"}
               if wrk else {}),
        }, {"client": client, "seconds": args.seconds, "connections": args.connections,
            "rounds": args.rounds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
