"""``lambdashift demo``: a release on the embedded emulator, end to end, in under a minute.

Starts the emulator, creates a function, publishes two versions, points alias ``live`` at
version 1 with 10% of the traffic on version 2, invokes it and prints how the invocations
split — each counted by the version that really ran (``X-Amz-Executed-Version``).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

HANDLER_SOURCE = '''\
import os

def handler(event, context):
    return {"greeting": "hello from version " + context.function_version,
            "release": os.environ["RELEASE"]}
'''


def _zip(source: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        info = zipfile.ZipInfo("index.py", date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        archive.writestr(info, source)
    return buf.getvalue()


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``demo`` command."""
    p = subparsers.add_parser("demo", help="walk through a weighted release on the local emulator")
    p.add_argument("--invocations", type=int, default=1000, help="invocations to send (default 1000)")
    p.add_argument("--weight", type=float, default=10.0,
                   help="percent of traffic for version 2 (default 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the walkthrough and print the split."""
    import boto3
    from botocore.config import Config

    from lambdashift.emulator.server import start_process

    with tempfile.TemporaryDirectory(prefix="lambdashift-demo-") as tmp:
        emulator = start_process(Path(tmp) / "data")
        try:
            print(f"1. emulator running at {emulator.endpoint}")
            client = boto3.client(
                "lambda", endpoint_url=emulator.endpoint, region_name="us-east-1",
                aws_access_key_id="test", aws_secret_access_key="test",
                config=Config(retries={"max_attempts": 2}, max_pool_connections=20),
            )
            role = "arn:aws:iam::000000000000:role/demo"
            client.create_function(
                FunctionName="greeter", Runtime="python3.12", Role=role, Handler="index.handler",
                Code={"ZipFile": _zip(HANDLER_SOURCE)}, Environment={"Variables": {"RELEASE": "v1"}},
            )
            v1 = client.publish_version(FunctionName="greeter", Description="release v1")["Version"]
            client.update_function_configuration(
                FunctionName="greeter", Environment={"Variables": {"RELEASE": "v2"}})
            v2 = client.publish_version(FunctionName="greeter", Description="release v2")["Version"]
            print(f"2. function greeter: published version {v1} (release v1) and {v2} (release v2)")
            weight = args.weight / 100
            client.create_alias(FunctionName="greeter", Name="live", FunctionVersion=v1,
                                RoutingConfig={"AdditionalVersionWeights": {v2: weight}})
            print(f"3. alias live → version {v1}, with {args.weight:g}% on version {v2}")
            counts: Counter[str] = Counter()
            for _ in range(args.invocations):
                resp = client.invoke(FunctionName="greeter", Qualifier="live", Payload=b"{}")
                body = json.loads(resp["Payload"].read())
                assert body["greeting"].endswith(resp["ExecutedVersion"])
                counts[resp["ExecutedVersion"]] += 1
            n, k = args.invocations, counts[v2]
            spread = 3.29 * math.sqrt(n * weight * (1 - weight))  # 99.9% normal interval
            print(f"4. {n} invocations through live: version {v1} ran {counts[v1]}, "
                  f"version {v2} ran {k} ({100 * k / n:.1f}%; expected {n * weight:.0f} ± {spread:.0f})")
            client.update_alias(FunctionName="greeter", Name="live", FunctionVersion=v2,
                                RoutingConfig={"AdditionalVersionWeights": {}})
            resp = client.invoke(FunctionName="greeter", Qualifier="live", Payload=b"{}")
            print(f"5. promoted: live → version {v2}; next invocation ran version {resp['ExecutedVersion']}")
        finally:
            emulator.stop()
    return 0
