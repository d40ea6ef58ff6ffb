"""``lambdashift publish``: package each function and publish a version where it changed.

Compares the package's CodeSha256 and the configuration the yaml declares with the
function's ``$LATEST``; updates what differs (each call carrying the RevisionId it read),
then publishes with ``CodeSha256`` pinned, so a concurrent upload can never be published
under our name. Unchanged functions keep their version: PublishVersion on an unchanged
``$LATEST`` returns the existing version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lambdashift.aws.packaging import build_zip
from lambdashift.aws.provision import LOCAL_ROLE
from lambdashift.config import Config, FunctionConfig
from lambdashift.errors import NotFoundError
from lambdashift.model import Traffic
from lambdashift.rollout.handler_check import handler_warnings


#: The first poll of a settling function: most updates are done in well under a second.
_FIRST_POLL = 0.1


@dataclass(frozen=True)
class Published:
    """One function's outcome: the version its latest code and configuration are."""

    function: str
    version: str
    changed: bool
    code_changed: bool
    config_changed: bool
    previous: str | None
    #: What the package shows of the handler that would fail on Lambda (never a refusal).
    warnings: tuple[str, ...] = ()


def _wanted_config(fn: FunctionConfig, environment: dict[str, str]) -> dict[str, object]:
    return {"Handler": fn.handler, "Runtime": fn.runtime, "Timeout": fn.timeout,
            "MemorySize": fn.memory, "Environment": environment}


def _current_config(remote: dict) -> dict[str, object]:
    return {"Handler": remote.get("Handler"), "Runtime": remote.get("Runtime"),
            "Timeout": remote.get("Timeout"), "MemorySize": remote.get("MemorySize"),
            "Environment": dict((remote.get("Environment") or {}).get("Variables") or {})}


def publish_function(api, fn: FunctionConfig, *, create_missing: bool, dev_alias: str | None) -> Published:  # noqa: ANN001
    """Bring one function's ``$LATEST`` to the yaml's code and configuration, then publish."""
    environment = fn.deployed_environment()  # secrets read here, before anything changes
    package = build_zip(fn.source, fn.include)
    warnings = tuple(handler_warnings(package.data, fn.handler, fn.runtime))
    exists = api.function_exists(fn.name)
    previous = api.latest_version(fn.name) if exists else None
    if not exists:
        if not create_missing:
            raise NotFoundError(
                f"function {fn.name} does not exist on this target: create it first "
                "(the Terraform module, or `lambdashift local up`)", code="ResourceNotFoundException")
        api.create_function(fn.name, runtime=fn.runtime, role=LOCAL_ROLE, handler=fn.handler,
                            zip_bytes=package.data, timeout=fn.timeout, memory=fn.memory,
                            environment=environment)
    # A new function is Pending for a moment, and someone else's update may still be in
    # progress: AWS refuses updates and publishes until it is settled.
    remote = api.wait_updated(fn.name, first_interval=_FIRST_POLL)
    code_changed = remote["CodeSha256"] != package.code_sha256
    config_changed = _current_config(remote) != _wanted_config(fn, environment)
    revision = remote["RevisionId"]
    if code_changed:
        revision = api.update_code(fn.name, package.data, expected_revision=revision)["RevisionId"]
        api.wait_updated(fn.name, first_interval=_FIRST_POLL)
    if config_changed:
        revision = api.update_configuration(
            fn.name, handler=fn.handler, runtime=fn.runtime, timeout=fn.timeout,
            memory=fn.memory, environment=environment, expected_revision=revision,
        )["RevisionId"]
        api.wait_updated(fn.name, first_interval=_FIRST_POLL)
    version = api.publish_version(fn.name, code_sha256=package.code_sha256,
                                  expected_revision=revision)
    if dev_alias and api.alias_exists(fn.name, dev_alias):
        dev = api.get_alias(fn.name, dev_alias)
        if dev.traffic.primary != version or dev.traffic.canary is not None:
            api.update_alias(fn.name, dev_alias, Traffic(version), expected_revision=dev.revision_id)
    return Published(fn.name, version, version != previous, code_changed, config_changed, previous,
                     warnings)


def publish(api, config: Config, names: Iterable[str] | None, *, create_missing: bool,  # noqa: ANN001
            dev_alias: str | None = "dev") -> list[Published]:
    """Publish the named functions (all by default), in the config's order."""
    selected = list(names or config.functions)
    for name in selected:
        config.function(name)  # unknown names are config errors before anything changes
    return [publish_function(api, config.function(name), create_missing=create_missing,
                             dev_alias=dev_alias) for name in selected]
