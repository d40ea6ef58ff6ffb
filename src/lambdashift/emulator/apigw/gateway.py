"""An HTTP API gateway (API Gateway HTTP API, payload format 2.0) in front of the emulator.

Each route key (``GET /notes/{id}``) sends requests to one function through its alias, as
an API Gateway integration with ``payload_format_version = "2.0"`` does. Requests whose
path starts with ``/_dev`` take the same routes to the function's ``dev`` alias instead,
for internal testing of the newest version before it takes live traffic.
Responses are mapped as AWS maps them: a ``statusCode`` object gives status, headers,
cookies and (base64) body; any other JSON is a 200 with that JSON as the body; a function
error is a 500, a malformed function response a 502, a throttle a 429.

As on AWS, API Gateway may invoke an alias only when the alias's resource policy lets
``apigateway.amazonaws.com`` do it from this API's execute-api ARN
(``arn:aws:execute-api:REGION:ACCOUNT:local/$default/METHOD/path``); otherwise the request
gets API Gateway's 500, and the function never runs. ``lambdashift local up`` adds those
permissions (``local/deploy.py``), as the Terraform module does.
"""

from __future__ import annotations

import base64
import json
import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from lambdashift.emulator.apigw.api import PREFIX, LocalHttpApi
from lambdashift.emulator.awslambda.invoker import Invoker
from lambdashift.emulator.awslambda.store import LambdaStore
from lambdashift.emulator.errors import LambdaApiError, TooManyRequestsException

#: The API id in the local gateway's execute-api ARNs.
API_ID = "local"
INVOKER = "apigateway.amazonaws.com"
#: API Gateway's limit on a request body (10 MB) and the prefix that selects the dev alias.
MAX_BODY = 10 * 1024 * 1024
DEV_PREFIX = "/_dev"
EXECUTED_VERSION_HEADER = "x-lambdashift-executed-version"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded",
               "application/javascript")


@dataclass(frozen=True)
class GatewayRoute:
    """One route key and the function it integrates with."""

    method: str          # GET, POST, ... or ANY
    path: str            # /notes/{id}, /files/{proxy+}
    function: str
    pattern: re.Pattern[str]

    @property
    def key(self) -> str:
        """The route key as AWS writes it."""
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    @classmethod
    def parse(cls, route_key: str, function: str) -> GatewayRoute:
        """``"GET /notes/{id}"`` → a route; a malformed key is a ValueError naming it."""
        if route_key.strip() == "$default":  # catches what no other route matches
            return cls("ANY", "$default", function, re.compile(r"/.*\Z", re.DOTALL))
        method, _, path = route_key.strip().partition(" ")
        method = method.upper()
        if method not in (*_METHODS, "ANY") or not path.startswith("/"):
            raise ValueError(f"route key {route_key!r} must look like 'GET /path/{{param}}'")
        parts = []
        for segment in path.strip("/").split("/") if path != "/" else []:
            greedy = re.fullmatch(r"\{([A-Za-z0-9_]+)\+\}", segment)
            plain = re.fullmatch(r"\{([A-Za-z0-9_]+)\}", segment)
            if greedy:
                parts.append(f"(?P<{greedy.group(1)}>.+)")
            elif plain:
                parts.append(f"(?P<{plain.group(1)}>[^/]+)")
            else:
                parts.append(re.escape(segment))
        # DOTALL and \Z: a path parameter may hold any character, %0A included (found by
        # fuzzing: "$" also matched before a trailing newline, "." not across one).
        pattern = re.compile("/" + "/".join(parts) + r"/?\Z", re.DOTALL)
        return cls(method, path, function, pattern)

    def source_arn(self, region: str, account_id: str) -> str:
        """The execute-api ARN API Gateway presents when this route invokes its function."""
        tail = "$default" if self.path == "$default" else f"{self.method}{self.path}"
        return f"arn:aws:execute-api:{region}:{account_id}:{API_ID}/$default/{tail}"

    def specificity(self) -> tuple[int, int, bool]:
        """API Gateway prefers the most specific match: literal segments, then fewer greedy ones."""
        if self.path == "$default":
            return (-1, 0, False)
        segments = self.path.strip("/").split("/")
        literals = sum(1 for s in segments if not s.startswith("{"))
        greedy = sum(1 for s in segments if s.endswith("+}"))
        return (literals, -greedy, self.method != "ANY")


def _is_text(content_type: str) -> bool:
    return not content_type or any(content_type.startswith(t) for t in _TEXT_TYPES)


def _message(status: int, message: str, request_id: str) -> Response:
    return Response(json.dumps({"message": message}).encode(), status_code=status,
                    media_type="application/json", headers={"apigw-requestid": request_id})


