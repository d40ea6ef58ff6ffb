"""A release's record in the state store: the config its rollouts run with, for any driver.

Every release that starts rollouts (``deploy``, ``deploy --detach``) stores, once, the
config file's data as YAML gave it, the target's flags (alias, target) and URLs (the hooks'
base URLs), and how its rollouts poll, as the first event of the log ``release:ID``. Each
rollout it starts points at it (``RolloutState.release``). A process without the config
file (the controller, or ``resume`` on another machine) rebuilds the very same typed config
from it: steps and judge policies are in the rollout itself; the smoke request, pre-warm,
hooks, webhooks, metrics source, ``after:`` order and groups come from here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lambdashift.config import Config, parse_config
from lambdashift.errors import ConfigError, LambdashiftError

__all__ = ["RELEASE_EVENT", "StoredRelease", "load_release", "record_log", "new_release_id",
           "save_release"]

RELEASE_EVENT = "release"
"""The kind of the record's event (the first of the ``release:ID`` log)."""


def new_release_id() -> str:
    """A fresh release id: ``rel-`` and 12 hex digits."""
    return f"rel-{uuid.uuid4().hex[:12]}"


def record_log(release_id: str) -> str:
    """The step log holding a release's record."""
    return f"release:{release_id}"


@dataclass(frozen=True)
class StoredRelease:
    """A release as read back from the store: its id, rebuilt config and what came with it."""

    release_id: str
    config: Config
    api_url: str | None
    dev_url: str | None
    poll: float
    by: str
    detached: bool
    rollouts: dict[str, str]  # function → rollout id (detached releases: all of them)


def save_release(store: Any, release_id: str, config: Config, target: Any, *, poll: float,
                 by: str, detached: bool, rollouts: dict[str, str] | None = None) -> None:
    """Store ``config`` (as its file gave it) with the target's flags, once per release.

    ``LambdashiftError`` when the store cannot hold it (data JSON cannot express, or over
    the backend's item size), saying what to do.
    """
    if not config.raw:
        raise LambdashiftError("this config was not read from a file, so it cannot be stored "
                               "with the release for another process to drive it")
    details = {"config": dict(config.raw), "file": str(config.file), "alias": config.alias,
               "target": config.target, "api_url": getattr(target, "api_url", None),
               "dev_url": getattr(target, "dev_url", None), "poll": poll, "by": by,
               "detached": detached, "rollouts": dict(rollouts or {})}
    try:
        store.record_event(record_log(release_id), record_log(release_id), RELEASE_EVENT, details)
    except (TypeError, ValueError) as exc:
        raise LambdashiftError(
            f"the config cannot be stored with the release ({exc}): keep lambdashift.yaml to "
            "plain strings, numbers, lists and mappings") from exc


def load_release(store: Any, release_id: str) -> StoredRelease | None:
    """The release ``release_id`` as stored, its config rebuilt (paths not required to exist:
    the driver never packages); None if there is no record. ``ConfigError`` if the stored
    config no longer parses (a newer lambdashift wrote it)."""
    for event in store.events(record_log(release_id)):
        if event.kind != RELEASE_EVENT:
            continue
        d = event.details
        try:
            config = parse_config(_thawed(d["config"]), file=Path(d["file"]), check_paths=False)
        except ConfigError as exc:
            raise ConfigError(f"release {release_id}: its stored config: {exc}") from None
        config = replace(config, alias=d["alias"], target=d["target"])
        return StoredRelease(release_id, config, d.get("api_url"), d.get("dev_url"),
                             float(d.get("poll", 5.0)), str(d.get("by", "")),
                             bool(d.get("detached")), dict(d.get("rollouts", {})))
    return None


def _thawed(value: Any) -> Any:
    """Plain dicts and lists again (the store hands details back read-only)."""
    if hasattr(value, "items"):
        return {k: _thawed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_thawed(v) for v in value]
    return value
