"""What a new user tripped over: exit codes with the stack down, flags refused by name,
durations a person can read, loopback-only servers, moto as an optional extra."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from lambdashift.cli.main import main
from lambdashift.core import judge

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"


@pytest.fixture(scope="module")
def notes_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The notes service with no local stack running beside it."""
    root = tmp_path_factory.mktemp("down") / "notes"
    shutil.copytree(NOTES, root, ignore=shutil.ignore_patterns(".lambdashift", "__pycache__"))
    return root


_TALLY = {"tried": 0, "bad": 0}


@pytest.fixture(scope="module", autouse=True)
def _record_counts():  # noqa: ANN202
    """One reliability record for every command line tried here (RELIABILITY.md)."""
    yield
    try:
        from tests.reliability_log import record
    except ImportError:
        return
    if _TALLY["tried"]:
        record("cli", "bad flags and commands with the stack down", _TALLY["tried"],
               f"{_TALLY['tried'] - _TALLY['bad']} answered with the right exit code and one line",
               bad=_TALLY["bad"])


def run(args: list[str], root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The command in this process (as ``lambdashift ARGS --config ROOT/lambdashift.yaml``)."""
    capsys.readouterr()
    try:
        code = main([*args, "--config", str(root / "lambdashift.yaml")])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["status"], ["history", "notes-get"], ["publish"], ["deploy"], ["resume"],
    ["shift", "notes-get", "--to", "1"], ["rollback", "notes-get"], ["approve", "notes-get"],
    ["export-tfvars"], ["local", "url"], ["local", "status"],
])
def test_commands_with_the_stack_down_exit_1_with_one_line(
        notes_copy: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(args, notes_copy, capsys)
    _TALLY["tried"] += 1
    _TALLY["bad"] += code != 1 or len(err.strip().splitlines()) != 1
    assert code == 1, err
    [line] = err.strip().splitlines()
    assert "no local stack is running" in line and "lambdashift local up" in line
    assert str(notes_copy) in line  # the directory itself, not "."


@pytest.mark.parametrize(("args", "flag"), [
    (["deploy", "--poll", "-1"], "--poll"),
    (["deploy", "--poll", "0"], "--poll"),
    (["resume", "--poll", "nan"], "--poll"),
    (["approve", "notes-get", "--poll", "-5"], "--poll"),
    (["history", "notes-get", "--limit", "0"], "--limit"),
    (["history", "notes-get", "--limit", "-3"], "--limit"),
    (["deploy", "--strategy", "bogus"], "--strategy"),
    (["deploy", "--strategy", "canary10percent5minutes"], "--strategy"),
])
def test_bad_flags_exit_2_naming_the_flag_even_with_the_stack_down(
        notes_copy: Path, args: list[str], flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(args, notes_copy, capsys)
    _TALLY["tried"] += 1
    _TALLY["bad"] += code != 2 or len(err.strip().splitlines()) != 1
    assert code == 2, err
    [line] = err.strip().splitlines()
    assert flag in line and "Traceback" not in line
    assert "--strategy.strategy" not in line


def test_durations_read_as_whole_seconds() -> None:
    assert judge._dur(10.0026388) == "10 s"
    assert judge._dur(0.00263882) == "under 1 s"
    assert judge._dur(300) == "5 min"
    assert judge._dur(7200) == "2 h"
    assert judge._dur(90) == "90 s"


def test_local_up_with_moto_missing_is_one_line_exit_2(
        notes_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] in ("moto", "flask") else real(name, *a))
    code = main(["local", "up", "--detach", "--dynamodb", "moto",
                 "--config", str(notes_copy / "lambdashift.yaml")])
    err = capsys.readouterr().err
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("lambdashift:")] == [
        "lambdashift: --dynamodb moto needs moto's server, which is not installed: "
        "pip install 'lambdashift[moto]' (or use the default, --dynamodb lambdashift)"]
    assert not (notes_copy / ".lambdashift" / "local.json").exists()


def test_the_runtime_install_needs_no_moto() -> None:
    import tomllib

    project = tomllib.loads((NOTES.parents[1] / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("moto") for d in project["dependencies"])
    assert any(d.startswith("moto") for d in project["optional-dependencies"]["moto"])
    assert any(d.startswith("moto") for d in project["optional-dependencies"]["test"])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_servers_refuse_a_non_loopback_host(tmp_path: Path, host: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from lambdashift.dynamodb import server as dynamodb_server

    data = tmp_path / "data"
    assert main(["emulator", "--host", host, "--port", "0", "--data-dir", str(data)]) == 2
    with pytest.raises(SystemExit) as exited:
        dynamodb_server.main(["--host", host, "--port", "0", "--data-dir", str(data)])
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert all(f"got --host {host}" in line and "--allow-remote" in line for line in lines)
    assert not data.exists()  # refused before anything was opened


def test_loopback_names_and_addresses_are_accepted() -> None:
    from lambdashift.emulator.server import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.0.2.10", "no-such-host.invalid"))
