"""Pruning: delete the published versions nothing will ever go back to.

Every release publishes a version, and Lambda's code storage per region is capped. A
version is *kept* when any of these reference it:

* an alias of the function (any alias: its primary version or its routing weights);
* an unfinished rollout (its stable and candidate versions: a rollback needs the stable);
* the last ``keep`` releases: the ``keep`` newest versions, and the stable and candidate
  versions of the function's ``keep`` most recent rollouts, so that ``rollback`` to any of
  them stays possible.

The plan is made while holding the function's rollout lock, so no rollout can start (and
reference a version) between looking and deleting; AWS refuses to delete a version an alias
routes to in any case (ResourceConflictException), which is reported and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lambdashift.errors import AwsError
from lambdashift.store import locks


@dataclass
class PrunePlan:
    """One function's versions: what stays (with why) and what goes."""

    function: str
    keep: dict[str, list[str]] = field(default_factory=dict)  # version → reasons
    delete: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def plan(api: Any, store: Any, function: str, keep: int) -> PrunePlan:
    """What ``prune`` would delete of ``function`` (reads only)."""
    if keep < 1:
        raise ValueError(f"--keep must be at least 1, got {keep}")
    versions = api.versions(function)
    result = PrunePlan(function)

    def hold(version: str | None, why: str) -> None:
        if version is not None and version in versions:
            result.keep.setdefault(version, []).append(why)

    for name, routed in api.aliases(function).items():
        for version in routed:
            hold(version, f"alias {name}")
    for state in store.active(function):
        hold(state.stable, f"unfinished rollout {state.rollout_id}")
        hold(state.candidate, f"unfinished rollout {state.rollout_id}")
    for version in versions[-keep:]:
        hold(version, f"one of the {keep} newest")
    for state in store.history(function, limit=keep):
        hold(state.stable, f"rollout {state.rollout_id}")
        hold(state.candidate, f"rollout {state.rollout_id}")
    result.delete = [v for v in versions if v not in result.keep]
    return result


def prune(api: Any, store: Any, function: str, keep: int, *, owner: str,
          dry_run: bool = False, lease_seconds: float = 120.0) -> PrunePlan:
    """Delete ``function``'s unreferenced versions (oldest first), holding its lock."""
    if dry_run:
        return plan(api, store, function, keep)
    lease = locks.acquire(store, function, owner, lease_seconds)
    try:
        result = plan(api, store, function, keep)
        for version in result.delete:
            try:
                api.delete_version(function, version)
            except AwsError as exc:  # in use after all (an alias outside our view), or gone
                result.errors[version] = str(exc)
                continue
            result.deleted.append(version)
        return result
    finally:
        store.release(lease)
