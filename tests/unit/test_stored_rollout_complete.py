"""A stored rollout carries its built values (each analysis step's judge policy), so that a
process given no lambdashift.yaml can resume it and judge exactly as the config said."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass

from lambdashift.config import parse_config
from lambdashift.core.machine import RolloutState
from lambdashift.model import AnalysisStep, Phase, Traffic
from lambdashift.rollout.engine import EngineOptions, RolloutEngine
from lambdashift.store.sqlite import SqliteStateStore

CONFIG = {
    "functions": {"f": {"source": "src", "handler": "app.handler"}},
    "analysis": {"min_invocations": 7, "alpha": 0.02},  # top-level judge defaults
    "rollout": {"strategy": "custom", "bake": 0,
                "steps": [{"weight": 10}, {"pause": "manual"}, {"pause": "1m"}, {"weight": 100}]},
}


@dataclass
class AliasState:
    traffic: Traffic
    revision_id: str


class Alias:
    def __init__(self) -> None:
        self.state, self.writes = AliasState(Traffic("1"), "rev-0"), 0

    def get_alias(self, function: str, alias: str) -> AliasState:
        return self.state

    def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
        self.writes += 1
        self.state = AliasState(traffic, f"rev-{self.writes}")
        return self.state


def _config_steps(tmp_path):  # noqa: ANN001, ANN202
    (tmp_path / "src").mkdir()
    return parse_config(CONFIG, file=tmp_path / "lambdashift.yaml").function("f").rollout.steps


def test_analysis_steps_carry_the_policy_built_over_the_analysis_defaults(tmp_path):
    steps = _config_steps(tmp_path)
    (judged,) = [s for s in steps if isinstance(s, AnalysisStep)]
    assert judged.policy is not None
    assert (judged.policy.min_invocations, judged.policy.alpha) == (7, 0.02)
    assert judged.policy.promote_after_s == 60.0  # the judged pause's clock


def test_a_stored_state_keeps_each_steps_policy_through_json(tmp_path):
    steps = _config_steps(tmp_path)
    state = RolloutState.new("r1", "f", "live", "1", "2", steps)
    back = RolloutState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert [getattr(s, "policy", None) for s in back.steps] == \
        [getattr(s, "policy", None) for s in steps]


CHILD = textwrap.dedent('''
    import json, sys
    from dataclasses import dataclass
    from lambdashift.core.machine import VerdictReceived
    from lambdashift.model import Traffic, Verdict
    from lambdashift.rollout.engine import EngineOptions, RolloutEngine
    from lambdashift.store.sqlite import SqliteStateStore

    @dataclass
    class AliasState:
        traffic: Traffic
        revision_id: str

    class Alias:  # the alias as process A left it
        def __init__(self, traffic, revision):
            self.state = AliasState(traffic, revision)
        def get_alias(self, function, alias):
            return self.state
        def update_alias(self, function, alias, traffic, *, expected_revision):
            self.state = AliasState(traffic, self.state.revision_id + "+")
            return self.state

    seen = []
    class Analyzer:  # what the step's stored policy says, then promote
        def analyze(self, state, step, now):
            seen.append({"min_invocations": step.policy.min_invocations,
                         "alpha": step.policy.alpha,
                         "promote_after_s": step.policy.promote_after_s})
            return VerdictReceived(Verdict.PROMOTE, ("ok",), now=now)

    store = SqliteStateStore(sys.argv[1], namespace="test")
    (state,) = store.active("f")
    store.send_signal("f", "approve")
    engine = RolloutEngine(api=Alias(state.traffic, sys.argv[2]), store=store, clock=lambda: 1000.0,
                           sleep=lambda s: None, owner="other", analyzer=Analyzer(),
                           options=EngineOptions(poll_interval=1.0))
    final = engine.resume(state)
    print(json.dumps({"phase": final.phase.value, "seen": seen}))
''')


def test_a_stored_rollout_is_resumed_by_a_process_given_no_config_file(tmp_path):
    """Process A (with the config) stops at a manual gate; process B, in a directory with no
    lambdashift.yaml, approves and resumes it: the judged step uses the config's defaults."""
    steps = _config_steps(tmp_path)
    now = [0.0]
    store = SqliteStateStore(tmp_path / "state.db", namespace="test", clock=lambda: now[0])
    alias = Alias()
    engine = RolloutEngine(api=alias, store=store, clock=lambda: now[0],
                           sleep=lambda s: now.__setitem__(0, now[0] + s), owner="t",
                           options=EngineOptions(poll_interval=1.0, wait_at_gates=False))
    paused = engine.start("f", "live", "2", steps)
    assert paused.phase is Phase.PAUSED
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert not (elsewhere / "lambdashift.yaml").exists()
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "state.db"),
                          alias.state.revision_id],
                         cwd=elsewhere, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["phase"] == "succeeded", result
    assert result["seen"] == [{"min_invocations": 7, "alpha": 0.02, "promote_after_s": 60.0}]
