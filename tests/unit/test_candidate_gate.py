"""The candidate gate's pure parts, and the engine stopping a rejected candidate with no write."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import pytest

from lambdashift.aws.lambda_api import InvokeResult
from lambdashift.config import parse_config
from lambdashift.core.strategy import steps_for
from lambdashift.errors import ConfigError, ThrottledError
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.candidate import (
    REJECTED,
    CandidateGate,
    Smoke,
    mismatch,
    parse_smoke,
    rejection,
)
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.rollout.handler_check import handler_warnings
from lambdashift.store.sqlite import SqliteStateStore

SYNTAX = {"errorMessage": "Syntax error in module 'index': invalid syntax (index.py, line 3)",
          "errorType": "Runtime.UserCodeSyntaxError", "requestId": "r", "stackTrace": []}
LOGS = ("START RequestId: r Version: 3\n[ERROR] Runtime.UserCodeSyntaxError: Syntax error\n"
        "END RequestId: r\nREPORT RequestId: r\tDuration: 0.00 ms\tStatus: error\n")


def result(payload: object, error: str | None = None, logs: str = "") -> InvokeResult:
    return InvokeResult(200, "3", error, json.dumps(payload).encode(), logs)


# --- config ---------------------------------------------------------------------------------


def test_smoke_is_one_request_or_a_list_under_rollout_and_a_function_may_have_its_own(tmp_path):
    data = {"rollout": {"strategy": "blue-green", "smoke": {"event": {"path": "/"},
                                                            "expect": {"statusCode": 200}}},
            "functions": {"a": {"source": ".", "handler": "index.handler"},
                          "b": {"source": ".", "handler": "index.handler",
                                "rollout": {"smoke": [{"name": "list", "event": {}}]}}}}
    config = parse_config(data, file=tmp_path / "lambdashift.yaml")
    assert config.function("a").rollout.smoke == (Smoke({"path": "/"}, {"statusCode": 200}),)
    assert config.function("b").rollout.smoke == (Smoke({}, None, "list"),)
    assert config.function("b").rollout.strategy == "blue-green"  # merged over the top one


@pytest.mark.parametrize("raw, words", [
    ({"expect": {}}, "rollout.smoke.event: required"),
    ({"event": {}, "expected": {}}, "rollout.smoke: unknown key 'expected'"),
    ([{"event": {}}, "GET /"], r"rollout.smoke\[1\]: must be a mapping"),
    ({"event": {}, "name": 3}, "rollout.smoke.name: must be a string"),
])
def test_a_bad_smoke_request_is_a_config_error_naming_the_key(raw, words):
    with pytest.raises(ConfigError, match=words):
        parse_smoke(raw)


# --- matching and classifying ---------------------------------------------------------------


def test_expect_is_a_readable_subset_match_and_a_json_body_string_is_matched_as_json():
    answer = {"statusCode": 200, "body": json.dumps({"items": [], "count": 0}), "headers": {}}
    assert mismatch(answer, {"statusCode": 200}) == ""
    assert mismatch(answer, {"statusCode": 200, "body": {"count": 0}}) == ""
    assert mismatch(answer, {"statusCode": 201}) == "answer.statusCode is 200, expected 201"
    assert mismatch(answer, {"body": {"total": 0}}) == "answer.body has no 'total'"
    assert mismatch({"body": "plain"}, {"body": {"a": 1}}) == "answer.body is not JSON: 'plain'"
    assert mismatch([1, 2], [1, 2]) == "" and mismatch([1, 2], [1]) != ""


def test_an_init_error_is_a_rejection_with_its_type_message_and_log_lines():
    details = rejection("3", result(SYNTAX, "Unhandled", LOGS), None)
    assert details is not None
    assert (details["error_type"], details["stage"], details["request"]) == (
        "Runtime.UserCodeSyntaxError", "init", "pre-warm event")
    assert details["message"].startswith("Syntax error in module 'index'")
    assert details["logs"][1] == "[ERROR] Runtime.UserCodeSyntaxError: Syntax error"


def test_a_handler_error_and_a_timeout_are_rejections_too():
    raised = rejection("3", result({"errorType": "KeyError", "errorMessage": "'body'"}, "Unhandled"), None)
    assert raised is not None and (raised["error_type"], raised["stage"]) == ("KeyError", "invoke")
    timeout = rejection("3", result({"errorMessage": "2026-01-01T00:00:00.000Z r Task timed out "
                                                     "after 3.00 seconds"}, "Unhandled"), None)
    assert timeout is not None and timeout["error_type"] == "Sandbox.Timedout"


def test_a_smoke_answer_that_does_not_match_is_a_rejection_and_one_that_matches_passes():
    smoke = Smoke({"rawPath": "/notes"}, {"statusCode": 200})
    wrong = rejection("3", result({"statusCode": 500, "body": "{}"}), smoke)
    assert wrong is not None and wrong["error_type"] == "SmokeMismatch"
    assert wrong["message"] == "answer.statusCode is 500, expected 200"
    assert rejection("3", result({"statusCode": 200, "body": "{}"}), smoke) is None
    assert rejection("3", result({"prewarmed": True}), None) is None


# --- the gate against an invoke API ---------------------------------------------------------


class Invoker:
    """Answers invocations from a list (an exception is raised); records what it was asked."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str | None, bytes, bool]] = []

    def invoke(self, function, qualifier, payload, *, tail=False):  # noqa: ANN001, ANN201
        self.calls.append((function, qualifier, payload, tail))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _state():
    from lambdashift.core.machine import RolloutState

    return RolloutState.new("r-1", "orders", "live", "2", "3", steps_for({"strategy": "blue-green"}))


