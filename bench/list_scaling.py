"""How the notes list scales with the table: the GSI query against a Scan-then-sort.

Run: .venv/bin/python bench/list_scaling.py [--backend lambdashift|moto] [--small 100]
     [--large 10000] [--repeats 15]

Starts a DynamoDB server on loopback (a subprocess: lambdashift's own, the local stack's
default, or moto's with --backend moto), creates the notes table from
examples/notes/lambdashift.yaml, and measures the latency of the first page of the list
(20 notes, newest first) at a small and at a large table size, two ways:

* gsi  -- the notes-list handler itself (built into its deployment package and imported),
          which queries the by-created index in descending order and reads ~limit items;
* scan -- what the article's version amounts to, done right: Scan every page of the
          table, sort all notes newest first, keep 20. (A Scan with Limit=20 answers fast
          but returns 20 arbitrary notes, which is the bug, not a baseline.)

For each it prints the median wall-clock latency over the repeats, the items DynamoDB
read per list (Count/ScannedCount summed over the pages: what real DynamoDB bills and
what its latency follows), and the ratio large/small. The target is a GSI ratio <= 1.5.

moto keeps items in a Python dict and answers a Query on a global secondary index by
filtering and sorting *every* item of the table (a profile shows about three quarters
of a 10,000-note query in that sort's DynamoType comparisons), so the GSI's wall-clock
time in moto grows with the table even though it returns ~21 items; real DynamoDB reads
the index partition in key order, and so does lambdashift's server (an SQLite B-tree per
index). The items-read ratio is the emulator-independent figure.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import yaml
from boto3.dynamodb.types import TypeSerializer

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "examples" / "notes"
sys.path.insert(0, str(ROOT / "src"))

from lambdashift.aws.packaging import build_zip  # noqa: E402

CONFIG = yaml.safe_load((NOTES / "lambdashift.yaml").read_text())
TABLE = "notes"
PAGE = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(backend: str, data_dir: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    if backend == "moto":
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    else:
        cmd = [sys.executable, "-m", "lambdashift.dynamodb.server", "--host", "127.0.0.1",
               "--port", str(port), "--data-dir", data_dir]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and server.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return server, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    server.kill()
    raise SystemExit(f"{backend} DynamoDB server did not start")


def load_list_handler(workdir: Path) -> Any:
    """The notes-list module from its deployment package, as Lambda would import it."""
    spec = CONFIG["functions"]["notes-list"]
    package = build_zip(NOTES / spec["source"], include=[NOTES / p for p in spec["include"]])
    zipfile.ZipFile(io.BytesIO(package.data)).extractall(workdir)
    sys.path.insert(0, str(workdir))
    loader = importlib.util.spec_from_file_location("notes_list_index", workdir / "index.py")
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def note_items(count: int, start: datetime) -> list[dict[str, Any]]:
    """Notes as the two releases write them: odd ones without created_at (release 1)."""
    items = []
    for i in range(count):
        note_id = str(uuid.uuid4())
        created = (start + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        item = {
            "id": note_id,
            "title": f"note {i} about something",
            "content": "lorem ipsum dolor sit amet " * 8,
            "kind": "note",
            "sk": f"{created}#{note_id}",
        }
        if i % 2 == 0:
            item["created_at"] = created
        items.append(item)
    return items


def bulk_load(client: Any, items: list[dict[str, Any]]) -> None:
    """BatchWriteItem in 25s, resending whatever DynamoDB leaves unprocessed."""
    serializer = TypeSerializer()
    for offset in range(0, len(items), 25):
        requests = [
            {"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in item.items()}}}
            for item in items[offset : offset + 25]
        ]
        pending: dict[str, Any] = {TABLE: requests}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


class CountingTable:
    """A boto3 Table that adds up the items DynamoDB read for each call."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self.read = 0

    def query(self, **kwargs: Any) -> Any:
        result = self.table.query(**kwargs)
        self.read += result["ScannedCount"]
        return result

    def scan(self, **kwargs: Any) -> Any:
        result = self.table.scan(**kwargs)
        self.read += result["ScannedCount"]
        return result


