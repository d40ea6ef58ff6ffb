"""``lambdashift load URL``: steady HTTP traffic for a while, to watch a rollout under load.

The README's quick start runs it in the background while ``deploy`` rolls out, so that the
judge has requests to judge::

    lambdashift load $API/notes --data '{"title": "load", "content": "hi"}' --rate 100 --for 75s &

It sends ``--rate`` requests per second for ``--for`` (bounded: at most an hour, at most
1,000/s), on a few keep-alive connections, paced (never bursting to catch up), and prints one
line at the end: requests per version (``X-Function-Version``, the notes service's header)
and how many failed (no answer, 5xx, 429). It is quiet until then, so that it does not draw
over a live view in the same terminal.
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

from lambdashift.cli.common import add_json_argument, print_json
from lambdashift.core.strategy import parse_duration
from lambdashift.errors import ConfigError

#: The bounds of one run: load is for watching a release, not for a benchmark.
MAX_RATE, MAX_SECONDS = 1000.0, 3600.0
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``load``."""
    p = subparsers.add_parser("load", help="send steady HTTP traffic to a URL for a while "
                                           "(to watch a rollout under load)")
    add_json_argument(p)
    p.add_argument("url", metavar="URL", help="http(s) URL, e.g. $(lambdashift local url)/notes")
    p.add_argument("--rate", default="50", metavar="N",
                   help="requests per second (default 50; also 600/min)")
    p.add_argument("--for", dest="duration", default="60s", metavar="DURATION",
                   help="how long to send (default 60s; 30s, 2m, at most 1h)")
    p.add_argument("-X", "--method", default=None, type=str.upper, metavar="METHOD",
                   help="GET by default, POST with --data")
    p.add_argument("-d", "--data", default=None, metavar="BODY",
                   help="request body (sent as application/json when it is JSON)")
    p.add_argument("-H", "--header", action="append", default=[], metavar="NAME: VALUE",
                   help="a request header (repeatable)")
    p.set_defaults(func=run_load)


def _settings(args: argparse.Namespace) -> tuple[str, dict[str, str], float, float]:
    """Method, headers, rate and seconds, or ConfigError (exit 2) naming the flag."""
    from lambdashift.rollout.forecasting import parse_rate

    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"load: URL must be http(s)://host/path, got {args.url!r}")
    method = args.method or ("POST" if args.data is not None else "GET")
    if method not in METHODS:
        raise ConfigError(f"load: --method must be one of {', '.join(METHODS)}, got {method!r}")
    try:
        rate = parse_rate(args.rate)
    except ValueError:
        raise ConfigError(f"load: --rate: not a rate: {args.rate!r} (try 50 or 600/min)") from None
    if not 0 < rate <= MAX_RATE:
        raise ConfigError(f"load: --rate must be above 0 and at most {MAX_RATE:g}/s, got {rate:g}/s")
    seconds = parse_duration(args.duration, "load: --for")
    if seconds > MAX_SECONDS:
        raise ConfigError(f"load: --for is at most 1h, got {args.duration!r}")
    headers = {}
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"load: --header must be 'Name: value', got {item!r}")
        headers[name.strip()] = value.strip()
    if args.data is not None and not any(h.lower() == "content-type" for h in headers):
        try:
            json.loads(args.data)
            headers["Content-Type"] = "application/json"
        except ValueError:
            pass
    return method, headers, rate, seconds


def send(url: str, method: str, headers: dict[str, str], body: str | None, rate: float,
         seconds: float, stop: threading.Event | None = None) -> Counter[tuple[str, int]]:
    """Send ``rate`` requests/s for ``seconds`` (or until ``stop``); answers counted by
    (version header or "-", status), status 0 for no answer."""
    import httpx

    stop = stop or threading.Event()
    clients = max(1, min(32, math.ceil(rate / 20)))  # ~20/s each: room for 50 ms answers
    interval = clients / rate
    counts: Counter[tuple[str, int]] = Counter()
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(index: int) -> None:
        mine: Counter[tuple[str, int]] = Counter()
        next_at = time.monotonic() + index * interval / clients  # out of step
        with httpx.Client(timeout=10.0, headers=headers) as http:
            while not stop.is_set() and next_at < end:
                delay = next_at - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
                try:
                    resp = http.request(method, url, content=body)
                    mine[(resp.headers.get("x-function-version", "-"), resp.status_code)] += 1
                except httpx.HTTPError:
                    mine[("no answer", 0)] += 1
                next_at = max(next_at + interval, time.monotonic() - interval)  # no bursts
        with lock:
            counts.update(mine)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:  # Ctrl-C: stop sending, still say what was sent
        stop.set()
        for t in threads:
            t.join()
    return counts


def summary(counts: Counter[tuple[str, int]], rate: float, seconds: float) -> str:
    """``load: 7500 requests in 75 s (100/s): v1 6750 (0 failed), v2 750 (3 failed); …``"""
    total = sum(counts.values())
    failed = sum(n for (_, status), n in counts.items() if _failed(status))
    versions: dict[str, list[int]] = {}
    for (version, status), n in sorted(counts.items()):
        entry = versions.setdefault(version, [0, 0])
        entry[0] += n
        entry[1] += n if _failed(status) else 0
    per = ", ".join(f"{'v' + v if v.isdigit() else v} {n} ({f} failed)" for v, (n, f) in versions.items())
    return (f"load: {total} requests in {seconds:g} s ({total / seconds:.0f}/s of {rate:g}/s asked): "
            f"{per or 'none answered'}; {failed} failed in all")


def _failed(status: int) -> bool:
    return status == 0 or status >= 500 or status == 429


def run_load(args: argparse.Namespace) -> int:
    """Send, then print one line; exit 1 when nothing was answered at all."""
    method, headers, rate, seconds = _settings(args)
    started = time.monotonic()
    counts = send(args.url, method, headers, args.data, rate, seconds)
    took = max(time.monotonic() - started, 1e-9)
    if args.json:
        print_json({"requests": sum(counts.values()), "seconds": round(took, 3), "rate": rate,
                    "answers": [{"version": v, "status": s, "count": n} for (v, s), n in sorted(counts.items())]})
    else:
        print(summary(counts, rate, round(took, 1)), flush=True)
    answered = sum(n for (_, status), n in counts.items() if status)
    return 0 if answered else 1
