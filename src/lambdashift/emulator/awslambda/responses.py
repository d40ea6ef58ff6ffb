"""How the emulator's AWS APIs speak HTTP: JSON bodies in and out, errors as AWS sends them.

Shared by the Lambda API (``api.py``) and the services mounted on its port (the Scheduler
subset): every answer carries ``x-amzn-RequestId``; every error leaves with its HTTP
status, ``x-amzn-ErrorType`` and a JSON ``Message``, never as a traceback.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lambdashift.emulator.errors import (
    InvalidRequestContentException,
    LambdaApiError,
    ServiceException,
)

Handler = Callable[[Request], Awaitable[Response]]


def json_response(body: Any, status: int = 200, request_id: str = "", **headers: str) -> Response:
    """A JSON answer carrying the request id."""
    return Response(
        json.dumps(body).encode(), status_code=status, media_type="application/json",
        headers={"x-amzn-RequestId": request_id, **headers},
    )


def error_response(err: LambdaApiError, request_id: str) -> Response:
    """An error as AWS sends it: its status, ``x-amzn-ErrorType`` and body."""
    return json_response(err.to_body(), err.status, request_id,
                         **{"x-amzn-ErrorType": err.error_type})


async def read_body(request: Request) -> dict[str, Any]:
    """The request's JSON object ({} when empty); anything else is AWS's 400."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequestContentException("Could not parse request body into json: expected an object")
    return body


def aws_endpoint(fn: Callable[[Request, str], Awaitable[Response]], *,
                 before: Callable[[], None] | None = None) -> Handler:
    """A route handler: a new request id, ``before`` first (the control-plane limiter), and
    every error answered as AWS does (anything unexpected as a ``ServiceException``)."""
    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            if before is not None:
                before()
            return await fn(request, request_id)
        except LambdaApiError as err:
            return error_response(err, request_id)
        except Exception as exc:  # the server must stay up and say what failed
            return error_response(ServiceException(f"Internal error in the emulator: {exc!r}"),
                                  request_id)
    return endpoint
