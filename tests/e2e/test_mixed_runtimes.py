"""examples/mixed on the local stack: Python, Node.js and provided.al2023 behind one HTTP API,
split by weighted aliases, failing with AWS's error shapes, and released with a canary
(issue 20). A runtime the machine cannot run stops `local up` before anything starts."""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from lambdashift.aws.clients import make_client
from tests.e2e.conftest import cli, settle

MIXED = Path(__file__).resolve().parents[2] / "examples" / "mixed"
FUNCTIONS = ("hello-py", "hello-node", "hello-provided")
ROUTES = {"hello-py": "/py", "hello-node": "/node", "hello-provided": "/provided"}
EXECUTED = "x-lambdashift-executed-version"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")


@dataclass
class Stack:
    root: Path
    api_url: str
    lambda_endpoint: str

    @property
    def lam(self):
        return make_client("lambda", endpoint_url=self.lambda_endpoint, local=True)

    def run(self, *args: str, timeout: float = 180):
        return cli(*args, "--config", str(self.root / "lambdashift.yaml"), timeout=timeout)


def copy_mixed(target: Path) -> Path:
    shutil.copytree(MIXED, target, ignore=shutil.ignore_patterns(".lambdashift", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = copy_mixed(tmp_path_factory.mktemp("mixed") / "mixed")
    up = cli("local", "up", "--detach", "--config", str(root / "lambdashift.yaml"))
    assert up.returncode == 0, up.stderr
    state = json.loads((root / ".lambdashift" / "local.json").read_text())
    try:
        yield Stack(root, state["api_url"], state["lambda_endpoint"])
    finally:
        cli("local", "down", "--config", str(root / "lambdashift.yaml"))


def in_interval(hits: int, n: int, weight: float) -> bool:
    """The count lies in the two-sided 99.9% binomial (normal) interval around n * weight."""
    half_width = 3.2905 * math.sqrt(n * weight * (1 - weight))
    return abs(hits - n * weight) <= half_width


def test_every_runtime_answers_through_the_http_api_and_check_passes(mixed):
    check = mixed.run("check")
    assert check.returncode == 0, check.stdout + check.stderr
    with httpx.Client(base_url=mixed.api_url, timeout=30) as http:
        for function, path in ROUTES.items():
            response = http.get(path)
            assert response.status_code == 200, (function, response.text)
            body = response.json()
            assert body["release"] == "1" and body["version"] == "1"
            assert body["runtime"] == function.removeprefix("hello-").replace("py", "python")


#: Candidates of hello-node (whose stable is an ESM async handler) in the other styles.
NODE_STYLES = {
    "cjs-callback": ("index.cjs", "exports.handler = function (event, context, callback) {\n"
                     "  setImmediate(() => callback(null, {statusCode: 200, body: JSON.stringify("
                     "{style: 'cjs-callback', version: context.functionVersion})}));\n};\n"),
    "cjs-async": ("index.js", "module.exports.handler = async (event, context) => ({statusCode: "
                  "200, body: JSON.stringify({style: 'cjs-async', version: "
                  "context.functionVersion})});\n"),
    "esm-callback": ("index.mjs", "export function handler(event, context, callback) {\n"
                     "  callback(null, {statusCode: 200, body: JSON.stringify("
                     "{style: 'esm-callback', version: context.functionVersion})});\n}\n"),
}


def _zip(files: dict[str, str]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buf.getvalue()


@pytest.mark.parametrize("function,style", [
    ("hello-node", "cjs-callback"), ("hello-node", "cjs-async"), ("hello-node", "esm-callback"),
    ("hello-provided", None)])
def test_weighted_alias_split_lies_in_its_binomial_interval_via_http_and_boto3(
        mixed, function, style):
    """AWS: an alias with routing picks the version per invocation at random by weight. The
    Node.js candidates are handlers of the other styles (the stable one is ESM async)."""
    lam = mixed.lam
    if style is None:
        lam.update_function_configuration(FunctionName=function,
                                          Environment={"Variables": {"RELEASE": "split"}})
    else:
        lam.update_function_code(FunctionName=function, ZipFile=_zip(dict([NODE_STYLES[style]])))
    settle(lam, function)
    candidate = lam.publish_version(FunctionName=function)["Version"]
    alias = lam.get_alias(FunctionName=function, Name="live")
    stable, weight = alias["FunctionVersion"], 0.3
    lam.update_alias(FunctionName=function, Name="live", FunctionVersion=stable,
                     RoutingConfig={"AdditionalVersionWeights": {candidate: weight}},
                     RevisionId=alias["RevisionId"])
    try:
        http_counts: Counter[str] = Counter()
        with httpx.Client(base_url=mixed.api_url, timeout=30) as http:
            for _ in range(400):
                response = http.get(ROUTES[function])
                assert response.status_code == 200, response.text
                http_counts[response.headers[EXECUTED]] += 1
                body = response.json()
                assert body["version"] == response.headers[EXECUTED]
                if style and body["version"] == candidate:
                    assert body["style"] == style
        sdk_counts: Counter[str] = Counter()
        for _ in range(200):
            answer = lam.invoke(FunctionName=function, Qualifier="live", Payload=b"{}")
            assert "FunctionError" not in answer
            body = json.loads(json.loads(answer["Payload"].read())["body"])
            assert body["version"] == answer["ExecutedVersion"]
            sdk_counts[answer["ExecutedVersion"]] += 1
        assert set(http_counts) <= {stable, candidate} and set(sdk_counts) <= {stable, candidate}
        assert in_interval(http_counts[candidate], 400, weight), http_counts
        assert in_interval(sdk_counts[candidate], 200, weight), sdk_counts
    finally:
        alias = lam.get_alias(FunctionName=function, Name="live")
        lam.update_alias(FunctionName=function, Name="live", FunctionVersion=stable,
                         RoutingConfig={"AdditionalVersionWeights": {}},
                         RevisionId=alias["RevisionId"])


def test_unhandled_errors_have_aws_shapes_and_tracebacks_in_lambdashift_logs(mixed):
    lam = mixed.lam
    with httpx.Client(base_url=mixed.api_url, timeout=30) as http:
        for path in ("/node", "/provided"):
            failed = http.get(path, params={"fail": "1"})
            assert failed.status_code == 500 and failed.json() == {
                "message": "Internal Server Error"}
    event = json.dumps({"queryStringParameters": {"fail": "1"}}).encode()
    node = lam.invoke(FunctionName="hello-node", Qualifier="live", Payload=event)
    assert node["FunctionError"] == "Unhandled"
    error = json.loads(node["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("Error", "asked to fail")
    assert error["trace"][0] == "Error: asked to fail"
    custom = lam.invoke(FunctionName="hello-provided", Qualifier="live", Payload=event)
    assert custom["FunctionError"] == "Unhandled"
    error = json.loads(custom["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "asked to fail")
    node_logs = mixed.run("logs", "hello-node", "--since", "5m")
    assert node_logs.returncode == 0, node_logs.stderr
    assert "Invoke Error" in node_logs.stdout and "asked to fail" in node_logs.stdout
    assert "index.mjs:" in node_logs.stdout  # the stack's frame in the handler's file
    custom_logs = mixed.run("logs", "hello-provided", "--since", "5m")
    assert "Traceback (most recent call last)" in custom_logs.stdout
    assert "RuntimeError: asked to fail" in custom_logs.stdout


def test_init_error_gives_awss_runtime_error_and_shows_in_logs(mixed):
    """AWS's Node.js runtime: a handler that is not exported fails init with
    Runtime.HandlerNotFound; the environment is not kept, the error is logged."""
    lam = mixed.lam
    lam.update_function_configuration(FunctionName="hello-node", Handler="index.nothere")
    settle(lam, "hello-node")
    try:
        for _ in range(2):  # init runs again: the broken environment was not kept
            answer = lam.invoke(FunctionName="hello-node", Payload=b"{}", LogType="Tail")
            assert answer["FunctionError"] == "Unhandled"
            error = json.loads(answer["Payload"].read())
            assert error["errorType"] == "Runtime.HandlerNotFound"
            tail = base64.b64decode(answer["LogResult"]).decode()
            assert "Init Error" in tail and "Status: error" in tail
        logs = mixed.run("logs", "hello-node", "--version", "$LATEST", "--since", "5m")
        assert "Runtime.HandlerNotFound" in logs.stdout
    finally:
        lam.update_function_configuration(FunctionName="hello-node", Handler="index.handler")
        settle(lam, "hello-node")


def test_a_canary_releases_all_three_runtimes(mixed):
    """`publish` then `deploy` with the example's judged canary, under load on every route."""
    path = mixed.root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    for function in FUNCTIONS:
        config["functions"][function]["environment"] = {"RELEASE": "2"}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    published = mixed.run("publish", "--json")
    assert published.returncode == 0, published.stderr
    versions = {entry["function"]: entry["version"] for entry in json.loads(published.stdout)}
    stop = threading.Event()
    seen: Counter[tuple[str, str]] = Counter()

    def load() -> None:
        with httpx.Client(base_url=mixed.api_url, timeout=30) as http:
            while not stop.is_set():
                for function, route in ROUTES.items():
                    response = http.get(route)
                    seen[(function, str(response.status_code))] += 1

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        deployed = mixed.run("deploy", "--poll", "0.5", timeout=240)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert deployed.returncode == 0, deployed.stderr
    for function in FUNCTIONS:
        alias = mixed.lam.get_alias(FunctionName=function, Name="live")
        assert alias["FunctionVersion"] == versions[function], (function, alias)
        assert "RoutingConfig" not in alias
        assert seen[(function, "500")] == 0
    with httpx.Client(base_url=mixed.api_url, timeout=30) as http:
        for route in ROUTES.values():
            assert http.get(route).json()["release"] == "2"


def _with_function(root: Path, name: str, spec: dict) -> None:
    path = root / "lambdashift.yaml"
    config = yaml.safe_load(path.read_text())
    config["functions"][name] = spec
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def test_local_up_refuses_a_runtime_it_cannot_run_before_creating_anything(tmp_path):
    root = copy_mixed(tmp_path / "mixed")
    (root / "functions" / "orders-java").mkdir()
    (root / "functions" / "orders-java" / "Handler.java").write_text("class Handler {}\n")
    _with_function(root, "orders-java", {"source": "functions/orders-java",
                                         "handler": "example.Handler::handleRequest",
                                         "runtime": "java21"})
    config = str(root / "lambdashift.yaml")
    up = cli("local", "up", "--detach", "--config", config)
    assert up.returncode == 2, up.stderr
    assert "functions.orders-java (java21) cannot run" in up.stderr
    assert "local: false" in up.stderr and "Traceback" not in up.stderr
    assert not (root / ".lambdashift" / "local.json").exists()  # nothing was started
    check = cli("check", "--config", config)
    assert check.returncode == 1
    assert "orders-java: BLOCKS [runtime]" in check.stdout and "local: false" in check.stdout


def test_local_up_without_node_on_path_names_the_function_and_the_fix(tmp_path):
    root = copy_mixed(tmp_path / "mixed")
    env = {**os.environ, "PATH": str(tmp_path / "empty-bin")}
    up = cli_env(["local", "up", "--detach", "--config", str(root / "lambdashift.yaml")], env)
    assert up.returncode == 2, up.stderr
    assert "functions.hello-node (nodejs20.x) cannot run" in up.stderr
    assert "install Node.js 20" in up.stderr
    assert not (root / ".lambdashift" / "local.json").exists()


def cli_env(args: list[str], env: dict[str, str]):
    import subprocess

    return subprocess.run([sys.executable, "-m", "lambdashift.cli.main", *args],
                          capture_output=True, text=True, timeout=120, env=env)
