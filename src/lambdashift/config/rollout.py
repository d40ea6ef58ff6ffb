"""``rollout:`` of lambdashift.yaml (top level, a function's own, a selector's): the strategy
made into steps, each analysis step with its judge policy built (``core.strategy``), the bake
after the switch, and the smoke requests of the candidate gate.

A function's ``rollout`` overrides the top-level one: with a ``strategy`` it replaces it
whole; without, its keys are merged over it (``steps`` and the keys that generate steps,
``weight``/``pause``/``increments``, replace each other).
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambdashift.core import strategy
from lambdashift.core.validators import unknown_key_error
from lambdashift.errors import ConfigError
from lambdashift.model import Step

__all__ = ["DEFAULT_ROLLOUT", "RolloutConfig", "Smoke", "merge_rollout", "parse_rollout",
           "parse_smoke"]

DEFAULT_ROLLOUT: Mapping[str, Any] = types.MappingProxyType({"strategy": "canary"})
_GENERATING_KEYS = ({"steps"}, {"weight", "pause", "increments"})
_SMOKE_KEYS = ("name", "event", "expect")


@dataclass(frozen=True)
class Smoke:
    """One smoke request: an event for the candidate and, optionally, what it must answer."""

    event: Any
    expect: Any = None
    name: str = ""

    @property
    def label(self) -> str:
        """How messages name it."""
        return self.name or f"smoke {json.dumps(self.event, sort_keys=True)[:60]}"


@dataclass(frozen=True)
class RolloutConfig:
    """A rollout strategy: its name, the steps it makes, and the mapping it came from.

    ``judged`` is False when the config says ``analysis: off`` (top level or in the rollout):
    the steps are then exactly as written, and their pauses are not judged. Every analysis
    step carries its built judge policy (``AnalysisStep.policy``).
    """

    strategy: str
    steps: tuple[Step, ...]
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    judged: bool = True
    #: ``smoke:``: requests the candidate must answer before any traffic (``rollout.candidate``).
    smoke: tuple[Smoke, ...] = field(default=(), hash=False)


def parse_rollout(raw: Mapping[str, Any], path: str, judge: bool = True,
                  analysis: Mapping[str, Any] | None = None) -> RolloutConfig:
    """The steps, judged unless ``analysis: off``; each analysis step's settings over the
    top-level ``analysis`` defaults must make a valid policy (a pause longer than max_wait
    does not), built here once and carried by the step."""
    judge = judge and not strategy.analysis_off(raw.get("analysis"))
    smoke = parse_smoke(raw.get("smoke"), f"{path}.smoke")  # not a step: the strategy never sees it
    steps = strategy.steps_for({k: v for k, v in raw.items() if k != "smoke"}, path, judge=judge,
                               defaults=analysis)
    return RolloutConfig(str(raw["strategy"]), steps, types.MappingProxyType(dict(raw)), judge,
                         smoke)


def merge_rollout(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """``own`` over ``base``: whole with a ``strategy``, else key by key (``steps`` and the
    keys that generate steps replace each other)."""
    if "strategy" in own:
        return dict(own)
    merged = dict(base)
    for group, rival in (_GENERATING_KEYS, _GENERATING_KEYS[::-1]):
        if group & own.keys():
            for key in rival:
                merged.pop(key, None)
    return {**merged, **own}


def parse_smoke(raw: object, path: str = "rollout.smoke") -> tuple[Smoke, ...]:
    """``smoke:`` as one mapping or a list of them; a ConfigError naming the key."""
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for index, item in enumerate(items):
        where = f"{path}[{index}]" if isinstance(raw, list) else path
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where}: must be a mapping with 'event' (and 'expect'), got {item!r}")
        for key in item:
            if key not in _SMOKE_KEYS:
                raise unknown_key_error(where, key, _SMOKE_KEYS)
        if "event" not in item:
            raise ConfigError(f"{where}.event: required (the event the candidate is invoked with)")
        name = item.get("name", "")
        if not isinstance(name, str):
            raise ConfigError(f"{where}.name: must be a string, got {name!r}")
        try:
            json.dumps(item["event"])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}.event: must be plain JSON data, got {item['event']!r}") from None
        out.append(Smoke(item["event"], item.get("expect"), name))
    return tuple(out)
