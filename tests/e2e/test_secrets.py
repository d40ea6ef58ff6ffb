"""No planted secret leaks: not into .lambdashift/, not into any output, not into webhooks.

Planted: AWS credentials in the environment of every command, a function variable marked
``secret_environment`` in lambdashift.yaml (its value in the deployer's environment), and
the token in the path of two webhook URLs (one that answers, one that refuses connections,
so its failure is logged). Real commands then run on the local stack: up, publish, deploy
with webhooks, requests through the HTTP API, status, history, a rollback by hand,
export-tfvars, local status, down. Every file under .lambdashift/ (databases, WAL files,
logs, records), every stdout and stderr, and every webhook body is searched for each value.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from lambdashift.aws.clients import make_client
from tests.e2e.conftest import copy_notes
from tests.e2e.rollout_helpers import run as _run

PLANTED = {
    "AWS_ACCESS_KEY_ID": "AKIAPLANTED7Q3XJ2K9W",
    "AWS_SECRET_ACCESS_KEY": "planted-secret-key-b8f1e0c4d2a9",
    "AWS_SESSION_TOKEN": "planted-session-token-5d77c2e1",
    "NOTES_API_TOKEN": "planted-function-secret-91a3f6",
}
WEBHOOK_TOKEN = "T0KEN-planted-hook-4e2b7d"
DEAD_TOKEN = "T0KEN-planted-dead-6c1a9f"
SECRETS = [*PLANTED.values(), WEBHOOK_TOKEN, DEAD_TOKEN]


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        _Receiver.bodies.append(self.rfile.read(int(self.headers["content-length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass  # the request line holds the token: a receiver's log is not ours to test


@pytest.fixture
def receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Stack:
    def __init__(self, root: Path) -> None:
        self.root = root


def test_planted_secrets_appear_in_no_file_output_or_webhook(tmp_path: Path, receiver: str) -> None:
    root = copy_notes(tmp_path / "notes")
    config = yaml.safe_load((root / "lambdashift.yaml").read_text())
    config["functions"]["notes-create"]["secret_environment"] = {"API_TOKEN": "NOTES_API_TOKEN"}
    # About secrets, not the judge: nothing sends traffic for it to judge.
    config["rollout"] = {"strategy": "linear", "increments": 2, "pause": "1s", "analysis": "off"}
    config["webhooks"] = {"urls": [f"{receiver}/services/{WEBHOOK_TOKEN}",
                                   f"http://127.0.0.1:9/services/{DEAD_TOKEN}"],
                          "attempts": 1, "timeout": "2s"}
    (root / "lambdashift.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    stack = _Stack(root)
    outputs: list[str] = []

    def run(*args: str) -> None:
        result = _run(stack, *args, env=PLANTED, timeout=180)  # type: ignore[arg-type]
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == 0, f"{args}: {result.stderr[-1500:]}"

    try:
        run("local", "up", "--detach")
        state = json.loads((root / ".lambdashift" / "local.json").read_text())
        lam = make_client("lambda", endpoint_url=state["lambda_endpoint"], local=True)
        # The secret did reach the function, as Lambda gives it: the test plants a real value.
        env = lam.get_function_configuration(FunctionName="notes-create")["Environment"]["Variables"]
        assert env["API_TOKEN"] == PLANTED["NOTES_API_TOKEN"]
        config["functions"]["notes-create"]["environment"]["BUILD"] = "2"
        (root / "lambdashift.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        run("publish", "--json")
        run("deploy", "notes-create", "--poll", "0.2", "--json")
        for i in range(5):
            answer = httpx.post(f"{state['api_url']}/notes", json={"title": f"note {i}"}, timeout=30)
            outputs.append(answer.text)
            assert answer.status_code == 201
        for command in (("status",), ("status", "--json"), ("history", "notes-create", "--verbose"),
                        ("history", "notes-create", "--json"), ("rollback", "notes-create"),
                        ("export-tfvars",), ("local", "status", "--json")):
            run(*command)
    finally:
        down = _run(stack, "local", "down", env=PLANTED)  # type: ignore[arg-type]
        outputs.extend([down.stdout, down.stderr])
    assert _Receiver.bodies, "the webhook receiver got no note: the test would prove nothing"
    assert any("webhook http://127.0.0.1:9/… : not delivered".replace(" :", ":") in o
               for o in outputs), "the dead webhook's failure was not reported"

    files = [p for p in (root / ".lambdashift").rglob("*") if p.is_file()]
    found = []
    for path in files:
        data = path.read_bytes()
        found += [f"{path.relative_to(root)}: {s}" for s in SECRETS if s.encode() in data]
    texts = outputs + [b.decode() for b in _Receiver.bodies]
    found += [f"output: {s}" for s in SECRETS for text in texts if s in text]
    print(f"\nsecrets: {len(SECRETS)} planted values searched in {len(files)} files under "
          f".lambdashift/, {len(outputs)} outputs and {len(_Receiver.bodies)} webhook bodies: "
          f"{len(found)} found")
    try:
        from tests.reliability_log import record
    except ImportError:
        pass
    else:
        record("secrets", "planted secrets searched in .lambdashift/ files, outputs and webhooks",
               len(SECRETS) * (len(files) + len(texts)), f"{len(found)} found", bad=len(found))
    assert found == []
    assert len(files) >= 5  # databases, logs, the stack record: there was something to search
