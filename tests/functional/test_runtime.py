"""The emulator's runtime with real worker processes: warm pools, AWS's failure shapes, limits."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import textwrap
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
import uvloop

from lambdashift.emulator.runtime.pools import (
    ConcurrencyLimitExceeded,
    FunctionSnapshot,
    InvocationResult,
    Runtime,
)

HANDLERS = '''
import ctypes, decimal, logging, os, subprocess, sys, time

print("init: module imported")


def act(event, context):
    """Does what the event says, then answers with its pid."""
    do = event.get("do")
    print("act", do)
    if do == "raise":
        raise ValueError("boom")
    if do == "exit":
        sys.exit(3)
    if do == "os_exit":
        os._exit(0)
    if do == "segfault":
        ctypes.string_at(0)
    if do == "set":
        return {"values": {1, 2}}
    if do == "huge":
        return "x" * 6_300_000
    if do == "decimal":
        return {"half": decimal.Decimal("0.5"), "three": decimal.Decimal("3")}
    if do == "sleep":
        time.sleep(event["seconds"])
    if do == "child":
        return {"pid": os.getpid(), "child": subprocess.Popen(["sleep", "60"]).pid}
    return {"pid": os.getpid(), "version": context.function_version}


def chatty(event, context):
    tag = event["tag"]
    print("print", tag)
    print("stderr", tag, file=sys.stderr)
    logging.getLogger("app").warning("logged %s", tag)
    # Bytes that look like a protocol frame, straight to fd 1.
    os.write(1, b"\\x00\\x00\\x00\\x05{}{}" + f" fd1 {tag}\\n".encode())
    print("x" * event.get("bulk", 0))
    return {"tag": tag, "pid": os.getpid()}


def gate(event, context):
    """Signals it started, then waits for the test to open its gate file."""
    open(os.path.join(event["dir"], f"started-{os.getpid()}"), "w").close()
    while not os.path.exists(event["gate"]):
        time.sleep(0.005)
    return {"pid": os.getpid()}


def describe(event, context):
    import boto3  # part of AWS's Python runtime

    first = context.get_remaining_time_in_millis()
    time.sleep(0.05)
    cc = context.client_context
    return {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "path0": sys.path[0],
        "boto3": bool(boto3.__version__),
        "env": {k: os.environ.get(k) for k in event["env"]},
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": context.identity,
        "remaining": [first, context.get_remaining_time_in_millis()],
        "client_custom": cc.custom if cc else None,
        "client_app": cc.client.app_title if cc and cc.client else None,
    }
'''

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def write_code(tmp_path: Path, source: str | None = HANDLERS, name: str = "code") -> Path:
    """A code dir with ``index.py`` (none when source is None)."""
    code_dir = tmp_path / name
    code_dir.mkdir()
    if source is not None:
        (code_dir / "index.py").write_text(textwrap.dedent(source))
    return code_dir


def snapshot(code_dir: Path, handler: str = "index.act", *, name: str | None = None,
             version: str = "$LATEST", snapshot_id: str | None = None, timeout: float = 10.0,
             environment: dict[str, str] | None = None) -> FunctionSnapshot:
    name = name or handler.rsplit(".", 1)[-1]
    return FunctionSnapshot(
        function_name=name, version=version, code_dir=code_dir, handler=handler,
        runtime="python3.12", timeout=timeout, memory_size=256,
        environment=environment or {}, code_sha256="sha",
        snapshot_id=snapshot_id or f"{name}:{version}:{code_dir}", region="eu-west-1",
    )


_request_ids = iter(range(1, 1 << 30))


async def call(runtime: Runtime, snap: FunctionSnapshot, event: Any = None, *,
               payload: bytes | None = None, **kwargs: Any) -> InvocationResult:
    if payload is None:
        payload = json.dumps(event if event is not None else {}).encode()
    kwargs.setdefault("request_id", f"req-{next(_request_ids)}")
    kwargs.setdefault("invoked_arn", ARN + snap.function_name)
    return await runtime.invoke(snap, payload, **kwargs)


def answer(result: InvocationResult) -> Any:
    return json.loads(result.payload)


def with_runtime(scenario: Callable[[Runtime], Awaitable[Any]], *, loop: str = "asyncio",
                 **options: Any) -> Any:
    """Run ``scenario`` with a fresh Runtime on a fresh event loop; the runtime is closed after."""
    async def main() -> Any:
        runtime = Runtime(**options)
        try:
            return await scenario(runtime)
        finally:
            await runtime.close()
    factory = uvloop.new_event_loop if loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


def process_state(pid: int) -> str | None:
    """The state letter of a process (Z for a zombie), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # ESRCH: it died while we read
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def our_children() -> set[int]:
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):  # a thread that just ended
            continue
    return pids


