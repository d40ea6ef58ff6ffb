"""Command-line errors a script or a newcomer meets (issue 22): every port flag named in its
error with exit 2, an error under ``--json`` as a JSON object on stdout, and durations on
the command line read as the config reads them."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdashift.cli.main import build_parser, main
from lambdashift.emulator.server import start_process
from lambdashift.errors import ConfigError

NOTES = Path(__file__).resolve().parents[2] / "examples" / "notes"


@pytest.fixture(scope="module")
def notes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The notes service with no local stack running beside it."""
    root = tmp_path_factory.mktemp("papercuts") / "notes"
    shutil.copytree(NOTES, root, ignore=shutil.ignore_patterns(".lambdashift", "__pycache__"))
    return root


@pytest.fixture
def taken() -> Iterator[int]:
    """A loopback port something listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``lambdashift ARGS`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


# --- 4: port flags ---------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--api-port", "--lambda-port"])
def test_local_up_with_a_port_in_use_names_the_flag_and_exits_2(notes, taken, flag, capsys) -> None:
    """The issue's case: `local up --detach --api-port 9001` with 9001 taken said port 0 and
    "internal error", exit 1."""
    code, _, err = run(["local", "up", "--detach", flag, str(taken),
                        "--config", str(notes / "lambdashift.yaml")], capsys)
    assert code == 2
    assert f"lambdashift: {flag} {taken} is in use on 127.0.0.1" in err
    assert err.strip().splitlines()[-1].startswith(f"lambdashift: {flag} {taken} is in use")
    assert not (notes / ".lambdashift" / "local.json").exists()  # nothing was started


@pytest.mark.parametrize("args", [
    ["local", "up", "--api-port", "70000"], ["local", "up", "--lambda-port", "-1"],
    ["local", "up", "--api-port", "http"], ["emulator", "--port", "65536"],
    ["emulator", "--gateway-port", "-2"],
])
def test_a_port_out_of_range_names_the_flag_and_exits_2(args, capsys) -> None:
    code, _, err = run(args, capsys)
    assert code == 2
    assert f"argument {args[-2]}: must be a port" in one_line(err)


def test_local_up_with_one_port_for_both_apis_says_so(notes, capsys) -> None:
    code, _, err = run(["local", "up", "--detach", "--api-port", "5001", "--lambda-port", "5001",
                        "--config", str(notes / "lambdashift.yaml")], capsys)
    assert code == 2 and "--api-port and --lambda-port are both 5001" in err


def _served(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("command", "flag"), [
    (["lambdashift.cli.main", "emulator", "--port", "{port}"], "--port"),
    (["lambdashift.cli.main", "emulator", "--port", "0", "--gateway-port", "{port}",
      "--gateway-routes", '{"GET /": "f"}'], "--gateway-port"),
    (["lambdashift.dynamodb.server", "--in-memory", "--port", "{port}"], "--port"),
])
def test_each_server_with_its_port_in_use_names_the_flag_and_exits_2(command, flag, taken,
                                                                    tmp_path) -> None:
    args = [a.replace("{port}", str(taken)) for a in command]
    if "emulator" in args:
        args += ["--data-dir", str(tmp_path / "data")]
    done = _served(args)
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    assert f"{flag} {taken} is in use on 127.0.0.1" in line


def test_an_emulator_child_that_cannot_have_its_port_is_a_config_error_naming_it(taken, tmp_path) -> None:
    """What the local stack starts: the child's own words come back, not "internal error"."""
    with pytest.raises(ConfigError, match=f"--gateway-port {taken} is in use"):
        start_process(tmp_path / "data", extra_args=["--gateway-routes", '{"GET /": "f"}',
                                                     "--gateway-port", str(taken)],
                      log_file=tmp_path / "emulator.log")  # as the local stack starts it


# --- 5: --json errors ------------------------------------------------------------------------


def _commands_with_json() -> list[list[str]]:
    """Every command line that has --json, with placeholders for what it requires."""
    found = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])
        if any("--json" in a.option_strings for a in parser._actions):
            args = list(prefix)
            for action in parser._actions:
                if not action.option_strings and action.nargs is None:
                    args.append("notes-get")
                elif action.option_strings and action.required:
                    args += [action.option_strings[0], "1"]
            found.append(args)
    walk(build_parser(), [])
    return found


