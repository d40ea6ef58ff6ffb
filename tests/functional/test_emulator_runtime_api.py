"""The Lambda Runtime API (2018-06-01) in the emulator: Node.js, provided.al2023 bootstraps and
AWS's own runtime interface client, driven through boto3 (issue 20).

AWS rules checked here, from "Using the Lambda runtime API for custom runtimes" and "Lambda
execution environment" (AWS Lambda developer guide):
- next: the event is the body; Lambda-Runtime-Aws-Request-Id, -Deadline-Ms (Unix ms),
  -Invoked-Function-Arn, -Trace-Id headers; the request id is the one in START/END/REPORT;
- AWS_LAMBDA_RUNTIME_API and the reserved variables are set in the environment;
- invocation error: the posted error object is the payload, FunctionError Unhandled;
- init error, or the process exiting before asking for work: the caller gets AWS's error and
  the environment is not kept; a timeout ends the environment (Status: timeout).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
import zipfile

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, ECHO_HANDLER

NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not on PATH")


def package(files: dict[str, str], executable: tuple[str, ...] = ()) -> bytes:
    """A zip whose ``executable`` members keep mode 0755, as AWS's bootstrap needs."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executable else 0o644) << 16
            archive.writestr(info, text)
    return buf.getvalue()


#: A provided.al2023 bootstrap in Python with urllib only (curl may not exist on CI).
BOOTSTRAP = f"""#!{sys.executable}
import json, os, sys, time, traceback, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
def post(path, body, headers={{}}):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST",
                                 headers=headers)
    return urllib.request.urlopen(req).read()
if os.environ.get("MODE") == "init-error":
    print("init failing", file=sys.stderr, flush=True)
    post("/init/error", {{"errorMessage": "no config", "errorType": "Custom.InitFailed"}},
         {{"Lambda-Runtime-Function-Error-Type": "Custom.InitFailed"}})
    time.sleep(30)
if os.environ.get("MODE") == "exit":
    sys.exit(3)
print("bootstrap ready", flush=True)
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        headers = dict(r.headers)
        event = json.loads(r.read())
    print("handling", rid, flush=True)
    try:
        if event.get("fail"):
            raise ValueError("bad event")
        if event.get("exit"):
            os._exit(event["exit"])
        if event.get("sleep"):
            time.sleep(event["sleep"])
        env = {{k: v for k, v in os.environ.items()
               if k.startswith(("AWS_", "LAMBDA_", "_")) or k == "TZ"}}
        post(f"/invocation/{{rid}}/response",
             {{"event": event, "headers": headers, "env": env, "now_ms": time.time() * 1000,
              "pid": os.getpid()}})
    except Exception as exc:
        traceback.print_exc()
        post(f"/invocation/{{rid}}/error",
             {{"errorMessage": str(exc), "errorType": type(exc).__name__,
              "stackTrace": traceback.format_tb(exc.__traceback__)}},
             {{"Lambda-Runtime-Function-Error-Type": type(exc).__name__}})
"""

NODE_CJS_ASYNC = """
exports.handler = async (event, context) => {
  console.log("cjs async", JSON.stringify(event));
  return {style: "cjs-async", event, version: context.functionVersion,
          arn: context.invokedFunctionArn, requestId: context.awsRequestId,
          remaining: context.getRemainingTimeInMillis()};
};
"""
NODE_CJS_CALLBACK = """
module.exports.handler = function (event, context, callback) {
  setTimeout(() => callback(null, {style: "cjs-callback", event}), 1);
};
"""
NODE_ESM_ASYNC = """
export const handler = async (event) => ({style: "esm-async", event});
"""
NODE_ESM_CALLBACK = """
export function handler(event, context, callback) {
  callback(null, {style: "esm-callback", event});
}
"""
NODE_THROWS = """
exports.handler = async () => { throw new TypeError("no such note"); };
"""


def create(client, name: str, runtime: str, handler: str, files: dict[str, str],
           executable: tuple[str, ...] = (), env: dict[str, str] | None = None,
           timeout: int = 10) -> None:
    client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                           Code={"ZipFile": package(files, executable)}, Timeout=timeout,
                           Environment={"Variables": env or {}})


def invoke(client, name: str, event: object, qualifier: str | None = None):
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(),
                             LogType="Tail", **kwargs)
    payload = json.loads(response["Payload"].read())
    logs = base64.b64decode(response["LogResult"]).decode()
    return response, payload, logs