def scan_list(table: Any, limit: int) -> list[dict[str, Any]]:
    """Newest first by Scan: every page of the table, sorted in the client."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        result = table.scan(**kwargs)
        items.extend(result["Items"])
        if "LastEvaluatedKey" not in result:
            break
        kwargs["ExclusiveStartKey"] = result["LastEvaluatedKey"]
    items.sort(key=lambda item: item["sk"], reverse=True)
    return items[:limit]


def measure(run: Callable[[], Any], repeats: int) -> float:
    run()  # warm: connections, imports, moto's first-touch costs
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def run_at(size: int, handler: Any, module: Any, repeats: int) -> dict[str, dict[str, float]]:
    table = boto3.resource("dynamodb").Table(TABLE)
    counting = CountingTable(table)
    event = {
        "version": "2.0",
        "routeKey": "GET /notes",
        "rawPath": "/notes",
        "rawQueryString": f"limit={PAGE}",
        "queryStringParameters": {"limit": str(PAGE)},
    }
    context = types.SimpleNamespace(
        function_version="1", function_name="notes-list", aws_request_id="bench"
    )

    def gsi() -> None:
        # The handler writes one JSON log line per request; keep them off the report.
        with contextlib.redirect_stdout(io.StringIO()):
            response = handler(event, context)
        assert response["statusCode"] == 200, response

    def scan() -> None:
        assert len(scan_list(table, PAGE)) == min(PAGE, size)

    gsi_ms = measure(gsi, repeats)
    # Items read per list, from the same code paths (the handler's read_page, scan_list).
    module.read_page(counting, PAGE, None)
    gsi_read, counting.read = counting.read, 0
    scan_ms = measure(scan, max(3, repeats // 2))
    scan_list(counting, PAGE)
    scan_read = counting.read
    return {"gsi": {"ms": gsi_ms, "read": gsi_read}, "scan": {"ms": scan_ms, "read": scan_read}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--backend", choices=("lambdashift", "moto"), default="lambdashift",
                        help="the DynamoDB server to measure (default: the local stack's)")
    parser.add_argument("--record", action="store_true",
                        help="store the figures in docs/figures.json and the README (make bench)")
    args = parser.parse_args()

    server_dir = tempfile.mkdtemp(prefix="list-scaling-")
    server, endpoint = start_server(args.backend, server_dir)
    os.environ.update(
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        TABLE_NAME=TABLE,
    )
    os.environ.pop("AWS_PROFILE", None)
    began = time.perf_counter()
    try:
        client = boto3.client("dynamodb")
        client.create_table(TableName=TABLE, **CONFIG["tables"][TABLE])
        with tempfile.TemporaryDirectory() as workdir:
            module = load_list_handler(Path(workdir))
            start = datetime(2024, 1, 1, tzinfo=timezone.utc)
            items = note_items(args.large, start)
            results = {}
            loaded = 0
            for size in (args.small, args.large):
                t0 = time.perf_counter()
                bulk_load(client, items[loaded:size])
                print(
                    f"loaded {size - loaded} notes (table: {size}) "
                    f"with BatchWriteItem in {time.perf_counter() - t0:.1f} s",
                    flush=True,
                )
                loaded = size
                results[size] = run_at(size, module.handler, module, args.repeats)
                for way, figures in results[size].items():
                    print(
                        f"  {way:4} first page at {size:>6} notes: "
                        f"median {figures['ms']:8.2f} ms, {figures['read']:>6} items read",
                        flush=True,
                    )
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(server_dir, ignore_errors=True)

    report(results[args.small], results[args.large], args, time.perf_counter() - began)


def report(small: dict[str, Any], large: dict[str, Any], args: Any, elapsed: float) -> None:
    scan_repeats = max(3, args.repeats // 2)
    print()
    print(
        f"first page of GET /notes (limit {PAGE}), newest first; {_backend(args.backend)} server "
        f"on 127.0.0.1 (subprocess), client in this process; median of {args.repeats} runs "
        f"(scan: {scan_repeats}) after one warm-up; total {elapsed:.0f} s"
    )
    print(
        f"{'':6}{f'latency {args.small}':>14}{f'latency {args.large}':>16}"
        f"{'ratio':>8}{'items read':>16}{'ratio':>8}"
    )
    for way in ("gsi", "scan"):
        s, g = small[way], large[way]
        print(
            f"{way:6}{s['ms']:>11.2f} ms{g['ms']:>13.2f} ms{g['ms'] / s['ms']:>8.2f}"
            f"{s['read']:>8} -> {g['read']:<6}{g['read'] / s['read']:>6.2f}"
        )
    read_ratio = large["gsi"]["read"] / small["gsi"]["read"]
    latency_ratio = large["gsi"]["ms"] / small["gsi"]["ms"]
    print(
        f"target GSI ratio <= 1.5: items read {read_ratio:.2f} "
        f"({'met' if read_ratio <= 1.5 else 'MISSED'}); latency {latency_ratio:.2f} "
        f"({'met' if latency_ratio <= 1.5 else 'MISSED'}) on {_backend(args.backend)}"
        + (", whose GSI Query filters and sorts every item of the table in Python, where "
           "DynamoDB reads the index in order" if args.backend == "moto" else "")
    )
    if getattr(args, "record", False):
        import figures

        scan = large["scan"]["ms"] / small["scan"]["ms"]
        figures.record("list_scaling", {
            "list_ratio": f"GSI {latency_ratio:.2f}× (items read {small['gsi']['read']} → "
                          f"{large['gsi']['read']}); Scan-then-sort {scan:.0f}×",
        }, {"small": args.small, "large": args.large, "repeats": args.repeats,
            "backend": args.backend})


def _backend(name: str) -> str:
    if name == "moto":
        import moto

        return f"moto {moto.__version__}"
    return "lambdashift's DynamoDB (SQLite)"


if __name__ == "__main__":
    main()
