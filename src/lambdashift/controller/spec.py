"""What ``controller install`` makes, and where: the names and the checked flags.

A :class:`Spec` is validated when it is made (ConfigError naming the flag: CLI exit 2), and
derives every resource name from the function's: its roles, schedule and log group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdashift.controller.settings import (DEFAULT_FUNCTION, DEFAULT_MARGIN, DEFAULT_RATE,
                                             DEFAULT_TIMEOUT, ControllerSettings)
from lambdashift.errors import ConfigError
from lambdashift.store.settings import DEFAULT_TABLE

__all__ = ["Spec"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,47}")  # + "-scheduler-role" stays within IAM's 64
_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_GLOB = re.compile(r"[A-Za-z0-9_*?-]{1,64}")
_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")


def _check_rate(rate: str) -> str:
    match = _RATE.fullmatch(rate.strip())
    if match is None and not re.fullmatch(r"cron\([^()]+\)", rate.strip()):
        raise ConfigError(f"--rate {rate!r}: a Scheduler expression such as "
                          f"\"{DEFAULT_RATE}\", \"rate(5 minutes)\" or \"cron(...)\"")
    if match:
        value, unit = int(match.group(1)), match.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ConfigError(f"--rate {rate!r}: write rate(1 {unit.rstrip('s')}) "
                              f"or rate(N {unit.rstrip('s')}s) with N above 1")
    return rate.strip()


@dataclass(frozen=True)
class Spec:
    """What to install, where: validated on creation (ConfigError naming the flag)."""

    region: str
    function: str = DEFAULT_FUNCTION
    table: str = DEFAULT_TABLE
    functions: tuple[str, ...] = ("*",)
    rate: str = DEFAULT_RATE
    timeout: int = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.function):
            raise ConfigError(f"--function-name {self.function!r}: 1 to 47 letters, digits, "
                              "- or _ (its roles' names add up to 64)")
        if not _TABLE.fullmatch(self.table):
            raise ConfigError(f"--table {self.table!r}: 3 to 255 letters, digits, _ - or .")
        if not self.functions:
            raise ConfigError("--functions: name at least one function or glob")
        for glob in self.functions:
            if not _GLOB.fullmatch(glob):
                raise ConfigError(f"--functions {glob!r}: a function name or a glob of "
                                  "letters, digits, - _ * ?")
        if not DEFAULT_MARGIN < self.timeout <= 900:
            raise ConfigError(f"--timeout {self.timeout}: seconds above the controller's margin "
                              f"({DEFAULT_MARGIN:g}) and at most 900, Lambda's longest")
        object.__setattr__(self, "rate", _check_rate(self.rate))

    @property
    def role(self) -> str:
        """The execution role's name."""
        return f"{self.function}-role"

    @property
    def scheduler_role(self) -> str:
        """The schedule's role's name."""
        return f"{self.function}-scheduler-role"

    @property
    def schedule(self) -> str:
        """The schedule's name (in the default group): the function's."""
        return self.function

    @property
    def log_group(self) -> str:
        """The function's log group."""
        return f"/aws/lambda/{self.function}"

    def settings(self) -> ControllerSettings:
        """The function's environment as the handler reads it."""
        return ControllerSettings(namespace=f"aws:{self.region}", table=self.table,
                                  region=self.region, functions=self.functions)


