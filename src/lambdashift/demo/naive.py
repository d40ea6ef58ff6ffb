"""For contrast: the naive redeploy lambdashift replaces, on the same stack, reported apart.

A copy of notes-list, ``notes-list-naive``, is deployed the way many scripts do it: no
versions, no alias; callers invoke the function itself (``$LATEST``). Under live traffic
its release 2 is shipped in place, the usual two calls of a deploy script:
``UpdateFunctionCode`` (release 2 reads its page size from a new environment variable),
then, once the code update is done, ``UpdateFunctionConfiguration`` (adds the variable).

Between the two calls the new code runs with the old configuration and every request fails;
on AWS the gap is the time the code update takes to finish (seconds; the emulator finishes
at once, so the demo waits ``gap`` seconds in its place, and says so). Every environment is
replaced twice, so requests after each call pay a cold start, and nothing can be rolled back
but by another in-place redeploy. lambdashift ships code and configuration as one immutable
version, published before any traffic moves to it, and pre-warmed.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from lambdashift.aws.clients import answered_status, make_client
from lambdashift.aws.packaging import build_zip
from lambdashift.aws.provision import LOCAL_ROLE
from lambdashift.demo.figures import Mark, p99
from lambdashift.loadgen import Request

FUNCTION = "notes-list-naive"
ROUTE = "GET /notes (naive)"

RELEASE_2 = '''

# --- release 2, shipped in place: the page size comes from the environment now ---------
import os as _os

_release_1 = handler


def handler(event, context):
    limit = int(_os.environ["NOTES_PAGE_LIMIT"])  # a KeyError until the configuration lands
    result = _release_1(event, context)
    result.setdefault("headers", {})["X-Notes-Release"] = "2"
    return result
'''


def _event() -> bytes:
    """``GET /notes?limit=10`` as an HTTP API (payload 2.0) event, as the gateway sends it."""
    return json.dumps({
        "version": "2.0", "routeKey": "GET /notes", "rawPath": "/notes", "rawQueryString": "limit=10",
        "headers": {"accept": "application/json"}, "queryStringParameters": {"limit": "10"},
        "requestContext": {"http": {"method": "GET", "path": "/notes"}, "requestId": str(uuid.uuid4()),
                           "routeKey": "GET /notes", "stage": "$default"},
        "isBase64Encoded": False}).encode()


def _one(lam: Any) -> Request:
    sent, started = time.time(), time.perf_counter()
    try:
        resp = lam.invoke(FunctionName=FUNCTION, Payload=_event())
    except Exception as exc:  # noqa: BLE001 - throttled, refused mid-update, or no answer (0)
        status = answered_status(exc)
        return Request(sent, ROUTE, 0 if status is None else status, "-",
                       (time.perf_counter() - started) * 1000)
    ms = (time.perf_counter() - started) * 1000
    body = json.loads(resp["Payload"].read() or b"{}")
    if resp.get("FunctionError"):  # the gateway would answer 500
        return Request(sent, ROUTE, 500, "2", ms)
    headers = body.get("headers") or {}
    return Request(sent, ROUTE, int(body.get("statusCode", 502)), headers.get("X-Notes-Release", "1"), ms)


def run(lambda_endpoint: str, notes: Path, *, seconds: float, rate: float, gap: float,
        say: Any) -> dict[str, Any]:
    """Deploy the naive copy, load it, redeploy it in place halfway; the section's figures."""
    lam = make_client("lambda", endpoint_url=lambda_endpoint, local=True, max_pool=20)
    release_1 = notes / "functions" / "list_notes" / "v1"
    release_2 = notes / "functions" / "list_notes" / "naive-2"
    shutil.copytree(release_1, release_2, dirs_exist_ok=True)
    with open(release_2 / "index.py", "a") as out:
        out.write(RELEASE_2)
    include = [notes / "shared" / "notes_common.py"]
    env = {"Variables": {"TABLE_NAME": "notes"}}
    lam.create_function(FunctionName=FUNCTION, Runtime="python3.12", Role=LOCAL_ROLE,
                        Handler="index.handler", Timeout=10, MemorySize=128, Environment=env,
                        Code={"ZipFile": build_zip(release_1, include).data},
                        Description="notes-list, deployed without versions or aliases")
    # A new function is Pending for a moment (on AWS too): the load starts once it is Active,
    # so that the section's refusals are the redeploy's, not the creation's.
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 1})
    clients, log, stop = 3, [], threading.Event()

    def client(offset: float) -> None:
        interval, next_at = clients / rate, time.monotonic() + offset
        while not stop.is_set():
            log.append(_one(lam))
            next_at += interval
            delay = next_at - time.monotonic()
            stop.wait(delay) if delay > 0 else None
            if delay <= 0:
                next_at = time.monotonic()

    threads = [threading.Thread(target=client, args=(i / rate,), daemon=True) for i in range(clients)]
    started = time.time()
    for t in threads:
        t.start()
    marks = [Mark(started, FUNCTION, "load", "traffic to $LATEST, release 1")]
    time.sleep(seconds / 2)
    say(f"naive: UpdateFunctionCode {FUNCTION} (release 2) in place, under load")
    code_at = time.time()
    lam.update_function_code(FunctionName=FUNCTION, ZipFile=build_zip(release_2, include).data)
    lam.get_waiter("function_updated_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 1})
    marks.append(Mark(code_at, FUNCTION, "code", "UpdateFunctionCode: release 2 runs"))
    time.sleep(gap)  # AWS takes seconds to finish a code update; the emulator none
    say(f"naive: UpdateFunctionConfiguration {FUNCTION} (NOTES_PAGE_LIMIT), {gap:g} s later")
    config_at = time.time()
    lam.update_function_configuration(
        FunctionName=FUNCTION, Environment={"Variables": {"TABLE_NAME": "notes", "NOTES_PAGE_LIMIT": "10"}})
    marks.append(Mark(config_at, FUNCTION, "config", "UpdateFunctionConfiguration: release 2 complete"))
    time.sleep(max(0.0, started + seconds - time.time()))
    stop.set()
    for t in threads:
        t.join()
    ended = time.time()
    requests = sorted(log, key=lambda r: r.t)
    before = [r for r in requests if started + 2 <= r.t < code_at]  # after the first cold starts
    window = [r for r in requests if code_at <= r.t < config_at + 5]
    return {
        "function": FUNCTION, "start": started, "end": ended, "code_update_at": code_at,
        "config_update_at": config_at, "gap_seconds": gap,
        "gap_note": "the emulator finishes a code update at once; the demo waits in place of "
                    "the seconds AWS takes",
        "requests": len(requests), "failed": sum(1 for r in requests if r.failed),
        "failed_between_the_two_calls": sum(1 for r in requests if r.failed and code_at <= r.t < config_at + 1),
        "answered_by_release_1_after_the_code_update": sum(
            1 for r in requests if r.t >= code_at and r.version == "1" and not r.failed),
        "answered_by_release_2_at_the_end": sum(
            1 for r in requests if r.t >= config_at + 1 and r.version == "2" and not r.failed),
        "p99_steady_ms": p99(r.ms for r in before if r.status),
        "p99_redeploy_ms": p99(r.ms for r in window if r.status),
        "marks": [m.__dict__ for m in marks],
        "records": [list(r) for r in requests],
    }
