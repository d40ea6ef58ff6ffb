"""lambdashift: zero-downtime AWS Lambda releases through weighted aliases.

The public API is re-exported here (``__all__``), loaded on first use: the emulator's
worker processes import this package too, and a cold start must not pay for YAML,
boto3 or the judge it never uses.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "AwsError": "lambdashift.errors",
    "Config": "lambdashift.config",
    "ConfigError": "lambdashift.errors",
    "DriftError": "lambdashift.errors",
    "Judge": "lambdashift.core.judge",
    "JudgePolicy": "lambdashift.core.judge",
    "Judgement": "lambdashift.core.judge",
    "LambdaApi": "lambdashift.aws.lambda_api",
    "LambdashiftError": "lambdashift.errors",
    "LocalStackError": "lambdashift.errors",
    "LockedError": "lambdashift.errors",
    "NotFoundError": "lambdashift.errors",
    "Phase": "lambdashift.model",
    "Release": "lambdashift.rollout.release",
    "RevisionMismatchError": "lambdashift.errors",
    "RolloutEngine": "lambdashift.rollout.engine",
    "RolloutError": "lambdashift.errors",
    "RolloutState": "lambdashift.core.machine",
    "ThrottledError": "lambdashift.errors",
    "Traffic": "lambdashift.model",
    "Verdict": "lambdashift.model",
    "VersionStats": "lambdashift.core.judge",
    "build_zip": "lambdashift.aws.packaging",
    "judge": "lambdashift.core.judge",
    "load_config": "lambdashift.config",
    "steps_for": "lambdashift.core.strategy",
    "transition": "lambdashift.core.machine",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lambdashift' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return __all__
