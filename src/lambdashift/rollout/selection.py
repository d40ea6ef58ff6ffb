"""``select:``: roll out functions found by tag and name pattern instead of listed one by one.

```yaml
select:
  - tags: {"lambdashift:alias": live}   # every tag must match (a value of "*": any value)
    names: ["orders-*", "billing-*"]    # shell patterns; any may match (default: all names)
    group: checkout                     # optional: these roll out and back as one group
    rollout: {strategy: canary}         # optional: overrides the top-level rollout
```

Functions are found with paginated ``ListFunctions`` calls (50 a page) and, for tags,
``ListTags`` of each function whose name matched (the local emulator has no tagging API;
on AWS the Resource Groups Tagging API would save those calls). Every call goes through the
shared rate limiter, and the result is cached for the run: one ``deploy`` lists once.
A function listed under ``functions:`` keeps its own settings there.
"""

from __future__ import annotations

import fnmatch
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lambdashift.errors import ConfigError

_KEYS = ("tags", "names", "group", "rollout")
_GROUP = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True)
class Selector:
    """One entry of ``select:``: tags to match, name patterns, the group and the rollout."""

    tags: Mapping[str, str]
    names: tuple[str, ...]
    group: str | None
    rollout: Any  # config.RolloutConfig

    def matches_name(self, name: str) -> bool:
        """True when the name matches a pattern (or there are none)."""
        return not self.names or any(fnmatch.fnmatchcase(name, p) for p in self.names)

    def matches_tags(self, tags: Mapping[str, str]) -> bool:
        """True when every tag of the selector is on the function with that value (or ``*``)."""
        return all(k in tags and (v == "*" or tags[k] == v) for k, v in self.tags.items())


def parse_select(raw: object, rollout_raw: Mapping[str, Any]) -> tuple[Selector, ...]:
    """Validate ``select:`` (a list of selectors); ``rollout_raw`` is the top-level rollout."""
    from lambdashift.config import _merge_rollout, _rollout
    from lambdashift.core.strategy import unknown_key_error

    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"select: must be a list of selectors (tags, names), got {raw!r}")
    selectors = []
    for i, entry in enumerate(raw):
        path = f"select[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{path}: must be a mapping (tags, names, group, rollout)")
        for key in entry:
            if key not in _KEYS:
                raise unknown_key_error(path, key, _KEYS)
        tags = entry.get("tags") or {}
        if not isinstance(tags, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise ConfigError(f"{path}.tags: must map tag keys to string values, got {tags!r}")
        names = entry.get("names") or []
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"{path}.names: must be a list of name patterns, got {names!r}")
        if not tags and not names:
            raise ConfigError(f"{path}: needs tags or names (selecting every function is "
                              "never what was meant)")
        group = entry.get("group")
        if group is not None and (not isinstance(group, str) or not _GROUP.fullmatch(group)):
            raise ConfigError(f"{path}.group: must be a group name (a-z A-Z 0-9 - _), got {group!r}")
        own = entry.get("rollout")
        merged = rollout_raw if own is None else _merge_rollout(
            rollout_raw, own if isinstance(own, Mapping) else {"strategy": own})
        selectors.append(Selector(types.MappingProxyType(dict(tags)), tuple(names), group,
                                  _rollout(merged, f"{path}.rollout")))
    return tuple(selectors)


class Selection:
    """Finds the selected functions of a target once per run (the lists are cached)."""

    def __init__(self, api: Any) -> None:
        self._api = api
        self._arns: dict[str, str] | None = None
        self._tags: dict[str, dict[str, str]] = {}

    def names(self) -> list[str]:
        """Every function name of the target (ListFunctions, all pages), cached."""
        if self._arns is None:
            self._arns = self._api.function_arns()
        return sorted(self._arns)

    def tags(self, name: str) -> dict[str, str]:
        """The function's tags (ListTags), cached."""
        if name not in self._tags:
            self._tags[name] = self._api.function_tags(name, (self._arns or {}).get(name))
        return self._tags[name]

    def matching(self, selector: Selector) -> list[str]:
        """The functions one selector picks, sorted."""
        named = [n for n in self.names() if selector.matches_name(n)]
        if not selector.tags:
            return sorted(named)
        return sorted(n for n in named if selector.matches_tags(self.tags(n)))


def expand(config: Any, api: Any, selection: Selection | None = None) -> Any:
    """``config`` with the functions its ``select:`` finds added (listed ones win)."""
    if not config.select:
        return config
    from lambdashift.config import FunctionConfig

    selection = selection or Selection(api)
    functions = dict(config.functions)
    for selector in config.select:
        for name in selection.matching(selector):
            if name in functions:
                continue
            functions[name] = FunctionConfig(name=name, source=config.root, handler="-",
                                             rollout=selector.rollout, group=selector.group)
    return replace(config, functions=types.MappingProxyType(functions))
