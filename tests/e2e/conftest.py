"""The local stack for the notes service, started through the CLI as a user would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambdashift.aws.clients import make_client
from lambdashift.aws.packaging import build_zip

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"


def cli(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``lambdashift ARGS`` as a user would."""
    return subprocess.run([sys.executable, "-m", "lambdashift.cli.main", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def settle(lam, function: str) -> None:
    """Wait, as a careful client of AWS does, until the function's last update is done: the
    local stack's emulator keeps an update InProgress for a moment, as AWS does."""
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=function, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})


@dataclass
class NotesStack:
    """A running local stack of the notes service, in its own copy of examples/notes."""

    root: Path
    api_url: str
    lambda_endpoint: str
    dynamodb_endpoint: str

    @property
    def lam(self):
        return make_client("lambda", endpoint_url=self.lambda_endpoint, local=True)

    def ship(self, function: str, release: str, source_dir: str) -> str:
        """Upload ``release`` of a function's code, publish it, point ``live`` at it alone."""
        lam = self.lam
        package = build_zip(self.root / "functions" / source_dir / release,
                            [self.root / "shared" / "notes_common.py"])
        lam.update_function_code(FunctionName=function, ZipFile=package.data)
        settle(lam, function)
        version = lam.publish_version(FunctionName=function, Description=release)["Version"]
        alias = lam.get_alias(FunctionName=function, Name="live")
        lam.update_alias(FunctionName=function, Name="live", FunctionVersion=version,
                         RoutingConfig={"AdditionalVersionWeights": {}}, RevisionId=alias["RevisionId"])
        return version


def copy_notes(target: Path) -> Path:
    """A copy of examples/notes without local state, so tests never touch the repo's."""
    shutil.copytree(NOTES, target, ignore=shutil.ignore_patterns(".lambdashift", "__pycache__", ".terraform"))
    return target


@pytest.fixture(scope="module")
def notes_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotesStack]:
    """``lambdashift local up --detach`` on a copy of the notes service; ``local down`` after."""
    root = copy_notes(tmp_path_factory.mktemp("notes") / "notes")
    up = cli("local", "up", "--detach", "--config", str(root / "lambdashift.yaml"))
    assert up.returncode == 0, up.stderr
    state = json.loads((root / ".lambdashift" / "local.json").read_text())
    try:
        yield NotesStack(root, state["api_url"], state["lambda_endpoint"], state["dynamodb_endpoint"])
    finally:
        down = cli("local", "down", "--config", str(root / "lambdashift.yaml"))
        assert down.returncode == 0, down.stderr


PROBE = Path(__file__).resolve().parent / "probe"


@pytest.fixture(scope="module")
def probe_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotesStack]:
    """The notes stack plus ``probe``, a function whose faults come from its configuration,
    routed at ``GET /probe``."""
    import yaml

    root = copy_notes(tmp_path_factory.mktemp("probe") / "notes")
    shutil.copytree(PROBE, root / "functions" / "probe")
    config = yaml.safe_load((root / "lambdashift.yaml").read_text())
    config["functions"]["probe"] = {"source": "functions/probe", "handler": "index.handler",
                                    "timeout": 5, "environment": {"FAIL_RATE": "0", "DELAY_MS": "4"}}
    config["routes"]["GET /probe"] = "probe"
    (root / "lambdashift.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    up = cli("local", "up", "--detach", "--config", str(root / "lambdashift.yaml"))
    assert up.returncode == 0, up.stderr
    state = json.loads((root / ".lambdashift" / "local.json").read_text())
    try:
        yield NotesStack(root, state["api_url"], state["lambda_endpoint"], state["dynamodb_endpoint"])
    finally:
        cli("local", "down", "--config", str(root / "lambdashift.yaml"))
