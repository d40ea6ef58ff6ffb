"""The emulated Lambda control plane: state and AWS's rules, persisted in SQLite.

Each function is one JSON document written in one transaction, so a crash leaves the
state before or after a change, never half of it. Version numbers come from a counter
table that outlives the functions: AWS never reuses a version number, not even after a
function is deleted and created again under the same name. Everything is kept in memory
too, so the invoke path reads no disk.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.awslambda.package_store import CodeRepository, decode_zip_file
from lambdashift.emulator.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from lambdashift.emulator.awslambda.aliases import AliasRules
from lambdashift.emulator.logs.store import check_logging_config
from lambdashift.emulator.awslambda.models import (
    LATEST,
    Arns,
    CodeConfig,
    Function,
    aws_timestamp,
    new_revision_id,
)
from lambdashift.emulator.awslambda.paging import page
from lambdashift.emulator.awslambda.sealing import EnvSealer
from lambdashift.emulator.runtime.interpreters import warn_if_fallback
from lambdashift.emulator.awslambda.permissions import PermissionRules
from lambdashift.emulator.awslambda.concurrency import ConcurrencyRules
from lambdashift.emulator.awslambda import function_states, tags as tagging

_SCHEMA = """
CREATE TABLE IF NOT EXISTS functions (name TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS version_counters (name TEXT PRIMARY KEY, last INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class InvokeTarget:
    """What one invocation runs: the version picked and the code and configuration it has."""

    function_name: str
    executed_version: str
    config: CodeConfig
    invoked_arn: str
    reserved_concurrency: int | None
    qualifier: str  # what the caller named: "$LATEST", a version or an alias


class LambdaStore(AliasRules, PermissionRules, ConcurrencyRules):
    """Functions, versions and aliases of one emulated account and region."""

    def __init__(self, data_dir: Path, *, region: str = "us-east-1",
                 account_id: str = "000000000000",
                 on_removed: Callable[[str, str | None], None] | None = None,
                 state_delay: float = 0.0) -> None:
        """``state_delay``: seconds a created function stays Pending and an update
        InProgress (``states.py``); 0 settles at once."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self.arns = Arns(region, account_id)
        self.state_delay = state_delay
        self.code = CodeRepository(data_dir / "code")
        self.on_removed = on_removed or (lambda name, version: None)
        self._db = sqlite3.connect(data_dir / "lambda.db", isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._sealer = EnvSealer(data_dir)  # environment values encrypted at rest, as on AWS
        self._functions: dict[str, Function] = {
            name: Function.from_doc(self._sealer.open(json.loads(doc)))
            for name, doc in self._db.execute("SELECT name, doc FROM functions")
        }

    def close(self) -> None:
        """Close the database (again: a no-op)."""
        self._db.close()

    # -- reading ---------------------------------------------------------------------

    def function(self, raw_name: str, where: str = "functionName",
                 missing_qualifier: str | None = None) -> tuple[Function, str | None]:
        """The function a name or ARN names, and the qualifier embedded in it.

        ``missing_qualifier``: the qualifier the not-found message names (CreateAlias
        names the version it was asked to point at)."""
        name, qualifier = v.split_function_name(raw_name, where)
        self._check_region(raw_name)
        fn = self._functions.get(name)
        if fn is None:
            shown = self.arns.function(name, missing_qualifier)
            raise ResourceNotFoundException(f"Function not found: {shown}")
        return fn, qualifier

    def _check_region(self, raw_name: str) -> None:
        """An ARN of another region never reaches this region's functions (AWS: 404)."""
        region = v.function_region(raw_name)
        if region is not None and region != self.arns.region:
            raise ResourceNotFoundException(
                f"Functions from '{region}' are not reachable in this region ('{self.arns.region}')")

    def _qualified(self, raw_name: str, qualifier: str | None) -> tuple[Function, str | None]:
        fn, embedded = self.function(raw_name)
        if qualifier is not None:
            v.check_pattern(qualifier, "qualifier", v.QUALIFIER_PATTERN, max_len=128)
        if embedded and qualifier and embedded != qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        return fn, (embedded or qualifier or None)

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
        fn, qualifier = self._qualified(raw_name, qualifier)
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
        fn, _ = self.function(raw_name)
        if fn.tags:
            body["Tags"] = dict(fn.tags)
        if fn.reserved_concurrency is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": fn.reserved_concurrency}
        return body

    def list_functions(self, marker: str | None, max_items: int | None,
                       all_versions: bool) -> dict[str, Any]:
        """ListFunctions: $LATEST of each function, or every version with FunctionVersion=ALL."""
        items: list[dict[str, Any]] = []
        for name in sorted(self._functions):
            fn = self._functions[name]
            items.append(fn.latest.to_aws(name, self.arns, qualified=all_versions))
            if all_versions:
                items.extend(fn.versions[n].to_aws(name, self.arns) for n in sorted(fn.versions))
        chunk, next_marker = page(items, marker, max_items)
        return {"Functions": chunk, **({"NextMarker": next_marker} if next_marker else {})}

    def list_versions(self, raw_name: str, marker: str | None,
                      max_items: int | None) -> dict[str, Any]:
        """ListVersionsByFunction: $LATEST, then versions in ascending order."""
        fn, _ = self.function(raw_name)
        items = [fn.latest.to_aws(fn.name, self.arns, qualified=True)]
        items += [fn.versions[n].to_aws(fn.name, self.arns) for n in sorted(fn.versions)]
        chunk, next_marker = page(items, marker, max_items)
        return {"Versions": chunk, **({"NextMarker": next_marker} if next_marker else {})}

    def names(self) -> list[str]:
        """Names of all functions."""
        return sorted(self._functions)

    # -- functions ---------------------------------------------------------------------

    def create_function(self, params: dict[str, Any]) -> dict[str, Any]:
        """CreateFunction (ZipFile only), publishing version 1.. at once with Publish=True."""
        name, qualifier = v.split_function_name(params.get("FunctionName"), "functionName")
        if qualifier:
            raise InvalidParameterValueException("A function name to create cannot carry a qualifier.")
        self._check_region(params["FunctionName"])
        if name in self._functions:
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
        self._save(fn)
        published = fn.latest_published() if params.get("Publish") else None
        # AWS's CreateFunction always answers Pending (when there is a delay at all), however
        # long this request took.
        return (published or fn.latest).to_aws(name, self.arns, now=self._began(config))

    def update_code(self, raw_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """UpdateFunctionCode (ZipFile, Publish, RevisionId, DryRun)."""
        fn, _ = self.function(raw_name)
        self._check_settled(fn)
        self._check_revision(fn.latest.revision_id, params.get("RevisionId"))
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
        fn, _ = self.function(raw_name)
        self._check_settled(fn)
        self._check_revision(fn.latest.revision_id, params.get("RevisionId"))
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
        self._save(fn)
        # Warm $LATEST workers keep running the old code until they idle out: the runtime
        # keys workers by code and revision, so the next invocation gets the new code.
        shown = fn.latest_published() if publish else fn.latest
        assert shown is not None
        return shown.to_aws(fn.name, self.arns, now=self._began(fn.latest))

    def delete_function(self, raw_name: str, qualifier: str | None) -> None:
        """DeleteFunction: the whole function, or one published version."""
        fn, qualifier = self._qualified(raw_name, qualifier)
        if qualifier is None:
            del self._functions[fn.name]
            self._db.execute("DELETE FROM functions WHERE name = ?", (fn.name,))
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
        self._save(fn)
        self.on_removed(fn.name, qualifier)

    # -- versions ----------------------------------------------------------------------

    def publish_version(self, raw_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """PublishVersion; unchanged code and configuration give back the latest version."""
        fn, _ = self.function(raw_name)
        self._check_settled(fn)
        self._check_revision(fn.latest.revision_id, params.get("RevisionId"))
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
        self._save(fn)
        return config.to_aws(fn.name, self.arns)

    def _publish(self, fn: Function, description: str | None) -> CodeConfig:
        latest_published = fn.latest_published()
        fingerprint = fn.latest.fingerprint()
        if latest_published and fingerprint == (latest_published.source_fingerprint
                                                or latest_published.fingerprint()):
            return latest_published
        number = self._next_version(fn.name)
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

    def _next_version(self, name: str) -> int:
        row = self._db.execute("SELECT last FROM version_counters WHERE name = ?", (name,)).fetchone()
        return (row[0] if row else 0) + 1

    # -- tags ----------------------------------------------------------------------------

    def list_tags(self, resource: str) -> dict[str, Any]:
        """ListTags of a function ARN."""
        fn, _ = self.function(tagging.taggable_function(resource), "resource")
        return {"Tags": dict(fn.tags)}

    def tag_resource(self, resource: str, params: dict[str, Any]) -> None:
        """TagResource: add or overwrite tags on a function."""
        fn, _ = self.function(tagging.taggable_function(resource), "resource")
        fn.tags = tagging.merged(fn.tags, params)
        self._save(fn)

    def untag_resource(self, resource: str, keys: list[str]) -> None:
        """UntagResource: remove tags from a function."""
        fn, _ = self.function(tagging.taggable_function(resource), "resource")
        fn.tags = tagging.without(fn.tags, keys)
        self._save(fn)

    # -- invoke --------------------------------------------------------------------------

    def resolve_invoke(self, raw_name: str, qualifier: str | None, pick: float) -> InvokeTarget:
        """The version one invocation runs; ``pick`` in [0, 1) draws between an alias's two."""
        fn, qualifier = self._qualified(raw_name, qualifier)
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

    # -- persistence ---------------------------------------------------------------------

    @staticmethod
    def _check_revision(current: str, given: Any) -> None:
        if given is not None and given != current:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )

    def _save(self, fn: Function) -> None:
        """Write the function (and its version counter) in one transaction."""
        doc = json.dumps(self._sealer.seal(fn.to_doc()), sort_keys=True)
        top = max(fn.versions, default=0)
        try:
            with self._transaction():
                self._db.execute("INSERT OR REPLACE INTO functions (name, doc) VALUES (?, ?)",
                                 (fn.name, doc))
                self._db.execute(
                    "INSERT INTO version_counters (name, last) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET last = MAX(last, excluded.last)",
                    (fn.name, top),
                )
        except sqlite3.Error:
            self._reload(fn.name)  # callers changed the record in place: undo it in memory
            raise
        self._functions[fn.name] = fn

    def _reload(self, name: str) -> None:
        row = self._db.execute("SELECT doc FROM functions WHERE name = ?", (name,)).fetchone()
        if row is None:
            self._functions.pop(name, None)
        else:
            self._functions[name] = Function.from_doc(self._sealer.open(json.loads(row[0])))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
