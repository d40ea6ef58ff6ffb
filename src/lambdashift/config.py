"""lambdashift.yaml → a validated, typed, frozen ``Config``.

Every error is a ConfigError naming the file and the key path, for example
``lambdashift.yaml: functions.notes-get.timeout: must be an integer from 1 to 900, got 'ten'``;
unknown keys are refused with a did-you-mean. The rollout strategy is turned into steps
here (``core.strategy``) and the ``after`` lists into an order (``core.order``), so that a bad
step or a dependency cycle stops ``lambdashift`` before anything runs.

Defaults: ``alias: live``; ``target: local`` (a file that does not say otherwise never
touches AWS by accident); ``rollout: {strategy: canary}`` (10%, 5 minutes, then 100%);
per function ``runtime: python3.12``, ``timeout: 3``, ``memory: 128``.

Precedence for ``target`` and ``alias``: a command-line flag beats the environment
(``LAMBDASHIFT_TARGET``, ``LAMBDASHIFT_ALIAS``), which beats the file.

A function's ``rollout`` overrides the top-level one: with a ``strategy`` it replaces it
whole; without, its keys are merged over it (``steps`` and the keys that generate steps,
``weight``/``pause``/``increments``, replace each other).
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lambdashift.core import order, strategy
from lambdashift.errors import ConfigError
from lambdashift.model import Step
from lambdashift.rollout.prewarm import PrewarmSettings, parse_prewarm

DEFAULT_FILE = "lambdashift.yaml"
DEFAULT_ALIAS = "live"
DEFAULT_TARGET = "local"
TARGETS = ("local", "aws")
ENV_TARGET = "LAMBDASHIFT_TARGET"
ENV_ALIAS = "LAMBDASHIFT_ALIAS"
DEFAULT_ROLLOUT: Mapping[str, Any] = types.MappingProxyType({"strategy": "canary"})
#: Where the judge reads per-version counts: CloudWatch metrics (the emulator's records on
#: the local stack), Lambda's log streams, or both (whichever has seen more).
METRICS_SOURCES = ("cloudwatch", "logs", "both")
DEFAULT_METRICS = "cloudwatch"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")

_TOP_KEYS = tuple(
    "alias target region functions routes tables rollout analysis metrics hooks webhooks state"
    " select prewarm".split()
)
_FUNCTION_KEYS = tuple(
    "source handler runtime timeout memory environment secret_environment after include rollout"
    " group local".split()
)
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_ALIAS_NAME = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
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
_ROUTE_SEGMENT = re.compile(r"[A-Za-z0-9._~:@!$&'()*,;=-]+|\{[A-Za-z_][A-Za-z0-9_]*\+?\}")
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]{3,255}")
_GENERATING_KEYS = ({"steps"}, {"weight", "pause", "increments"})


@dataclass(frozen=True)
class RolloutConfig:
    """A rollout strategy: its name, the steps it makes, and the mapping it came from.

    ``judged`` is False when the config says ``analysis: off`` (top level or in the rollout):
    the steps are then exactly as written, and their pauses are not judged.
    """

    strategy: str
    steps: tuple[Step, ...]
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    judged: bool = True
    #: ``smoke:``: requests the candidate must answer before any traffic (``rollout.candidate``).
    smoke: tuple[Any, ...] = field(default=(), hash=False)


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


@dataclass(frozen=True)
class Route:
    """An HTTP API route (payload format 2.0) to a function's alias."""

    method: str  # one of METHODS, or "" for the $default route
    path: str
    function: str

    @property
    def key(self) -> str:
        """The route as API Gateway spells it: ``GET /notes/{id}`` or ``$default``."""
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class Config:
    """The whole of lambdashift.yaml, validated. ``analysis``/``hooks``/``webhooks`` are raw."""

    file: Path
    alias: str
    target: str
    region: str | None
    functions: Mapping[str, FunctionConfig]
    routes: tuple[Route, ...]
    tables: Mapping[str, Mapping[str, Any]]
    rollout: RolloutConfig
    analysis: Mapping[str, Any] = field(default_factory=dict, hash=False)
    hooks: Mapping[str, Any] = field(default_factory=dict, hash=False)
    webhooks: Mapping[str, Any] = field(default_factory=dict, hash=False)
    metrics: str = DEFAULT_METRICS
    #: ``state:`` (``rollout.state_config.StateConfig``) and ``select:`` (``rollout.selection``).
    state: Any = None
    select: tuple[Any, ...] = ()
    prewarm: PrewarmSettings = field(default_factory=PrewarmSettings)

    @property
    def root(self) -> Path:
        """The directory of the config file, which relative paths start from."""
        return self.file.parent

    def function(self, name: str) -> FunctionConfig:
        """The function called ``name``; ConfigError with a suggestion if there is none."""
        if name not in self.functions:
            raise ConfigError(_unknown("function", name, self.functions))
        return self.functions[name]

    def waves(self, selected: Iterable[str] | None = None) -> list[tuple[str, ...]]:
        """The functions (or the ``selected`` ones) in waves, dependencies first."""
        return order.waves({n: f.after for n, f in self.functions.items()}, selected)

    def with_overrides(
        self, *, target: str | None = None, alias: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Config:
        """Apply flags (``target``, ``alias``) and the environment (``os.environ`` by default)."""
        env = os.environ if env is None else env
        values = {"target": self.target, "alias": self.alias}
        for name, flag, var in (("target", target, ENV_TARGET), ("alias", alias, ENV_ALIAS)):
            if flag is not None:
                values[name] = _check_setting(name, flag, f"--{name}")
            elif env.get(var):
                values[name] = _check_setting(name, env[var], var)
        return replace(self, **values)


def load_config(
    path: str | os.PathLike[str] = DEFAULT_FILE, *, target: str | None = None,
    alias: str | None = None, env: Mapping[str, str] | None = None,
) -> Config:
    """Read, validate and return the config at ``path``, with flags and environment applied."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file (create it, or pass --config)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{file}: cannot be read: {err}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{file}: {where}{err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{file}: invalid YAML: {err}") from None
    return parse_config(data, file=file).with_overrides(target=target, alias=alias, env=env)


def parse_config(data: object, *, file: Path) -> Config:
    """Validate already-parsed YAML; relative paths start from ``file``'s directory."""
    try:
        return _parse(data, file)
    except ConfigError as err:
        raise ConfigError(f"{file}: {err}") from None


# --- the sections -----------------------------------------------------------------------------


def _parse(data: object, file: Path) -> Config:
    if data is None:
        raise ConfigError("the file is empty; it needs at least 'functions'")
    top = _mapping(data, "", "a mapping of settings (functions, routes, rollout, ...)")
    _check_keys(top, _TOP_KEYS, "")
    root = file.parent.resolve()
    judge = not strategy.analysis_off(top.get("analysis"))
    if not judge:  # `analysis: off`: no judge defaults, and nothing judged unless a step asks
        top = {k: v for k, v in top.items() if k != "analysis"}
    analysis = _raw(top, "analysis")
    strategy.analysis_step(defaults=analysis)  # the judge's defaults, checked at load
    rollout_raw = _mapping(top.get("rollout", DEFAULT_ROLLOUT), "rollout")
    rollout = _rollout(rollout_raw, "rollout", judge, analysis)
    functions_raw = _mapping(top.get("functions"), "functions", "a mapping of function names")
    from lambdashift.rollout.selection import parse_select
    from lambdashift.rollout.state_config import parse_state

    # A selector's rollout is judged as the listed functions' are (`analysis: off` at the top).
    select = parse_select(top.get("select"), rollout_raw if judge
                          else {"analysis": "off", **rollout_raw})
    if not functions_raw and not select:
        raise ConfigError("functions: at least one function is needed (or a `select:`)")
    functions = {
        name: _function(name, spec, root, rollout_raw, judge, analysis)
        for name, spec in functions_raw.items()
    }
    # Refuses unknown names in `after` and cycles now, before anything runs.
    order.waves({n: f.after for n, f in functions.items()})
    from lambdashift.rollout.group import check_groups

    check_groups(functions)  # members of a group must be able to advance together
    return Config(
        file=file,
        alias=_check_setting("alias", top.get("alias", DEFAULT_ALIAS), "alias"),
        target=_check_setting("target", top.get("target", DEFAULT_TARGET), "target"),
        region=_region(top.get("region")),
        functions=types.MappingProxyType(functions),
        routes=_routes(top.get("routes"), functions),
        tables=types.MappingProxyType(_tables(top.get("tables"))),
        rollout=rollout,
        analysis=analysis,
        hooks=_hooks(top, functions),
        webhooks=_webhooks(top.get("webhooks")),
        metrics=_metrics(top.get("metrics", DEFAULT_METRICS)),
        state=parse_state(top.get("state")),
        select=select,
        prewarm=parse_prewarm(top.get("prewarm")),
    )


def _function(
    name: object, spec: object, root: Path, rollout_raw: Mapping[str, Any], judge: bool,
    analysis: Mapping[str, Any],
) -> FunctionConfig:
    name = _match(name, _FUNCTION_NAME, "functions", "function names of 1 to 64 of a-z A-Z 0-9 - _")
    path = f"functions.{name}"
    spec = _mapping(spec, path, "a mapping (source, handler, ...)")
    _check_keys(spec, _FUNCTION_KEYS, path)
    for key in ("source", "handler"):
        if key not in spec:
            raise ConfigError(f"{path}.{key}: required")
    own = spec.get("rollout")
    merged = rollout_raw
    if own is not None:
        merged = _merge_rollout(rollout_raw, _mapping(own, f"{path}.rollout"))
    handler = _match(spec["handler"], _HANDLER, f"{path}.handler", "file.function (index.handler)")
    runtime = spec.get("runtime", "python3.12")
    _match(runtime, _RUNTIME, f"{path}.runtime", "a Lambda runtime such as python3.12")
    environment = _environment(spec.get("environment"), f"{path}.environment")
    secrets = _secret_environment(spec.get("secret_environment"), f"{path}.secret_environment",
                                  environment)
    includes = _string_list(spec.get("include"), f"{path}.include")
    return FunctionConfig(
        name=name,
        source=_existing(spec["source"], root, f"{path}.source", want_dir=True),
        handler=handler,
        rollout=_rollout(merged, f"{path}.rollout", judge, analysis),
        runtime=runtime,
        timeout=_integer(spec.get("timeout", 3), f"{path}.timeout", 1, 900),
        memory=_integer(spec.get("memory", 128), f"{path}.memory", 128, 10240),
        environment=types.MappingProxyType(environment),
        secret_environment=types.MappingProxyType(secrets),
        after=tuple(_string_list(spec.get("after"), f"{path}.after")),
        local=_flag(spec.get("local", True), f"{path}.local"),
        group=(None if spec.get("group") is None
               else _match(spec["group"], _FUNCTION_NAME, f"{path}.group",
                           "a group name of 1 to 64 of a-z A-Z 0-9 - _")),
        include=tuple(
            _existing(item, root, f"{path}.include[{i}]", want_dir=False)
            for i, item in enumerate(includes)
        ),
    )


def _flag(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: true or false, got {value!r}")
    return value


def _rollout(raw: Mapping[str, Any], path: str, judge: bool = True,
             analysis: Mapping[str, Any] | None = None) -> RolloutConfig:
    """The steps, judged unless ``analysis: off``; each analysis step's settings over the
    top-level ``analysis`` defaults must make a valid policy (a pause longer than max_wait
    does not)."""
    judge = judge and not strategy.analysis_off(raw.get("analysis"))
    from lambdashift.rollout.candidate import parse_smoke

    smoke = parse_smoke(raw.get("smoke"), f"{path}.smoke")  # not a step: the strategy never sees it
    # Each analysis step carries its policy, built over the `analysis:` defaults, from here on.
    steps = strategy.steps_for({k: v for k, v in raw.items() if k != "smoke"}, path, judge=judge,
                               defaults=analysis)
    return RolloutConfig(str(raw["strategy"]), steps, types.MappingProxyType(dict(raw)), judge,
                         smoke)


def _merge_rollout(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    if "strategy" in own:
        return dict(own)
    merged = dict(base)
    for group, rival in (_GENERATING_KEYS, _GENERATING_KEYS[::-1]):
        if group & own.keys():
            for key in rival:
                merged.pop(key, None)
    return {**merged, **own}


def _routes(raw: object, functions: Mapping[str, FunctionConfig]) -> tuple[Route, ...]:
    routes = []
    for key, target in _mapping(raw, "routes", "a mapping of \"METHOD /path\" to function").items():
        path = f'routes["{key}"]'
        if not isinstance(key, str):
            raise ConfigError(f"{path}: a route is \"METHOD /path\", got {key!r}")
        if not isinstance(target, str) or target not in functions:
            raise ConfigError(f"{path}: {_unknown('function', str(target), functions)}")
        if key == "$default":
            routes.append(Route("", "$default", target))
            continue
        method, _, route_path = key.partition(" ")
        if method not in METHODS:
            raise ConfigError(
                f"{path}: the method must be one of {', '.join(METHODS)}, got {method!r}"
            )
        segments = route_path.split("/")
        well_formed = route_path == "/" or all(_ROUTE_SEGMENT.fullmatch(s) for s in segments[1:])
        if not route_path.startswith("/") or not well_formed:
            raise ConfigError(f"{path}: the path must look like /notes/{{id}}, got {route_path!r}")
        if any(s.endswith("+}") for s in segments[:-1]):
            raise ConfigError(f"{path}: a greedy {{name+}} parameter must be the last segment")
        routes.append(Route(method, route_path, target))
    return tuple(routes)


def _tables(raw: object) -> dict[str, dict[str, Any]]:
    tables = {}
    for name, spec in _mapping(raw, "tables", "a mapping of table names").items():
        _match(name, _TABLE_NAME, "tables", "table names of 3 to 255 of a-z A-Z 0-9 _ . -")
        tables[name] = _table(_mapping(spec, f"tables.{name}", "CreateTable parameters"), name)
    return tables


def _table(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Light checks only (the key attributes are defined); DynamoDB validates the rest."""
    path = f"tables.{name}"
    defined = set()
    for key in ("AttributeDefinitions", "KeySchema"):
        _required(spec, key, path)
    definitions = _list(spec.get("AttributeDefinitions"), f"{path}.AttributeDefinitions")
    for i, item in enumerate(definitions):
        where = f"{path}.AttributeDefinitions[{i}]"
        item = _mapping(item, where, "{AttributeName, AttributeType}")
        if item.get("AttributeType") not in ("S", "N", "B") or not item.get("AttributeName"):
            raise ConfigError(f"{where}: needs AttributeName and AttributeType S, N or B")
        defined.add(item["AttributeName"])
    for i, item in enumerate(_list(spec.get("KeySchema"), f"{path}.KeySchema")):
        where = f"{path}.KeySchema[{i}]"
        item = _mapping(item, where, "{AttributeName, KeyType}")
        if item.get("KeyType") not in ("HASH", "RANGE"):
            raise ConfigError(f"{where}.KeyType: must be HASH or RANGE")
        if item.get("AttributeName") not in defined:
            attribute = item.get("AttributeName")
            raise ConfigError(
                f"{where}.AttributeName: {attribute!r} is not in AttributeDefinitions"
            )
    return dict(spec)


def _environment(raw: object, path: str) -> dict[str, str]:
    env = {}
    for key, value in _mapping(raw, path, "a mapping of names to strings").items():
        _match(key, _ENV_KEY, path, "variable names (a letter, then letters, digits, _)")
        if key in _RESERVED_ENV:
            raise ConfigError(f"{path}.{key}: reserved by Lambda")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{path}.{key}: must be a string (quote it), got {value!r}")
        env[key] = str(value)
    return env


def _secret_environment(raw: object, path: str, plain: Mapping[str, str]) -> dict[str, str]:
    """``{VAR: SOURCE}``: VAR of the function gets the value of $SOURCE when deploying."""
    secrets = {}
    for key, source in _mapping(raw, path, "a mapping of variable names to environment "
                                           "variable names").items():
        _match(key, _ENV_KEY, path, "variable names (a letter, then letters, digits, _)")
        if key in _RESERVED_ENV:
            raise ConfigError(f"{path}.{key}: reserved by Lambda")
        if key in plain:
            raise ConfigError(f"{path}.{key}: also in environment; a variable is secret or not")
        if not isinstance(source, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", source):
            raise ConfigError(f"{path}.{key}: must name an environment variable holding the "
                              f"value (e.g. NOTES_API_TOKEN), not the value itself")
        secrets[key] = source
    return secrets


def _region(raw: object) -> str | None:
    if raw is None:
        return None
    return _match(raw, _REGION, "region", "an AWS region such as eu-west-1")


def _metrics(raw: object) -> str:
    if raw not in METRICS_SOURCES:
        raise ConfigError(f"metrics: must be cloudwatch, logs or both, got {raw!r}")
    return str(raw)


def _check_setting(name: str, value: object, source: str) -> str:
    """Validate ``target`` or ``alias``; ``source`` names where the value came from."""
    if name == "target":
        if value not in TARGETS:
            raise ConfigError(f"{source}: must be local or aws, got {value!r}")
        return str(value)
    return _match(value, _ALIAS_NAME, source, "an alias name (a-z A-Z 0-9 - _, not only digits)")


# --- small validators ---------------------------------------------------------------------------


def _mapping(value: object, path: str, what: str = "a mapping") -> Mapping[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}must be {what}, got {type(value).__name__} {value!r}")
    return value


def _match(value: object, pattern: re.Pattern[str], path: str, expected: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{path}: must be {expected}, got {value!r}")
    return value


def _required(mapping: Mapping[Any, Any], key: str, path: str) -> None:
    """Where the keys are not all known here (CreateTable's grow with botocore), a missing
    required key is looked for among the given ones: a typo gets its did-you-mean."""
    if key not in mapping:
        close = difflib.get_close_matches(key, [k for k in mapping if isinstance(k, str)], n=1)
        if close:
            raise ConfigError(f"{path}: unknown key {close[0]!r}; did you mean {key!r}?")


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: required, a non-empty list")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: must be a non-empty string, got {value!r}")
    return value


def _string_list(value: object, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{path}: must be a list, got {value!r}")
    return [_string(item, f"{path}[{i}]") for i, item in enumerate(value)]


def _integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{path}: must be an integer from {low} to {high}, got {value!r}")
    return value


def _existing(value: object, root: Path, path: str, *, want_dir: bool) -> Path:
    """The path, resolved from ``root``; a ConfigError saying what is there when it will not do."""
    given = root / _string(value, path)
    resolved = given.resolve()
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


def _raw(top: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(_mapping(top.get(key), key)))


def _hooks(top: Mapping[str, Any], functions: Mapping[str, Any]) -> Mapping[str, Any]:
    """``hooks:`` checked at load (a bad check must fail before any rollout starts)."""
    from lambdashift.rollout.hooks import parse_hooks

    hooks = _raw(top, "hooks")
    if hooks:
        parse_hooks(hooks, functions=list(functions))
    return hooks


def _webhooks(raw: object) -> Mapping[str, Any]:
    """``webhooks:`` as a list of URLs (the short form) or the full mapping, checked at load."""
    from lambdashift.rollout.webhooks import parse_webhooks

    if raw is None:
        return types.MappingProxyType({})
    mapping = {"urls": raw} if isinstance(raw, list) else _mapping(raw, "webhooks")
    parse_webhooks(mapping)
    return types.MappingProxyType(dict(mapping))


def _check_keys(mapping: Mapping[Any, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise strategy.unknown_key_error(path, key, allowed)


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"unknown {kind} {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys, which plain YAML silently lets the last win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: the base class says so
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
