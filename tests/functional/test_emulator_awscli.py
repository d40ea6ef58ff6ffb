"""The AWS CLI (v1, installed from PyPI with the test extras: blob arguments are raw, not
base64) works against the emulator unchanged."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ECHO_HANDLER, ROLE, make_zip


def aws_cli() -> str:
    found = Path(sys.executable).with_name("aws")
    if found.exists():
        return str(found)
    which = shutil.which("aws")
    if which is None:
        pytest.fail("the AWS CLI is not installed: `make install` installs it with the test extras")
    return which


def aws(emulator, *args: str) -> dict:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    out = subprocess.run([aws_cli(), "lambda", *args, "--endpoint-url", emulator.endpoint,
                          "--output", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_aws_cli_creates_publishes_aliases_and_invokes(emulator, fn_name, tmp_path):
    package = tmp_path / "fn.zip"
    package.write_bytes(make_zip({"index.py": ECHO_HANDLER}))
    created = aws(emulator, "create-function", "--function-name", fn_name, "--runtime", "python3.12",
                  "--role", ROLE, "--handler", "index.handler", "--zip-file", f"fileb://{package}",
                  "--publish")
    assert created["Version"] == "1"
    alias = aws(emulator, "create-alias", "--function-name", fn_name, "--name", "live",
                "--function-version", "1")
    assert alias["FunctionVersion"] == "1"
    listed = aws(emulator, "list-aliases", "--function-name", fn_name)
    assert [a["Name"] for a in listed["Aliases"]] == ["live"]
    out_file = tmp_path / "out.json"
    result = aws(emulator, "invoke", "--function-name", fn_name, "--qualifier", "live",
                 "--payload", '{"via": "cli"}', "--log-type", "Tail",
                 str(out_file))
    assert result["StatusCode"] == 200 and result["ExecutedVersion"] == "1"
    assert b"REPORT RequestId" in base64.b64decode(result["LogResult"])
    body = json.loads(out_file.read_text())
    assert body["event"] == {"via": "cli"} and body["function_version"] == "1"


def test_aws_cli_reports_aws_errors(emulator):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    out = subprocess.run([aws_cli(), "lambda", "get-function", "--function-name", "absent",
                          "--endpoint-url", emulator.endpoint], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode != 0
    assert "ResourceNotFoundException" in out.stderr and "Function not found" in out.stderr