async def eventually(check: Callable[[], bool], what: str, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_warm_worker_is_reused_and_init_is_reported_on_the_cold_start_only(
        tmp_path: Path, loop: str) -> None:
    snap = snapshot(write_code(tmp_path))

    async def scenario(rt: Runtime) -> None:
        first = await call(rt, snap)
        second = await call(rt, snap)
        assert first.function_error is None and second.function_error is None
        assert answer(first)["pid"] == answer(second)["pid"]
        assert first.init_duration_ms is not None and first.init_duration_ms > 0
        assert second.init_duration_ms is None
        assert "Init Duration:" in first.logs and "Init Duration:" not in second.logs
        assert first.executed_version == "$LATEST"
        assert rt.stats()["cold_starts"] == 1

    with_runtime(scenario, loop=loop)


def test_each_version_has_its_own_workers(tmp_path: Path) -> None:
    one = snapshot(write_code(tmp_path, name="v1"), name="fn", version="1")
    two = snapshot(write_code(tmp_path, name="v2"), name="fn", version="2")

    async def scenario(rt: Runtime) -> None:
        a = await call(rt, one, invoked_arn=ARN + "fn:live")
        b = await call(rt, two, invoked_arn=ARN + "fn:live")
        again = await call(rt, one)
        assert answer(a)["pid"] != answer(b)["pid"]
        assert answer(again)["pid"] == answer(a)["pid"]
        assert (answer(a)["version"], answer(b)["version"]) == ("1", "2")
        assert (a.executed_version, b.executed_version) == ("1", "2")
        assert b.init_duration_ms is not None and again.init_duration_ms is None
        pools = {p["version"]: p for p in rt.stats()["pools"]}
        assert set(pools) == {"1", "2"} and pools["1"]["idle"] == pools["2"]["idle"] == 1

    with_runtime(scenario)


def test_handler_sees_aws_environment_and_context(tmp_path: Path) -> None:
    code_dir = write_code(tmp_path)
    env = {"SHARED": "function", "FUNCTION_ONLY": "f", "AWS_REGION": "mars-1",
           "_HANDLER": "index.hijack"}
    snap = snapshot(code_dir, "index.describe", name="fn", timeout=3.0, environment=env)
    names = ["SHARED", "FUNCTION_ONLY", "BASE_ONLY", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
             "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",
             "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT",
             "LAMBDA_RUNTIME_DIR", "_HANDLER", "TZ", "AWS_LAMBDA_INITIALIZATION_TYPE"]
    client_context = base64.b64encode(json.dumps(
        {"client": {"app_title": "notes-app"}, "custom": {"k": "v"}}).encode()).decode()

    async def scenario(rt: Runtime) -> None:
        result = await call(rt, snap, {"env": names}, invoked_arn=ARN + "fn:live",
                            request_id="rid-1", client_context=client_context)
        assert result.function_error is None, result.payload
        seen = answer(result)
        later = answer(await call(rt, snap, {"env": []},
                                  deadline_from=time.monotonic() - 1.0))
        return seen, later

    seen, later = with_runtime(scenario, base_env={"SHARED": "base", "BASE_ONLY": "b",
                                                   "PATH": os.environ["PATH"]})
    env_seen = seen["env"]
    assert env_seen["SHARED"] == "function" and env_seen["FUNCTION_ONLY"] == "f"
    assert env_seen["BASE_ONLY"] == "b"
    assert env_seen["AWS_REGION"] == env_seen["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env_seen["_HANDLER"] == "index.describe"
    assert env_seen["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert env_seen["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env_seen["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env_seen["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn"
    assert env_seen["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env_seen["LAMBDA_TASK_ROOT"] == str(code_dir.resolve())
    assert env_seen["LAMBDA_RUNTIME_DIR"]
    assert env_seen["TZ"] == ":UTC"
    assert env_seen["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}",
                        env_seen["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert seen["cwd"] == seen["path0"] == str(code_dir.resolve())
    assert seen["boto3"] is True
    assert seen["function_name"] == "fn" and seen["function_version"] == "$LATEST"
    assert seen["invoked_function_arn"] == ARN + "fn:live"
    assert seen["memory_limit_in_mb"] == 256
    assert seen["aws_request_id"] == "rid-1"
    assert seen["log_group_name"] == "/aws/lambda/fn"
    assert seen["log_stream_name"] == env_seen["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert seen["identity"] is None
    assert seen["client_custom"] == {"k": "v"} and seen["client_app"] == "notes-app"
    first, second = seen["remaining"]
    assert 3000 >= first > second >= first - 3000
    assert later["remaining"][0] <= 2000  # a second of the 3 s was spent before dispatch


def test_a_function_shipping_its_own_lambdashift_runs_that_copy_not_the_workers(
        tmp_path: Path) -> None:
    """The worker is a module of lambdashift, so lambdashift is imported before the handler:
    a function whose code holds lambdashift (the controller's zip) must still run its own
    copy, as it would on AWS where the runtime has no lambdashift. A module found only in the
    code dir, and the handler's file, say which copy ran."""
    code_dir = write_code(tmp_path, source=None)
    package = code_dir / "lambdashift"
    (package / "controller").mkdir(parents=True)
    (package / "__init__.py").write_text("FROM = 'zip'\n")
    (package / "zip_marker.py").write_text("MARK = 'only in the zip'\n")
    (package / "controller" / "__init__.py").write_text("")
    (package / "controller" / "handler.py").write_text(textwrap.dedent("""
        import sys

        import lambdashift
        from lambdashift.zip_marker import MARK


        def handler(event, context):
            return {"file": __file__, "package": lambdashift.FROM, "mark": MARK,
                    "emulator": "lambdashift.emulator" in sys.modules,
                    "request_id": context.aws_request_id,
                    "remaining": context.get_remaining_time_in_millis()}
    """))
    snap = snapshot(code_dir, "lambdashift.controller.handler.handler", name="controller",
                    timeout=5.0)

    async def scenario(rt: Runtime) -> Any:
        return await call(rt, snap, {}, request_id="rid-zip")

    result = with_runtime(scenario)
    assert result.function_error is None, result.payload
    seen = answer(result)
    assert seen["file"] == str(code_dir.resolve() / "lambdashift" / "controller" / "handler.py")
    assert seen["package"] == "zip" and seen["mark"] == "only in the zip"
    assert seen["emulator"] is False  # the worker's own lambdashift was forgotten
    assert seen["request_id"] == "rid-zip" and 0 < seen["remaining"] <= 5000


def test_our_own_environment_does_not_leak_into_functions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDASHIFT_TEST_SECRET", "s3cr3t")
    snap = snapshot(write_code(tmp_path), "index.describe")

    async def scenario(rt: Runtime) -> Any:
        return answer(await call(rt, snap, {"env": ["LAMBDASHIFT_TEST_SECRET", "PATH"]}))

    seen = with_runtime(scenario)
    assert seen["env"] == {"LAMBDASHIFT_TEST_SECRET": None, "PATH": os.environ["PATH"]}


def test_logs_come_back_with_their_own_invocation(tmp_path: Path) -> None:
    snap = snapshot(write_code(tmp_path), "index.chatty")

    async def scenario(rt: Runtime) -> None:
        first = await call(rt, snap, {"tag": "one", "bulk": 300_000}, request_id="r-one")
        second = await call(rt, snap, {"tag": "two"}, request_id="r-two")
        assert answer(first) == {"tag": "one", "pid": answer(second)["pid"]}
        assert answer(second)["tag"] == "two"
        # Init output comes first, before START, on the cold start only.
        assert first.logs.startswith("init: module imported\nSTART RequestId: r-one")
        assert "init: module imported" not in second.logs
        for text in ("print one", "stderr one", "fd1 one", "x" * 300_000):
            assert text in first.logs
        assert re.search(r"\[WARNING\]\t\S+Z\tr-one\tlogged one", first.logs)
        for text in ("print one", "stderr one", "fd1 one", "logged one", "xxx"):
            assert text not in second.logs
        assert "print two" in second.logs and "fd1 two" in second.logs
        assert second.logs.startswith("START RequestId: r-two Version: $LATEST\n")
        assert re.search(r"END RequestId: r-two\nREPORT RequestId: r-two\tDuration: [\d.]+ ms\t"
                         r"Billed Duration: \d+ ms\tMemory Size: 256 MB\tMax Memory Used: "
                         r"\d+ MB\t\n$", second.logs)

    with_runtime(scenario)


def test_handler_exception_fails_that_invocation_only(tmp_path: Path) -> None:
    snap = snapshot(write_code(tmp_path))

    async def scenario(rt: Runtime) -> None:
        failed = await call(rt, snap, {"do": "raise"}, request_id="r-fail")
        assert failed.function_error == "Unhandled"
        error = answer(failed)
        assert (error["errorType"], error["errorMessage"], error["requestId"]) == (
            "ValueError", "boom", "r-fail")
        assert "index.py" in error["stackTrace"][0] and "in act" in error["stackTrace"][0]
        assert not any("worker.py" in line for line in error["stackTrace"])
        assert "[ERROR] ValueError: boom" in failed.logs
        after = await call(rt, snap)
        assert after.function_error is None and after.init_duration_ms is None

    with_runtime(scenario)


def test_aws_resets_an_environment_only_after_a_crash_or_timeout_never_after_a_handler_error(
        tmp_path: Path) -> None:
    """AWS's lifecycle docs, "Failures during the invoke phase": "If the Lambda function crashes
    or times out during the Invoke phase, Lambda resets the execution environment." An error
    the handler raises is caught by the runtime and reported (the process lives on), so the
    same warm environment serves the next request: no new cold start, the same process. An
    init error is a failed Init: the next invocation initialises again (covered above)."""
    snap = snapshot(write_code(tmp_path), timeout=0.5)

    async def scenario(rt: Runtime) -> None:
        pid = answer(await call(rt, snap))["pid"]
        for event in ({"do": "raise"}, {"do": "set"}, {"do": "huge"}):  # handled by the runtime
            failed = await call(rt, snap, event)
            assert failed.function_error == "Unhandled" and failed.init_duration_ms is None
        again = await call(rt, snap)
        assert answer(again)["pid"] == pid and rt.stats()["cold_starts"] == 1
        for event in ({"do": "exit"}, {"do": "sleep", "seconds": 5}):  # a crash, a timeout
            await call(rt, snap, event)
            after = await call(rt, snap)
            assert after.init_duration_ms is not None and answer(after)["pid"] != pid
            pid = answer(after)["pid"]
        assert rt.stats()["cold_starts"] == 3

    with_runtime(scenario)


def test_runtime_stats_say_each_functions_concurrency_limit(tmp_path: Path) -> None:
    """What the pre-warm leaves room under on the local stack (``/_lambdashift/runtime``)."""
    snap = snapshot(write_code(tmp_path), name="limited")

    async def scenario(rt: Runtime) -> None:
        await call(rt, snap)
        assert rt.stats()["limits"] == {"limited": 3}

    with_runtime(scenario, concurrency_limit=lambda name: 3)


@pytest.mark.parametrize(("do", "reason"), [
    ("exit", "Runtime exited with error: exit status 3"),
    ("os_exit", "Runtime exited without providing a reason"),
    ("segfault", "Runtime exited with error: signal: segmentation fault"),
])
def test_dead_worker_fails_one_invocation_and_is_replaced(
        tmp_path: Path, do: str, reason: str) -> None:
    snap = snapshot(write_code(tmp_path))

    async def scenario(rt: Runtime) -> None:
        before = answer(await call(rt, snap))["pid"]
        died = await call(rt, snap, {"do": do}, request_id="r-dies")
        assert died.function_error == "Unhandled"
        assert answer(died) == {"errorType": "Runtime.ExitError",
                                "errorMessage": f"RequestId: r-dies Error: {reason}"}
        assert f"act {do}" in died.logs  # what it printed before dying is kept
        assert process_state(before) is None  # reaped
        after = await call(rt, snap)
        assert after.function_error is None and after.init_duration_ms is not None
        assert answer(after)["pid"] != before

    with_runtime(scenario)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_timeout_kills_the_worker_and_reports_aws_text(tmp_path: Path, loop: str) -> None:
    snap = snapshot(write_code(tmp_path), timeout=0.5)

    async def scenario(rt: Runtime) -> None:
        pid = answer(await call(rt, snap))["pid"]
        result = await call(rt, snap, {"do": "sleep", "seconds": 60}, request_id="r-slow")
        assert result.function_error == "Unhandled"
        message = answer(result)["errorMessage"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z r-slow "
                            r"Task timed out after 0\.50 seconds", message)
        assert "act sleep" in result.logs and "Status: timeout" in result.logs
        assert process_state(pid) is None
        after = await call(rt, snap)
        assert after.init_duration_ms is not None and answer(after)["pid"] != pid

    with_runtime(scenario, loop=loop)


def test_unserialisable_result_and_undecodable_payload_fail_without_killing_the_worker(
        tmp_path: Path) -> None:
    snap = snapshot(write_code(tmp_path))

    async def scenario(rt: Runtime) -> None:
        pid = answer(await call(rt, snap))["pid"]
        not_json = await call(rt, snap, {"do": "set"})
        assert not_json.function_error == "Unhandled"
        assert answer(not_json)["errorType"] == "Runtime.MarshalError"
        assert answer(not_json)["errorMessage"] == (
            "Unable to marshal response: Object of type set is not JSON serializable")
        garbage = await call(rt, snap, payload=b"\xff\xfe\x00{not json")
        assert answer(garbage)["errorType"] == "Runtime.UnmarshalError"
        huge = await call(rt, snap, {"do": "huge"})
        assert answer(huge)["errorType"] == "Function.ResponseSizeTooLarge"
        decimals = await call(rt, snap, {"do": "decimal"})
        assert answer(decimals) == {"half": 0.5, "three": 3}
        big = {"blob": "é" * 1_000_000}
        echoed = await call(rt, snap, {"do": "nothing", **big})
        assert answer(echoed)["pid"] == pid

    with_runtime(scenario)


@pytest.mark.parametrize(("source", "handler", "error_type", "message"), [
    (None, "index.handler", "Runtime.ImportModuleError",
     "Unable to import module 'index': No module named 'index'"),
    ("import not_installed_anywhere\n", "index.handler", "Runtime.ImportModuleError",
     "Unable to import module 'index': No module named 'not_installed_anywhere'"),
    ("def handler(e, c):\n  return (\n", "index.handler", "Runtime.UserCodeSyntaxError", None),
    ("raise RuntimeError('bad config')\n", "index.handler", "RuntimeError", "bad config"),
    ("x = 1\n", "index", "Runtime.MalformedHandlerName", None),
])
def test_init_errors_are_reported_and_the_broken_worker_is_not_kept(
        tmp_path: Path, source: str | None, handler: str, error_type: str,
        message: str | None) -> None:
    snap = snapshot(write_code(tmp_path, source), handler, name="broken")

    async def scenario(rt: Runtime) -> None:
        for request_id in ("r-1", "r-2"):
            result = await call(rt, snap, request_id=request_id)
            assert result.function_error == "Unhandled"
            assert result.init_duration_ms is not None  # each one tries init again
            error = answer(result)
            assert error["errorType"] == error_type and error["requestId"] == request_id
            if message:
                assert error["errorMessage"] == message
            assert f"[ERROR] {error_type}" in result.logs
        assert rt.stats()["pools"] == [] and rt.stats()["cold_starts"] == 2

    with_runtime(scenario)


def test_missing_handler_fails_each_invocation_but_keeps_the_worker(tmp_path: Path) -> None:
    snap = snapshot(write_code(tmp_path), "index.missing")

    async def scenario(rt: Runtime) -> None:
        for _ in range(2):
            error = answer(await call(rt, snap))
            assert error["errorType"] == "Runtime.HandlerNotFound"
            assert error["errorMessage"] == "Handler 'missing' missing on module 'index'"
        assert rt.stats()["cold_starts"] == 1

    with_runtime(scenario)


def test_concurrency_limit_per_function_and_concurrent_workers(tmp_path: Path) -> None:
    code_dir = write_code(tmp_path)
    v1 = snapshot(code_dir, "index.gate", name="fn", version="1")
    v2 = snapshot(code_dir, "index.gate", name="fn", version="2")
    other = snapshot(code_dir, "index.act", name="other")
    gate = tmp_path / "gate"
    event = {"dir": str(tmp_path), "gate": str(gate)}

    def started() -> set[str]:
        return {p.name for p in tmp_path.glob("started-*")}

    async def scenario(rt: Runtime) -> None:
        running = [asyncio.ensure_future(call(rt, snap, event)) for snap in (v1, v1, v2)]
        await eventually(lambda: len(started()) == 3, "three handlers running at once")
        assert rt.stats()["in_flight"] == {"fn": 3}
        for snap in (v1, v2):  # the limit counts the function's versions together
            with pytest.raises(ConcurrencyLimitExceeded):
                await call(rt, snap, event)
        assert (await call(rt, other)).function_error is None  # other functions unaffected
        gate.touch()
        results = await asyncio.gather(*running)
        pids = [answer(r)["pid"] for r in results]
        assert len(set(pids)) == 3 and {f"started-{p}" for p in pids} == started()
        assert [r.executed_version for r in results] == ["1", "1", "2"]
        assert rt.stats()["in_flight"] == {}
        assert (await call(rt, v1, event)).function_error is None  # room again

    with_runtime(scenario, concurrency_limit=lambda name: 3 if name == "fn" else 10)


def test_most_recently_used_idle_worker_is_reused_first(tmp_path: Path) -> None:
    snap = snapshot(write_code(tmp_path), "index.gate")
    gates = [tmp_path / "gate-a", tmp_path / "gate-b"]

    async def scenario(rt: Runtime) -> None:
        running = [asyncio.ensure_future(call(rt, snap, {"dir": str(tmp_path), "gate": str(g)}))
                   for g in gates]
        await eventually(lambda: len(list(tmp_path.glob("started-*"))) == 2, "two workers")
        gates[1].touch()
        b = answer(await running[1])["pid"]
        gates[0].touch()
        a = answer(await running[0])["pid"]  # released last: the warmest
        for _ in range(2):
            assert answer(await call(rt, snap, {"dir": str(tmp_path), "gate": str(gates[0])}))[
                "pid"] == a
        assert a != b and rt.stats()["pools"][0]["idle"] == 2

    with_runtime(scenario)


def test_idle_workers_are_reaped(tmp_path: Path) -> None:
    snap = snapshot(write_code(tmp_path))

    async def scenario(rt: Runtime) -> None:
        pid = answer(await call(rt, snap))["pid"]
        await eventually(lambda: rt.stats()["processes"] == 0, "the idle worker to be reaped")
        assert process_state(pid) is None and rt.stats()["pools"] == []
        assert (await call(rt, snap)).init_duration_ms is not None

    with_runtime(scenario, idle_timeout=0.3)


def test_new_latest_snapshot_retires_the_old_workers_and_drop_stops_workers(
        tmp_path: Path) -> None:
    old = snapshot(write_code(tmp_path, name="old"), name="fn", snapshot_id="fn:rev1")
    new = snapshot(write_code(tmp_path, name="new"), name="fn", snapshot_id="fn:rev2")

    async def scenario(rt: Runtime) -> None:
        old_pid = answer(await call(rt, old))["pid"]
        new_pid = answer(await call(rt, new))["pid"]
        assert new_pid != old_pid
        await eventually(lambda: process_state(old_pid) is None, "the old worker to stop")
        assert [p["snapshot_id"] for p in rt.stats()["pools"]] == ["fn:rev2"]
        await rt.drop("fn")
        assert process_state(new_pid) is None and rt.stats()["pools"] == []
        assert (await call(rt, new)).init_duration_ms is not None

    with_runtime(scenario)


def test_cancelled_invocation_kills_its_worker(tmp_path: Path) -> None:
    snap = snapshot(write_code(tmp_path), "index.gate")

    async def scenario(rt: Runtime) -> None:
        task = asyncio.ensure_future(call(rt, snap, {"dir": str(tmp_path),
                                                     "gate": str(tmp_path / "never")}))
        await eventually(lambda: any(tmp_path.glob("started-*")), "the handler to start")
        pid = int(next(tmp_path.glob("started-*")).name.split("-")[1])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert rt.stats()["in_flight"] == {}
        await eventually(lambda: process_state(pid) is None, "the worker to be reaped")

    with_runtime(scenario)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_close_leaves_no_process_behind(tmp_path: Path, loop: str) -> None:
    code_dir = write_code(tmp_path)
    idle = snapshot(code_dir, "index.act", name="idle")
    busy = snapshot(code_dir, "index.gate", name="busy")

    async def scenario(rt: Runtime) -> tuple[set[int], int, InvocationResult]:
        spawner = answer(await call(rt, idle, {"do": "child"}))
        running = asyncio.ensure_future(call(rt, busy, {"dir": str(tmp_path),
                                                        "gate": str(tmp_path / "never")}))
        await eventually(lambda: any(tmp_path.glob("started-*")), "the busy handler")
        pids = {pid for pool in rt.stats()["pools"] for pid in pool["pids"]}
        assert len(pids) == 2 and pids <= our_children()
        await rt.close()
        return pids, spawner["child"], await running

    pids, grandchild, interrupted = with_runtime(scenario, loop=loop)
    assert not pids & our_children()
    assert all(process_state(pid) is None for pid in pids)
    # The handler's own child goes down with its worker's process group (it is not ours to
    # reap: a zombie is fine).
    deadline = time.monotonic() + 15
    while process_state(grandchild) not in (None, "Z"):
        assert time.monotonic() < deadline, "the handler's child survived"
        time.sleep(0.01)
    assert interrupted.function_error == "Unhandled"
    assert answer(interrupted)["errorType"] == "Runtime.ExitError"