def test_the_gate_invokes_the_candidate_version_with_its_logs_and_retries_a_throttle():
    api = Invoker(ThrottledError("Rate Exceeded"), result({"prewarmed": True}))
    gate = CandidateGate(api, sleep=lambda s: None)
    assert gate(_state()) is None
    assert [(f, q, t) for f, q, _, t in api.calls] == [("orders", "3", True)] * 2  # never the alias
    assert json.loads(api.calls[0][2]) == {"lambdashift": "prewarm"}


def test_the_gate_sends_each_smoke_request_and_stops_at_the_first_failure():
    api = Invoker(result({"statusCode": 200}), result({"statusCode": 404}))
    smokes = (Smoke({"n": 1}, {"statusCode": 200}), Smoke({"n": 2}, {"statusCode": 200}, "second"))
    note = CandidateGate(api, lambda fn: smokes)(_state())
    assert note is not None and note.event == REJECTED
    assert [json.loads(c[2]) for c in api.calls] == [{"n": 1}, {"n": 2}]
    assert note.details["reason"] == ("candidate version 3 answered wrongly on the second before "
                                      "any traffic: SmokeMismatch: answer.statusCode is 404, expected 200")


def test_a_candidate_that_cannot_be_invoked_at_all_gets_no_traffic():
    note = CandidateGate(Invoker(ThrottledError("Rate Exceeded")), attempts=2, sleep=lambda s: None)(_state())
    assert note is not None and note.details["error_type"] == "InvokeFailed"


# --- the engine: no alias write after a rejection --------------------------------------------


@dataclass
class AliasState:
    traffic: Traffic
    revision_id: str


class Alias:
    def __init__(self) -> None:
        self.state = AliasState(Traffic("2"), "rev-0")
        self.writes: list[Traffic] = []

    def get_alias(self, function, alias):  # noqa: ANN001, ANN201
        return self.state

    def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
        self.writes.append(traffic)
        self.state = AliasState(traffic, f"rev-{len(self.writes)}")
        return self.state