def build_event(request: Request, raw_body: bytes, route: GatewayRoute, path: str,
                params: dict[str, str], request_id: str, account_id: str) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends to the function."""
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for key, value in parse_qsl(request.url.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    content_type = headers.get("content-type", "")
    is_base64 = bool(raw_body) and not _is_text(content_type)
    body = base64.b64encode(raw_body).decode() if is_base64 else raw_body.decode("utf-8", "replace")
    now = datetime.now(timezone.utc)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": path,
        "rawQueryString": request.url.query,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "domainName": request.url.netloc,
            "domainPrefix": request.url.hostname or "localhost",
            "http": {
                "method": request.method,
                "path": path,
                "protocol": f"HTTP/{request.scope.get('http_version', '1.1')}",
                "sourceIp": request.client.host if request.client else "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": is_base64,
    }
    if "cookie" in headers:
        event["cookies"] = [c.strip() for c in headers["cookie"].split(";") if c.strip()]
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if raw_body:
        event["body"] = body
    return event


def map_response(payload: bytes, request_id: str) -> Response:
    """A function's result → the HTTP response API Gateway would send."""
    try:
        result = json.loads(payload)
    except ValueError:
        return _message(502, "Internal Server Error", request_id)
    base_headers = {"apigw-requestid": request_id}
    if not (isinstance(result, dict) and "statusCode" in result):
        # payload format 2.0: JSON without a statusCode is the body of a 200
        body = result if isinstance(result, str) else json.dumps(result)
        return Response(body.encode(), status_code=200, media_type="application/json",
                        headers=base_headers)
    status = result.get("statusCode")
    headers = result.get("headers") or {}
    body = result.get("body", "")
    if (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599
            or not isinstance(headers, dict) or not isinstance(body, (str, type(None)))):
        return _message(502, "Internal Server Error", request_id)
    raw = (base64.b64decode(body or "") if result.get("isBase64Encoded") else (body or "").encode())
    response = Response(raw, status_code=status, headers={**base_headers, **{
        str(k): str(v) for k, v in headers.items()}})
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.append(str(name), str(value))
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", str(cookie))
    if "content-type" not in {k.lower() for k in headers}:
        response.headers["content-type"] = "application/json"
    return response


def build_gateway(store: LambdaStore, invoker: Invoker, routes: dict[str, str], *,
                  alias: str = "live", dev_alias: str = "dev",
                  require_permission: bool = True) -> Starlette:
    """The ASGI app of an HTTP API with the given ``{route key: function}`` table.

    ``require_permission=False`` skips the resource-policy check (AWS never does).
    """
    table = sorted((GatewayRoute.parse(k, f) for k, f in routes.items()),
                   key=lambda r: r.specificity(), reverse=True)
    rng = random.Random()
    # What each route's integration invokes (the function's alias ARN, unless someone
    # repoints it through the apigatewayv2 subset).
    http_api = LocalHttpApi(API_ID, "lambdashift-local", "", {r.key: r.function for r in table},
                            lambda function: store.arns.function(function, alias))

    def match(method: str, path: str) -> tuple[GatewayRoute, dict[str, str]] | None:
        for route in table:
            if route.method not in (method, "ANY"):
                continue
            found = route.pattern.match(path)
            if found:
                return route, {k: v for k, v in found.groupdict().items()}
        return None

    async def handle(request: Request) -> Response:
        request_id = base64.b32encode(uuid.uuid4().bytes[:10]).decode().rstrip("=")
        # The decoded path as the server got it: request.url re-parses it, and urlsplit
        # drops tabs and newlines (a %0A in a path parameter would vanish).
        path, qualifier = request.scope["path"], alias
        if path == DEV_PREFIX or path.startswith(DEV_PREFIX + "/"):
            path, qualifier = path[len(DEV_PREFIX):] or "/", dev_alias
        found = match(request.method, path)
        if found is None:
            return _message(404, "Not Found", request_id)
        route, params = found
        invokes = http_api.target_of(route.key)
        assert invokes is not None  # UpdateIntegration accepts Lambda URIs only
        function = invokes[0]
        if qualifier == alias:  # the dev prefix always takes the dev alias
            qualifier = invokes[1]
        raw_body = await request.body()
        if len(raw_body) > MAX_BODY:
            return _message(413, "Request Entity Too Large", request_id)
        event = build_event(request, raw_body, route, path, params, request_id,
                            store.arns.account_id)
        payload = json.dumps(event).encode()
        try:
            if require_permission and not store.permissions.allows_invoke(
                    function, qualifier, service=INVOKER,
                    source_arn=route.source_arn(store.arns.region, store.arns.account_id)):
                # API Gateway's answer when Lambda refuses the invocation: a bare 500.
                return _message(500, "Internal Server Error", request_id)
            target = store.resolve_invoke(function, qualifier, rng.random())
            result = await invoker.invoke(target, payload, str(uuid.uuid4()), None)
        except TooManyRequestsException:
            return _message(429, "Too Many Requests", request_id)
        except LambdaApiError:
            return _message(500, "Internal Server Error", request_id)
        if result.function_error:
            response = _message(500, "Internal Server Error", request_id)
        else:
            response = map_response(result.payload, request_id)
        # Not an AWS header: lets local load tests count even a 500 against the version
        # that caused it (API Gateway's own error responses carry no version).
        response.headers[EXECUTED_VERSION_HEADER] = result.executed_version
        return response

    started = time.time()

    async def info(request: Request) -> Response:
        body = {"routes": [r.key for r in table], "alias": alias, "dev_alias": dev_alias,
                "dev_prefix": DEV_PREFIX, "started": started, "api_id": API_ID,
                "apigatewayv2": PREFIX}
        return Response(json.dumps(body).encode(), media_type="application/json")

    async def every_other_request(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handle(Request(scope, receive))
        await response(scope, receive, send)

    app = Starlette(routes=[Route("/_lambdashift/gateway", info, methods=["GET"]),
                            *http_api.starlette_routes()])
    # Not a "/{path:path}" route: its pattern does not match a path with a newline in it
    # (%0A), and Starlette would answer that, and any method no route has, in plain text.
    # Here every request reaches the route table, and what matches no route is API
    # Gateway's JSON 404.
    app.router.default = every_other_request
    return app
