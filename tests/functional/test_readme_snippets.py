"""The README's boto3 script and AWS CLI commands run as written against a real emulator.

The blocks are taken from README.md itself; only the port changes (9001 may be taken on a
shared machine, so the emulator listens on a free one).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdashift.aws.clients import make_client
from lambdashift.emulator.server import READY_PREFIX, start_process

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
WRITTEN = "http://127.0.0.1:9001"


def block(after: str, language: str) -> str:
    """The first ``language`` code block after the line starting with ``after``."""
    start = README.index(after)
    match = re.compile(rf"```{language}\n(.*?)```", re.S).search(README, start)
    assert match, f"no {language} block after {after!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    emulator = start_process(tmp_path_factory.mktemp("emu") / "data", port=0)
    try:
        yield emulator.endpoint
    finally:
        emulator.stop()


def test_the_readme_shows_what_the_emulator_prints() -> None:
    shown = block("## The emulator", "sh").splitlines()
    assert shown[1] == f"# {READY_PREFIX}{WRITTEN}"


def test_boto3_script_then_aws_cli_commands_run_as_written(endpoint: str, tmp_path: Path) -> None:
    script = block("With boto3", "python")
    assert WRITTEN in script
    env = {**os.environ, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    env.pop("AWS_PROFILE", None)
    out = subprocess.run([sys.executable, "-c", script.replace(WRITTEN, endpoint)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    promised = script.strip().splitlines()[-1].split("# ", 1)[1]
    assert out.stdout.strip() == promised

    commands = block("With the AWS CLI", "sh")
    assert WRITTEN in commands
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    out = subprocess.run(["bash", "-e", "-c", commands.replace(WRITTEN, endpoint)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    alias = make_client("lambda", endpoint_url=endpoint, local=True).get_alias(
        FunctionName="hello", Name="live")
    assert alias["FunctionVersion"] == "1"
    assert alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.1}
