"""The HTTP API gateway: payload format 2.0 events and API Gateway's response mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from lambdashift.emulator.apigw.gateway import GatewayRoute, map_response
from lambdashift.emulator.server import EmulatorProcess, start_process
from tests.conftest import NO_STATE_DELAY, ROLE, lambda_client, make_zip

PROBE = """
import base64, json, time
def handler(event, context):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("latin-1")
    mode = (event.get("queryStringParameters") or {}).get("mode")
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "bare":
        return {"just": "json"}
    if mode == "badstatus":
        return {"statusCode": "teapot"}
    if mode == "binary":
        return {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(b"\\x89PNG").decode(),
                "headers": {"content-type": "image/png"}, "cookies": ["a=1", "b=2"]}
    if mode == "slow":
        time.sleep(1.5)
    return {"statusCode": 200, "headers": {"x-version": context.function_version},
            "body": json.dumps({"event": event, "decoded": body})}
"""


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[tuple[EmulatorProcess, httpx.Client]]:
    routes = {"GET /items/{id}": "probe", "POST /items": "probe", "ANY /files/{proxy+}": "probe",
              "GET /items/special": "probe2", "$default": "probe"}
    proc = start_process(tmp_path_factory.mktemp("gw") / "data",
                         extra_args=["--gateway-routes", json.dumps(routes), "--concurrency", "1",
                                     *NO_STATE_DELAY])
    try:  # a failing set-up must not leave the server running
        lam = lambda_client(proc.endpoint)
        for name in ("probe", "probe2"):
            lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                                Handler="index.handler", Code={"ZipFile": make_zip({"index.py": PROBE})},
                                Publish=True, Timeout=5)
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
        lam.update_function_configuration(FunctionName="probe", Environment={"Variables": {"RELEASE": "2"}})
        lam.publish_version(FunctionName="probe")
        lam.create_alias(FunctionName="probe", Name="dev", FunctionVersion="2")
        for name, alias in (("probe", "live"), ("probe2", "live"), ("probe", "dev")):
            lam.add_permission(FunctionName=name, Qualifier=alias, StatementId="http-api",
                               Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                               SourceArn="arn:aws:execute-api:us-east-1:000000000000:local/*")
        with httpx.Client(base_url=proc.gateway, timeout=30) as client:
            yield proc, client
    finally:
        proc.stop()


def event_of(resp: httpx.Response) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()["event"]


def test_event_carries_payload_format_2_fields(gateway):
    _, http = gateway
    event = event_of(http.get("/items/42?a=1&a=2&b=x", headers={"X-Custom": "Yes", "Cookie": "c=1; d=2"}))
    assert event["version"] == "2.0" and event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/42" and event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["pathParameters"] == {"id": "42"}
    assert event["headers"]["x-custom"] == "Yes" and all(k == k.lower() for k in event["headers"])
    assert event["cookies"] == ["c=1", "d=2"]
    http_ctx = event["requestContext"]["http"]
    assert http_ctx["method"] == "GET" and http_ctx["path"] == "/items/42"
    assert event["requestContext"]["stage"] == "$default" and event["isBase64Encoded"] is False


def test_text_body_passes_as_is_and_binary_as_base64(gateway):
    _, http = gateway
    text = http.post("/items", content=b'{"x": 1}', headers={"content-type": "application/json"}).json()
    assert text["event"]["body"] == '{"x": 1}' and text["event"]["isBase64Encoded"] is False
    binary = http.post("/items", content=b"\xff\x00", headers={"content-type": "application/octet-stream"}).json()
    assert binary["event"]["isBase64Encoded"] is True
    assert base64.b64decode(binary["event"]["body"]) == b"\xff\x00"


def test_the_most_specific_route_wins_and_greedy_paths_match(gateway):
    _, http = gateway
    assert http.get("/items/special").headers.get("x-version") == "1"
    event = event_of(http.delete("/files/a/b/c.txt"))
    assert event["routeKey"] == "ANY /files/{proxy+}" and event["pathParameters"] == {"proxy": "a/b/c.txt"}


def test_default_route_catches_the_rest(gateway):
    _, http = gateway
    assert event_of(http.get("/anything/else"))["routeKey"] == "$default"


def test_bare_json_return_is_a_200_with_that_json(gateway):
    _, http = gateway
    resp = http.get("/items/1?mode=bare")
    assert resp.status_code == 200 and resp.json() == {"just": "json"}


def test_function_error_is_500_internal_server_error(gateway):
    _, http = gateway
    resp = http.get("/items/1?mode=raise")
    assert resp.status_code == 500 and resp.json() == {"message": "Internal Server Error"}


def test_malformed_function_response_is_502(gateway):
    _, http = gateway
    resp = http.get("/items/1?mode=badstatus")
    assert resp.status_code == 502 and resp.json() == {"message": "Internal Server Error"}


def test_base64_response_bodies_cookies_and_headers_are_mapped(gateway):
    _, http = gateway
    resp = http.get("/items/1?mode=binary")
    assert resp.status_code == 200 and resp.content == b"\x89PNG"
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_throttled_invocation_is_429(gateway):
    from concurrent.futures import ThreadPoolExecutor
    _, http = gateway
    with ThreadPoolExecutor(3) as pool:
        statuses = list(pool.map(lambda _: http.get("/items/1?mode=slow").status_code, range(3)))
    assert 200 in statuses and 429 in statuses


def test_dev_prefix_invokes_the_dev_alias(gateway):
    _, http = gateway
    assert http.get("/items/1").headers["x-version"] == "1"
    assert http.get("/_dev/items/1").headers["x-version"] == "2"


def test_unknown_route_is_404_not_found_json():
    route = GatewayRoute.parse("GET /a/{b}", "fn")
    assert route.pattern.match("/a/x") and not route.pattern.match("/a/x/y")
    with pytest.raises(ValueError, match="route key"):
        GatewayRoute.parse("FETCH /a", "fn")


def test_map_response_rejects_non_json_payload():
    assert map_response(b"not json", "rid").status_code == 502


def test_every_invoked_response_names_the_executed_version_for_local_accounting(gateway):
    _, http = gateway
    assert http.get("/items/1?mode=raise").headers["x-lambdashift-executed-version"] == "1"
    assert http.get("/_dev/items/1?mode=bare").headers["x-lambdashift-executed-version"] == "2"


def test_a_path_parameter_may_hold_a_newline_or_a_tab(gateway):
    # Found by fuzzing the notes API: "%0A" in a path matched no route and got Starlette's
    # plain-text 404 instead of reaching the function (which answers its own 400).
    _, http = gateway
    event = event_of(http.get("/items/a%0Ab%09c"))
    assert event["pathParameters"] == {"id": "a\nb\tc"} and event["routeKey"] == "GET /items/{id}"
    assert GatewayRoute.parse("GET /a/{b}", "fn").pattern.match("/a/x\n")["b"] == "x\n"


@pytest.mark.parametrize("method, path", [("GET", "/nowhere%0A"), ("TRACE", "/a/x"), ("GET", "/a/x/y")])
def test_what_no_route_matches_is_api_gateways_json_404(method, path):
    import asyncio

    from lambdashift.emulator.apigw.gateway import build_gateway

    async def ask() -> httpx.Response:  # no route matches: neither store nor invoker is used
        app = build_gateway(None, None, {"GET /a/{b}": "fn"})  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            return await http.request(method, path)

    resp = asyncio.run(ask())
    assert resp.status_code == 404 and resp.json() == {"message": "Not Found"}


def test_gateway_invokes_an_alias_only_when_its_policy_allows_api_gateway(gateway):
    """API Gateway answers 500 when Lambda refuses it, and the function never runs."""
    proc, http = gateway
    lam = lambda_client(proc.endpoint)
    before = json.loads(httpx.get(f"{proc.endpoint}/_lambdashift/runtime").text)["invocations"]
    lam.remove_permission(FunctionName="probe2", Qualifier="live", StatementId="http-api")
    try:
        refused = http.get("/items/special")
        assert refused.status_code == 500 and refused.json() == {"message": "Internal Server Error"}
        after = json.loads(httpx.get(f"{proc.endpoint}/_lambdashift/runtime").text)["invocations"]
        assert after == before
    finally:
        lam.add_permission(FunctionName="probe2", Qualifier="live", StatementId="http-api",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                           SourceArn="arn:aws:execute-api:us-east-1:000000000000:local/*")
    assert http.get("/items/special").status_code == 200
