"""The file as a whole: read lambdashift.yaml, hand each section to its module, and return
one validated, typed, frozen :class:`Config`.

Every error is a ConfigError naming the file and the key path, for example
``lambdashift.yaml: functions.notes-get.timeout: must be an integer from 1 to 900, got 'ten'``;
unknown keys are refused with a did-you-mean. The rollout strategy is turned into steps
here (``core.strategy``, each analysis step with its judge policy built) and the ``after``
lists into an order (``core.order``), so that a bad step or a dependency cycle stops
``lambdashift`` before anything runs.

Defaults: ``alias: live``; ``target: local`` (a file that does not say otherwise never
touches AWS by accident); ``rollout: {strategy: canary}`` (10%, 5 minutes, then 100%);
per function ``runtime: python3.12``, ``timeout: 3``, ``memory: 128``.

Precedence for ``target`` and ``alias``: a command-line flag beats the environment
(``LAMBDASHIFT_TARGET``, ``LAMBDASHIFT_ALIAS``), which beats the file.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from lambdashift.config.analysis import DEFAULT_METRICS, parse_analysis, parse_metrics
from lambdashift.config.controller import ControllerConfig, parse_controller, with_controller_state
from lambdashift.config.functions import CHECK_PATHS, FunctionConfig, check_groups, parse_function
from lambdashift.config.hooks import Hooks, parse_hooks_section
from lambdashift.config.prewarm import PrewarmSettings, parse_prewarm
from lambdashift.config.rollout import DEFAULT_ROLLOUT, RolloutConfig, parse_rollout
from lambdashift.config.routes import Route, parse_routes
from lambdashift.config.select import Selector, parse_select
from lambdashift.config.state import StateConfig, parse_state
from lambdashift.config.tables import parse_tables
from lambdashift.config.webhooks import WebhookSettings, parse_webhook_settings
from lambdashift.core import order
from lambdashift.core import validators as v
from lambdashift.errors import ConfigError

__all__ = ["Config", "DEFAULT_ALIAS", "DEFAULT_FILE", "DEFAULT_TARGET", "ENV_ALIAS",
           "ENV_TARGET", "TARGETS", "TOP_KEYS", "load_config", "parse_config"]

DEFAULT_FILE = "lambdashift.yaml"
DEFAULT_ALIAS = "live"
DEFAULT_TARGET = "local"
TARGETS = ("local", "aws")
ENV_TARGET = "LAMBDASHIFT_TARGET"
ENV_ALIAS = "LAMBDASHIFT_ALIAS"

TOP_KEYS = tuple(
    "alias target region functions routes tables rollout analysis metrics hooks webhooks state"
    " select prewarm controller".split()
)
_ALIAS_NAME = re.compile(r"(?!^[0-9]+$)[a-zA-Z0-9_-]{1,128}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


@dataclass(frozen=True)
class Config:
    """The whole of lambdashift.yaml, validated; each section a typed value.

    ``analysis`` holds the judge's default settings (already built into every analysis
    step's policy; kept for steps made later, as ``--strategy``'s).
    """

    file: Path
    alias: str
    target: str
    region: str | None
    functions: Mapping[str, FunctionConfig]
    routes: tuple[Route, ...]
    tables: Mapping[str, Mapping[str, Any]]
    rollout: RolloutConfig
    analysis: Mapping[str, Any] = field(default_factory=dict, hash=False)
    hooks: Hooks = field(default_factory=Hooks, hash=False)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings, hash=False)
    metrics: str = DEFAULT_METRICS
    state: StateConfig = field(default_factory=StateConfig)
    select: tuple[Selector, ...] = ()
    prewarm: PrewarmSettings = field(default_factory=PrewarmSettings)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    #: The file's data as YAML gave it, before validation: what a release stores so that
    #: another process (the controller) can rebuild this very config.
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def root(self) -> Path:
        """The directory of the config file, which relative paths start from."""
        return self.file.parent

    def function(self, name: str) -> FunctionConfig:
        """The function called ``name``; ConfigError with a suggestion if there is none."""
        if name not in self.functions:
            raise ConfigError(v.unknown_name("function", name, self.functions))
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


def parse_config(data: object, *, file: Path, check_paths: bool = True) -> Config:
    """Validate already-parsed YAML; relative paths start from ``file``'s directory.

    ``check_paths=False`` reads a config stored with a release where its files are not (the
    controller): paths are resolved but not required to exist.
    """
    token = CHECK_PATHS.set(check_paths)
    try:
        return replace(_parse(data, file), raw=data)  # type: ignore[arg-type]
    except ConfigError as err:
        raise ConfigError(f"{file}: {err}") from None
    finally:
        CHECK_PATHS.reset(token)


def _parse(data: object, file: Path) -> Config:
    if data is None:
        raise ConfigError("the file is empty; it needs at least 'functions'")
    top = v.mapping(data, "", "a mapping of settings (functions, routes, rollout, ...)")
    v.check_keys(top, TOP_KEYS, "")
    root = file.parent.resolve()
    judge, analysis = parse_analysis(top.get("analysis"))
    rollout_raw = v.mapping(top.get("rollout", DEFAULT_ROLLOUT), "rollout")
    rollout = parse_rollout(rollout_raw, "rollout", judge, analysis)
    functions_raw = v.mapping(top.get("functions"), "functions", "a mapping of function names")
    # A selector's rollout is judged as the listed functions' are (`analysis: off` at the top).
    select = parse_select(top.get("select"), rollout_raw if judge
                          else {"analysis": "off", **rollout_raw}, analysis)
    if not functions_raw and not select:
        raise ConfigError("functions: at least one function is needed (or a `select:`)")
    functions = {
        name: parse_function(name, spec, root, rollout_raw, judge, analysis)
        for name, spec in functions_raw.items()
    }
    # Refuses unknown names in `after` and cycles now, before anything runs.
    order.waves({n: f.after for n, f in functions.items()})
    check_groups(functions)  # members of a group must be able to advance together
    controller = parse_controller(top.get("controller"))
    return Config(
        file=file,
        alias=_check_setting("alias", top.get("alias", DEFAULT_ALIAS), "alias"),
        target=_check_setting("target", top.get("target", DEFAULT_TARGET), "target"),
        region=_region(top.get("region")),
        functions=types.MappingProxyType(functions),
        routes=parse_routes(top.get("routes"), functions),
        tables=types.MappingProxyType(parse_tables(top.get("tables"))),
        rollout=rollout,
        analysis=analysis,
        hooks=parse_hooks_section(v.mapping(top.get("hooks"), "hooks"),
                                  functions=list(functions)),
        webhooks=_webhooks(top.get("webhooks")),
        metrics=parse_metrics(top.get("metrics", DEFAULT_METRICS)),
        # The controller reads rollouts from DynamoDB: on, it implies `store: dynamodb`.
        state=with_controller_state(controller, parse_state(top.get("state")), top.get("state")),
        select=select,
        prewarm=parse_prewarm(top.get("prewarm")),
        controller=controller,
    )


def _webhooks(raw: object) -> WebhookSettings:
    """A list of URLs (the short form) or the full mapping."""
    if raw is not None and not isinstance(raw, list):
        raw = v.mapping(raw, "webhooks")
    return parse_webhook_settings(raw)


def _region(raw: object) -> str | None:
    if raw is None:
        return None
    return v.match(raw, _REGION, "region", "an AWS region such as eu-west-1")


def _check_setting(name: str, value: object, source: str) -> str:
    """Validate ``target`` or ``alias``; ``source`` names where the value came from."""
    if name == "target":
        if value not in TARGETS:
            raise ConfigError(f"{source}: must be local or aws, got {value!r}")
        return str(value)
    return v.match(value, _ALIAS_NAME, source,
                   "an alias name (a-z A-Z 0-9 - _, not only digits)")


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
