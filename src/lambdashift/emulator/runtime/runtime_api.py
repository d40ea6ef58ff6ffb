"""The Lambda Runtime API (version 2018-06-01), served to one execution environment.

On AWS each execution environment sees its own Runtime API at ``AWS_LAMBDA_RUNTIME_API``
(``127.0.0.1:9001``); here each environment gets a listening socket of its own on
127.0.0.1 with a free port, served by the emulator's event loop. The routes:

- ``GET  /2018-06-01/runtime/invocation/next``: waits for the next invocation; the event is
  the body, the ``Lambda-Runtime-*`` headers carry the request id, deadline, ARN, trace id
  and client context. The first call ends the init phase.
- ``POST /2018-06-01/runtime/invocation/{id}/response``: the invocation's result (202).
- ``POST /2018-06-01/runtime/invocation/{id}/error``: the invocation failed; the body is the
  error object handed to the caller (202).
- ``POST /2018-06-01/runtime/init/error``: init failed (202); the environment is discarded.

What happens on each call is the environment's business (:class:`RuntimeApiHandler`); this
module only speaks HTTP/1.1: keep-alive, ``Content-Length`` or chunked bodies, and bounded
buffers (a runtime cannot make the emulator hold more than :data:`MAX_BODY` bytes).
"""

from __future__ import annotations

import asyncio
import json
from typing import Protocol

__all__ = ["MAX_BODY", "PREFIX", "Reply", "RuntimeApiConnection", "RuntimeApiHandler",
           "error_body"]

PREFIX = "/2018-06-01/runtime/"
#: Bodies beyond this are refused (AWS's response limit is 6 MB; errors are smaller).
MAX_BODY = 7 << 20
_MAX_HEAD = 64 << 10
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 403: "Forbidden",
            404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
            431: "Request Header Fields Too Large", 500: "Internal Server Error"}


def error_body(error_type: str, message: str) -> bytes:
    """The body the Runtime API answers a refused call with."""
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class Reply:
    """The answer to one Runtime API call, sent once, possibly later (``GET next`` waits)."""

    __slots__ = ("_connection", "_close", "sent")

    def __init__(self, connection: RuntimeApiConnection, close: bool) -> None:
        self._connection = connection
        self._close = close
        self.sent = False

    @property
    def open(self) -> bool:
        """False once the runtime has hung up: nothing can be sent any more."""
        return not self._connection.closed

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        """Write the response (once); the connection closes after it if the runtime asked."""
        if self.sent:
            return
        self.sent = True
        self._connection.write(status, body, headers or {}, self._close)


class RuntimeApiHandler(Protocol):
    """What an execution environment does with each Runtime API call."""

    def on_next(self, reply: Reply) -> None:
        """``GET invocation/next``: answer when an invocation is there."""

    def on_response(self, request_id: str, body: bytes, reply: Reply) -> None:
        """``POST invocation/{id}/response``."""

    def on_error(self, request_id: str, body: bytes, error_type: str | None,
                 reply: Reply) -> None:
        """``POST invocation/{id}/error`` with its ``Lambda-Runtime-Function-Error-Type``."""

    def on_init_error(self, body: bytes, error_type: str | None, reply: Reply) -> None:
        """``POST init/error``."""


class RuntimeApiConnection(asyncio.Protocol):
    """One HTTP/1.1 connection from a runtime to its environment's Runtime API."""

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self._handler = handler
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self.closed = True

    def write(self, status: int, body: bytes, headers: dict[str, str], close: bool) -> None:
        """Send one response on this connection."""
        if self.closed or self._transport is None:
            return
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
                f"Content-Length: {len(body)}", "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if close:
            head.append("Connection: close")
        self._transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        if close:
            self._transport.close()
            self.closed = True

    def data_received(self, data: bytes) -> None:  # noqa: D102
        self._buffer += data
        while not self.closed:
            request = self._parse()
            if request is None:
                return
            self._dispatch(*request)

    def _fail(self, status: int, error_type: str, message: str) -> None:
        self.write(status, error_body(error_type, message), {}, True)

    def _parse(self) -> tuple[str, str, dict[str, str], bytes] | None:
        """One whole request off the buffer, or None until more bytes arrive."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_HEAD:
                self._fail(431, "InvalidRequest", "request headers too large")
            return None
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            self._fail(400, "InvalidRequest", "malformed request line")
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            decoded = self._chunked(start)
            if decoded is None:
                return None
            body, consumed = decoded
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._fail(400, "InvalidRequest", "bad Content-Length")
                return None
            if length > MAX_BODY:
                self._fail(413, "RequestEntityTooLarge", f"body over {MAX_BODY} bytes")
                return None
            if len(self._buffer) < start + length:
                return None
            body, consumed = bytes(self._buffer[start:start + length]), start + length
        del self._buffer[:consumed]
        if parts[2] == "HTTP/1.0":
            close = headers.get("connection", "").lower() != "keep-alive"
        else:
            close = headers.get("connection", "").lower() == "close"
        headers["_close"] = "1" if close else ""
        return parts[0], parts[1], headers, body

    def _chunked(self, start: int) -> tuple[bytes, int] | None:
        body = bytearray()
        pos = start
        while True:
            line_end = self._buffer.find(b"\r\n", pos)
            if line_end < 0:
                return None
            try:
                size = int(bytes(self._buffer[pos:line_end]).split(b";")[0], 16)
            except ValueError:
                self._fail(400, "InvalidRequest", "bad chunk size")
                return None
            if len(body) + size > MAX_BODY:
                self._fail(413, "RequestEntityTooLarge", f"body over {MAX_BODY} bytes")
                return None
            chunk_start = line_end + 2
            if len(self._buffer) < chunk_start + size + 2:
                return None
            if size == 0:
                # Trailers (rare) end with an empty line like the headers do.
                trailer_end = self._buffer.find(b"\r\n", chunk_start)
                while trailer_end >= 0 and trailer_end != chunk_start:
                    chunk_start = trailer_end + 2
                    trailer_end = self._buffer.find(b"\r\n", chunk_start)
                if trailer_end < 0:
                    return None
                return bytes(body), trailer_end + 2
            body += self._buffer[chunk_start:chunk_start + size]
            pos = chunk_start + size + 2

    def _dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        reply = Reply(self, bool(headers.get("_close")))
        path = target.split("?", 1)[0]
        if not path.startswith(PREFIX):
            reply.send(404, error_body("InvalidRequest", f"no route {method} {path}"))
            return
        route = path[len(PREFIX):]
        error_type = headers.get("lambda-runtime-function-error-type")
        if route == "invocation/next":
            if method != "GET":
                reply.send(405, error_body("InvalidRequest", "use GET"))
            else:
                self._handler.on_next(reply)
            return
        if route == "init/error" and method == "POST":
            self._handler.on_init_error(body, error_type, reply)
            return
        pieces = route.split("/")
        if len(pieces) == 3 and pieces[0] == "invocation" and method == "POST":
            if pieces[2] == "response":
                self._handler.on_response(pieces[1], body, reply)
                return
            if pieces[2] == "error":
                self._handler.on_error(pieces[1], body, error_type, reply)
                return
        reply.send(404, error_body("InvalidRequest", f"no route {method} {path}"))
