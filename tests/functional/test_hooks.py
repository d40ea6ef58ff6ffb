"""Pre/post-traffic checks and webhooks, against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lambdashift.core.machine import Notify, RolloutState
from lambdashift.errors import ConfigError, NotFoundError
from lambdashift.model import Phase, Traffic, WeightStep
from lambdashift.rollout.hooks import (
    EventCheck,
    HttpCheck,
    PostTrafficCheck,
    PreTrafficCheck,
    WebhookNotifier,
    parse_hooks,
    parse_webhooks,
)

# --- a scriptable HTTP server -----------------------------------------------------------------


@dataclass
class Server:
    """Answers with ``statuses`` in turn (then 200); ``hang`` holds answers until released."""

    statuses: list[int] = field(default_factory=list)
    hang: bool = False
    body: dict = field(default_factory=dict)
    log: list[tuple[str, str, bytes]] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        self.log.append((handler.command, handler.path, handler.rfile.read(length)))
        self.received.set()
        if self.hang:
            self.release.wait(20)
        status = self.statuses.pop(0) if self.statuses else 200
        data = json.dumps(self.body).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting


@pytest.fixture
def serve() -> Iterator:
    servers = []

    def start(**kwargs) -> Server:
        server = Server(**kwargs)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.handle(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        servers.append((server, httpd))
        return server

    yield start
    for server, httpd in servers:
        server.release.set()
        httpd.shutdown()
        httpd.server_close()


def state(**changes) -> RolloutState:
    base = RolloutState.new("r-1", "notes-get", "live", "1", "2",
                            (WeightStep(0.1), WeightStep(1.0)), now=100.0)
    return dataclasses.replace(base, **changes)


# --- hooks config -------------------------------------------------------------------------


HOOKS = {
    "timeout": "3s",
    "pre_traffic": [{"http": {"path": "/notes"}}],
    "post_traffic": [{"name": "list", "http": {"method": "get", "path": "/notes",
                                               "expect_status": 200, "body_contains": {"a": 1}}}],
    "functions": {
        "notes-get": {"pre_traffic": [{"event": {"id": "1"},
                                       "expect": {"payload_contains": {"statusCode": 200}}}]},
        "notes-create": {"post_traffic": [{"event": {}, "expect": {"status_code": 202}}]},
    },
}


def test_global_checks_come_first_then_the_functions_own():
    hooks = parse_hooks(HOOKS, "notes-get", functions=["notes-get", "notes-create"])
    assert hooks.timeout == 3.0
    assert hooks.pre_traffic == (HttpCheck("/notes"),
                                 EventCheck({"id": "1"}, payload_contains={"statusCode": 200}))
    assert hooks.post_traffic == (HttpCheck("/notes", body_contains={"a": 1}, name="list"),)
    other = parse_hooks(HOOKS, "notes-list")
    assert other.pre_traffic == (HttpCheck("/notes"),) and len(other.post_traffic) == 1
    assert parse_hooks(None, "x").pre_traffic == ()


@pytest.mark.parametrize("raw, message", [
    ({"pre_trafic": []}, "hooks: unknown key 'pre_trafic'; did you mean 'pre_traffic'?"),
    ({"pre_traffic": {"http": {}}}, "hooks.pre_traffic: must be a list of checks"),
    ({"pre_traffic": [{"http": {"method": "GET"}}]},
     "hooks.pre_traffic[0].http.path: required, a path starting with /"),
    ({"post_traffic": [{"http": {"path": "/x", "method": "FETCH"}}]},
     "hooks.post_traffic[0].http.method: must be one of GET, POST"),
    ({"post_traffic": [{"http": {"path": "/x", "expect_status": "200"}}]},
     "hooks.post_traffic[0].http.expect_status: must be an HTTP status from 100 to 599"),
    ({"pre_traffic": [{"event": {}, "http": {"path": "/"}}]},
     "hooks.pre_traffic[0]: a check needs exactly one of 'event' or 'http'"),
    ({"pre_traffic": [{"event": {}, "expect": {"status": 200}}]},
     "hooks.pre_traffic[0].expect: unknown key 'status'"),
    ({"pre_traffic": [{"event": {}, "expect": {"no_function_error": "yes"}}]},
     "hooks.pre_traffic[0].expect.no_function_error: must be true or false"),
    ({"functions": {"notes-gte": {}}}, "hooks.functions: unknown key 'notes-gte'; did you mean"),
    ({"functions": {"notes-get": {"pre_traffic": [{"event": 1, "expect": []}]}}},
     "hooks.functions.notes-get.pre_traffic[0].expect: must be a mapping"),
    ({"timeout": "soon"}, "hooks.timeout"),
])
def test_config_errors_name_the_key_path(raw, message):
    with pytest.raises(ConfigError) as exc:
        parse_hooks(raw, "notes-get", functions=["notes-get"])
    assert message in str(exc.value)


# --- event checks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InvokeResult:
    """The shape of ``lambdashift.aws.lambda_api.InvokeResult``."""

    status: int
    executed_version: str
    function_error: str | None
    payload: bytes


@dataclass
class FakeLambda:
    results: list[InvokeResult | Exception]
    calls: list[tuple[str, str, dict]] = field(default_factory=list)

    def invoke(self, function, qualifier, payload):
        self.calls.append((function, qualifier, json.loads(payload)))
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


def ok(payload: dict, version: str = "2") -> InvokeResult:
    return InvokeResult(200, version, None, json.dumps(payload).encode())


def test_pre_traffic_invokes_the_candidate_version_and_passes():
    api = FakeLambda([ok({"statusCode": 200, "body": "{}", "extra": 1})])
    check = PreTrafficCheck([EventCheck({"id": "1"}, payload_contains={"statusCode": 200})],
                            lambda_api=api)
    assert check.run(state()) == []
    assert api.calls == [("notes-get", "2", {"id": "1"})]


def test_post_traffic_invokes_through_the_alias():
    api = FakeLambda([ok({})])
    assert PostTrafficCheck([EventCheck({})], lambda_api=api).run(state()) == []
    assert api.calls[0][:2] == ("notes-get", "live")


def test_event_check_failures_are_worded_and_name_the_check():
    api = FakeLambda([
        InvokeResult(200, "2", "Unhandled", b'{"errorMessage": "boom"}'),
        ok({"statusCode": 500}),
        ok({"nested": {"a": 2}}),
        ok({}, version="1"),
        InvokeResult(202, "2", None, b""),
        NotFoundError("Function not found: notes-get:2"),
        ok({"statusCode": 200}),
    ])
    checks = [
        EventCheck({}, name="crash"),
        EventCheck({}, payload_contains={"statusCode": 200}, name="status"),
        EventCheck({}, payload_contains={"nested": {"a": 1, "b": 2}}, name="nested"),
        EventCheck({}, name="wrong version"),
        EventCheck({"k": "v"}),
        EventCheck({}, name="missing"),
        EventCheck({}, payload_contains={"statusCode": 200}, name="fine"),
    ]
    failures = PreTrafficCheck(checks, lambda_api=api).run(state())
    assert failures == [
        "pre-traffic check 'crash': function error Unhandled: {\"errorMessage\": \"boom\"}",
        "pre-traffic check 'status': payload.statusCode is 500, expected 200",
        "pre-traffic check 'nested': payload.nested.a is 2, expected 1",
        "pre-traffic check 'wrong version': version 1 ran, not the candidate 2",
        "pre-traffic check 'event {\"k\": \"v\"}': expected status 200, got 202",
        "pre-traffic check 'missing': invoking notes-get:2 failed: Function not found: notes-get:2",
    ]


# --- HTTP checks ------------------------------------------------------------------------------


def test_http_checks_go_to_the_base_url_with_their_prefix(serve):
    server = serve(body={"items": [], "count": 0})
    checks = [HttpCheck("/notes", body_contains={"count": 0}),
              HttpCheck("/notes", method="POST", body={"text": "hi"}, expect_status=200)]
    assert PreTrafficCheck(checks, base_url=server.url + "/_dev/").run(state()) == []
    assert [(m, p) for m, p, _ in server.log] == [("GET", "/_dev/notes"), ("POST", "/_dev/notes")]
    assert json.loads(server.log[1][2]) == {"text": "hi"}


def test_http_check_failures_are_worded(serve):
    server = serve(statuses=[500, 200], body={"count": 3})
    checks = [HttpCheck("/a"), HttpCheck("/b", body_contains={"count": 0}, name="count")]
    failures = PostTrafficCheck(checks, base_url=server.url).run(state())
    assert failures == [
        "post-traffic check 'GET /a': expected status 200, got 500: {\"count\": 3}",
        "post-traffic check 'count': body.count is 3, expected 0",
    ]
    down = PostTrafficCheck([HttpCheck("/a")], base_url="http://127.0.0.1:9").run(state())
    assert down[0].startswith(
        "post-traffic check 'GET /a': GET http://127.0.0.1:9/a failed: ConnectError")


def test_http_checks_without_a_url_are_a_config_error():
    with pytest.raises(ConfigError, match="hooks.pre_traffic: HTTP checks need an API URL"):
        PreTrafficCheck([HttpCheck("/notes")])


# --- webhooks ---------------------------------------------------------------------------------

NOTE = Notify("rolling_back", {"reason": "analysis: errors"})
ROLLING = state(phase=Phase.ROLLING_BACK, step_index=1, traffic=Traffic("1", "2", 0.1),
                updated_at=1234.5)


def test_webhook_is_retried_until_the_server_takes_it(serve):
    server = serve(statuses=[503, 500])
    notifier = WebhookNotifier([server.url], backoff=0.01)
    notifier(ROLLING, NOTE)
    assert notifier.close(10)
    assert len(server.log) == 3 and notifier.counts == {"delivered": 1, "failed": 0, "dropped": 0}
    method, _, body = server.log[-1]
    assert method == "POST" and json.loads(body) == {
        "event": "rolling_back", "function": "notes-get", "rollout_id": "r-1", "stable": "1",
        "candidate": "2", "phase": "rolling_back", "step": 1,
        "traffic": {"primary": "1", "canary": "2", "weight": 0.1},
        "details": {"reason": "analysis: errors"}, "at": 1234.5}


def test_webhook_gives_up_after_its_attempts_and_at_once_on_a_client_error(serve):
    flaky, refusing = serve(statuses=[503] * 10), serve(statuses=[404])
    notifier = WebhookNotifier([flaky.url, refusing.url], attempts=3, backoff=0.01)
    notifier(ROLLING, NOTE)
    assert notifier.close(10)
    assert (len(flaky.log), len(refusing.log)) == (3, 1)
    assert notifier.counts["failed"] == 2


def test_notify_returns_while_the_webhook_hangs(serve):
    """A rollback never waits on a webhook: the call returns before the server answers."""
    hanging, live = serve(hang=True), serve()
    order: list[str] = []
    notifier = WebhookNotifier([hanging.url, live.url], timeout=30)
    notifier(ROLLING, Notify("traffic", {}))
    assert hanging.received.wait(10)  # the first note's request is now held by the server
    notifier(ROLLING, NOTE)
    order.append("notify returned")
    assert live.received.wait(10)  # the live URL is not held back by the hanging one
    order.append("server answered")
    hanging.release.set()
    assert notifier.close(10)
    assert order == ["notify returned", "server answered"]
    assert [json.loads(b)["event"] for _, _, b in hanging.log] == ["traffic", "rolling_back"]


def test_close_gives_up_on_a_hanging_webhook_after_its_timeout(serve):
    hanging = serve(hang=True)
    notifier = WebhookNotifier([hanging.url], timeout=30)
    notifier(ROLLING, NOTE)
    assert hanging.received.wait(10)
    assert notifier.close(0.2) is False
    assert not hanging.release.is_set()  # close returned while the server still held on
    notifier(ROLLING, NOTE)  # after close: ignored, never raises
    hanging.release.set()


def test_a_full_queue_drops_its_oldest_note(serve):
    hanging = serve(hang=True)
    notifier = WebhookNotifier([hanging.url], queue_size=2)
    notifier(ROLLING, Notify("started", {}))
    assert hanging.received.wait(10)
    for event in ("traffic", "paused", "failed"):
        notifier(ROLLING, Notify(event, {}))
    hanging.release.set()
    assert notifier.close(10)
    assert [json.loads(b)["event"] for _, _, b in hanging.log] == ["started", "paused", "failed"]
    assert notifier.counts["dropped"] == 1


def test_only_the_chosen_events_are_sent(serve):
    server = serve()
    notifier = WebhookNotifier([server.url], events=["rolled_back"])
    for event in ("traffic", "rolled_back", "write_failed"):
        notifier(ROLLING, Notify(event, {}))
    assert notifier.close(10)
    assert [json.loads(b)["event"] for _, _, b in server.log] == ["rolled_back"]


def test_webhooks_config_takes_a_list_or_a_mapping():
    assert WebhookNotifier.from_config(None) is None
    assert parse_webhooks(["https://a.example/x"])["urls"] == ["https://a.example/x"]
    settings = parse_webhooks({"urls": ["http://b.example"], "events": ["failed"],
                               "timeout": "2s", "attempts": 2})
    assert settings == {"urls": ["http://b.example"], "events": ("failed",), "timeout": 2.0,
                        "attempts": 2}


@pytest.mark.parametrize("raw, message", [
    ("https://a", "webhooks: must be a list of URLs or a mapping"),
    ({"url": []}, "webhooks: unknown key 'url'; did you mean 'urls'?"),
    ({"urls": ["ftp://x"]}, "webhooks.urls[0]: must be an http:// or https:// URL"),
    ({"urls": [], "events": ["rolledback"]},
     "webhooks.events[0]: unknown event 'rolledback'; did you mean 'rolled_back'?"),
    ({"urls": [], "attempts": 0}, "webhooks.attempts: must be an integer from 1 to 10"),
])
def test_webhooks_config_errors_name_the_key_path(raw, message):
    with pytest.raises(ConfigError) as exc:
        parse_webhooks(raw)
    assert message in str(exc.value)
