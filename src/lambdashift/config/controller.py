"""``controller:`` of lambdashift.yaml: the controller that drives rollouts to their end.

Off by default. ``controller: on`` (or ``true``) turns it on; the long form is a mapping::

    controller:
      enabled: true       # default true once the section is a mapping
      rate: 2 seconds     # how often the local stack's schedule calls it (default 1 minute)

With the controller on, ``lambdashift local up`` deploys it into the emulator as the
function ``lambdashift-controller`` with an EventBridge Scheduler schedule at ``rate``.
``rate`` is the local stack's only: EventBridge Scheduler's shortest rate is one minute, and
on AWS the schedule belongs to ``lambdashift controller install`` or the Terraform module;
the local stack allows sub-minute rates (for tests and quick feedback).

The controller reads rollouts from DynamoDB, so turning it on implies ``state: {store:
dynamodb}`` (the local stack's DynamoDB on the local target) when ``state.store`` is not
given; ``state.store: sqlite`` with the controller on is refused: a SQLite file on this
machine is out of the controller's reach.

This module imports nothing of ``lambdashift.controller`` (which may import the config's
consumers): the function's name is checked where the stack deploys it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from lambdashift.core.validators import parse_duration, switch
from lambdashift.errors import ConfigError
from lambdashift.store.settings import StateConfig

__all__ = ["ControllerConfig", "DEFAULT_RATE_SECONDS", "parse_controller", "with_controller_state"]

_KEYS = ("enabled", "rate")
#: EventBridge Scheduler's shortest rate, and the default (settings.DEFAULT_RATE).
DEFAULT_RATE_SECONDS = 60
#: A day: a controller called less often than that would leave orphans for too long.
_MAX_RATE_SECONDS = 86400
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_WORDS = re.compile(r"(?:rate\(\s*)?(\d+)\s*(second|minute|hour|day)s?\s*\)?")
_RATE_HELP = "a whole number of seconds such as '2 seconds', '1 minute', 30s, 5m or 90"


@dataclass(frozen=True)
class ControllerConfig:
    """The validated ``controller:`` section; false when the controller is off."""

    enabled: bool = False
    #: Seconds between two scheduled calls on the local stack.
    rate_seconds: int = DEFAULT_RATE_SECONDS

    def __bool__(self) -> bool:
        return self.enabled

    @property
    def expression(self) -> str:
        """The EventBridge Scheduler expression: ``rate(2 seconds)``, ``rate(1 minute)``."""
        seconds = self.rate_seconds
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                n = seconds // size
                return f"rate({n} {unit}{'s' if n != 1 else ''})"
        return f"rate({seconds} second{'s' if seconds != 1 else ''})"


def parse_controller(raw: object, path: str = "controller") -> ControllerConfig:
    """``on``/``off`` (``true``/``false``) or a mapping of ``enabled`` and ``rate``."""
    if raw is None:
        return ControllerConfig()
    enabled, raw = switch(raw, path, _KEYS, shape="on, off or a mapping (enabled, rate)",
                          booleans="true or false (on, off)")
    rate = _rate(raw["rate"], f"{path}.rate") if "rate" in raw else DEFAULT_RATE_SECONDS
    return ControllerConfig(enabled=enabled, rate_seconds=rate)


def _rate(value: object, path: str) -> int:
    words = _WORDS.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if words:
        seconds: float = int(words.group(1)) * _UNITS[words.group(2)]
    else:
        try:
            seconds = parse_duration(value, path)
        except ConfigError:
            raise ConfigError(f"{path}: must be {_RATE_HELP}, got {value!r}") from None
    if seconds != int(seconds) or not 1 <= seconds <= _MAX_RATE_SECONDS:
        raise ConfigError(f"{path}: must be {_RATE_HELP}, from 1 second to 1 day, got {value!r}")
    return int(seconds)


def with_controller_state(controller: ControllerConfig, state: StateConfig,
                          raw_state: object) -> StateConfig:
    """The state store with the controller on: DynamoDB, which the controller function
    reaches; ``state.store: sqlite`` given in the file is a ConfigError."""
    if not controller.enabled or state.store == "dynamodb":
        return state
    if isinstance(raw_state, Mapping) and "store" in raw_state:
        raise ConfigError(
            "controller: on keeps rollouts on DynamoDB, where the controller function reads "
            "them; state.store: sqlite is a file on this machine, out of its reach (remove "
            "state.store, or set it to dynamodb)")
    return replace(state, store="dynamodb")
