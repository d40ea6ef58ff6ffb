"""AWS's rules for aliases and their routing: the store's ``aliases``.

An object over the store's function table (``table.py``): it looks functions up and saves
them there, and knows nothing else of the store. Kept apart so each file reads in one sitting.
"""

from __future__ import annotations

from typing import Any

from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.awslambda.concurrency import WEIGHTS_WITH_PROVISIONED
from lambdashift.emulator.awslambda.models import LATEST, Alias, Function, new_revision_id
from lambdashift.emulator.awslambda.paging import page
from lambdashift.emulator.awslambda.table import FunctionTable
from lambdashift.emulator.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)


class AliasRules:
    """CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases with AWS's checks."""

    def __init__(self, table: FunctionTable) -> None:
        self._table = table
        self.arns = table.arns

    def _alias(self, fn: Function, alias: str, verb: str) -> Alias:
        v.check_pattern(alias, "name", v.ALIAS_PATTERN, max_len=128)
        if alias not in fn.aliases:
            what = "Cannot find alias arn" if verb == "get" else "Alias not found"
            raise ResourceNotFoundException(f"{what}: {self.arns.function(fn.name, alias)}")
        return fn.aliases[alias]

    def _check_routing(self, fn: Function, primary: str, weights: dict[str, float],
                       alias: str | None = None) -> None:
        v.check_pattern(primary, "functionVersion", r"(\$LATEST|[0-9]+)", max_len=1024)
        if len(weights) > 1:
            raise InvalidParameterValueException(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        if primary == LATEST and weights:
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version"
            )
        for version in (primary, *weights):
            if fn.config(version) is None:
                raise ResourceNotFoundException(
                    f"Function not found: {self.arns.function(fn.name, version)}"
                )
        for version in weights:
            if version == primary:
                raise InvalidParameterValueException(
                    f"Invalid function version {version}. Function version {version} is already "
                    "included in routing configuration."
                )
            extra, main = fn.config(version), fn.config(primary)
            assert extra is not None and main is not None
            # AWS (configuring-alias-routing): "Both versions must have the same execution
            # role" and "the same dead-letter queue configuration, or no dead-letter queue
            # configuration". The wording of these two refusals is ours.
            if extra.role != main.role:
                raise InvalidParameterValueException(
                    "The primary and additional versions of an alias must share one execution "
                    f"role: version {primary} has {main.role}, version {version} has {extra.role}."
                )
            if extra.dead_letter_target != main.dead_letter_target:
                raise InvalidParameterValueException(
                    "The primary and additional versions of an alias must have the same "
                    f"dead-letter queue configuration: version {primary} has "
                    f"{main.dead_letter_target or 'none'}, version {version} has "
                    f"{extra.dead_letter_target or 'none'}."
                )
        if weights and alias is not None and alias in fn.provisioned:
            raise InvalidParameterValueException(WEIGHTS_WITH_PROVISIONED)

    def create_alias(self, raw_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """CreateAlias."""
        primary = params.get("FunctionVersion")
        # AWS names the version the alias was to point at: "Function not found: ...:fn:1".
        fn, _ = self._table.function(raw_name, missing_qualifier=primary if isinstance(primary, str) else None)
        name = v.check_pattern(params.get("Name"), "name", v.ALIAS_PATTERN, max_len=128)
        weights = v.check_weights(params.get("RoutingConfig"))
        self._check_routing(fn, primary, weights)
        if name in fn.aliases:
            raise ResourceConflictException(f"Alias already exists: {self.arns.function(fn.name, name)}")
        alias = Alias(name, primary, v.check_str(params.get("Description", ""), "description", 256),
                      weights, new_revision_id())
        fn.aliases[name] = alias
        self._table.save(fn)
        return alias.to_aws(fn.name, self.arns)

    def get_alias(self, raw_name: str, alias: str) -> dict[str, Any]:
        """GetAlias."""
        fn, _ = self._table.function(raw_name)
        return self._alias(fn, alias, "get").to_aws(fn.name, self.arns)

    def update_alias(self, raw_name: str, alias_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """UpdateAlias: omitted members keep their value; empty weights clear the routing."""
        fn, _ = self._table.function(raw_name)
        alias = self._alias(fn, alias_name, "update")
        v.check_revision(alias.revision_id, params.get("RevisionId"))
        primary = params.get("FunctionVersion", alias.function_version)
        weights = (v.check_weights(params["RoutingConfig"]) if "RoutingConfig" in params
                   else alias.weights)
        self._check_routing(fn, primary, weights, alias.name)
        description = (v.check_str(params["Description"], "description", 256)
                       if "Description" in params else alias.description)
        updated = Alias(alias.name, primary, description, weights, new_revision_id())
        fn.aliases[alias.name] = updated
        self._table.save(fn)
        return updated.to_aws(fn.name, self.arns)

    def delete_alias(self, raw_name: str, alias: str) -> None:
        """DeleteAlias (idempotent like AWS: an unknown alias is not an error)."""
        fn, _ = self._table.function(raw_name)
        v.check_pattern(alias, "name", v.ALIAS_PATTERN, max_len=128)
        if fn.aliases.pop(alias, None) is not None:
            fn.policies.pop(alias, None)  # an alias's policy goes with it, as on AWS
            fn.provisioned.pop(alias, None)
            self._table.save(fn)

    def list_aliases(self, raw_name: str, version: str | None, marker: str | None,
                     max_items: int | None) -> dict[str, Any]:
        """ListAliases, optionally only those that send traffic to one version."""
        fn, _ = self._table.function(raw_name)
        items = [a.to_aws(fn.name, self.arns) for _, a in sorted(fn.aliases.items())
                 if version is None or a.function_version == version or version in a.weights]
        chunk, next_marker = page(items, marker, max_items)
        return {"Aliases": chunk, **({"NextMarker": next_marker} if next_marker else {})}
