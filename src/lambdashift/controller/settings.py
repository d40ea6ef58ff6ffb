"""What the controller function reads from its environment, and the names everyone shares.

``controller install``, the Terraform module (``examples/notes/infra/modules/controller``)
and ``local up`` all set these variables; the handler reads them once per cold start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambdashift.errors import ConfigError

__all__ = ["DEFAULT_FUNCTION", "DEFAULT_MARGIN", "DEFAULT_RATE", "DEFAULT_SCHEDULE",
           "DEFAULT_TIMEOUT", "ENV", "HANDLER", "RUNTIME", "ControllerSettings"]

#: The controller function's name, its schedule's name, its handler and runtime.
DEFAULT_FUNCTION = "lambdashift-controller"
DEFAULT_SCHEDULE = "lambdashift-controller"
HANDLER = "lambdashift.controller.handler.handler"
RUNTIME = "python3.11"
#: Lambda's longest timeout: a tick drives rollouts for up to this minus the margin.
DEFAULT_TIMEOUT = 900
#: Seconds kept free at the end of an invocation to save and let the leases go.
DEFAULT_MARGIN = 60.0
#: How often the schedule calls the controller (Scheduler's shortest rate is one minute).
DEFAULT_RATE = "rate(1 minute)"

#: Environment variable → what it holds.
ENV = {
    "namespace": "LAMBDASHIFT_NAMESPACE",          # the store's namespace: local, aws:REGION
    "table": "LAMBDASHIFT_STATE_TABLE",            # the DynamoDB state table
    "dynamodb_endpoint": "LAMBDASHIFT_DYNAMODB_ENDPOINT",  # local stack only
    "lambda_endpoint": "LAMBDASHIFT_LAMBDA_ENDPOINT",      # local stack only
    "logs_endpoint": "LAMBDASHIFT_LOGS_ENDPOINT",          # local stack only
    "margin": "LAMBDASHIFT_CONTROLLER_MARGIN",     # seconds, default DEFAULT_MARGIN
    "functions": "LAMBDASHIFT_CONTROLLER_FUNCTIONS",  # comma-separated globs it may manage
}


@dataclass(frozen=True)
class ControllerSettings:
    """The controller's environment, read once: where the store is and what it may manage."""

    namespace: str
    table: str
    region: str
    dynamodb_endpoint: str | None = None
    lambda_endpoint: str | None = None
    logs_endpoint: str | None = None
    margin: float = DEFAULT_MARGIN
    functions: tuple[str, ...] = ("*",)

    @property
    def is_local(self) -> bool:
        """True on the local stack (the emulator's endpoints are given)."""
        return self.lambda_endpoint is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ControllerSettings:
        """The settings in ``env`` (``os.environ``); ConfigError naming a bad variable."""
        env = os.environ if env is None else env
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        margin_raw = env.get(ENV["margin"], "")
        try:
            margin = float(margin_raw) if margin_raw else DEFAULT_MARGIN
        except ValueError:
            raise ConfigError(f"{ENV['margin']}={margin_raw!r}: a number of seconds") from None
        if margin < 0:
            raise ConfigError(f"{ENV['margin']}={margin_raw!r}: must not be negative")
        globs = tuple(g.strip() for g in env.get(ENV["functions"], "*").split(",") if g.strip())
        from lambdashift.store.settings import DEFAULT_TABLE

        return cls(
            namespace=env.get(ENV["namespace"]) or f"aws:{region}",
            table=env.get(ENV["table"]) or DEFAULT_TABLE,
            region=region,
            dynamodb_endpoint=env.get(ENV["dynamodb_endpoint"]) or None,
            lambda_endpoint=env.get(ENV["lambda_endpoint"]) or None,
            logs_endpoint=env.get(ENV["logs_endpoint"]) or None,
            margin=margin,
            functions=globs or ("*",),
        )

    def manages(self, function: str) -> bool:
        """True when ``function`` matches one of the globs it may manage."""
        from fnmatch import fnmatchcase

        return any(fnmatchcase(function, g) for g in self.functions)

    def environment(self) -> dict[str, str]:
        """These settings as the function's environment variables (install, local up)."""
        out = {ENV["namespace"]: self.namespace, ENV["table"]: self.table,
               ENV["margin"]: f"{self.margin:g}", ENV["functions"]: ",".join(self.functions)}
        for key in ("dynamodb_endpoint", "lambda_endpoint", "logs_endpoint"):
            value = getattr(self, key)
            if value:
                out[ENV[key]] = value
        return out
