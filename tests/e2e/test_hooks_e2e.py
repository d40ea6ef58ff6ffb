"""Pre- and post-traffic checks and webhooks in real rollouts on the local stack."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.e2e.rollout_helpers import alias_traffic, history, run, traffic_writes
from tests.e2e.test_analysis_e2e import release

FAST = ["--poll", "0.1"]
# The hooks decide here, not the judge: the rollouts say `analysis: off` (judged=False).
CANARY = [{"weight": 50}, {"pause": "0.3s"}, {"weight": 100}]


def test_a_failing_pre_traffic_check_never_shifts_traffic(probe_stack):
    before = alias_traffic(probe_stack, "probe")
    release(probe_stack, {"FAIL_RATE": "1", "DELAY_MS": "1"}, CANARY, judged=False,
            hooks={"pre_traffic": [{"name": "smoke", "event": {"rawPath": "/probe"},
                                    "expect": {"no_function_error": True}}]})
    out = run(probe_stack, "deploy", "probe", *FAST)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == before
    last = history(probe_stack, "probe")[0]
    assert last["phase"] == "rolled_back" and "pre-traffic" in last["reason"] and "smoke" in last["reason"]
    assert traffic_writes(last) == []


def test_passing_checks_before_and_after_promote(probe_stack):
    version = release(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "1", "BUILD": "ok"}, CANARY, judged=False,
                      hooks={"pre_traffic": [{"http": {"path": "/probe", "expect_status": 200}}],
                             "post_traffic": [{"http": {"path": "/probe", "expect_status": 200}}]})
    out = run(probe_stack, "deploy", "probe", *FAST)
    assert out.returncode == 0, out.stderr
    assert alias_traffic(probe_stack, "probe") == (version, None, 0.0)
    last = history(probe_stack, "probe")[0]
    verdicts = [e["details"]["reasons"] for e in last["events"] if e["kind"] == "VerdictReceived"]
    assert ["post-traffic checks passed"] in verdicts


def test_a_failing_post_traffic_check_rolls_back_after_the_promotion(probe_stack):
    stable = alias_traffic(probe_stack, "probe")[0]
    release(probe_stack, {"FAIL_RATE": "1", "DELAY_MS": "1"}, CANARY, judged=False,
            hooks={"post_traffic": [{"name": "live-probe", "http": {"path": "/probe", "expect_status": 200}}]})
    out = run(probe_stack, "deploy", "probe", *FAST)
    assert out.returncode == 1, out.stderr
    assert alias_traffic(probe_stack, "probe") == (stable, None, 0.0)
    last = history(probe_stack, "probe")[0]
    assert last["phase"] == "rolled_back" and "post-traffic" in last["reason"]
    assert traffic_writes(last)[-2:] == [f"{last['candidate']} (100%)", f"{stable} (100%)"]


class _Collector(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if _Collector.fail_first > 0:  # the first delivery fails: the notifier must retry it
            _Collector.fail_first -= 1
            self.send_response(503)
        else:
            _Collector.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhooks_receive_the_rollout_story_in_order(probe_stack):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        version = release(probe_stack, {"FAIL_RATE": "0", "DELAY_MS": "1", "BUILD": "hooks"}, CANARY, judged=False,
                          webhooks=[url])
        out = run(probe_stack, "deploy", "probe", *FAST)
        assert out.returncode == 0, out.stderr
    finally:
        server.shutdown()
    events = [b["event"] for b in _Collector.received if b.get("candidate") == version]
    assert events[0] == "started" and events[-1] == "succeeded" and "traffic" in events
    assert all(b["function"] == "probe" for b in _Collector.received)
