"""``lambdashift logs FN``: a function's CloudWatch logs, each line with its version and request.

Reads ``/aws/lambda/FN`` through boto3's logs client, on AWS or on the local stack (whose
emulator serves the CloudWatch Logs API on its own port). ``--version`` reads only that
version's streams; ``--follow`` keeps polling (every 2 s) until interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone

from lambdashift.aws.logs import Attributor, LambdaLogs, LogLine, log_group
from lambdashift.cli.common import add_json_argument, note
from lambdashift.cli.session import add_target_arguments, open_session
from lambdashift.core.strategy import parse_duration
from lambdashift.errors import ConfigError, NotFoundError

FOLLOW_EVERY = 2.0
#: How far back each --follow poll re-reads, for events CloudWatch delivers late.
FOLLOW_OVERLAP_MS = 30_000


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``logs``."""
    p = subparsers.add_parser("logs", help="a function's logs, each line with its version and request id")
    add_target_arguments(p)
    add_json_argument(p)
    p.add_argument("function", metavar="FN")
    p.add_argument("--version", dest="fn_version", default=None, metavar="V",
                   help="only this version's streams ($LATEST or a number)")
    p.add_argument("--since", default="10m", metavar="DURATION",
                   help="how far back to start: 30s, 10m, 2h, 1d, or seconds as a bare number, "
                        "as durations in lambdashift.yaml (default 10m)")
    p.add_argument("--follow", action="store_true", help="keep printing new lines until Ctrl-C")
    p.set_defaults(func=run_logs)


def parse_since(text: str) -> float:
    """``10m`` → 600.0 seconds, ``5`` → 5.0, as durations in the config; ConfigError otherwise."""
    return parse_duration(text, "--since")


def run_logs(args: argparse.Namespace) -> int:
    """Print the lines, oldest first; with --follow, keep going."""
    version = args.fn_version
    if version is not None and version != "$LATEST" and not version.isdigit():
        raise ConfigError(f"--version: $LATEST or a version number, got {version!r}")
    since_s = parse_since(args.since)
    session = open_session(args, announce=not args.json)
    if session.target.logs is None:  # pragma: no cover - every target has a logs client
        raise ConfigError(f"{session.target.description} has no CloudWatch Logs")
    reader = LambdaLogs(session.target.logs)
    attributor = Attributor()
    start = int((time.time() - since_s) * 1000)
    printed: dict[str, int] = {}  # event id -> timestamp, for --follow's overlapping reads
    while True:
        now = int(time.time() * 1000)
        streams: list[str] | None = None
        try:
            streams = (reader.version_streams(args.function, version, start)
                       if version is not None else None)
            events = list(reader.events(args.function, start, now, streams=streams))
        except NotFoundError:
            if not args.follow:  # exit 1 with one line (a JSON object too, with --json)
                raise NotFoundError(f"no logs for {args.function}: the log group "
                                    f"{log_group(args.function)} does not exist (not invoked yet?)")
            events = []
        if streams == [] and not args.follow:
            note(f"no log stream of version {version} has events in the last {args.since}")
        fresh = [e for e in events if str(e.get("eventId", "")) not in printed]
        for event in fresh:
            printed[str(event.get("eventId", ""))] = int(event.get("timestamp", 0))
        lines = list(attributor.feed(fresh))
        if not args.follow:
            lines += list(attributor.flush())
        for line in lines:
            _print(line, args.function, args.json)
        sys.stdout.flush()
        if not args.follow:
            return 0
        # Re-read a little of the past each time: CloudWatch delivers events seconds late.
        start = max(start, now - FOLLOW_OVERLAP_MS)
        printed = {k: ts for k, ts in printed.items() if ts >= start - 1000}
        time.sleep(FOLLOW_EVERY)


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _print(line: LogLine, function: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(line.to_json(function), sort_keys=True))
        return
    # Every printed line carries when, which version and which request: a traceback's
    # lines too, so that grep finds them all.
    prefix = f"{_stamp(line.timestamp)}  [{line.version}]  {line.request_id or '-':36}  "
    for text in line.message.rstrip("\n").split("\n") or [""]:
        print(prefix + text)