def test_provided_bootstrap_gets_the_runtime_api_headers_and_reserved_variables(client, fn_name):
    """AWS: next's headers carry request id, Unix-ms deadline, ARN and trace id; the reserved
    variables (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT...) are set."""
    create(client, fn_name, "provided.al2023", "my.handler", {"bootstrap": BOOTSTRAP},
           ("bootstrap",), timeout=7)
    response, payload, logs = invoke(client, fn_name, {"n": 1})
    assert "FunctionError" not in response
    assert payload["event"] == {"n": 1}
    headers = {k.lower(): v for k, v in payload["headers"].items()}
    request_id = headers["lambda-runtime-aws-request-id"]
    assert f"START RequestId: {request_id} Version: $LATEST" in logs
    assert f"REPORT RequestId: {request_id}\t" in logs
    assert response["ResponseMetadata"]["RequestId"] == request_id
    left_ms = int(headers["lambda-runtime-deadline-ms"]) - payload["now_ms"]
    assert 0 < left_ms <= 7000
    assert headers["lambda-runtime-invoked-function-arn"].endswith(f":function:{fn_name}")
    assert headers["lambda-runtime-trace-id"].startswith("Root=1-")
    assert "lambda-runtime-client-context" not in headers
    env = payload["env"]
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["_HANDLER"] == "my.handler"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == fn_name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{fn_name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].endswith("]" + env["AWS_LAMBDA_LOG_STREAM_NAME"][-32:])
    assert env["AWS_REGION"] == "us-east-1" and env["TZ"] == ":UTC"
    assert env["LAMBDA_TASK_ROOT"]
    assert "AWS_EXECUTION_ENV" not in env  # AWS sets none for custom runtimes
    assert "bootstrap ready" in logs and f"handling {request_id}" in logs
    # Warm: the same environment (process) serves the next invocation.
    _, again, _ = invoke(client, fn_name, {"n": 2})
    assert again["pid"] == payload["pid"]


def test_provided_invocation_error_is_unhandled_with_the_posted_error_object(client, fn_name):
    """AWS: POST invocation/{id}/error → FunctionError Unhandled, the error object as payload."""
    create(client, fn_name, "provided.al2023", "x", {"bootstrap": BOOTSTRAP}, ("bootstrap",))
    response, payload, logs = invoke(client, fn_name, {"fail": True})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "bad event"
    assert payload["stackTrace"]
    assert "Traceback (most recent call last)" in logs and "ValueError: bad event" in logs
    # The environment stays warm after a handled invocation error.
    ok, body, _ = invoke(client, fn_name, {"n": 3})
    assert "FunctionError" not in ok and body["event"] == {"n": 3}


def test_provided_init_error_gives_its_error_and_the_environment_is_not_kept(client, emulator,
                                                                           fn_name):
    """AWS: POST init/error → the caller gets the runtime's error; init runs again next time."""
    create(client, fn_name, "provided.al2023", "x", {"bootstrap": BOOTSTRAP}, ("bootstrap",),
           env={"MODE": "init-error"})
    for _ in range(2):
        response, payload, logs = invoke(client, fn_name, {})
        assert response["FunctionError"] == "Unhandled"
        assert payload["errorType"] == "Custom.InitFailed"
        assert payload["errorMessage"] == "no config"
        assert "init failing" in logs and "Status: error" in logs
    stats = httpx.get(emulator.endpoint + "/_lambdashift/runtime", timeout=30).json()
    assert not [p for p in stats["pools"] if p["function"] == fn_name and p["idle"]]