COMMANDS = _commands_with_json()


def test_the_json_commands_are_found() -> None:
    assert len(COMMANDS) >= 12 and ["logs", "notes-get"] in COMMANDS


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_every_json_command_answers_a_config_error_with_a_json_object(args, tmp_path, capsys) -> None:
    missing = tmp_path / "nowhere.yaml"
    code, out, err = run([*args, "--json", "--config", str(missing)], capsys)
    if args == ["load", "notes-get"]:  # takes no config: the flag itself is the usage error
        assert code == 2
        answer = json.loads(out)
        assert answer["type"] == "UsageError" and answer["code"] == 2
        assert "--config" in answer["error"] and answer["error"] in one_line(err)
        return
    if args == ["local", "status"]:  # reads no config: nothing runs there
        assert code == 1
        answer = json.loads(out)
        assert answer["running"] is False and answer["code"] == 1
        assert f"lambdashift: {answer['error']}" == one_line(err)
        return
    assert code == 2
    answer = json.loads(out)
    assert answer == {"error": f"{missing}: no such file (create it, or pass --config)",
                      "code": 2, "type": "ConfigError"}
    assert one_line(err) == f"lambdashift: {answer['error']}"


@pytest.mark.parametrize("args", [
    ["deploy", "--json"], ["status", "--json"], ["history", "notes-get", "--json"],
    ["rollback", "notes-get", "--json"],
])
def test_a_json_command_with_the_stack_down_answers_json_exit_1(notes, args, capsys) -> None:
    code, out, err = run([*args, "--config", str(notes / "lambdashift.yaml")], capsys)
    assert code == 1
    answer = json.loads(out)
    assert answer["code"] == 1 and answer["type"] == "LocalStackError"
    assert "no local stack is running" in answer["error"]
    assert one_line(err) == f"lambdashift: {answer['error']}"


@pytest.mark.parametrize(("args", "flag"), [
    (["deploy", "--json", "--poll", "0"], "--poll"),
    (["history", "notes-get", "--limit", "0", "--json"], "--limit"),
    (["logs", "notes-get", "--json", "--since", "soon"], "--since"),
    (["deploy", "--json", "--strategy", "canery"], "--strategy"),
])
def test_a_json_command_with_a_bad_flag_answers_json_exit_2(notes, args, flag, capsys) -> None:
    code, out, err = run([*args, "--config", str(notes / "lambdashift.yaml")], capsys)
    assert code == 2
    answer = json.loads(out)
    assert answer["code"] == 2 and flag in answer["error"]
    assert answer["error"] in one_line(err)


def test_json_after_a_double_dash_is_an_argument_not_a_wish(capsys) -> None:
    code, out, _ = run(["shift", "--to", "1", "--", "--json"], capsys)
    assert code == 2 and out == ""


# --- 6: durations as the config takes them ----------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("5", 5.0), ("90", 90.0), ("0.5", 0.5), ("30s", 30.0), ("10m", 600.0), ("1h30m", 5400.0),
    ("2h", 7200.0), ("1d", 86400.0), ("1.5h", 5400.0),
])
def test_logs_since_takes_what_a_config_duration_takes(text, seconds) -> None:
    """The issue's case: `logs FN --since 5` was refused; config durations take a bare 90."""
    from lambdashift.cli.logs import parse_since
    from lambdashift.core.strategy import parse_duration

    assert parse_since(text) == parse_duration(text, "rollout.pause") == seconds


@pytest.mark.parametrize("text", ["5", "5s", "0.5s", "2m"])
def test_poll_takes_a_duration_as_the_config_writes_it(text) -> None:
    from lambdashift.core.strategy import parse_duration

    args = build_parser().parse_args(["deploy", "--poll", text])
    assert args.poll == parse_duration(text, "x")


def test_a_bad_since_exits_2_naming_the_flag_with_the_stack_down(notes, capsys) -> None:
    code, _, err = run(["logs", "notes-get", "--since", "5 minutes",
                        "--config", str(notes / "lambdashift.yaml")], capsys)
    assert code == 2
    assert one_line(err).startswith("lambdashift: --since: must be a positive duration such as 30s")
