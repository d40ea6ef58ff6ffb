"""``lambdashift local up/down/url`` and ``package`` as a user runs them."""

from __future__ import annotations

import json

import httpx

from lambdashift.aws.clients import make_client
from tests.e2e.conftest import cli, copy_notes, settle


def test_up_down_restart_keeps_functions_versions_and_aliases(tmp_path):
    root = copy_notes(tmp_path / "notes")
    config = str(root / "lambdashift.yaml")
    first = cli("local", "up", "--detach", "--config", config)
    assert first.returncode == 0, first.stderr
    state = json.loads((root / ".lambdashift" / "local.json").read_text())
    assert set(state) >= {"api_url", "lambda_endpoint", "dynamodb_endpoint"}
    assert cli("local", "url", "--config", config).stdout.strip() == state["api_url"]
    again = cli("local", "up", "--detach", "--config", config)
    assert again.returncode == 1 and "already running" in again.stderr
    note = httpx.post(state["api_url"] + "/notes", json={"title": "kept"}, timeout=30).json()
    lam = make_client("lambda", endpoint_url=state["lambda_endpoint"], local=True)
    lam.update_function_configuration(FunctionName="notes-list", Timeout=11)
    settle(lam, "notes-list")
    assert lam.publish_version(FunctionName="notes-list")["Version"] == "2"
    lam.update_alias(FunctionName="notes-list", Name="live", FunctionVersion="2")
    assert cli("local", "down", "--config", config).returncode == 0
    down_url = cli("local", "url", "--config", config)
    assert down_url.returncode == 1 and "no local stack is running" in down_url.stderr

    second = cli("local", "up", "--detach", "--config", config)
    try:
        assert second.returncode == 0, second.stderr
        state = json.loads((root / ".lambdashift" / "local.json").read_text())
        lam = make_client("lambda", endpoint_url=state["lambda_endpoint"], local=True)
        assert lam.get_alias(FunctionName="notes-list", Name="live")["FunctionVersion"] == "2"
        assert lam.get_alias(FunctionName="notes-list", Name="dev")["FunctionVersion"] == "2"
        assert lam.get_alias(FunctionName="notes-get", Name="live")["FunctionVersion"] == "1"
        resp = httpx.get(state["api_url"] + "/notes", timeout=30)
        assert resp.status_code == 200 and resp.headers["x-function-version"] == "2"
        assert [n["id"] for n in resp.json()["items"]] == [note["id"]]  # table data persisted
    finally:
        assert cli("local", "down", "--config", config).returncode == 0


def test_moto_can_be_the_dynamodb_backend(tmp_path):
    root = copy_notes(tmp_path / "notes")
    config = str(root / "lambdashift.yaml")
    up = cli("local", "up", "--detach", "--dynamodb", "moto", "--config", config)
    try:
        assert up.returncode == 0, up.stderr
        assert "moto, in memory" in up.stderr
        api = json.loads((root / ".lambdashift" / "local.json").read_text())["api_url"]
        assert httpx.post(api + "/notes", json={"title": "on moto"}, timeout=30).status_code == 201
    finally:
        assert cli("local", "down", "--config", config).returncode == 0


def test_a_config_error_is_exit_2_with_one_line(tmp_path):
    bad = tmp_path / "lambdashift.yaml"
    bad.write_text("functions:\n  f:\n    source: nowhere\n    handler: index.handler\n")
    out = cli("local", "up", "--detach", "--config", str(bad))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "functions.f.source" in out.stderr
    assert "Traceback" not in out.stderr


def test_package_is_deterministic_and_writes_where_terraform_reads(tmp_path):
    root = copy_notes(tmp_path / "notes")
    first = cli("package", "--json", "--config", str(root / "lambdashift.yaml"))
    assert first.returncode == 0, first.stderr
    rows = json.loads(first.stdout)
    assert {r["function"] for r in rows} == {"notes-create", "notes-get", "notes-list",
                                             "notes-update", "notes-delete"}
    assert all((root / ".lambdashift" / "packages" / f"{r['function']}.zip").is_file() for r in rows)
    (root / "functions" / "get_note" / "v1" / "index.py").touch()
    second = json.loads(cli("package", "--json", "--config", str(root / "lambdashift.yaml")).stdout)
    assert [r["code_sha256"] for r in rows] == [r["code_sha256"] for r in second]


def test_the_least_config_one_function_and_no_routes_comes_up(tmp_path):
    """A new user's first file: one function, no `routes:`. The stack's HTTP API still runs
    (every path answers 404 as API Gateway does for a route it lacks); it used to wait for a
    gateway that was never started and fail with "the emulator did not start"."""
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "index.py").write_text("def handler(event, context):\n    return 'ok'\n")
    config = tmp_path / "lambdashift.yaml"
    config.write_text("functions:\n  f: {source: fn, handler: index.handler, runtime: python3.12}\n")
    up = cli("local", "up", "--detach", "--config", str(config))
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((tmp_path / ".lambdashift" / "local.json").read_text())
        answer = httpx.get(f"{state['api_url']}/anything", timeout=10)
        assert answer.status_code == 404 and answer.json() == {"message": "Not Found"}
        lam = make_client("lambda", endpoint_url=state["lambda_endpoint"], local=True)
        assert lam.get_alias(FunctionName="f", Name="live")["FunctionVersion"] == "1"
    finally:
        assert cli("local", "down", "--config", str(config)).returncode == 0
