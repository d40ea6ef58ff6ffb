"""Helpers for rollout tests on the local stack: new versions, config variants, the CLI."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import NotesStack, cli, settle


def new_version(stack: NotesStack, function: str) -> str:
    """Publish a new version of ``function`` (a configuration change), leaving aliases alone."""
    lam = stack.lam
    env = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    env["BUILD"] = uuid.uuid4().hex[:8]
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": env})
    settle(lam, function)
    return lam.publish_version(FunctionName=function)["Version"]


def set_rollout(stack: NotesStack, rollout: dict[str, Any], function: str | None = None) -> None:
    """Rewrite the copy's lambdashift.yaml with this rollout (for all, or one function).

    No bake unless the rollout asks for one: these tests are about the steps' mechanics,
    and a minute's bake after each switch would only make them slower (test_bake_e2e.py
    shows the bake)."""
    rollout = {"bake": 0, **rollout}
    path = stack.root / "lambdashift.yaml"
    data = yaml.safe_load(path.read_text())
    if function is None:
        data["rollout"] = rollout
        for fn in data["functions"].values():
            fn.pop("rollout", None)
    else:
        data["functions"][function]["rollout"] = rollout
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def run(stack: NotesStack, *args: str, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """``lambdashift ARGS --config <the copy>``."""
    if env:
        import os
        import sys
        return subprocess.run([sys.executable, "-m", "lambdashift.cli.main", *args, "--config",
                               str(stack.root / "lambdashift.yaml")], capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **env})
    return cli(*args, "--config", str(stack.root / "lambdashift.yaml"), timeout=timeout)


def alias_traffic(stack: NotesStack, function: str, alias: str = "live") -> tuple[str, str | None, float]:
    """(primary, canary, weight) of the alias, as AWS reports it."""
    a = stack.lam.get_alias(FunctionName=function, Name=alias)
    weights = a.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    (canary, weight), = weights.items() if weights else ((None, 0.0),)
    return a["FunctionVersion"], canary, weight


def history(stack: NotesStack, function: str) -> list[dict[str, Any]]:
    out = run(stack, "history", function, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def traffic_writes(rollout: dict[str, Any]) -> list[str]:
    """The traffic each successful alias write of a rollout set, in order."""
    return [e["details"]["traffic"] for e in rollout["events"] if e["kind"] == "AliasWritten"]


def state_db(stack: NotesStack) -> Path:
    return stack.root / ".lambdashift" / "state.db"
