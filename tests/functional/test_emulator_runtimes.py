"""Runtimes (issue 11): a function runs under the interpreter its Runtime names when the
machine has it, otherwise under the emulator's own Python with one warning at create time."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lambdashift.emulator.runtime.interpreters import interpreter_for, own_runtime
from lambdashift.emulator.server import start_process
from tests.conftest import NO_STATE_DELAY, ROLE, lambda_client, make_zip

WHO = """
import os, sys
def handler(event, context):
    return {"marker": os.environ.get("FAKE_INTERPRETER"), "version": list(sys.version_info[:2])}
"""


@pytest.fixture
def fake_python313(tmp_path: Path) -> Path:
    """A ``python3.13`` on PATH: our interpreter, marking the processes it starts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "python3.13"
    script.write_text(f"#!/bin/sh\nFAKE_INTERPRETER=python3.13 exec {sys.executable} \"$@\"\n")
    script.chmod(0o755)
    return bin_dir


def test_the_runtime_names_the_interpreter_and_the_own_one_is_found():
    assert interpreter_for(own_runtime()) == sys.executable
    assert interpreter_for("python3.9") is None  # older than the worker can run under
    assert interpreter_for("nodejs20.x") is None


def test_a_function_runs_under_its_runtimes_interpreter_else_ours_with_one_warning(
        tmp_path, fake_python313):
    log = tmp_path / "emulator.log"
    env = {"PATH": f"{fake_python313}{os.pathsep}{os.environ['PATH']}"}
    proc = start_process(tmp_path / "data", extra_args=NO_STATE_DELAY, env=env, log_file=log)
    try:
        lam = lambda_client(proc.endpoint)
        for name, runtime in (("on-313", "python3.13"), ("on-310", "python3.10")):
            lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE,
                                Handler="index.handler", Code={"ZipFile": make_zip({"index.py": WHO})})

        ran = json.loads(lam.invoke(FunctionName="on-313")["Payload"].read())
        assert ran["marker"] == "python3.13"
        fell_back = json.loads(lam.invoke(FunctionName="on-310")["Payload"].read())
        assert fell_back == {"marker": None, "version": list(sys.version_info[:2])}
        lam.invoke(FunctionName="on-310")  # invocations do not repeat the warning
    finally:
        proc.stop()
    warnings = [line for line in log.read_text().splitlines() if "warning" in line]
    assert warnings == [
        f"lambdashift emulator: warning: on-310 has Runtime python3.10, but no usable python3.10 "
        f"is on PATH here: it runs under the emulator's own Python ({own_runtime()}, {sys.executable})"]


def test_a_fleet_on_a_missing_runtime_is_warned_about_a_few_times_not_once_per_function(
        capsys, monkeypatch):
    from lambdashift.emulator.runtime import interpreters

    monkeypatch.setattr(interpreters, "_warned", {})
    for i in range(10):
        interpreters.warn_if_fallback(f"fleet-{i}", "python3.8")  # older than any we run
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == interpreters.WARN_PER_RUNTIME + 1
    assert "fleet-0 has Runtime python3.8" in lines[0] and "not named" in lines[-1]
