"""``functions:`` of lambdashift.yaml: one :class:`FunctionConfig` per function, and the rules
between them (groups).

Paths are resolved from the config file's directory and must exist; environment variables
are strings, never Lambda's reserved names; ``secret_environment`` names the deployer's
variable that holds a value, never the value.
"""

from __future__ import annotations

import contextvars
import difflib
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdashift.config.rollout import RolloutConfig, merge_rollout, parse_rollout
from lambdashift.core import validators as v
from lambdashift.errors import ConfigError

__all__ = ["FUNCTION_KEYS", "FunctionConfig", "check_groups", "check_same_steps",
           "parse_function"]

FUNCTION_KEYS = tuple(
    "source handler runtime timeout memory environment secret_environment after include rollout"
    " group local".split()
)
FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_HANDLER = re.compile(r"(?=\S{1,128}$)[^.\s]\S*\.[^.\s]+")  # file.function, at most 128
_RUNTIME = re.compile(
    r"python3\.\d+|nodejs\d+\.x|java\d+|dotnet\d+|ruby\d\.\d+|provided(\.al2(023)?)?"
)
_ENV_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")
_RESERVED_ENV = frozenset(
    "AWS_REGION AWS_DEFAULT_REGION AWS_EXECUTION_ENV AWS_LAMBDA_FUNCTION_NAME "
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE AWS_LAMBDA_FUNCTION_VERSION AWS_LAMBDA_INITIALIZATION_TYPE "
    "AWS_LAMBDA_LOG_GROUP_NAME AWS_LAMBDA_LOG_STREAM_NAME AWS_ACCESS_KEY AWS_ACCESS_KEY_ID "
    "AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_LAMBDA_RUNTIME_API LAMBDA_TASK_ROOT "
    "LAMBDA_RUNTIME_DIR".split()
)


