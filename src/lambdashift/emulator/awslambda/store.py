"""The emulated Lambda control plane: functions, versions and AWS's rules for them.

:class:`LambdaStore` owns the function table (``table.py``: memory + SQLite) and one object
per family of rules, each sharing that table: ``aliases`` (``aliases.py``), ``permissions``
(``permissions.py``) and ``concurrency`` (``concurrency.py``). Here: CreateFunction, the
updates, versions, tags, and which version one invocation runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lambdashift.emulator.awslambda import function_states, tags as tagging
from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.awslambda.aliases import AliasRules
from lambdashift.emulator.awslambda.concurrency import ConcurrencyRules
from lambdashift.emulator.awslambda.models import (
    LATEST,
    Arns,
    CodeConfig,
    Function,
    aws_timestamp,
    new_revision_id,
)
from lambdashift.emulator.awslambda.package_store import CodeRepository, decode_zip_file
from lambdashift.emulator.awslambda.paging import page
from lambdashift.emulator.awslambda.permissions import PermissionRules
from lambdashift.emulator.awslambda.table import FunctionTable
from lambdashift.emulator.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdashift.emulator.logs.store import check_logging_config
from lambdashift.emulator.runtime.interpreters import warn_if_fallback


@dataclass(frozen=True)
class InvokeTarget:
    """What one invocation runs: the version picked and the code and configuration it has."""

    function_name: str
    executed_version: str
    config: CodeConfig
    invoked_arn: str
    reserved_concurrency: int | None
    qualifier: str  # what the caller named: "$LATEST", a version or an alias


class LambdaStore:
    """Functions, versions and aliases of one emulated account and region.

    The rules for aliases, policies and concurrency are objects the store owns
    (``store.aliases``, ``store.permissions``, ``store.concurrency``), sharing its table."""

    def __init__(self, data_dir: Path, *, region: str = "us-east-1",
                 account_id: str = "000000000000",
                 on_removed: Callable[[str, str | None], None] | None = None,
                 state_delay: float = 0.0) -> None:
        """``state_delay``: seconds a created function stays Pending and an update
        InProgress (``function_states.py``); 0 settles at once."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.arns = Arns(region, account_id)
        self.state_delay = state_delay
        self.code = CodeRepository(data_dir / "code")
        self.on_removed = on_removed or (lambda name, version: None)
        self.table = FunctionTable(data_dir, self.arns)
        self.aliases = AliasRules(self.table)
        self.permissions = PermissionRules(self.table)
        self.concurrency = ConcurrencyRules(self.table)

    def close(self) -> None:
        """Close the database (again: a no-op)."""
        self.table.close()

    # -- reading ---------------------------------------------------------------------

    def function(self, raw_name: str) -> tuple[Function, str | None]:
        """The function a name or ARN names, and the qualifier embedded in it."""
        return self.table.function(raw_name)

    def names(self) -> list[str]:
        """Names of all functions."""
        return self.table.names()

    def _config_for(self, fn: Function, qualifier: str | None) -> tuple[CodeConfig, str | None]:
        """The configuration a qualifier (version, alias or none) resolves to, and the alias."""
        qualifier = qualifier or LATEST
        if qualifier in fn.aliases:
            config = fn.config(fn.aliases[qualifier].function_version)
            assert config is not None  # aliases only point at existing versions
            return config, qualifier
        config = fn.config(qualifier)
        if config is None:
            raise ResourceNotFoundException(
                f"Function not found: {self.arns.function(fn.name, qualifier)}"
            )
        return config, None

    def get_configuration(self, raw_name: str, qualifier: str | None) -> dict[str, Any]:
        """GetFunctionConfiguration."""
        fn, qualifier = self.table.qualified(raw_name, qualifier)
        config, alias = self._config_for(fn, qualifier)
        body = config.to_aws(fn.name, self.arns, qualified=qualifier is not None)
        if alias:
            body["FunctionArn"] = self.arns.function(fn.name, alias)
        return body

    def get_function(self, raw_name: str, qualifier: str | None, code_url: str) -> dict[str, Any]:
        """GetFunction: configuration, where to download the code, tags, concurrency."""
        body: dict[str, Any] = {"Configuration": self.get_configuration(raw_name, qualifier)}
        sha = body["Configuration"]["CodeSha256"]
        body["Code"] = {"RepositoryType": "S3", "Location": code_url + self.code.zip_path(sha).name}
        fn, _ = self.table.function(raw_name)
        if fn.tags:
            body["Tags"] = dict(fn.tags)
        if fn.reserved_concurrency is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved_concurrency}
        return body

    def list_functions(self, marker: str | None, max_items: int | None,
                       all_versions: bool) -> dict[str, Any]:
        """ListFunctions: $LATEST of each function, or every version with FunctionVersion=ALL."""
        items: list[dict[str, Any]] = []
        for fn in self.table.by_name():
            items.append(fn.latest.to_aws(fn.name, self.arns, qualified=all_versions))
            if all_versions:
                items.extend(fn.versions[n].to_aws(fn.name, self.arns) for n in sorted(fn.versions))
        chunk, next_marker = page(items, marker, max_items)
        return {"Functions": chunk, **({"NextMarker": next_marker} if next_marker else {})}

    def list_versions(self, raw_name: str, marker: str | None,
                      max_items: int | None) -> dict[str, Any]:
        """ListVersionsByFunction: $LATEST, then versions in ascending order."""
        fn, _ = self.table.function(raw_name)
        items = [fn.latest.to_aws(fn.name, self.arns, qualified=True)]
        items += [fn.versions[n].to_aws(fn.name, self.arns) for n in sorted(fn.versions)]
        chunk, next_marker = page(items, marker, max_items)
        return {"Versions": chunk, **({"NextMarker": next_marker} if next_marker else {})}

    # -- functions ---------------------------------------------------------------------

    def create_function(self, params: dict[str, Any]) -> dict[str, Any]:
        """CreateFunction (ZipFile only), publishing version 1.. at once with Publish=True."""
        name, qualifier = v.split_function_name(params.get("FunctionName"), "functionName")
        if qualifier:
            raise InvalidParameterValueException("A function name to create cannot carry a qualifier.")
        self.table.check_region(params["FunctionName"])
        if name in self.table:
            raise ResourceConflictException(f"Function already exist: {name}")
        handler = v.check_pattern(params.get("Handler"), "handler", v.HANDLER_PATTERN, max_len=128)
        runtime = v.check_runtime(params.get("Runtime"))
        role = v.check_pattern(params.get("Role"), "role", v.ROLE_PATTERN, max_len=2048)
        code = params.get("Code")
        if not isinstance(code, dict) or "ZipFile" not in code:
            raise InvalidParameterValueException(
                "The emulator accepts code as Code.ZipFile only (no S3 or container images)."
            )
        data = decode_zip_file(code["ZipFile"], "CreateFunction")
        config = CodeConfig(
            version=LATEST,
            runtime=runtime,
            role=role,
            handler=handler,
            description=v.check_str(params.get("Description", ""), "description", 256),
            timeout=v.check_int(params.get("Timeout", 3), "timeout", 1, 900),
            memory_size=v.check_int(params.get("MemorySize", 128), "memorySize", 128, 10240),
            environment=v.check_environment(params.get("Environment")),
            code_sha256="",
            code_size=0,
            last_modified=aws_timestamp(),
            revision_id=new_revision_id(),
            log_format=check_logging_config(params.get("LoggingConfig")),
            dead_letter_target=v.check_dead_letter(params.get("DeadLetterConfig")),
        )
        self.code.check(data, handler, runtime)
        stored = self.code.put(data)
        # Pending from now, once the slow part (storing the zip) is done.
        config = replace(config, code_sha256=stored.code_sha256, code_size=stored.size,
                         pending_until=self._settles_at())
        tags = tagging.merged({}, {"Tags": params.get("Tags") or {}})
        fn = Function(name=name, latest=config, tags=tags)
        warn_if_fallback(name, runtime)
        if params.get("Publish"):
            self._publish(fn, None)
        self.table.save(fn)
        published = fn.latest_published() if params.get("Publish") else None
        # AWS's CreateFunction always answers Pending (when there is a delay at all), however
        # long this request took.
        return (published or fn.latest).to_aws(name, self.arns, now=self._began(config))

    def update_code(self, raw_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """UpdateFunctionCode (ZipFile, Publish, RevisionId, DryRun)."""
        fn, _ = self.table.function(raw_name)
        self._check_settled(fn)
        v.check_revision(fn.latest.revision_id, params.get("RevisionId"))
        if "ZipFile" not in params:
            raise InvalidParameterValueException(
                "The emulator accepts code as ZipFile only (no S3 or container images)."
            )
        data = decode_zip_file(params["ZipFile"], "UpdateFunctionCode")
        self.code.check(data, fn.latest.handler, fn.latest.runtime)
        if params.get("DryRun"):
            return fn.latest.to_aws(fn.name, self.arns)
        stored = self.code.put(data)
        fn.latest = replace(fn.latest, code_sha256=stored.code_sha256, code_size=stored.size,
                            last_modified=aws_timestamp(), revision_id=new_revision_id(),
                            updating_until=self._settles_at())
        return self._after_latest_change(fn, bool(params.get("Publish")))

    def update_configuration(self, raw_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """UpdateFunctionConfiguration (Handler, Runtime, Role, Description, Timeout, ...)."""
        fn, _ = self.table.function(raw_name)
        self._check_settled(fn)
        v.check_revision(fn.latest.revision_id, params.get("RevisionId"))
        latest = fn.latest
        changes: dict[str, Any] = {}
        if "Runtime" in params:
            changes["runtime"] = v.check_runtime(params["Runtime"])
            if changes["runtime"] != latest.runtime:
                warn_if_fallback(fn.name, changes["runtime"])
        if "Handler" in params:
            changes["handler"] = v.check_pattern(params["Handler"], "handler", v.HANDLER_PATTERN, max_len=128)
            self.code.check_handler(self.code.names(latest.code_sha256), changes["handler"],
                                    changes.get("runtime", latest.runtime))
        if "Role" in params:
            changes["role"] = v.check_pattern(params["Role"], "role", v.ROLE_PATTERN, max_len=2048)
        if "Description" in params:
            changes["description"] = v.check_str(params["Description"], "description", 256)
        if "Timeout" in params:
            changes["timeout"] = v.check_int(params["Timeout"], "timeout", 1, 900)
        if "MemorySize" in params:
            changes["memory_size"] = v.check_int(params["MemorySize"], "memorySize", 128, 10240)
        if "Environment" in params:
            changes["environment"] = v.check_environment(params["Environment"])
        if "LoggingConfig" in params:
            changes["log_format"] = check_logging_config(params["LoggingConfig"])
        if "DeadLetterConfig" in params:
            changes["dead_letter_target"] = v.check_dead_letter(params["DeadLetterConfig"])
        fn.latest = replace(latest, **changes, last_modified=aws_timestamp(),
                            revision_id=new_revision_id(), updating_until=self._settles_at())
        return self._after_latest_change(fn, publish=False)

    def _after_latest_change(self, fn: Function, publish: bool) -> dict[str, Any]:
        if publish:
            self._publish(fn, None)
        self.table.save(fn)
        # Warm $LATEST workers keep running the old code until they idle out: the runtime
        # keys workers by code and revision, so the next invocation gets the new code.
        shown = fn.latest_published() if publish else fn.latest
        assert shown is not None
        return shown.to_aws(fn.name, self.arns, now=self._began(fn.latest))

    def delete_function(self, raw_name: str, qualifier: str | None) -> None:
        """DeleteFunction: the whole function, or one published version."""
        fn, qualifier = self.table.qualified(raw_name, qualifier)
        if qualifier is None:
            self.table.delete(fn.name)
            self.on_removed(fn.name, None)
            return
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function."
            )
        if not qualifier.isdigit():
            raise InvalidParameterValueException(
                f"Deleting an alias with DeleteFunction is not supported: use DeleteAlias for {qualifier}."
            )
        if int(qualifier) not in fn.versions:
            return  # AWS answers 204 for a version that is not there: retries and prunes rely on it
        users = sorted(a.name for a in fn.aliases.values()
                       if a.function_version == qualifier or qualifier in a.weights)
        if users:
            raise ResourceConflictException(
                "Unable to delete version because the following aliases reference it: "
                f"[{', '.join(users)}]"
            )
        del fn.versions[int(qualifier)]
        fn.policies.pop(qualifier, None)
        fn.provisioned.pop(qualifier, None)
        self.table.save(fn)
        self.on_removed(fn.name, qualifier)

    # -- versions ----------------------------------------------------------------------

    def publish_version(self, raw_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """PublishVersion; unchanged code and configuration give back the latest version."""
        fn, _ = self.table.function(raw_name)
        self._check_settled(fn)
        v.check_revision(fn.latest.revision_id, params.get("RevisionId"))
        expected_sha = params.get("CodeSha256")
        if expected_sha is not None and expected_sha != fn.latest.code_sha256:
            raise InvalidParameterValueException(
                f"CodeSHA256 ({expected_sha}) is different from current CodeSHA256 in $LATEST "
                f"({fn.latest.code_sha256}). Please try again with the CodeSHA256 in $LATEST."
            )
        description = params.get("Description")
        if description is not None:
            v.check_str(description, "description", 256)
        config = self._publish(fn, description)
        self.table.save(fn)
        return config.to_aws(fn.name, self.arns)

    def _publish(self, fn: Function, description: str | None) -> CodeConfig:
        latest_published = fn.latest_published()
        fingerprint = fn.latest.fingerprint()
        if latest_published and fingerprint == (latest_published.source_fingerprint
                                                or latest_published.fingerprint()):
            return latest_published
        number = self.table.next_version(fn.name)
        # A version is never "updating"; published while the function is Pending, it is
        # Pending for as long as the function.
        config = replace(fn.latest, version=str(number), revision_id=new_revision_id(),
                         last_modified=aws_timestamp(), source_fingerprint=fingerprint,
                         updating_until=0.0,
                         description=fn.latest.description if description is None else description)
        fn.versions[number] = config
        # Publishing changes $LATEST too (it now has a published twin): AWS gives it a new
        # RevisionId, so a RevisionId read before the publish is stale (412) afterwards.
        fn.latest = replace(fn.latest, revision_id=new_revision_id())
        return config

    def _began(self, config: CodeConfig) -> float | None:
        """When the change that set the config's state times began (None: no delay), so a
        response shows the state as the change left it: Pending, InProgress."""
        until = max(config.pending_until, config.updating_until)
        return until - self.state_delay if until else None

    def _settles_at(self) -> float:
        """When a change made now is done (0: at once)."""
        return time.time() + self.state_delay if self.state_delay > 0 else 0.0

    def _check_settled(self, fn: Function) -> None:
        function_states.check_settled(fn.latest, self.arns.function(fn.name))

    # -- tags ----------------------------------------------------------------------------

    def list_tags(self, resource: str) -> dict[str, Any]:
        """ListTags of a function ARN."""
        fn, _ = self.table.function(tagging.taggable_function(resource), "resource")
        return {"Tags": dict(fn.tags)}

    def tag_resource(self, resource: str, params: dict[str, Any]) -> None:
        """TagResource: add or overwrite tags on a function."""
        fn, _ = self.table.function(tagging.taggable_function(resource), "resource")
        fn.tags = tagging.merged(fn.tags, params)
        self.table.save(fn)

    def untag_resource(self, resource: str, keys: list[str]) -> None:
        """UntagResource: remove tags from a function."""
        fn, _ = self.table.function(tagging.taggable_function(resource), "resource")
        fn.tags = tagging.without(fn.tags, keys)
        self.table.save(fn)

    # -- invoke --------------------------------------------------------------------------

    def resolve_invoke(self, raw_name: str, qualifier: str | None, pick: float) -> InvokeTarget:
        """The version one invocation runs; ``pick`` in [0, 1) draws between an alias's two."""
        fn, qualifier = self.table.qualified(raw_name, qualifier)
        used = qualifier or LATEST
        alias = fn.aliases.get(used)
        version = alias.function_version if alias else used
        if alias and alias.weights:
            (extra, weight), = alias.weights.items()
            if pick < weight:
                version = extra
        config = fn.config(version)
        if config is None:
            raise ResourceNotFoundException(f"Function not found: {self.arns.function(fn.name, used)}")
        function_states.check_invocable(config)
        invoked = self.arns.function(fn.name, qualifier)
        return InvokeTarget(fn.name, version, config, invoked, fn.reserved_concurrency, used)