@pytest.mark.parametrize("strategy", ["blue-green", "canary", "linear", "LambdaLinear10PercentEvery1Minute"])
def test_a_rejected_candidate_ends_the_rollout_with_no_alias_write_and_the_reason_in_history(
        tmp_path, strategy):
    alias, store = Alias(), SqliteStateStore(tmp_path / "state.db", namespace="t", clock=lambda: 0.0)
    seen = []
    engine = RolloutEngine(api=alias, store=store, clock=lambda: 0.0, sleep=lambda s: None, owner="t",
                           notify=lambda state, note: seen.append(note.event),
                           gate=CandidateGate(Invoker(result(SYNTAX, "Unhandled", LOGS))),
                           prewarm=lambda state, traffic: pytest.fail("no pre-warm for a rejected candidate"),
                           options=EngineOptions(poll_interval=1.0))
    final = engine.start("orders", "live", "3", steps_for({"strategy": strategy}))
    assert alias.writes == [] and final.phase is Phase.ROLLED_BACK
    assert final.reason.startswith("check failed: pre-traffic: candidate version 3 failed to "
                                   "initialise on the pre-warm event before any traffic: "
                                   "Runtime.UserCodeSyntaxError")
    assert seen[:2] == [REJECTED, "rolled_back"]
    events = {e.kind: e.details for e in store.events(final.rollout_id)}
    assert events[REJECTED]["version"] == "3" and events[REJECTED]["logs"]
    assert store.history("orders")[0].candidate == "3"


def test_a_healthy_candidate_passes_the_gate_before_the_first_write(tmp_path):
    alias, store = Alias(), SqliteStateStore(tmp_path / "state.db", namespace="t", clock=lambda: 0.0)
    order: list[str] = []
    api = Invoker(result({"prewarmed": True}))
    gate = CandidateGate(api)
    engine = RolloutEngine(api=alias, store=store, clock=lambda: 0.0, sleep=lambda s: None, owner="t",
                           gate=lambda state: order.append("gate") or gate(state),
                           prewarm=lambda state, traffic: order.append(f"prewarm {traffic}"))
    final = engine.start("orders", "live", "3", steps_for({"strategy": "blue-green"}))
    assert final.phase is Phase.SUCCEEDED and alias.writes == [Traffic("3")]
    assert order == ["gate", f"prewarm {Traffic('3')}"]


# --- publish's warnings ---------------------------------------------------------------------


def package(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buffer.getvalue()


def test_publish_warns_of_a_missing_function_a_module_that_does_not_compile_or_is_absent():
    good = package({"orders.py": "import json\n\ndef main(event, context):\n    return {}\n"})
    assert handler_warnings(good, "orders.main", "python3.12") == []
    [typo] = handler_warnings(good, "orders.mian", "python3.12")
    assert "defines no 'mian' (did you mean 'main'?)" in typo and "Runtime.HandlerNotFound" in typo
    [broken] = handler_warnings(package({"orders.py": "def main(:\n"}), "orders.main", "python3.12")
    assert "orders.py does not compile" in broken and "Runtime.UserCodeSyntaxError" in broken
    [absent] = handler_warnings(good, "shop.main", "python3.12")
    assert "no shop.py in the package" in absent
    assert handler_warnings(good, "orders.mian", "nodejs20.x") == []  # Python only


@pytest.mark.parametrize("source", [
    "from impl import *\n",                              # names it cannot see
    "def __getattr__(name):\n    return print\n",
    "try:\n    from fast import main\nexcept ImportError:\n    main = None\n",
    "if True:\n    def main(e, c):\n        return 1\n",
    "import impl as main\n",
])
def test_publish_does_not_warn_when_the_name_may_well_be_there(source):
    assert handler_warnings(package({"pkg/orders.py": source}), "pkg/orders.main", "python3.12") == []


def test_rollback_to_can_tell_a_candidate_rejected_before_traffic(tmp_path):
    import dataclasses

    from lambdashift.rollout.candidate import rejected_before_traffic

    state = _state()
    rejected = dataclasses.replace(state, phase=Phase.ROLLED_BACK,
                                   reason="check failed: pre-traffic: candidate version 3 failed …")
    assert rejected_before_traffic(rejected) == rejected.reason
    other = dataclasses.replace(rejected, reason="check failed: pre-traffic: group shop rolls back together: …")
    assert rejected_before_traffic(other) is None  # another member's candidate failed, not this one
    assert rejected_before_traffic(dataclasses.replace(state, phase=Phase.SUCCEEDED)) is None
