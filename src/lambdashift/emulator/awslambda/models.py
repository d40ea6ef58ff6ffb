"""The emulator's records: a function's code and configuration, its versions and aliases.

Records know how to render themselves in AWS's JSON shapes (``to_aws``) and how to
round-trip through the store's JSON documents (``to_doc``/``from_doc``); the rules of
what may change and when live in ``store.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any

from lambdashift.emulator.awslambda.function_states import state_fields

LATEST = "$LATEST"


def aws_timestamp() -> str:
    """Now, as Lambda writes LastModified: ``2024-01-01T00:00:00.000+0000``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def new_revision_id() -> str:
    """A fresh RevisionId: every change to a function version or alias gets one."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Arns:
    """Builds the ARNs of one region and account."""

    region: str
    account_id: str

    def function(self, name: str, qualifier: str | None = None) -> str:
        """``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]``."""
        base = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{base}:{qualifier}" if qualifier else base


@dataclass(frozen=True)
class CodeConfig:
    """The code and configuration of ``$LATEST`` or of one published (immutable) version."""

    version: str
    runtime: str
    role: str
    handler: str
    description: str
    timeout: int
    memory_size: int
    environment: dict[str, str]
    code_sha256: str
    code_size: int
    last_modified: str
    revision_id: str
    log_format: str = "Text"  # LoggingConfig.LogFormat: "Text" or "JSON"
    #: DeadLetterConfig.TargetArn ("" when none): the two versions of a split must agree.
    dead_letter_target: str = ""
    #: On a published version: the fingerprint of $LATEST it was published from, so that
    #: publishing again with nothing changed finds it even if PublishVersion's Description
    #: gave the version a description of its own.
    source_fingerprint: str = ""
    #: Wall-clock times until which the function is Pending (after CreateFunction) and its
    #: last update InProgress (see ``function_states.py``); 0 when settled.
    pending_until: float = 0.0
    updating_until: float = 0.0

    def fingerprint(self) -> str:
        """What publishing compares: the code and every setting AWS snapshots in a version.

        The description is one of them: on AWS, UpdateFunctionConfiguration(Description=...)
        alone is enough for PublishVersion to make a new version.
        """
        relevant = {
            "runtime": self.runtime,
            "role": self.role,
            "handler": self.handler,
            "description": self.description,
            "timeout": self.timeout,
            "memory_size": self.memory_size,
            "environment": self.environment,
            "code_sha256": self.code_sha256,
            "dead_letter_target": self.dead_letter_target,
            "log_format": self.log_format,
        }
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()

    def to_aws(self, name: str, arns: Arns, *, qualified: bool = False,
               now: float | None = None) -> dict[str, Any]:
        """AWS's ``FunctionConfiguration`` shape.

        ``$LATEST`` carries the unqualified ARN (``...:function:NAME``) unless ``qualified``:
        only ListVersionsByFunction and calls naming ``$LATEST`` show ``...:NAME:$LATEST``.
        """
        arn_qualifier = self.version if (qualified or self.version != LATEST) else None
        body: dict[str, Any] = {
            "FunctionName": name,
            "FunctionArn": arns.function(name, arn_qualifier),
            "Runtime": self.runtime,
            "Role": self.role,
            "Handler": self.handler,
            "CodeSize": self.code_size,
            "Description": self.description,
            "Timeout": self.timeout,
            "MemorySize": self.memory_size,
            "LastModified": self.last_modified,
            "CodeSha256": self.code_sha256,
            "Version": self.version,
            "TracingConfig": {"Mode": "PassThrough"},
            "RevisionId": self.revision_id,
            **state_fields(self, now),
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
            "EphemeralStorage": {"Size": 512},
            "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
            "LoggingConfig": {"LogFormat": self.log_format, "LogGroup": f"/aws/lambda/{name}"},
        }
        if self.environment:
            body["Environment"] = {"Variables": dict(self.environment)}
        if self.dead_letter_target:
            body["DeadLetterConfig"] = {"TargetArn": self.dead_letter_target}
        return body

    def to_doc(self) -> dict[str, Any]:
        """A JSON-safe document for the store."""
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CodeConfig:
        """Inverse of ``to_doc``."""
        return cls(**doc)


@dataclass(frozen=True)
class Alias:
    """A named pointer to a version, optionally splitting traffic with one more version."""

    name: str
    function_version: str
    description: str
    weights: dict[str, float]
    revision_id: str

    def to_aws(self, function_name: str, arns: Arns) -> dict[str, Any]:
        """AWS's ``AliasConfiguration`` shape; no ``RoutingConfig`` key when not split."""
        body: dict[str, Any] = {
            "AliasArn": arns.function(function_name, self.name),
            "Name": self.name,
            "FunctionVersion": self.function_version,
            "Description": self.description,
            "RevisionId": self.revision_id,
        }
        if self.weights:
            body["RoutingConfig"] = {"AdditionalVersionWeights": dict(self.weights)}
        return body

    def to_doc(self) -> dict[str, Any]:
        """A JSON-safe document for the store."""
        return dataclasses.asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Alias:
        """Inverse of ``to_doc``."""
        return cls(**doc)


@dataclass
class Function:
    """A function: its ``$LATEST``, its published versions and its aliases.

    Mutable on purpose: the store replaces whole records under its lock and persists the
    function as one document in one transaction, so a crash never leaves half a change.
    """

    name: str
    latest: CodeConfig
    versions: dict[int, CodeConfig] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    #: Resource-based policies by qualifier ("" = the unqualified function): see permissions.py.
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Provisioned concurrency by qualifier (alias or version): the requested executions.
    provisioned: dict[str, int] = field(default_factory=dict)

    def config(self, qualifier: str) -> CodeConfig | None:
        """``$LATEST`` or a published version by number; None when absent."""
        if qualifier == LATEST:
            return self.latest
        if qualifier.isdigit():
            return self.versions.get(int(qualifier))
        return None

    def latest_published(self) -> CodeConfig | None:
        """The highest published version that still exists."""
        return self.versions[max(self.versions)] if self.versions else None

    def to_doc(self) -> dict[str, Any]:
        """A JSON-safe document for the store."""
        return {
            "name": self.name,
            "latest": self.latest.to_doc(),
            "versions": {str(n): c.to_doc() for n, c in self.versions.items()},
            "aliases": {a: al.to_doc() for a, al in self.aliases.items()},
            "reserved_concurrency": self.reserved_concurrency,
            "tags": self.tags,
            "policies": self.policies,
            "provisioned": self.provisioned,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Function:
        """Inverse of ``to_doc``."""
        return cls(
            name=doc["name"],
            latest=CodeConfig.from_doc(doc["latest"]),
            versions={int(n): CodeConfig.from_doc(c) for n, c in doc["versions"].items()},
            aliases={a: Alias.from_doc(al) for a, al in doc["aliases"].items()},
            reserved_concurrency=doc.get("reserved_concurrency"),
            tags=doc.get("tags", {}),
            policies=doc.get("policies", {}),
            provisioned=doc.get("provisioned", {}),
        )
