"""A function whose faults come from its configuration, to test analysis end to end.

FAIL_RATE (0..1): share of invocations that raise; DELAY_MS: base latency;
SLOW_FACTOR: multiplies the latency (a latency regression); IMPORT_FAIL: the module
raises on import; FAIL_HTTP_ONLY: FAIL_RATE applies to HTTP API requests only (a release
that passes a direct smoke invocation and fails its users: what a bake is for).
"""

import json
import os
import random
import time

if os.environ.get("IMPORT_FAIL"):  # a release whose import raises: every invocation fails
    raise ImportError("cannot import name 'settings' (the bug this release ships)")


def handler(event, context):
    if event.get("lambdashift") == "prewarm":  # lambdashift's pre-warm and candidate check
        return {"prewarmed": True}
    delay = float(os.environ.get("DELAY_MS", "2")) * float(os.environ.get("SLOW_FACTOR", "1"))
    # Lognormal jitter around the base delay, like real service latency.
    time.sleep(delay * random.lognormvariate(0, 0.25) / 1000)
    http = isinstance(event, dict) and "requestContext" in event
    fails = http or not os.environ.get("FAIL_HTTP_ONLY")
    if fails and random.random() < float(os.environ.get("FAIL_RATE", "0")):
        raise RuntimeError("injected failure")
    return {"statusCode": 200, "headers": {"X-Function-Version": context.function_version},
            "body": json.dumps({"ok": True})}