def test_provided_process_exiting_before_next_is_runtime_exit_error(client, fn_name):
    """AWS: a runtime that exits during init → Runtime.ExitError with its exit status."""
    create(client, fn_name, "provided.al2023", "x", {"bootstrap": BOOTSTRAP}, ("bootstrap",),
           env={"MODE": "exit"})
    response, payload, _ = invoke(client, fn_name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in payload["errorMessage"]


def test_provided_process_exiting_mid_invocation_is_exit_error_and_replaced(client, fn_name):
    """AWS: the runtime exiting during an invocation → Runtime.ExitError; a new environment
    serves the next invocation."""
    create(client, fn_name, "provided.al2023", "x", {"bootstrap": BOOTSTRAP}, ("bootstrap",))
    _, before, _ = invoke(client, fn_name, {})
    response, payload, logs = invoke(client, fn_name, {"exit": 2})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ExitError"
    assert "exit status 2" in payload["errorMessage"] and "Runtime.ExitError" in logs
    _, after, _ = invoke(client, fn_name, {})
    assert after["pid"] != before["pid"]


def test_provided_without_bootstrap_is_runtime_invalid_entrypoint(client, fn_name):
    """AWS: no executable bootstrap at the package root → Runtime.InvalidEntrypoint."""
    create(client, fn_name, "provided.al2", "x", {"main.sh": "#!/bin/sh\n"})
    response, payload, _ = invoke(client, fn_name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"
    assert "bootstrap" in payload["errorMessage"]
    client.update_function_code(FunctionName=fn_name,
                                ZipFile=package({"bootstrap": BOOTSTRAP}))  # not executable
    client.get_waiter("function_updated_v2").wait(FunctionName=fn_name,
                                                  WaiterConfig={"Delay": 0.1})
    response, payload, _ = invoke(client, fn_name, {})
    assert payload["errorType"] == "Runtime.InvalidEntrypoint"
    assert "permission denied" in payload["errorMessage"]


def test_provided_timeout_ends_the_environment_with_status_timeout(client, fn_name):
    """AWS: a timeout stops the environment; REPORT says Status: timeout; a new one serves next."""
    create(client, fn_name, "provided.al2023", "x", {"bootstrap": BOOTSTRAP}, ("bootstrap",),
           timeout=1)
    _, first, _ = invoke(client, fn_name, {})
    response, payload, logs = invoke(client, fn_name, {"sleep": 5})
    assert response["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    assert "Status: timeout" in logs
    _, after, _ = invoke(client, fn_name, {})
    assert after["pid"] != first["pid"]


def test_awslambdaric_runs_a_python_handler_unchanged_as_a_provided_bootstrap(client, fn_name):
    """AWS's own runtime interface client (PyPI awslambdaric) speaks our Runtime API."""
    pytest.importorskip("awslambdaric")
    bootstrap = f'#!/bin/sh\nexec {sys.executable} -m awslambdaric "$_HANDLER"\n'
    failing = "def handler(event, context):\n    raise KeyError('missing')\n"
    create(client, fn_name, "provided.al2023", "index.handler",
           {"bootstrap": bootstrap, "index.py": ECHO_HANDLER, "bad.py": failing},
           ("bootstrap",), env={"RELEASE": "ric", "PYTHONPATH": ""})
    response, payload, logs = invoke(client, fn_name, {"hello": "ric"})
    assert "FunctionError" not in response, payload
    assert payload["event"] == {"hello": "ric"}
    assert payload["function_name"] == fn_name and payload["release"] == "ric"
    assert payload["aws_request_id"] == response["ResponseMetadata"]["RequestId"]
    assert 0 < payload["remaining_ms"] <= 10000
    client.update_function_configuration(FunctionName=fn_name, Handler="bad.handler")
    client.get_waiter("function_updated_v2").wait(FunctionName=fn_name,
                                                  WaiterConfig={"Delay": 0.1})
    response, payload, logs = invoke(client, fn_name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "KeyError"


@needs_node
@pytest.mark.parametrize("file,source,style", [
    ("index.js", NODE_CJS_ASYNC, "cjs-async"),
    ("index.cjs", NODE_CJS_CALLBACK, "cjs-callback"),
    ("index.mjs", NODE_ESM_ASYNC, "esm-async"),
    ("index.mjs", NODE_ESM_CALLBACK, "esm-callback"),
])
def test_node_handlers_commonjs_and_esm_async_and_callback(client, fn_name, file, source, style):
    create(client, fn_name, "nodejs20.x", "index.handler", {file: source})
    response, payload, logs = invoke(client, fn_name, {"k": style})
    assert "FunctionError" not in response, payload
    assert payload["style"] == style and payload["event"] == {"k": style}
    if style == "cjs-async":
        assert payload["requestId"] == response["ResponseMetadata"]["RequestId"]
        assert payload["version"] == "$LATEST"
        assert 0 < payload["remaining"] <= 10000
        assert f"\t{payload['requestId']}\tINFO\tcjs async" in logs


@needs_node
def test_node_unhandled_error_has_aws_shape_and_stack_in_logs(client, fn_name):
    """AWS's Node.js runtime: {errorType, errorMessage, trace}; the stack is logged."""
    create(client, fn_name, "nodejs22.x", "index.handler", {"index.js": NODE_THROWS})
    response, payload, logs = invoke(client, fn_name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "TypeError" and payload["errorMessage"] == "no such note"
    assert payload["trace"][0] == "TypeError: no such note"
    assert "Invoke Error" in logs and "at exports.handler" in logs.replace("Runtime.", "")


@needs_node
def test_node_missing_export_is_an_init_error_handler_not_found(client, fn_name):
    create(client, fn_name, "nodejs20.x", "index.nothere", {"index.js": NODE_CJS_ASYNC})
    response, payload, logs = invoke(client, fn_name, {})
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.HandlerNotFound"
    assert "index.nothere is undefined or not exported" in payload["errorMessage"]
    assert "Init Error" in logs


def test_node_package_without_the_handler_file_is_refused_at_create(client, fn_name):
    with pytest.raises(ClientError) as exc:
        create(client, fn_name, "nodejs20.x", "app.handler", {"index.js": NODE_ESM_ASYNC})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "app.js" in exc.value.response["Error"]["Message"]


@pytest.mark.parametrize("runtime", ["java21", "dotnet8"])
def test_runtime_the_machine_cannot_run_is_created_and_invoke_says_what_to_do(
        client, fn_name, runtime):
    """AWS accepts the runtime at CreateFunction; the emulator cannot run it and says so."""
    create(client, fn_name, runtime, "example.Handler::handleRequest", {"x.txt": "x"})
    assert client.get_function(FunctionName=fn_name)["Configuration"]["Runtime"] == runtime
    with pytest.raises(ClientError) as exc:
        client.invoke(FunctionName=fn_name, Payload=b"{}")
    error = exc.value.response["Error"]
    assert error["Code"] == "InvalidRuntimeException"
    assert runtime in error["Message"] and "local: false" in error["Message"]


def test_unknown_and_retired_runtimes_are_refused_as_aws_does(client, fn_name):
    for runtime, code in (("nodejs12.x", "InvalidParameterValueException"),
                          ("cobol85", "ValidationException")):
        with pytest.raises(ClientError) as exc:
            create(client, fn_name, runtime, "index.handler", {"index.py": ""})
        assert exc.value.response["Error"]["Code"] == code


def test_node_without_node_on_path_is_refused_at_invoke(tmp_path):
    """No `node` on the emulator's PATH: Invoke names the runtime and what to install."""
    from lambdashift.emulator.runtime import catalog

    assert catalog.missing("nodejs20.x", search_path=str(tmp_path)) is not None
    assert "install Node.js 20" in catalog.missing("nodejs20.x", search_path=str(tmp_path))
    assert catalog.missing("provided.al2023", search_path=str(tmp_path)) is None


NODE_SLOW = """
exports.handler = async (event, context) => {
  await new Promise((resolve) => setTimeout(resolve, event.ms || 0));
  return {version: context.functionVersion, release: process.env.RELEASE};
};
"""


@needs_node
def test_node_versions_and_reserved_concurrency_behave_as_for_python(client, fn_name):
    """Versions are immutable snapshots, and over the reserved concurrency Invoke is a 429,
    whatever the runtime (AWS: TooManyRequestsException, ReservedFunctionConcurrent...)."""
    import concurrent.futures

    create(client, fn_name, "nodejs20.x", "index.handler", {"index.js": NODE_SLOW},
           env={"RELEASE": "one"})
    first = client.publish_version(FunctionName=fn_name)["Version"]
    client.get_waiter("function_updated_v2").wait(FunctionName=fn_name,
                                                  WaiterConfig={"Delay": 0.1})
    client.update_function_configuration(FunctionName=fn_name,
                                         Environment={"Variables": {"RELEASE": "two"}})
    client.get_waiter("function_updated_v2").wait(FunctionName=fn_name,
                                                  WaiterConfig={"Delay": 0.1})
    second = client.publish_version(FunctionName=fn_name)["Version"]
    assert invoke(client, fn_name, {}, first)[1] == {"version": first, "release": "one"}
    assert invoke(client, fn_name, {}, second)[1] == {"version": second, "release": "two"}
    client.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=1)

    def slow():
        while True:  # our own quick invocations below may hold the one slot for a moment
            try:
                return invoke(client, fn_name, {"ms": 3000}, first)[1]
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TooManyRequestsException":
                    raise

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(slow)
        # Until the slow invocation is in flight (a condition, not a clock): then throttled.
        error = None
        while error is None and not running.done():
            try:
                client.invoke(FunctionName=fn_name, Qualifier=second, Payload=b"{}")
            except ClientError as exc:
                error = exc.response["Error"]
        assert error is not None, "no invocation was throttled while one was in flight"
        assert error["Code"] == "TooManyRequestsException"
        assert running.result()["release"] == "one"


def test_client_context_reaches_the_runtime_as_one_json_header(client, fn_name):
    """AWS: Lambda-Runtime-Client-Context carries the caller's client context (JSON); a
    newline in it cannot split the header."""
    create(client, fn_name, "provided.al2023", "x", {"bootstrap": BOOTSTRAP}, ("bootstrap",))
    context = {"custom": {"note": "line one\r\nX-Injected: yes"}, "env": {"locale": "fr"}}
    raw = base64.b64encode(json.dumps(context, indent=2).encode()).decode()
    response = client.invoke(FunctionName=fn_name, Payload=b"{}", ClientContext=raw)
    headers = {k.lower(): v for k, v in json.loads(response["Payload"].read())["headers"].items()}
    assert json.loads(headers["lambda-runtime-client-context"]) == context
    assert "x-injected" not in headers
