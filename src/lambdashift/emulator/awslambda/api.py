"""The Lambda REST API (2015-03-31) over HTTP: parse the request, call the store, render.

Routes know HTTP and nothing of AWS's rules, which live in ``store.py``. Every error
leaves as AWS does it: status, ``x-amzn-ErrorType`` and a JSON ``Message``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.awslambda.invoker import Invoker
from lambdashift.emulator.awslambda.responses import Handler, aws_endpoint
from lambdashift.emulator.awslambda.responses import json_response as _json
from lambdashift.emulator.awslambda.responses import read_body as _body
from lambdashift.emulator.awslambda.store import LambdaStore
from lambdashift.emulator.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    TooManyRequestsException,
    UnknownOperationException,
)
from lambdashift.emulator.logs import api as logs_api

#: AWS returns the last 4 KB of the logs in X-Amz-Log-Result.
LOG_TAIL_BYTES = 4096


@dataclass(frozen=True)
class Mounted:
    """Another service served on the Lambda API's port (the Scheduler subset): its routes, a
    coroutine run while the server runs (cancelled when it stops), and what closes it then."""

    routes: Sequence[Route]
    run: Callable[[], Coroutine[Any, Any, None]] | None = None
    close: Callable[[], None] | None = None


class ControlPlaneLimiter:
    """A token bucket for control-plane calls (AWS: 15 requests/s per account and region)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._tokens = rate
        self._last = time.monotonic()
        #: Control-plane calls received and refused since start (``/_lambdashift/control-plane``).
        self.calls = 0
        self.throttled = 0

    def take(self) -> None:
        """Spend a token, or refuse the call as AWS does when over the quota."""
        self.calls += 1
        if self.rate <= 0:
            return
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            self.throttled += 1
            raise TooManyRequestsException("Rate exceeded", Reason="CallerRateLimitExceeded")
        self._tokens -= 1


