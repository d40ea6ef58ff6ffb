"""``select:``: roll out functions found by tag and name pattern instead of listed one by one
(the section is read by ``config.select``).

Functions are found with paginated ``ListFunctions`` calls (50 a page) and, for tags,
``ListTags`` of each function whose name matched (the local emulator has no tagging API;
on AWS the Resource Groups Tagging API would save those calls). Every call goes through the
shared rate limiter, and the result is cached for the run: one ``deploy`` lists once.
A function listed under ``functions:`` keeps its own settings there.
"""

from __future__ import annotations

import types
from dataclasses import replace
from typing import Any

from lambdashift.config import Config, FunctionConfig
from lambdashift.config.select import Selector, parse_select  # noqa: F401 - parsed there


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


def expand(config: Config, api: Any, selection: Selection | None = None) -> Config:
    """``config`` with the functions its ``select:`` finds added (listed ones win)."""
    if not config.select:
        return config
    selection = selection or Selection(api)
    functions = dict(config.functions)
    for selector in config.select:
        for name in selection.matching(selector):
            if name in functions:
                continue
            functions[name] = FunctionConfig(name=name, source=config.root, handler="-",
                                             rollout=selector.rollout, group=selector.group)
    return replace(config, functions=types.MappingProxyType(functions))
