"""GET /py: a Python handler, run by the emulator's Python worker (and by AWS's python3.12)."""

import json
import os


def handler(event, context):
    if (event.get("queryStringParameters") or {}).get("fail"):
        raise RuntimeError("asked to fail")
    return {"statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps({"runtime": "python", "release": os.environ.get("RELEASE"),
                                "version": context.function_version})}