@dataclass(frozen=True)
class FunctionConfig:
    """One function of lambdashift.yaml; paths are absolute."""

    name: str
    source: Path
    handler: str
    rollout: RolloutConfig
    runtime: str = "python3.12"
    timeout: int = 3
    memory: int = 128
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)
    after: tuple[str, ...] = ()
    include: tuple[Path, ...] = ()
    #: Functions sharing a group roll out step by step together and roll back together.
    group: str | None = None
    #: Function variable → the deployer's environment variable holding its value. The value
    #: is read only when deploying (:meth:`deployed_environment`), never kept in the file.
    secret_environment: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: False leaves the function out of the local stack (a runtime this machine cannot run).
    local: bool = True

    def deployed_environment(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """``environment`` plus the secret variables, read from ``environ`` (``os.environ``).

        A secret whose source variable is unset is a ConfigError (exit 2): nothing deploys
        with a silently empty password.
        """
        environ = os.environ if environ is None else environ
        resolved = dict(self.environment)
        for name, source in self.secret_environment.items():
            if source not in environ:
                raise ConfigError(f"functions.{self.name}.secret_environment.{name}: "
                                  f"${source} is not set in the environment of this command")
            resolved[name] = environ[source]
        return resolved


def parse_function(
    name: object, spec: object, root: Path, rollout_raw: Mapping[str, Any], judge: bool,
    analysis: Mapping[str, Any],
) -> FunctionConfig:
    """One entry of ``functions:``; its ``rollout`` is merged over the top-level one."""
    name = v.match(name, FUNCTION_NAME, "functions",
                   "function names of 1 to 64 of a-z A-Z 0-9 - _")
    path = f"functions.{name}"
    spec = v.mapping(spec, path, "a mapping (source, handler, ...)")
    v.check_keys(spec, FUNCTION_KEYS, path)
    for key in ("source", "handler"):
        if key not in spec:
            raise ConfigError(f"{path}.{key}: required")
    own = spec.get("rollout")
    merged = rollout_raw
    if own is not None:
        merged = merge_rollout(rollout_raw, v.mapping(own, f"{path}.rollout"))
    handler = v.match(spec["handler"], _HANDLER, f"{path}.handler",
                      "file.function (index.handler)")
    runtime = spec.get("runtime", "python3.12")
    v.match(runtime, _RUNTIME, f"{path}.runtime", "a Lambda runtime such as python3.12")
    environment = _environment(spec.get("environment"), f"{path}.environment")
    secrets = _secret_environment(spec.get("secret_environment"), f"{path}.secret_environment",
                                  environment)
    includes = v.string_list(spec.get("include"), f"{path}.include")
    return FunctionConfig(
        name=name,
        source=_existing(spec["source"], root, f"{path}.source", want_dir=True),
        handler=handler,
        rollout=parse_rollout(merged, f"{path}.rollout", judge, analysis),
        runtime=runtime,
        timeout=v.integer(spec.get("timeout", 3), f"{path}.timeout", 1, 900),
        memory=v.integer(spec.get("memory", 128), f"{path}.memory", 128, 10240),
        environment=types.MappingProxyType(environment),
        secret_environment=types.MappingProxyType(secrets),
        after=tuple(v.string_list(spec.get("after"), f"{path}.after")),
        local=v.flag(spec.get("local", True), f"{path}.local"),
        group=(None if spec.get("group") is None
               else v.match(spec["group"], FUNCTION_NAME, f"{path}.group",
                            "a group name of 1 to 64 of a-z A-Z 0-9 - _")),
        include=tuple(
            _existing(item, root, f"{path}.include[{i}]", want_dir=False)
            for i, item in enumerate(includes)
        ),
    )


def check_same_steps(name: str, members: Mapping[str, tuple[Any, ...]]) -> None:
    """Members advance together, so they must have the same steps: ConfigError if not."""
    distinct = {steps for steps in members.values()}
    if len(distinct) > 1:
        raise ConfigError(
            f"group {name}: its members must have the same rollout steps to advance together "
            f"({', '.join(sorted(members))}): give them one `rollout:`")


def check_groups(functions: Mapping[str, Any]) -> None:
    """The config's groups: same steps for all members, no ``after:`` inside a group."""
    groups: dict[str, dict[str, Any]] = {}
    for name, fn in functions.items():
        if fn.group is not None:
            groups.setdefault(fn.group, {})[name] = fn
    for group, members in groups.items():
        check_same_steps(group, {n: f.rollout.steps for n, f in members.items()})
        for name, fn in members.items():
            inside = sorted(set(fn.after) & set(members))
            if inside:
                raise ConfigError(
                    f"functions.{name}.after: {inside[0]} is in the same group ({group}); "
                    "members roll out together, so one cannot wait for another")


def _environment(raw: object, path: str) -> dict[str, str]:
    env = {}
    for key, value in v.mapping(raw, path, "a mapping of names to strings").items():
        v.match(key, _ENV_KEY, path, "variable names (a letter, then letters, digits, _)")
        if key in _RESERVED_ENV:
            raise ConfigError(f"{path}.{key}: reserved by Lambda")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{path}.{key}: must be a string (quote it), got {value!r}")
        env[key] = str(value)
    return env


def _secret_environment(raw: object, path: str, plain: Mapping[str, str]) -> dict[str, str]:
    """``{VAR: SOURCE}``: VAR of the function gets the value of $SOURCE when deploying."""
    secrets = {}
    for key, source in v.mapping(raw, path, "a mapping of variable names to environment "
                                            "variable names").items():
        v.match(key, _ENV_KEY, path, "variable names (a letter, then letters, digits, _)")
        if key in _RESERVED_ENV:
            raise ConfigError(f"{path}.{key}: reserved by Lambda")
        if key in plain:
            raise ConfigError(f"{path}.{key}: also in environment; a variable is secret or not")
        if not isinstance(source, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", source):
            raise ConfigError(f"{path}.{key}: must name an environment variable holding the "
                              f"value (e.g. NOTES_API_TOKEN), not the value itself")
        secrets[key] = source
    return secrets


#: False while a stored config is read back where its files are not (the controller, which
#: never packages: ``file.parse_config(check_paths=False)``).
CHECK_PATHS: contextvars.ContextVar[bool] = contextvars.ContextVar("check_paths", default=True)


def _existing(value: object, root: Path, path: str, *, want_dir: bool) -> Path:
    """The path, resolved from ``root``; a ConfigError saying what is there when it will not do."""
    given = root / v.string(value, path)
    resolved = given.resolve()
    if not CHECK_PATHS.get():
        return resolved
    if resolved.is_dir() if want_dir else resolved.exists():
        return resolved
    wanted = "a directory (the function's code)" if want_dir else "a file or directory"
    raise ConfigError(f"{path}: must be {wanted}, but {_what_is_at(given, resolved)}")


def _what_is_at(given: Path, resolved: Path) -> str:
    """In words, what the file system holds at a path that is not what the config wants."""
    if given.is_symlink() and not resolved.exists():
        return f"{given} is a symbolic link to {os.readlink(given)}, which does not exist"
    if resolved.is_file():
        return f"{resolved} is a file"
    if resolved.exists():
        return f"{resolved} is neither a file nor a directory"
    parent = resolved.parent
    while not parent.exists():
        parent = parent.parent
    if parent != resolved.parent:
        return f"{resolved} does not exist (nor does {resolved.parent}; {parent} does)"
    try:
        near = difflib.get_close_matches(resolved.name, [p.name for p in parent.iterdir()], n=1)
    except OSError:
        near = []
    return f"{resolved} does not exist" + (f"; did you mean {near[0]!r}?" if near else "")
