"""lambdashift.yaml: defaults, validation with key paths, precedence, the notes example."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from lambdashift.config import (
    DEFAULT_ALIAS,
    DEFAULT_TARGET,
    Config,
    Route,
    load_config,
    parse_config,
)
from lambdashift.config.hooks import HttpCheck
from lambdashift.errors import ConfigError
from lambdashift.model import AnalysisStep, BakeStep, ManualGate, PauseStep, WeightStep

BAKE = BakeStep(seconds=60)  # the default bake after the switch of a judged rollout

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notes" / "lambdashift.yaml"

MINIMAL = """
functions:
  notes-get:
    source: functions/get
    handler: index.handler
"""


@pytest.fixture
def project(tmp_path: Path):
    """Write a lambdashift.yaml (and the directories it needs) and load it."""
    for d in ("functions/get", "functions/create", "shared"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "shared" / "common.py").write_text("X = 1\n")

    def write(text: str, **kwargs) -> Config:
        path = tmp_path / "lambdashift.yaml"
        path.write_text(textwrap.dedent(text))
        return load_config(path, env=kwargs.pop("env", {}), **kwargs)

    write.root = tmp_path  # type: ignore[attr-defined]
    return write


def parse(data: dict, tmp_path: Path) -> Config:
    return parse_config(data, file=tmp_path / "lambdashift.yaml")


def base(**function) -> dict:
    return {"functions": {"notes-get": {"source": "functions/get", "handler": "index.handler", **function}}}


def error(tmp_path: Path, data: object) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, file=tmp_path / "lambdashift.yaml")
    return str(info.value)


@pytest.fixture
def dirs(tmp_path: Path) -> Path:
    (tmp_path / "functions" / "get").mkdir(parents=True)
    (tmp_path / "functions" / "create").mkdir(parents=True)
    return tmp_path


# --- defaults and the happy path ----------------------------------------------------------------


def test_minimal_file_gets_the_documented_defaults(project):
    config = project(MINIMAL)
    assert (config.alias, config.target, config.region) == ("live", "local", None)
    assert (DEFAULT_ALIAS, DEFAULT_TARGET) == ("live", "local")
    fn = config.function("notes-get")
    assert (fn.runtime, fn.timeout, fn.memory) == ("python3.12", 3, 128)
    assert fn.environment == {} and fn.after == () and fn.include == ()
    assert fn.source == project.root / "functions" / "get"
    assert config.rollout.strategy == "canary"
    # Judged by default: the 5-minute pause at 10% is watched by the judge, and ends on its clock.
    # And watched for a minute after the switch to 100% (the bake).
    assert config.rollout.steps == (WeightStep(0.1), AnalysisStep({"min_duration": 300.0, "promote_after": 300.0}),
                                    WeightStep(1.0), BakeStep(seconds=60))
    assert config.rollout.judged
    assert fn.rollout == config.rollout
    assert config.routes == () and config.tables == {}
    assert config.analysis == {} and not config.hooks and not config.webhooks
    assert config.root == project.root


def test_a_full_file(project):
    config = project(
        """
        alias: prod
        target: aws
        region: eu-west-1
        functions:
          notes-create:
            source: functions/create
            handler: app.main
            runtime: python3.11
            timeout: 10
            memory: 256
            environment: {TABLE_NAME: notes, PAGE_SIZE: 20}
            include: [shared/common.py, shared]
            rollout: {strategy: blue-green, alarms: [create-errors]}
          notes-get:
            source: ./functions/get/
            handler: index.handler
            after: [notes-create]
            rollout: {weight: 25}
        routes:
          "POST /notes": notes-create
          "GET /notes/{id}": notes-get
          "ANY /proxy/{path+}": notes-get
          "$default": notes-get
        tables:
          notes:
            AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
            KeySchema: [{AttributeName: id, KeyType: HASH}]
            BillingMode: PAY_PER_REQUEST
        rollout:
          strategy: canary
          pause: 1m
        analysis: {alpha: 0.05}
        hooks: {pre_traffic: [{http: {path: /notes}}]}
        webhooks: ["https://example.invalid/hook"]
        """
    )
    assert (config.alias, config.target, config.region) == ("prod", "aws", "eu-west-1")
    create, get = config.functions["notes-create"], config.functions["notes-get"]
    assert create.environment == {"TABLE_NAME": "notes", "PAGE_SIZE": "20"}
    assert create.include == (project.root / "shared" / "common.py", project.root / "shared")
    assert create.rollout.steps == (AnalysisStep(alarms=("create-errors",)), WeightStep(1.0), BAKE)
    # Without its own strategy, a function's rollout merges over the top-level one.
    assert get.rollout.steps == (WeightStep(0.25), AnalysisStep({"min_duration": 60.0, "promote_after": 60.0}),
                                 WeightStep(1.0), BAKE)
    assert get.source == project.root / "functions" / "get"
    assert [r.key for r in config.routes] == ["POST /notes", "GET /notes/{id}", "ANY /proxy/{path+}", "$default"]
    assert config.routes[1] == Route("GET", "/notes/{id}", "notes-get")
    assert config.tables["notes"]["BillingMode"] == "PAY_PER_REQUEST"
    assert config.waves() == [("notes-create",), ("notes-get",)]
    assert config.analysis == {"alpha": 0.05}
    # Parsed once, at load, into typed values.
    assert config.hooks.for_function("notes-get").pre_traffic == (HttpCheck("/notes"),)
    assert config.webhooks.urls == ("https://example.invalid/hook",) and config.webhooks


def test_function_rollout_with_steps_replaces_the_generating_keys(dirs):
    data = base(rollout={"steps": [{"weight": 50}, {"pause": "manual"}, {"weight": 100}]})
    data["rollout"] = {"strategy": "canary", "weight": 5, "pause": "1m", "alarms": ["e"]}
    fn = parse(data, dirs).function("notes-get")
    assert fn.rollout.steps == (WeightStep(0.5), ManualGate(), WeightStep(1.0), BAKE)
    assert fn.rollout.settings["alarms"] == ["e"]  # the rest of the top-level rollout stays


def test_config_values_are_read_only(project):
    config = project(MINIMAL)
    with pytest.raises(TypeError):
        config.functions["x"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.alias = "other"  # type: ignore[misc]


def test_the_notes_example_loads():
    config = load_config(EXAMPLE, env={})
    assert set(config.functions) == {"notes-create", "notes-get", "notes-list", "notes-update", "notes-delete"}
    assert config.waves()[-1] == ("notes-get",)
    for fn in config.functions.values():
        assert fn.source.is_dir() and all(p.exists() for p in fn.include)
        assert fn.rollout.steps[-2:] == (WeightStep(1.0), BakeStep(seconds=15))  # a short bake


# --- precedence ----------------------------------------------------------------------------------


def test_flag_beats_environment_beats_file(project):
    text = MINIMAL + "target: aws\nalias: prod\n"
    assert (project(text).target, project(text).alias) == ("aws", "prod")
    env = {"LAMBDASHIFT_TARGET": "local", "LAMBDASHIFT_ALIAS": "staging"}
    config = project(text, env=env)
    assert (config.target, config.alias) == ("local", "staging")
    config = project(text, env=env, target="aws", alias="canary-test")
    assert (config.target, config.alias) == ("aws", "canary-test")


def test_empty_environment_variables_do_not_count(project):
    config = project(MINIMAL + "target: aws\n", env={"LAMBDASHIFT_TARGET": ""})
    assert config.target == "aws"


def test_with_overrides_reads_os_environ_by_default(project, monkeypatch):
    config = project(MINIMAL)
    monkeypatch.setenv("LAMBDASHIFT_TARGET", "aws")
    assert config.with_overrides().target == "aws"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": "cloud"}, "--target: must be local or aws, got 'cloud'"),
        ({"env": {"LAMBDASHIFT_TARGET": "prod"}}, "LAMBDASHIFT_TARGET: must be local or aws, got 'prod'"),
        ({"alias": "123"}, "--alias: must be an alias name"),
        ({"env": {"LAMBDASHIFT_ALIAS": "a b"}}, "LAMBDASHIFT_ALIAS: must be an alias name"),
    ],
)
def test_bad_overrides_name_their_source(project, kwargs, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        project(MINIMAL, **kwargs)


# --- errors: file, key path, did-you-mean ----------------------------------------------------------


def test_the_error_of_the_issue(project):
    with pytest.raises(ConfigError) as info:
        project(MINIMAL + "    timeout: ten\n")
    assert str(info.value) == (
        f"{project.root / 'lambdashift.yaml'}: functions.notes-get.timeout: "
        "must be an integer from 1 to 900, got 'ten'"
    )


def test_a_relative_path_is_named_as_given(project, monkeypatch):
    project(MINIMAL)
    monkeypatch.chdir(project.root)
    (project.root / "lambdashift.yaml").write_text(MINIMAL + "    memory: 64\n")
    with pytest.raises(ConfigError, match=r"^lambdashift\.yaml: functions\.notes-get\.memory: must be an integer from 128 to 10240, got 64$"):
        load_config(env={})


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(aliass="x"), r"unknown key 'aliass'; did you mean 'alias'\?"),
        (lambda d: d.update(functions=None), r"functions: at least one function is needed"),
        (lambda d: d.update(functions=["a"]), r"functions: must be a mapping of function names"),
        (lambda d: d.update(target="cloud"), r"target: must be local or aws, got 'cloud'"),
        (lambda d: d.update(alias="42"), r"alias: must be an alias name"),
        (lambda d: d.update(alias="live!"), r"alias: must be an alias name"),
        (lambda d: d.update(region="Europe"), r"region: must be an AWS region such as eu-west-1"),
        (lambda d: d.update(rollout={"strategy": "canry"}), r"rollout\.strategy: unknown strategy 'canry'; did you mean 'canary'\?"),
        (lambda d: d.update(rollout={"strategy": "custom", "steps": [{"weight": 10}]}), r"rollout\.steps: the last weight step must be \{weight: 100\}"),
        (lambda d: d.update(analysis=[1]), r"analysis: must be a mapping"),
        (lambda d: d["functions"].update({"bad.name": {}}), r"^\S+: functions: must be function names of 1 to 64 of a-z A-Z 0-9 - _, got 'bad\.name'$"),
        (lambda d: d["functions"].update({"x" * 65: {}}), r"functions: must be function names of"),
        (lambda d: d["functions"]["notes-get"].update(handlr="x"), r"functions\.notes-get: unknown key 'handlr'; did you mean 'handler'\?"),
        (lambda d: d["functions"]["notes-get"].pop("handler"), r"functions\.notes-get\.handler: required"),
        (lambda d: d["functions"]["notes-get"].pop("source"), r"functions\.notes-get\.source: required"),
        (lambda d: d["functions"]["notes-get"].update(source="functions/missing"), r"functions\.notes-get\.source: must be a directory .*, but .*functions/missing does not exist"),
        (lambda d: d["functions"]["notes-get"].update(handler="index"), r"functions\.notes-get\.handler: must be file\.function \(index\.handler\), got 'index'"),
        (lambda d: d["functions"]["notes-get"].update(handler="index. handler"), r"handler: must be file\.function"),
        (lambda d: d["functions"]["notes-get"].update(runtime="python"), r"functions\.notes-get\.runtime: must be a Lambda runtime such as python3\.12, got 'python'"),
        (lambda d: d["functions"]["notes-get"].update(timeout=0), r"functions\.notes-get\.timeout: must be an integer from 1 to 900, got 0"),
        (lambda d: d["functions"]["notes-get"].update(timeout=901), r"timeout: must be an integer from 1 to 900, got 901"),
        (lambda d: d["functions"]["notes-get"].update(timeout=True), r"timeout: must be an integer from 1 to 900, got True"),
        (lambda d: d["functions"]["notes-get"].update(memory=128.5), r"memory: must be an integer from 128 to 10240"),
        (lambda d: d["functions"]["notes-get"].update(environment={"TABLE": None}), r"environment\.TABLE: must be a string \(quote it\)"),
        (lambda d: d["functions"]["notes-get"].update(environment={"DEBUG": True}), r"environment\.DEBUG: must be a string \(quote it\)"),
        (lambda d: d["functions"]["notes-get"].update(environment={"1X": "a"}), r"environment: must be variable names \(a letter, then letters, digits, _\), got '1X'"),
        (lambda d: d["functions"]["notes-get"].update(environment={"AWS_REGION": "a"}), r"environment\.AWS_REGION: reserved by Lambda"),
        (lambda d: d["functions"]["notes-get"].update(environment=["A=1"]), r"environment: must be a mapping"),
        (lambda d: d["functions"]["notes-get"].update(after="notes-create"), r"functions\.notes-get\.after: must be a list"),
        (lambda d: d["functions"]["notes-get"].update(after=["notes-crate"]), r"functions\.notes-get\.after: unknown function 'notes-crate'; did you mean 'notes-create'\?"),
        (lambda d: d["functions"]["notes-get"].update(after=["notes-get"]), r"dependency cycle in 'after': notes-get → notes-get"),
        (lambda d: d["functions"]["notes-get"].update(include=["nope.py"]), r"functions\.notes-get\.include\[0\]: must be a file or directory, but .*nope.py does not exist"),
        (lambda d: d["functions"]["notes-get"].update(rollout={"strategy": "linear", "increments": 1}), r"functions\.notes-get\.rollout\.increments: must be an integer from 2 to 100"),
        (lambda d: d["functions"]["notes-get"].update(rollout={"wieght": 5}), r"functions\.notes-get\.rollout: unknown key 'wieght'; did you mean 'weight'\?"),
        (lambda d: d["functions"]["notes-get"].update(rollout={"steps": [{"weight": 100}, {"pause": "1m"}]}), r"functions\.notes-get\.rollout\.steps: the last weight step"),
        (lambda d: d.update(routes={"GET /notes": "notes-gett"}), r'routes\["GET /notes"\]: unknown function \'notes-gett\'; did you mean \'notes-get\'\?'),
        (lambda d: d.update(routes={"FETCH /notes": "notes-get"}), r'routes\["FETCH /notes"\]: the method must be one of GET, POST'),
        (lambda d: d.update(routes={"get /notes": "notes-get"}), r"the method must be one of"),
        (lambda d: d.update(routes={"GET notes": "notes-get"}), r"the path must look like /notes/\{id\}, got 'notes'"),
        (lambda d: d.update(routes={"GET": "notes-get"}), r"the path must look like"),
        (lambda d: d.update(routes={"GET /notes/{id": "notes-get"}), r"the path must look like"),
        (lambda d: d.update(routes={"GET /notes//x": "notes-get"}), r"the path must look like"),
        (lambda d: d.update(routes={"GET /{all+}/x": "notes-get"}), r"greedy \{name\+\} parameter must be the last"),
        (lambda d: d.update(routes=["GET /"]), r"routes: must be a mapping"),
        (lambda d: d.update(tables={"t": {}}), r"tables: must be table names of 3 to 255 of a-z A-Z 0-9 _ \. -, got 't'"),
        (lambda d: d.update(tables={"notes": {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}}), r"tables\.notes\.AttributeDefinitions: required"),
        (lambda d: d.update(tables={"notes": {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}}), r"tables\.notes\.KeySchema: required"),
        (lambda d: d.update(tables={"notes": {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "X"}], "KeySchema": []}}), r"AttributeDefinitions\[0\]: needs AttributeName and AttributeType S, N or B"),
        (lambda d: d.update(tables={"notes": {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}), r"tables\.notes\.KeySchema\[0\]\.AttributeName: 'pk' is not in AttributeDefinitions"),
        (lambda d: d.update(tables={"notes": {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "KeySchema": [{"AttributeName": "id", "KeyType": "PRIMARY"}]}}), r"KeySchema\[0\]\.KeyType: must be HASH or RANGE"),
    ],
)
def test_errors_name_the_file_and_the_key_path(dirs, mutate, message):
    data = base()
    data["functions"]["notes-create"] = {"source": "functions/create", "handler": "index.handler"}
    mutate(data)
    text = error(dirs, data)
    assert text.startswith(f"{dirs / 'lambdashift.yaml'}: "), text
    assert re.search(message, text), text


def test_cycles_across_functions_are_named(dirs):
    data = base(after=["notes-create"])
    data["functions"]["notes-create"] = {"source": "functions/create", "handler": "i.h", "after": ["notes-get"]}
    assert error(dirs, data).endswith("dependency cycle in 'after': notes-create → notes-get → notes-create")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"the file is empty; it needs at least 'functions'"),
        ("- a\n- b\n", r": must be a mapping of settings"),
        ("functions: {a: 1\n", r": line \d+, column \d+: "),
        ("alias: live\nalias: prod\n" + MINIMAL, r": line 2, column 1: duplicate key 'alias'"),
        (MINIMAL + "  notes-get:\n    source: x\n", r"duplicate key 'notes-get'"),
    ],
)
def test_yaml_problems_are_config_errors(project, text, message):
    with pytest.raises(ConfigError, match=message):
        project(text)


def test_yaml_merge_keys_still_work(project):
    config = project(
        """
        functions:
          notes-create: &fn {source: functions/create, handler: index.handler, timeout: 10}
          notes-get: {<<: *fn, source: functions/get, timeout: 20}
        """
    )
    assert config.functions["notes-get"].timeout == 20
    assert config.functions["notes-get"].handler == "index.handler"


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(ConfigError, match=r"lambdashift\.yaml: no such file"):
        load_config(tmp_path / "lambdashift.yaml", env={})


def test_unknown_function_lookup_suggests(project):
    config = project(MINIMAL)
    with pytest.raises(ConfigError, match=r"unknown function 'notes-gte'; did you mean 'notes-get'\?"):
        config.function("notes-gte")
    with pytest.raises(ConfigError, match=r"unknown function 'nope'"):
        config.waves(["nope"])


def test_the_notes_example_is_valid_yaml_for_plain_loaders_too():
    # The duplicate-key loader must not refuse what a plain safe loader reads identically.
    assert isinstance(yaml.safe_load(EXAMPLE.read_text()), dict)


def test_webhooks_are_checked_at_load(dirs):
    data = base()
    data["webhooks"] = {"urls": ["ftp://nope"]}
    with pytest.raises(ConfigError, match=r"webhooks.urls\[0\]"):
        parse_config(data, file=dirs / "lambdashift.yaml")


def test_hooks_are_checked_at_load_naming_the_key(dirs):
    data = base()
    data["hooks"] = {"pre_traffic": ["smoke"]}
    with pytest.raises(ConfigError, match=r"hooks.pre_traffic"):
        parse_config(data, file=dirs / "lambdashift.yaml")


def test_metrics_source_defaults_to_cloudwatch_and_takes_logs_or_both(project):
    assert project(MINIMAL).metrics == "cloudwatch"
    assert project("metrics: logs\n" + MINIMAL).metrics == "logs"
    assert project("metrics: both\n" + MINIMAL).metrics == "both"
    with pytest.raises(ConfigError, match=r"metrics: must be cloudwatch, logs or both, got 'xray'"):
        project("metrics: xray\n" + MINIMAL)


# --- judged by default (issue 8) ------------------------------------------------------------------


def test_every_split_is_judged_unless_analysis_off(project):
    custom = MINIMAL + "rollout: {strategy: custom, steps: [{weight: 10}, {weight: 50}, {pause: 1m}, {weight: 100}]}\n"
    steps = project(custom).rollout.steps
    # 10% had no look before 50%: a judge step with the defaults is added; the pause at 50% is judged.
    assert steps == (WeightStep(0.1), AnalysisStep(), WeightStep(0.5), AnalysisStep({"min_duration": 60.0, "promote_after": 60.0}),
                     WeightStep(1.0), BAKE)


@pytest.mark.parametrize("where", ["top", "rollout"])
def test_analysis_off_keeps_the_steps_as_written(project, where):
    rollout = "rollout: {strategy: canary, weight: 10, pause: 30s%s}\n" % (", analysis: off" if where == "rollout" else "")
    text = MINIMAL + rollout + ("analysis: off\n" if where == "top" else "")
    config = project(text)
    assert config.rollout.steps == (WeightStep(0.1), PauseStep(30), WeightStep(1.0))
    assert not config.rollout.judged and config.analysis == {}


def test_an_empty_analysis_step_is_the_judge_with_the_defaults(project):
    for step in ("{analysis: {}}", "{analysis: }", "{analysis: null}"):
        config = project(MINIMAL + f"rollout: {{strategy: custom, steps: [{{weight: 10}}, {step}, {{weight: 100}}]}}\n")
        assert config.rollout.steps == (WeightStep(0.1), AnalysisStep(), WeightStep(1.0), BAKE)
        assert str(config.rollout.steps[1]) == "analysis (judge)"


def test_a_pause_longer_than_max_wait_is_refused_at_load(project):
    with pytest.raises(ConfigError, match=r"rollout: step 2 .*min_duration_s ≤ max_wait_s"):
        project(MINIMAL + "analysis: {max_wait: 1m}\nrollout: {strategy: canary, pause: 5m}\n")