def build_app(store: LambdaStore, invoker: Invoker, *, control_plane_rate: float = 0.0,
              mounted: Sequence[Mounted] = ()) -> Starlette:
    """The ASGI application of the emulated Lambda API, CloudWatch Logs (its own ``POST /``)
    and the ``mounted`` services (the Scheduler subset) on the same port: their paths are
    their own."""
    limiter = ControlPlaneLimiter(control_plane_rate)
    rng = random.Random()

    def op(fn: Callable[[Request, str], Awaitable[Response]], *, control: bool = True) -> Handler:
        return aws_endpoint(fn, before=limiter.take if control else None)

    def name(request: Request) -> str:
        return request.path_params["FunctionName"]

    def q(request: Request, key: str) -> str | None:
        return request.query_params.get(key)

    def max_items(request: Request) -> int | None:
        raw = q(request, "MaxItems")
        if raw is None:
            return None
        if not raw.lstrip("-").isdigit():
            raise InvalidParameterValueException(f"MaxItems must be an integer, got {raw!r}")
        return int(raw)

    async def create_function(r: Request, rid: str) -> Response:
        return _json(store.create_function(await _body(r)), 201, rid)

    async def list_functions(r: Request, rid: str) -> Response:
        version = q(r, "FunctionVersion")
        if version not in (None, "ALL"):
            raise InvalidParameterValueException(f"FunctionVersion must be ALL, got {version!r}")
        return _json(store.list_functions(q(r, "Marker"), max_items(r), version == "ALL"), 200, rid)

    async def get_function(r: Request, rid: str) -> Response:
        code_url = f"{r.url.scheme}://{r.url.netloc}/_lambdashift/code/"
        return _json(store.get_function(name(r), q(r, "Qualifier"), code_url), 200, rid)

    async def delete_function(r: Request, rid: str) -> Response:
        store.delete_function(name(r), q(r, "Qualifier"))
        return Response(status_code=204, headers={"x-amzn-RequestId": rid})

    async def get_configuration(r: Request, rid: str) -> Response:
        return _json(store.get_configuration(name(r), q(r, "Qualifier")), 200, rid)

    async def update_configuration(r: Request, rid: str) -> Response:
        return _json(store.update_configuration(name(r), await _body(r)), 200, rid)

    async def update_code(r: Request, rid: str) -> Response:
        return _json(store.update_code(name(r), await _body(r)), 200, rid)

    async def publish_version(r: Request, rid: str) -> Response:
        return _json(store.publish_version(name(r), await _body(r)), 201, rid)

    async def list_versions(r: Request, rid: str) -> Response:
        return _json(store.list_versions(name(r), q(r, "Marker"), max_items(r)), 200, rid)

    async def create_alias(r: Request, rid: str) -> Response:
        return _json(store.aliases.create_alias(name(r), await _body(r)), 201, rid)

    async def list_aliases(r: Request, rid: str) -> Response:
        result = store.aliases.list_aliases(name(r), q(r, "FunctionVersion"), q(r, "Marker"), max_items(r))
        return _json(result, 200, rid)

    async def get_alias(r: Request, rid: str) -> Response:
        return _json(store.aliases.get_alias(name(r), r.path_params["Name"]), 200, rid)

    async def update_alias(r: Request, rid: str) -> Response:
        return _json(store.aliases.update_alias(name(r), r.path_params["Name"], await _body(r)), 200, rid)

    async def delete_alias(r: Request, rid: str) -> Response:
        store.aliases.delete_alias(name(r), r.path_params["Name"])
        return Response(status_code=204, headers={"x-amzn-RequestId": rid})

    async def put_concurrency(r: Request, rid: str) -> Response:
        body = await _body(r)
        reserved = body.get("ReservedConcurrentExecutions")
        return _json(store.concurrency.put_concurrency(name(r), reserved), 200, rid)

    async def get_concurrency(r: Request, rid: str) -> Response:
        return _json(store.concurrency.get_concurrency(name(r)), 200, rid)

    async def delete_concurrency(r: Request, rid: str) -> Response:
        store.concurrency.delete_concurrency(name(r))
        return Response(status_code=204, headers={"x-amzn-RequestId": rid})

    async def add_permission(r: Request, rid: str) -> Response:
        return _json(store.permissions.add_permission(name(r), q(r, "Qualifier"), await _body(r)), 201, rid)

    async def get_policy(r: Request, rid: str) -> Response:
        return _json(store.permissions.get_policy(name(r), q(r, "Qualifier")), 200, rid)

    async def remove_permission(r: Request, rid: str) -> Response:
        store.permissions.remove_permission(name(r), r.path_params["StatementId"], q(r, "Qualifier"),
                                q(r, "RevisionId"))
        return Response(status_code=204, headers={"x-amzn-RequestId": rid})

    async def put_provisioned(r: Request, rid: str) -> Response:
        return _json(store.concurrency.put_provisioned(name(r), q(r, "Qualifier"), await _body(r)), 202, rid)

    async def get_provisioned(r: Request, rid: str) -> Response:
        return _json(store.concurrency.get_provisioned(name(r), q(r, "Qualifier")), 200, rid)

    async def delete_provisioned(r: Request, rid: str) -> Response:
        store.concurrency.delete_provisioned(name(r), q(r, "Qualifier"))
        return Response(status_code=204, headers={"x-amzn-RequestId": rid})

    async def list_tags(r: Request, rid: str) -> Response:
        return _json(store.list_tags(r.path_params["Resource"]), 200, rid)

    async def tag_resource(r: Request, rid: str) -> Response:
        store.tag_resource(r.path_params["Resource"], await _body(r))
        return Response(status_code=204, headers={"x-amzn-RequestId": rid})

    async def untag_resource(r: Request, rid: str) -> Response:
        store.untag_resource(r.path_params["Resource"], r.query_params.getlist("tagKeys"))
        return Response(status_code=204, headers={"x-amzn-RequestId": rid})

    async def account_settings(r: Request, rid: str) -> Response:
        return _json(invoker.account_settings(), 200, rid)

    async def invoke(r: Request, rid: str) -> Response:
        kind = r.headers.get("x-amz-invocation-type", "RequestResponse")
        payload = v.check_invoke(kind, await r.body())
        target = store.resolve_invoke(name(r), q(r, "Qualifier"), rng.random())
        headers = {"x-amzn-RequestId": rid, "X-Amz-Executed-Version": target.executed_version}
        if kind == "DryRun":
            return Response(status_code=204, headers=headers)
        client_context = r.headers.get("x-amz-client-context")
        if kind == "Event":
            invoker.invoke_later(target, payload, rid, client_context)
            return Response(status_code=202, headers={"x-amzn-RequestId": rid})
        result = await invoker.invoke(target, payload, rid, client_context)
        if result.function_error:
            headers["X-Amz-Function-Error"] = result.function_error
        if r.headers.get("x-amz-log-type") == "Tail":
            tail = result.logs.encode()[-LOG_TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        return Response(result.payload, status_code=200, media_type="application/json",
                        headers=headers)

    # -- lambdashift's own endpoints --------------------------------------------------------

    async def health(r: Request, rid: str) -> Response:
        return _json({"status": "ok", "functions": len(store.names())}, 200, rid)

    async def metrics(r: Request, rid: str) -> Response:
        since, until = float(q(r, "since") or 0), float(q(r, "until") or "inf")
        fn, _ = store.function(name(r))
        return _json(invoker.metrics.summary(fn.name, since, until, q(r, "qualifier")), 200, rid)

    async def metric_records(r: Request, rid: str) -> Response:
        since, until = float(q(r, "since") or 0), float(q(r, "until") or "inf")
        fn, _ = store.function(name(r))
        records = invoker.metrics.records(fn.name, since, until, q(r, "qualifier"))
        return _json({"FunctionName": fn.name, "Records": [rec._asdict() for rec in records]}, 200, rid)

    async def code(r: Request, rid: str) -> Response:
        path = store.code.root / r.path_params["file"]
        if path.parent != store.code.root or path.suffix != ".zip" or not path.is_file():
            raise ResourceNotFoundException(f"No deployment package {r.path_params['file']}")
        return FileResponse(path, media_type="application/zip")

    async def runtime_stats(r: Request, rid: str) -> Response:
        return _json(invoker.runtime.stats(), 200, rid)

    async def cloudwatch_logs(r: Request) -> Response:
        # The CloudWatch Logs API (AWS JSON 1.1) shares the port: only it uses POST /.
        return await logs_api.handle(r, invoker.logs, store.arns.region, store.arns.account_id)

    async def control_plane(r: Request, rid: str) -> Response:
        return _json({"rate": limiter.rate, "calls": limiter.calls,
                      "throttled": limiter.throttled}, 200, rid)

    async def unknown(r: Request, rid: str) -> Response:
        raise UnknownOperationException(f"Unknown operation: {r.method} {r.url.path}")

    fn_path = "/2015-03-31/functions/{FunctionName}"
    routes = [
        Route("/2015-03-31/functions", op(create_function), methods=["POST"]),
        Route("/2015-03-31/functions/", op(create_function), methods=["POST"]),
        Route("/2015-03-31/functions", op(list_functions), methods=["GET"]),
        Route("/2015-03-31/functions/", op(list_functions), methods=["GET"]),
        Route(fn_path, op(get_function, control=False), methods=["GET"]),
        Route(fn_path, op(delete_function), methods=["DELETE"]),
        Route(fn_path + "/configuration", op(get_configuration), methods=["GET"]),
        Route(fn_path + "/configuration", op(update_configuration), methods=["PUT"]),
        Route(fn_path + "/code", op(update_code), methods=["PUT"]),
        Route(fn_path + "/versions", op(publish_version), methods=["POST"]),
        Route(fn_path + "/versions", op(list_versions), methods=["GET"]),
        Route(fn_path + "/aliases", op(create_alias), methods=["POST"]),
        Route(fn_path + "/aliases", op(list_aliases), methods=["GET"]),
        Route(fn_path + "/aliases/{Name}", op(get_alias), methods=["GET"]),
        Route(fn_path + "/aliases/{Name}", op(update_alias), methods=["PUT"]),
        Route(fn_path + "/aliases/{Name}", op(delete_alias), methods=["DELETE"]),
        Route(fn_path + "/invocations", op(invoke, control=False), methods=["POST"]),
        Route(fn_path + "/policy", op(add_permission), methods=["POST"]),
        Route(fn_path + "/policy", op(get_policy, control=False), methods=["GET"]),
        Route(fn_path + "/policy/{StatementId}", op(remove_permission), methods=["DELETE"]),
        Route("/2019-09-30/functions/{FunctionName}/provisioned-concurrency", op(put_provisioned),
              methods=["PUT"]),
        Route("/2019-09-30/functions/{FunctionName}/provisioned-concurrency", op(get_provisioned),
              methods=["GET"]),
        Route("/2019-09-30/functions/{FunctionName}/provisioned-concurrency",
              op(delete_provisioned), methods=["DELETE"]),
        Route("/2017-10-31/functions/{FunctionName}/concurrency", op(put_concurrency), methods=["PUT"]),
        Route("/2017-10-31/functions/{FunctionName}/concurrency", op(delete_concurrency),
              methods=["DELETE"]),
        Route("/2019-09-30/functions/{FunctionName}/concurrency", op(get_concurrency), methods=["GET"]),
        Route("/2017-03-31/tags/{Resource:path}", op(list_tags), methods=["GET"]),
        Route("/2017-03-31/tags/{Resource:path}", op(tag_resource), methods=["POST"]),
        Route("/2017-03-31/tags/{Resource:path}", op(untag_resource), methods=["DELETE"]),
        Route("/2016-08-19/account-settings", op(account_settings), methods=["GET"]),
        Route("/2016-08-19/account-settings/", op(account_settings), methods=["GET"]),
        Route("/_lambdashift/health", op(health, control=False), methods=["GET"]),
        Route("/_lambdashift/metrics/{FunctionName}", op(metrics, control=False), methods=["GET"]),
        Route("/_lambdashift/metrics/{FunctionName}/records", op(metric_records, control=False),
              methods=["GET"]),
        Route("/_lambdashift/code/{file}", op(code, control=False), methods=["GET"]),
        Route("/_lambdashift/runtime", op(runtime_stats, control=False), methods=["GET"]),
        Route("/", cloudwatch_logs, methods=["POST"]),
        Route("/_lambdashift/control-plane", op(control_plane, control=False), methods=["GET"]),
        *(route for service in mounted for route in service.routes),
        Route("/{path:path}", op(unknown, control=False),
              methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        running = [loop.create_task(service.run()) if service.run else None for service in mounted]
        yield
        for service, task in zip(mounted, running):
            if task is not None:
                task.cancel()
            if service.close is not None:
                service.close()
        # Here, not after serve(): uvicorn re-raises SIGTERM once it stops serving.
        await invoker.close()  # no worker process outlives the server
        store.close()  # checkpoints the WAL

    return Starlette(routes=routes, lifespan=lifespan)

