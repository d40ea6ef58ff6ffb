"""How much the emulator adds to a Lambda invocation, against calling the handler in-process.

Prints, measured in the same run on this machine:
- the floor: p50/p99 of calling the handler in-process;
- warm invocations through the Lambda API (raw HTTP keep-alive, one request at a time):
  p50/p99 latency and the p50 overhead over the floor;
- warm throughput: several client processes in a closed loop (Python http.client, keep-alive),
  invocations per second; note a Python client on the same 2 cores takes CPU from the server;
- the cold-start time (first invocation of a new version: process start and import).

Targets (issue 2): >= 500 warm invocations/s, p50 overhead <= 2 ms.

    .venv/bin/python bench/emulator_invoke.py [--seconds 5] [--clients 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lambdashift.emulator.server import start_process  # noqa: E402
from tests.conftest import ROLE, lambda_client, make_zip  # noqa: E402

HANDLER = """
def handler(event, context):
    return {"ok": True, "version": context.function_version, "echo": event.get("n")}
"""


class _Context:
    function_version = "1"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def in_process_floor(samples: int) -> list[float]:
    """Handler call plus JSON round trip of event and result, as a worker would do it."""
    namespace: dict = {}
    exec(HANDLER, namespace)  # noqa: S102 - our own benchmark handler
    handler = namespace["handler"]
    times = []
    for n in range(samples):
        start = time.perf_counter()
        event = json.loads(json.dumps({"n": n}))
        json.dumps(handler(event, _Context()))
        times.append((time.perf_counter() - start) * 1000)
    return times


def sequential_latency(endpoint: str, path: str, samples: int) -> list[float]:
    url = urllib.parse.urlparse(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    times = []
    for n in range(samples):
        body = json.dumps({"n": n}).encode()
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        times.append((time.perf_counter() - start) * 1000)
        assert resp.status == 200 and resp.getheader("X-Amz-Executed-Version") == "1"
    conn.close()
    return times


def _client_loop(args: tuple[str, str, float]) -> int:
    endpoint, path, seconds = args
    url = urllib.parse.urlparse(endpoint)
    conn = http.client.HTTPConnection(url.hostname, url.port)
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("POST", path, body=b'{"n": 1}', headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        if resp.status == 200:
            count += 1
    conn.close()
    return count


def throughput(endpoint: str, path: str, clients: int, seconds: float) -> float:
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        start = time.monotonic()
        counts = pool.map(_client_loop, [(endpoint, path, seconds)] * clients)
        elapsed = time.monotonic() - start
    return sum(counts) / max(elapsed, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput run length")
    parser.add_argument("--clients", type=int, default=3, help="client processes for throughput")
    parser.add_argument("--samples", type=int, default=2000, help="sequential latency samples")
    parser.add_argument("--record", action="store_true",
                        help="store the figures in docs/figures.json and the README (make bench)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        emulator = start_process(Path(tmp) / "data", extra_args=["--concurrency", "50", "--state-delay", "0"])
        try:
            client = lambda_client(emulator.endpoint)
            client.create_function(FunctionName="bench", Runtime="python3.12", Role=ROLE,
                                   Handler="index.handler", Code={"ZipFile": make_zip({"index.py": HANDLER})},
                                   Publish=True)
            path = "/2015-03-31/functions/bench/invocations?Qualifier=1"
            start = time.perf_counter()
            cold = client.invoke(FunctionName="bench", Qualifier="1", Payload=b"{}")
            cold_ms = (time.perf_counter() - start) * 1000
            assert cold["StatusCode"] == 200
            with urllib.request.urlopen(f"{emulator.endpoint}/_lambdashift/metrics/bench/records") as r:
                init_ms = json.load(r)["Records"][0]["init_duration_ms"]

            floor = in_process_floor(args.samples)
            sequential_latency(emulator.endpoint, path, 200)  # warm up connections and workers
            api = sequential_latency(emulator.endpoint, path, args.samples)
            rate = throughput(emulator.endpoint, path, args.clients, args.seconds)
        finally:
            emulator.stop()

    f50, f99 = percentile(floor, 50), percentile(floor, 99)
    a50, a99 = percentile(api, 50), percentile(api, 99)
    print("emulator invoke benchmark (same run, same machine)")
    print(f"  floor, handler in-process:     p50 {f50:.3f} ms   p99 {f99:.3f} ms")
    print(f"  through the Lambda API (warm): p50 {a50:.3f} ms   p99 {a99:.3f} ms   "
          f"(mean {statistics.fmean(api):.3f} ms, {len(api)} sequential requests)")
    print(f"  p50 overhead over the floor:   {a50 - f50:.3f} ms   ratio p50 API/floor {a50 / f50:.0f}x")
    print(f"  warm throughput:               {rate:.0f} invocations/s "
          f"({args.clients} Python client processes, keep-alive, {args.seconds:g} s)")
    print(f"  cold start:                    {cold_ms:.1f} ms client-observed, init {init_ms:.1f} ms")
    ok_rate, ok_p50 = rate >= 500, (a50 - f50) <= 2.0
    print(f"  targets: >= 500 invocations/s {'PASS' if ok_rate else 'FAIL'}; "
          f"p50 overhead <= 2 ms {'PASS' if ok_p50 else 'FAIL'}")
    if args.record:
        import figures

        figures.record("emulator_invoke", {
            "throughput": f"{rate:,.0f} invocations/s; p50 {a50:.2f} ms, p50 overhead "
                          f"{a50 - f50:.2f} ms over calling the handler in-process",
            "cold_start": f"{cold_ms:.0f} ms (new worker process + handler import)",
        }, {"clients": args.clients, "seconds": args.seconds, "samples": args.samples})
    return 0


if __name__ == "__main__":
    sys.exit(main())
