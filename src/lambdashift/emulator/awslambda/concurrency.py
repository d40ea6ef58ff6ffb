"""Concurrency: reserved (Put/Get/DeleteFunctionConcurrency) and provisioned, the subset
a release depends on (Put/Get/DeleteProvisionedConcurrencyConfig, per qualifier).

The store's ``concurrency``: an object over its function table (``table.py``). Reserved
concurrency limits the function's invocations at once (the invoker enforces it). For
provisioned concurrency the emulator keeps no pre-warmed environments: what it models is
AWS's rule that matters to weighted aliases,
"Alias with weights can not be used with Provisioned Concurrency", in both directions
(here, and in ``aliases.py`` when an alias with provisioned concurrency is given
weights). A configuration is READY at once.
"""

from __future__ import annotations

from typing import Any

from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.awslambda.models import LATEST, Function, aws_timestamp
from lambdashift.emulator.awslambda.table import FunctionTable
from lambdashift.emulator.errors import (
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
    ResourceNotFoundException,
)

WEIGHTS_WITH_PROVISIONED = "Alias with weights can not be used with Provisioned Concurrency"


class ConcurrencyRules:
    """Reserved and provisioned concurrency, with AWS's checks."""

    def __init__(self, table: FunctionTable) -> None:
        self._table = table
        self.arns = table.arns

    def put_concurrency(self, raw_name: str, value: Any) -> dict[str, Any]:
        """PutFunctionConcurrency: the most invocations of this function at once."""
        fn, _ = self._table.function(raw_name)
        fn.reserved_concurrency = v.check_int(value, "reservedConcurrentExecutions", 0, 1000)
        self._table.save(fn)
        return {"ReservedConcurrentExecutions": fn.reserved_concurrency}

    def get_concurrency(self, raw_name: str) -> dict[str, Any]:
        """GetFunctionConcurrency."""
        fn, _ = self._table.function(raw_name)
        if fn.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": fn.reserved_concurrency}

    def delete_concurrency(self, raw_name: str) -> None:
        """DeleteFunctionConcurrency."""
        fn, _ = self._table.function(raw_name)
        fn.reserved_concurrency = None
        self._table.save(fn)

    def _provisioned_target(self, raw_name: str, qualifier: str | None) -> tuple[Function, str]:
        fn, embedded = self._table.function(raw_name)
        key = embedded or qualifier
        if not key:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs require a qualifier: a version or an alias.")
        v.check_pattern(key, "qualifier", v.QUALIFIER_PATTERN, max_len=128)
        if key == LATEST:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
        if key not in fn.aliases and fn.config(key) is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(fn.name, key)}")
        return fn, key

    def put_provisioned(self, raw_name: str, qualifier: str | None,
                        params: dict[str, Any]) -> dict[str, Any]:
        """PutProvisionedConcurrencyConfig; refused on an alias that splits traffic."""
        fn, key = self._provisioned_target(raw_name, qualifier)
        count = v.check_int(params.get("ProvisionedConcurrentExecutions"),
                            "provisionedConcurrentExecutions", 1, 100000)
        alias = fn.aliases.get(key)
        if alias is not None and alias.weights:
            raise InvalidParameterValueException(WEIGHTS_WITH_PROVISIONED)
        fn.provisioned[key] = count
        self._table.save(fn)
        return self._provisioned_body(count)

    def get_provisioned(self, raw_name: str, qualifier: str | None) -> dict[str, Any]:
        """GetProvisionedConcurrencyConfig."""
        fn, key = self._provisioned_target(raw_name, qualifier)
        if key not in fn.provisioned:
            raise ProvisionedConcurrencyConfigNotFoundException(
                "No Provisioned Concurrency Config found for this function")
        return self._provisioned_body(fn.provisioned[key])

    def delete_provisioned(self, raw_name: str, qualifier: str | None) -> None:
        """DeleteProvisionedConcurrencyConfig (nothing configured: not an error)."""
        fn, key = self._provisioned_target(raw_name, qualifier)
        if fn.provisioned.pop(key, None) is not None:
            self._table.save(fn)

    @staticmethod
    def _provisioned_body(count: int) -> dict[str, Any]:
        return {"RequestedProvisionedConcurrentExecutions": count,
                "AvailableProvisionedConcurrentExecutions": count,
                "AllocatedProvisionedConcurrentExecutions": count,
                "Status": "READY", "LastModified": aws_timestamp()}
