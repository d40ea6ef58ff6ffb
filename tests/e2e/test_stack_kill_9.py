"""The local stack under ``kill -9`` during writes: nothing answered as written is lost.

Writers run at once against a running ``lambdashift local up`` stack: CreateFunction,
PublishVersion + CreateAlias + UpdateAlias, DynamoDB PutItem and an ``ADD`` counter, and
``POST /notes`` through the HTTP API. Mid-writes the emulator and the DynamoDB server get
SIGKILL. ``local up`` again on the same directory, then every write that was answered as
done is looked for, and counted: found, or lost.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.e2e.conftest import cli, copy_notes, settle
from tests.reliability_log import record

ROLE = "arn:aws:iam::000000000000:role/lambdashift-test"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2,
                    read_timeout=10)
CREDS = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def _zip(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("index.py", text)
    return buf.getvalue()


def _up(root: Path) -> dict:
    out = cli("local", "up", "--detach", "--config", str(root / "lambdashift.yaml"))
    assert out.returncode == 0, out.stderr
    return json.loads((root / ".lambdashift" / "local.json").read_text())


class Writer(threading.Thread):
    """Repeats ``step(i)`` until stopped or the server is gone; keeps what was acknowledged."""

    def __init__(self, step: Callable[[int], object], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.step, self.stop, self.acked, self.in_flight = step, stop, [], None
        self.error: Exception | None = None

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            self.in_flight = i
            try:
                self.acked.append(self.step(i))
            except (ClientError, BotoCoreError, httpx.HTTPError, OSError, KeyError, ValueError) as exc:
                # The server is gone (or going): this write was not acknowledged. A KeyError is
                # an answer cut off by the kill (botocore read a 200 with no body as {}).
                self.error = exc
                return
            i += 1


def test_kill_9_of_the_stack_mid_writes_loses_nothing_it_acknowledged(tmp_path):
    root = copy_notes(tmp_path / "notes")
    state = _up(root)
    try:
        lam = boto3.client("lambda", endpoint_url=state["lambda_endpoint"], config=NO_RETRIES, **CREDS)
        ddb = boto3.client("dynamodb", endpoint_url=state["dynamodb_endpoint"], config=NO_RETRIES, **CREDS)
        lam.create_function(FunctionName="kf-base", Runtime="python3.12", Role=ROLE,
                            Handler="index.handler", Code={"ZipFile": _zip("def handler(e, c):\n    return 1\n")},
                            Publish=True)
        lam.create_alias(FunctionName="kf-base", Name="moving", FunctionVersion="1")
        settle(lam, "kf-base")  # Pending for a moment, as on AWS
        stop = threading.Event()

        def new_function(i: int) -> str:
            lam.create_function(FunctionName=f"kf-{i}", Runtime="python3.12", Role=ROLE,
                                Handler="index.handler", Code={"ZipFile": _zip(f"X = {i}\n")})
            return f"kf-{i}"

        def version_and_aliases(i: int) -> tuple[str, str]:
            lam.update_function_configuration(FunctionName="kf-base", Environment={"Variables": {"ROUND": str(i)}})
            settle(lam, "kf-base")  # AWS refuses a publish while the update is in progress
            version = lam.publish_version(FunctionName="kf-base")["Version"]
            lam.create_alias(FunctionName="kf-base", Name=f"a{i}", FunctionVersion=version)
            lam.update_alias(FunctionName="kf-base", Name="moving", FunctionVersion=version,
                             RoutingConfig={"AdditionalVersionWeights": {}})
            return version, f"a{i}"

        def put_item(i: int) -> str:
            item_id = f"k9-{i}"
            ddb.put_item(TableName="notes", Item={"id": {"S": item_id}, "n": {"N": str(i)}})
            ddb.update_item(TableName="notes", Key={"id": {"S": "k9-counter"}},
                            UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
            return item_id

        api = httpx.Client(base_url=state["api_url"], timeout=10)

        def post_note(i: int) -> str:
            resp = api.post("/notes", json={"title": f"k9 {i}"})
            if resp.status_code != 201:
                raise httpx.HTTPError(f"{resp.status_code}")
            return resp.json()["id"]

        writers = {name: Writer(step, stop) for name, step in (
            ("functions", new_function), ("versions+aliases", version_and_aliases),
            ("table items", put_item), ("notes via the API", post_note))}
        for writer in writers.values():
            writer.start()
        started = time.monotonic()
        while time.monotonic() < started + 20 and (
                time.monotonic() < started + 1.5 or min(len(w.acked) for w in writers.values()) < 15):
            time.sleep(0.05)
        for pid in state["pids"].values():  # SIGKILL, mid-write, no clean-up
            os.kill(pid, signal.SIGKILL)
        stop.set()
        for writer in writers.values():
            writer.join(15)
        api.close()
        acked = {name: list(w.acked) for name, w in writers.items()}
        assert min(len(a) for a in acked.values()) >= 15, {
            k: (len(v), str(writers[k].error)[:300]) for k, v in acked.items()}

        state = _up(root)  # on the same directory: what survived is what the disk kept
        lam = boto3.client("lambda", endpoint_url=state["lambda_endpoint"], config=NO_RETRIES, **CREDS)
        ddb = boto3.client("dynamodb", endpoint_url=state["dynamodb_endpoint"], config=NO_RETRIES, **CREDS)
        lost: dict[str, list] = {name: [] for name in acked}
        functions = {f["FunctionName"] for page in lam.get_paginator("list_functions").paginate()
                     for f in page["Functions"]}
        lost["functions"] = [n for n in acked["functions"] if n not in functions]
        versions = {v["Version"] for page in lam.get_paginator("list_versions_by_function").paginate(
            FunctionName="kf-base") for v in page["Versions"]}
        aliases = {a["Name"]: a["FunctionVersion"] for page in lam.get_paginator("list_aliases").paginate(
            FunctionName="kf-base") for a in page["Aliases"]}
        lost["versions+aliases"] = [(v, a) for v, a in acked["versions+aliases"]
                                    if v not in versions or aliases.get(a) != v]
        last_version = acked["versions+aliases"][-1][0]
        # The alias is where the last answered write put it, or one write further.
        moving_ok = int(aliases["moving"]) >= int(last_version)
        found_items = [i for i in acked["table items"]
                       if "Item" in ddb.get_item(TableName="notes", Key={"id": {"S": i}}, ConsistentRead=True)]
        lost["table items"] = sorted(set(acked["table items"]) - set(found_items))
        counter = int(ddb.get_item(TableName="notes", Key={"id": {"S": "k9-counter"}},
                                   ConsistentRead=True)["Item"]["n"]["N"])
        counter_ok = counter >= len(acked["table items"])
        with httpx.Client(base_url=state["api_url"], timeout=10) as api:
            lost["notes via the API"] = [n for n in acked["notes via the API"]
                                         if api.get(f"/notes/{n}").status_code != 200]
        total = sum(len(a) for a in acked.values())
        total_lost = sum(len(v) for v in lost.values()) + (not moving_ok) + (not counter_ok)
        print(f"\nkill -9 of the local stack mid-writes: acknowledged "
              f"{ {k: len(v) for k, v in acked.items()} } (total {total}); lost "
              f"{ {k: len(v) for k, v in lost.items()} }; alias 'moving' at {aliases['moving']} "
              f"(last acknowledged {last_version}); counter {counter} >= {len(acked['table items'])}; "
              f"lost writes: {total_lost}")
        for name, items in acked.items():
            record("kill -9", f"SIGKILL of emulator + DynamoDB mid-writes, then `local up`: {name}",
                   len(items), f"{len(lost[name])} acknowledged writes lost", len(lost[name]))
        record("kill -9", "SIGKILL mid-writes: alias moved by UpdateAlias, ADD counter", 2,
               f"alias at or after its last acknowledged version: {moving_ok}; counter {counter} "
               f">= {len(acked['table items'])} acknowledged: {counter_ok}",
               (not moving_ok) + (not counter_ok))
        assert total_lost == 0, lost
    finally:
        down = cli("local", "down", "--config", str(root / "lambdashift.yaml"))
        assert down.returncode == 0, down.stderr
