"""One warm execution environment: runs a Python Lambda handler for invocations sent by the runtime.

Started by :mod:`lambdashift.emulator.runtime.worker_process` as
``python -P -m lambdashift.emulator.runtime.python_worker`` with cwd = the function's code
dir, the function's environment (``_HANDLER`` names the handler) and:

- fd 0 / fd 1: the protocol pipes from / to the runtime;
- fd 2: the environment's log file, opened ``O_APPEND`` by the runtime, which reads it back
  itself if this process dies mid-invocation.

Protocol: frames of a 4-byte big-endian length followed by UTF-8 JSON.

1. After importing the handler module (the init phase) the worker sends
   ``{"init_error": null | <AWS error payload>, "init_logs": str}``.
2. Then, for each invocation, the runtime sends
   ``{"id", "arn", "payload": base64, "deadline": a time.monotonic() value, "cc": str | null}``
   and the worker answers
   ``{"payload": base64, "error": null | "Unhandled", "logs": str, "duration_ms", "max_rss_mb"}``.
3. EOF on the request pipe ends the worker.

Before any user code runs the protocol fds are moved aside (duplicates, close-on-exec), fd 0 becomes
/dev/null and fd 1 joins fd 2 on the log file: whatever the handler prints, from Python or from C,
lands in the invocation's logs and never in the protocol.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import importlib
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback
TYPE_CHECKING = False
if TYPE_CHECKING:  # importing typing would cost every cold start a few ms
    from typing import Any, Callable

    Handler = Callable[[Any, "LambdaContext"], Any]

#: Frame header: the length of the JSON body that follows.
HEADER = struct.Struct(">I")

_LOG_FD = 2
_MAX_RESPONSE_BYTES = 6291556  # AWS's limit on a synchronous invocation's response
_MAX_LOG_BYTES = 1 << 20  # an invocation's logs beyond this keep only their end


class Fault(Exception):
    """An error of the runtime rather than of the handler's code, with AWS's ``Runtime.*`` type."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def error_payload(message: str, error_type: str, request_id: str,
                  stack_trace: list[str]) -> dict[str, Any]:
    """The payload AWS's Python runtime returns for an error."""
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id,
            "stackTrace": stack_trace}


def _stack_trace(exc: BaseException) -> list[str]:
    """Formatted frames of ``exc`` without this module's own frames, as AWS's runtime lists them."""
    frames = traceback.extract_tb(exc.__traceback__)
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    # Tuples, not FrameSummary objects: AWS's list carries no column carets.
    return traceback.format_list([(f.filename, f.lineno, f.name, f.line) for f in frames])


def _exception_payload(exc: BaseException, request_id: str) -> dict[str, Any]:
    if isinstance(exc, Fault):
        return error_payload(exc.message, exc.error_type, request_id, [])
    return error_payload(str(exc), type(exc).__name__, request_id, _stack_trace(exc))


def _error_log(payload: dict[str, Any]) -> str:
    """The ``[ERROR]`` record AWS's runtime writes to the logs for a failed init or invocation."""
    lines = [f"[ERROR] {payload['errorType']}: {payload['errorMessage']}",
             "Traceback (most recent call last):"]
    for element in payload["stackTrace"]:
        lines.extend(element.splitlines())
    return "\n".join(lines) + "\n"


class _Client:
    """``context.client_context.client``: the mobile app that invoked the function."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    """``context.client_context``, parsed from the caller's ``X-Amz-Client-Context``."""

    def __init__(self, data: dict[str, Any]) -> None:
        client = data.get("client")
        self.client = _Client(client) if isinstance(client, dict) else None
        self.custom = data.get("custom")
        self.env = data.get("env")


def parse_client_context(raw: str | None) -> ClientContext | None:
    """The header is base64 of a JSON object; plain JSON is accepted too. Garbage gives None."""
    if not raw:
        return None
    for decode in (lambda s: base64.b64decode(s, validate=True), lambda s: s):
        try:
            data = json.loads(decode(raw))
        except (ValueError, binascii.Error):
            continue
        if isinstance(data, dict):
            return ClientContext(data)
    return None


