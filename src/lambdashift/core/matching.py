"""Whether an answer holds what a check expects: the smoke request's ``expect`` and the
hooks' ``payload_contains`` / ``body_contains`` share this one subset match."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["mismatch"]


def mismatch(actual: Any, expected: Any, where: str = "answer") -> str:
    """"" when ``expected`` is found in ``actual``, else where and how they differ.

    A subset match: every key of an expected mapping must be there with a matching value,
    recursively; lists and scalars must be equal. A string holding JSON (the ``body`` of an
    API Gateway answer) is matched as the JSON it holds when a mapping or list is expected.
    """
    if isinstance(actual, str) and isinstance(expected, (Mapping, list)):
        try:
            actual = json.loads(actual)
        except ValueError:
            return f"{where} is not JSON: {actual[:100]!r}"
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return f"{where} is {json.dumps(actual)[:100]}, expected an object"
        for key, value in expected.items():
            if key not in actual:
                return f"{where} has no {key!r}"
            problem = mismatch(actual[key], value, f"{where}.{key}")
            if problem:
                return problem
        return ""
    if actual != expected:
        return f"{where} is {json.dumps(actual)[:100]}, expected {json.dumps(expected)[:100]}"
    return ""
