"""Shared fixtures: a running emulator (a real child process on loopback) and boto3 clients."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from lambdashift.emulator.server import EmulatorProcess, start_process
from tests import reliability_log

TESTS_DIR = Path(__file__).resolve().parent

ROLE = "arn:aws:iam::000000000000:role/lambdashift-test"
#: For emulators of tests that are not about function states: settle every change at once.
NO_STATE_DELAY = ["--state-delay", "0"]


def make_zip(files: dict[str, str]) -> bytes:
    """A deployment package with the given files."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, text)
    return buf.getvalue()


ECHO_HANDLER = """
import json, os

def handler(event, context):
    return {
        "event": event,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "release": os.environ.get("RELEASE"),
        "env_version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
    }
"""


def lambda_client(endpoint: str, *, validate: bool = True) -> "boto3.client":
    """A boto3 Lambda client for an emulator endpoint, with boto3's defaults otherwise.

    ``validate=False`` turns off botocore's client-side checks, so that a test can show
    what the server itself does with a value the client would have refused.
    """
    return boto3.client(
        "lambda", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=50,
                      read_timeout=60, parameter_validation=validate),
    )


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One emulator for the session, in a fresh data directory."""
    proc = start_process(tmp_path_factory.mktemp("emulator") / "data", extra_args=NO_STATE_DELAY)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def client(emulator: EmulatorProcess):
    """boto3's Lambda client against the session's emulator."""
    return lambda_client(emulator.endpoint)


@pytest.fixture(scope="session")
def raw_client(emulator: EmulatorProcess):
    """boto3's Lambda client with its client-side parameter checks off."""
    return lambda_client(emulator.endpoint, validate=False)


@pytest.fixture
def fn_name() -> str:
    """A function name no other test uses."""
    return f"fn-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_function(client, fn_name):
    """Create a function (echo handler unless files are given); returns its name."""
    def create(files: dict[str, str] | None = None, *, name: str | None = None,
               env: dict[str, str] | None = None, publish: bool = False, **extra) -> str:
        name = name or fn_name
        client.create_function(
            FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="index.handler",
            Code={"ZipFile": make_zip(files or {"index.py": ECHO_HANDLER})},
            Environment={"Variables": env or {"RELEASE": "v1"}}, Publish=publish, **extra,
        )
        return name
    return create


def publish_release(client, name: str, release: str) -> str:
    """Change the function's configuration to a new release and publish it; returns the version."""
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {"RELEASE": release}})
    return client.publish_version(FunctionName=name)["Version"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory for a test's own emulator."""
    return tmp_path / "data"


# --- reliability records: kept under build/, never in a tracked file ----------------------
# A run writes records to build/reliability.jsonl (tests/reliability_log.py). A run of the
# whole tests/ directory starts that log afresh and, when it ends green, keeps a copy as
# build/reliability-green.jsonl beside build/reliability-run.json (what ran, when, how it
# ended). RELIABILITY.md changes only by `make reliability`, which reads that green copy:
# running the tests leaves `git status` clean.


def _whole_suite(config: pytest.Config) -> bool:
    """True when this session runs every test under tests/ (no -k, -m or narrower paths)."""
    option = config.option
    if option.keyword or option.markexpr or getattr(option, "deselect", None) or option.collectonly:
        return False
    base = Path(config.invocation_params.dir)
    paths = {(base / str(arg).split("::")[0]).resolve() for arg in config.args}
    return bool(paths) and paths <= {TESTS_DIR, TESTS_DIR.parent}


def _xdist_worker(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker: the controller alone starts the log and keeps the run."""
    return hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    """A whole run starts a fresh log, so its records say what this run tried."""
    if _whole_suite(session.config) and not _xdist_worker(session.config):
        log = reliability_log.log_path()
        for stale in (log, reliability_log.run_path(), reliability_log.green_path()):
            try:
                stale.unlink(missing_ok=True)
            except OSError:
                pass


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """At the end of a whole run: say how it ended and, when green, keep its records."""
    if not _whole_suite(session.config) or _xdist_worker(session.config):
        return
    green = (exitstatus == pytest.ExitCode.OK and not session.shouldstop
             and not session.shouldfail and session.testsfailed == 0)
    try:
        reliability_log.finish_run(green=green, exitstatus=int(exitstatus),
                                   collected=session.testscollected, failed=session.testsfailed)
    except OSError:
        pass  # a read-only checkout still passes its tests
