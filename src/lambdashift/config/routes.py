"""``routes:`` of lambdashift.yaml: HTTP API routes (payload format 2.0) to functions' aliases."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdashift.core import validators as v
from lambdashift.errors import ConfigError

__all__ = ["METHODS", "Route", "parse_routes"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
_ROUTE_SEGMENT = re.compile(r"[A-Za-z0-9._~:@!$&'()*,;=-]+|\{[A-Za-z_][A-Za-z0-9_]*\+?\}")


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


def parse_routes(raw: object, functions: Mapping[str, Any]) -> tuple[Route, ...]:
    """``{"METHOD /path": function}``; every function must be one of ``functions``."""
    routes = []
    for key, target in v.mapping(raw, "routes",
                                 "a mapping of \"METHOD /path\" to function").items():
        path = f'routes["{key}"]'
        if not isinstance(key, str):
            raise ConfigError(f"{path}: a route is \"METHOD /path\", got {key!r}")
        if not isinstance(target, str) or target not in functions:
            raise ConfigError(f"{path}: {v.unknown_name('function', str(target), functions)}")
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