class LambdaContext:
    """The ``context`` argument handed to the handler, with the attributes AWS's runtime gives."""

    def __init__(self, *, request_id: str, invoked_function_arn: str, deadline: float,
                 client_context: ClientContext | None) -> None:
        env = _ENVIRONMENT
        self.function_name = env["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = env["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = int(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.log_group_name = env["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = env["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.invoked_function_arn = invoked_function_arn
        self.aws_request_id = request_id
        self.client_context = client_context
        self.identity = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the runtime stops this invocation."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def log(self, message: str) -> None:
        """Write to the invocation's logs, like AWS's ``context.log``."""
        sys.stdout.write(message)
        sys.stdout.flush()

    def __repr__(self) -> str:
        return (f"LambdaContext(function_name={self.function_name!r}, "
                f"function_version={self.function_version!r}, "
                f"aws_request_id={self.aws_request_id!r})")


# Read once: the handler may change os.environ, the context must not change with it.
_ENVIRONMENT: dict[str, str] = {}
_current_request_id = ""


class _RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the invocation running, as AWS's runtime does."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


def _install_logging() -> None:
    # AWS's runtime puts one handler on the root logger (so basicConfig() is a no-op in a
    # handler, a well-known surprise that we keep) and leaves the level at WARNING.
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


class _Channel:
    """The protocol: blocking reads and writes of length-prefixed JSON frames on raw fds."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd

    def _read_exactly(self, size: int) -> bytes | None:
        chunks = []
        while size:
            chunk = os.read(self._read_fd, min(size, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def receive(self) -> dict[str, Any] | None:
        """The next request, or None once the runtime has closed the pipe."""
        head = self._read_exactly(HEADER.size)
        if head is None:
            return None
        body = self._read_exactly(HEADER.unpack(head)[0])
        return None if body is None else json.loads(body)

    def send(self, message: dict[str, Any]) -> None:
        """Write one frame, whole."""
        body = json.dumps(message, separators=(",", ":")).encode()
        view = memoryview(HEADER.pack(len(body)) + body)
        while view:
            view = view[os.write(self._write_fd, view):]


def _take_logs() -> str:
    """Everything written to the log file since the last call; empties the file."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # a handler may have swapped in a broken stream: its output is lost
            pass
    size = os.fstat(_LOG_FD).st_size
    if not size:
        return ""
    start = max(0, size - _MAX_LOG_BYTES)
    data = os.pread(_LOG_FD, size - start, start)
    os.ftruncate(_LOG_FD, 0)  # O_APPEND: the next write starts at offset 0 again
    return data.decode("utf-8", "replace")


def _redirect_stdio() -> _Channel:
    """Move the protocol off fds 0/1 so that nothing the handler does can reach it."""
    channel = _Channel(os.dup(0), os.dup(1))  # os.dup: close-on-exec, not inherited
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(_LOG_FD, 1)
    for stream in (sys.stdout, sys.stderr):
        # AWS's runtime flushes every write; line buffering is close and much cheaper.
        stream.reconfigure(encoding="utf-8", errors="backslashreplace", line_buffering=True)
    return channel


def _load_handler(spec: str) -> Handler:
    """Import the handler's module (the init phase), with the errors AWS's runtime raises."""
    try:
        module_name, attribute = spec.rsplit(".", 1)
    except ValueError as exc:
        raise Fault("Runtime.MalformedHandlerName", f"Bad handler '{spec}': {exc}") from None
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Fault("Runtime.BuiltInModuleConflict",
                    f"Cannot use built-in module {module_name} as a handler module")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise Fault("Runtime.ImportModuleError",
                    f"Unable to import module '{module_name}': {exc}") from None
    except SyntaxError as exc:
        raise Fault("Runtime.UserCodeSyntaxError",
                    f"Syntax error in module '{module_name}': {exc}") from None
    handler = getattr(module, attribute, None)
    if handler is None:
        # Not an init failure on AWS: the environment stays warm and each invocation fails.
        fault = Fault("Runtime.HandlerNotFound",
                      f"Handler '{attribute}' missing on module '{module_name}'")

        def missing(event: Any, context: LambdaContext) -> Any:
            raise fault
        return missing
    return handler


def _encode_decimal(value: Any) -> Any:
    # AWS's runtime marshals Decimal (what boto3's DynamoDB resource returns) as a number.
    if isinstance(value, decimal.Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _invoke(handler: Handler, request: dict[str, Any]) -> dict[str, Any]:
    global _current_request_id
    request_id = request["id"]
    _current_request_id = request_id
    context = LambdaContext(request_id=request_id, invoked_function_arn=request["arn"],
                            deadline=request["deadline"],
                            client_context=parse_client_context(request.get("cc")))
    error = None
    started = time.perf_counter()
    try:
        raw = base64.b64decode(request["payload"])
        try:
            event = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise Fault("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from None
        result = handler(event, context)
        try:
            body = json.dumps(result, default=_encode_decimal, ensure_ascii=False).encode()
        except Exception as exc:  # TypeError mostly; also ValueError, OverflowError, recursion
            raise Fault("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None
        if len(body) > _MAX_RESPONSE_BYTES:
            raise Fault("Function.ResponseSizeTooLarge",
                        f"Response payload size exceeded maximum allowed payload size "
                        f"({_MAX_RESPONSE_BYTES} bytes).")
    except Exception as exc:  # SystemExit and KeyboardInterrupt end the process, as on AWS
        failure = _exception_payload(exc, request_id)
        body = json.dumps(failure).encode()
        error = "Unhandled"
    duration_ms = (time.perf_counter() - started) * 1000
    logs = _take_logs()
    if error:
        logs += _error_log(failure)
    return {"payload": base64.b64encode(body).decode(), "error": error, "logs": logs,
            "duration_ms": duration_ms, "max_rss_mb": _max_rss_mb()}


def _max_rss_mb() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak // (1 << 20) if sys.platform == "darwin" else peak // 1024


#: The package this worker is a module of: imported before any function code runs.
_OWN_PACKAGE = "lambdashift"


def _prefer_task_root(task_root: str) -> None:
    """When the code dir holds its own copy of this worker's package (the controller's zip
    is lambdashift), forget ours, so that the function imports its copy, as it would on AWS,
    whose runtime has none. Ours would otherwise win: ``-m`` imported it before the code dir
    reached sys.path. Nothing of it is used past this point (this module runs as __main__)."""
    own = os.path.join(task_root, _OWN_PACKAGE)
    if not (os.path.isdir(own) or os.path.isfile(own + ".py")):
        return
    for name in [n for n in sys.modules if n == _OWN_PACKAGE or n.startswith(_OWN_PACKAGE + ".")]:
        del sys.modules[name]


def main() -> None:
    """Init (import the handler), report, then serve invocations until the runtime hangs up."""
    channel = _redirect_stdio()
    _ENVIRONMENT.update(os.environ)
    # The code dir first, as /var/task is on AWS (``-P`` kept the cwd out of sys.path so far).
    task_root = _ENVIRONMENT.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    _prefer_task_root(task_root)
    _install_logging()
    try:
        handler = _load_handler(_ENVIRONMENT.get("_HANDLER", ""))
    except Exception as exc:
        failure = _exception_payload(exc, "")
        channel.send({"init_error": failure, "init_logs": _take_logs() + _error_log(failure)})
        channel.receive()  # the runtime reports the error and stops this broken environment
        return
    channel.send({"init_error": None, "init_logs": _take_logs()})
    while (request := channel.receive()) is not None:
        channel.send(_invoke(handler, request))


if __name__ == "__main__":
    main()
