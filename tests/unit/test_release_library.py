"""A release as a library call (``rollout.release``): no argv, progress through a callback,
and ``--dry-run`` as the same plan run by a display-only executor."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from lambdashift.aws.lambda_api import InvokeResult
from lambdashift.config import parse_config
from lambdashift.errors import ConfigError, LambdashiftError
from lambdashift.model import Phase, Traffic
from lambdashift.rollout.release import DisplayOnlyExecutor, Release
from lambdashift.store.sqlite import SqliteStateStore

CONFIG = {
    "functions": {"f": {"source": "src", "handler": "app.handler"},
                  "g": {"source": "src", "handler": "app.handler", "after": ["f"]}},
    "analysis": "off", "prewarm": False,
    "rollout": {"strategy": "custom", "steps": [{"weight": 10}, {"pause": "1m"}, {"weight": 100}]},
}


@dataclass
class AliasState:
    traffic: Traffic
    revision_id: str


class Api:
    """Two functions on version 1, version 2 published; every alias write recorded."""

    def __init__(self) -> None:
        self.aliases = {"f": AliasState(Traffic("1"), "f-0"), "g": AliasState(Traffic("1"), "g-0")}
        self.writes: list[tuple[str, str]] = []

    def get_alias(self, function, alias):  # noqa: ANN001, ANN201
        return self.aliases[function]

    def update_alias(self, function, alias, traffic, *, expected_revision):  # noqa: ANN001, ANN201
        assert expected_revision == self.aliases[function].revision_id
        self.writes.append((function, str(traffic)))
        self.aliases[function] = AliasState(traffic, f"{function}-{len(self.writes)}")
        return self.aliases[function]

    def latest_version(self, function):  # noqa: ANN001, ANN201
        return "2"

    def versions(self, function):  # noqa: ANN001, ANN201
        return ["1", "2"]

    def invoke(self, function, qualifier, payload, *, tail=False):  # noqa: ANN001, ANN201
        return InvokeResult(200, qualifier, None, json.dumps({}).encode(), "")


@dataclass
class Target:
    api: Api
    store: SqliteStateStore
    metrics: None = None
    alarms: None = None
    counter: None = None
    dev_url: str = ""
    api_url: str = ""
    is_local: bool = True


class Said:
    """A Progress that keeps everything it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lines: list[tuple[str, str]] = []
        self.notes: list[str] = []

    def notify(self, state, note):  # noqa: ANN001, ANN201
        self.events.append((state.function, note.event))

    def line(self, function, text):  # noqa: ANN001, ANN201
        self.lines.append((function, text))

    def note(self, text):  # noqa: ANN001, ANN201
        self.notes.append(text)


@pytest.fixture
def release(tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    (tmp_path / "src").mkdir()
    config = parse_config(CONFIG, file=tmp_path / "lambdashift.yaml")
    store = SqliteStateStore(tmp_path / "state.db", namespace="t")
    clock = [1000.0]
    monkeypatch.setattr("lambdashift.rollout.release.time.time", lambda: clock[0])
    rel = Release(config, Target(Api(), store), poll=1.0, progress=Said())
    rel.stop.sleep = lambda s: clock.__setitem__(0, clock[0] + s)  # type: ignore[method-assign]
    return rel


def test_the_display_only_executor_shows_the_writes_the_executor_then_makes(release):
    plan = release.plan(["f", "g"])
    shown = release.execute(plan, DisplayOnlyExecutor())
    assert release.target.api.writes == []  # a dry run writes nothing
    promised = [(p.candidate.function, str(w.traffic)) for p in shown for w in p.writes]
    outcome = release.execute(plan)
    assert {n: s.phase for n, s in outcome.states.items()} == {"f": Phase.SUCCEEDED,
                                                                "g": Phase.SUCCEEDED}
    assert release.target.api.writes == promised == [
        ("f", "1 (90%) + 2 (10%)"), ("f", "2 (100%)"), ("g", "1 (90%) + 2 (10%)"), ("g", "2 (100%)")]


def test_deploy_reports_through_the_progress_and_says_what_is_not_judged(release):
    result = release.deploy(["f"], check=False)
    said = release.progress
    assert result.outcome is not None and result.outcome.exit_code == 0
    assert said.notes[0].startswith("analysis: off — nothing is judged for f")
    assert ("f", "started") in said.events and ("f", "succeeded") in said.events
    again = release.deploy(["f"], check=False)
    assert ("f", "nothing to do: live already serves version 2") in said.lines
    assert again.plan is not None and again.plan.candidates == []


def test_an_unknown_version_or_function_is_refused_before_any_write(release):
    with pytest.raises(ConfigError, match="f has no published version '7'"):
        release.deploy(["f"], to="7", check=False)
    with pytest.raises(ConfigError, match="unknown function 'h'"):
        release.deploy(["h"], check=False)
    assert release.target.api.writes == []


def test_a_split_no_rollout_owns_is_refused_when_planning(release):
    release.target.api.aliases["f"] = AliasState(Traffic("1", "2", 0.5), "x")
    with pytest.raises(LambdashiftError, match=r"f:live is split .* and no rollout owns it"):
        release.plan(["f"])
