"""``select:`` of lambdashift.yaml: functions found by tag and name pattern (the finding is
``rollout.selection``'s; this module only reads the section).

```yaml
select:
  - tags: {"lambdashift:alias": live}   # every tag must match (a value of "*": any value)
    names: ["orders-*", "billing-*"]    # shell patterns; any may match (default: all names)
    group: checkout                     # optional: these roll out and back as one group
    rollout: {strategy: canary}         # optional: overrides the top-level rollout
```
"""

from __future__ import annotations

import fnmatch
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdashift.config.rollout import RolloutConfig, merge_rollout, parse_rollout
from lambdashift.core.validators import unknown_key_error
from lambdashift.errors import ConfigError

__all__ = ["Selector", "parse_select"]

_KEYS = ("tags", "names", "group", "rollout")
_GROUP = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True)
class Selector:
    """One entry of ``select:``: tags to match, name patterns, the group and the rollout."""

    tags: Mapping[str, str]
    names: tuple[str, ...]
    group: str | None
    rollout: RolloutConfig

    def matches_name(self, name: str) -> bool:
        """True when the name matches a pattern (or there are none)."""
        return not self.names or any(fnmatch.fnmatchcase(name, p) for p in self.names)

    def matches_tags(self, tags: Mapping[str, str]) -> bool:
        """True when every tag of the selector is on the function with that value (or ``*``)."""
        return all(k in tags and (v == "*" or tags[k] == v) for k, v in self.tags.items())


def parse_select(raw: object, rollout_raw: Mapping[str, Any],
                 analysis: Mapping[str, Any] | None = None) -> tuple[Selector, ...]:
    """Validate ``select:`` (a list of selectors); ``rollout_raw`` is the top-level rollout,
    ``analysis`` the top-level judge settings the selected functions' steps are built over
    (as a listed function's are)."""
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
        merged = rollout_raw if own is None else merge_rollout(
            rollout_raw, own if isinstance(own, Mapping) else {"strategy": own})
        selectors.append(Selector(types.MappingProxyType(dict(tags)), tuple(names), group,
                                  parse_rollout(merged, f"{path}.rollout", analysis=analysis)))
    return tuple(selectors)
