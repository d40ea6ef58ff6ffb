"""lambdashift.yaml → a validated, typed, frozen ``Config``, parsed once, at load.

One module per section; each reads its section into a value and knows nothing of running a
rollout (nothing here imports ``lambdashift.rollout``)::

    file.py        the file as a whole: YAML, the top-level keys, Config, load_config
    functions.py   functions: FunctionConfig, environments, groups
    routes.py      routes: Route
    tables.py      tables: CreateTable parameters
    rollout.py     rollout: RolloutConfig (steps with built judge policies, bake), smoke
    select.py      select: Selector
    prewarm.py     prewarm: PrewarmSettings
    analysis.py    analysis (the judge's defaults) and metrics
    hooks.py       hooks: Hooks, HookConfig, the checks
    webhooks.py    webhooks: WebhookSettings
    state.py       state: StateConfig
    controller.py  controller: ControllerConfig (the local stack runs it; implies DynamoDB state)

The small validators every section shares (durations, percents, unknown keys with a
did-you-mean, shapes) are ``core.validators``, which the core's strategy and judge policy use
too.
"""

from __future__ import annotations

from lambdashift.config.analysis import DEFAULT_METRICS, METRICS_SOURCES
from lambdashift.config.controller import ControllerConfig
from lambdashift.config.file import (
    DEFAULT_ALIAS,
    DEFAULT_FILE,
    DEFAULT_TARGET,
    ENV_ALIAS,
    ENV_TARGET,
    TARGETS,
    TOP_KEYS,
    Config,
    load_config,
    parse_config,
)
from lambdashift.config.functions import FUNCTION_KEYS, FunctionConfig
from lambdashift.config.hooks import HookConfig, Hooks
from lambdashift.config.prewarm import PrewarmSettings
from lambdashift.config.rollout import DEFAULT_ROLLOUT, RolloutConfig, Smoke
from lambdashift.config.routes import METHODS, Route
from lambdashift.config.select import Selector
from lambdashift.config.state import StateConfig
from lambdashift.config.webhooks import WebhookSettings

__all__ = sorted([
    "Config", "ControllerConfig", "DEFAULT_ALIAS", "DEFAULT_FILE", "DEFAULT_METRICS", "DEFAULT_ROLLOUT",
    "DEFAULT_TARGET", "ENV_ALIAS", "ENV_TARGET", "FUNCTION_KEYS", "FunctionConfig", "HookConfig",
    "Hooks", "METHODS", "METRICS_SOURCES", "PrewarmSettings", "RolloutConfig", "Route",
    "Selector", "Smoke", "StateConfig", "TARGETS", "TOP_KEYS", "WebhookSettings", "load_config",
    "parse_config",
])
