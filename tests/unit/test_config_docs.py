"""docs/config.md's error lines are what lambdashift prints for the mistakes they stand for.

Each line of a block marked ``<!-- snippet: tested by tests/unit/test_config_docs.py -->``
is produced here from the config that makes it (in a directory standing in for the docs'
``/tmp/docrun/bad``), and compared word for word: a message changed in the code without its
docs fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lambdashift.config import load_config
from lambdashift.errors import ConfigError

PAGE = Path(__file__).resolve().parents[2] / "docs" / "config.md"
MARK = "<!-- snippet: tested by tests/unit/test_config_docs.py -->"
SHOWN_ROOT = "/tmp/docrun/bad"
F = {"source": "functions/f", "handler": "index.handler"}


def fn(**extra: Any) -> dict[str, Any]:
    """A config with one function ``f`` (plus ``extra`` keys of it)."""
    return {"functions": {"f": {**F, **extra}}}


def two(f: dict[str, Any], g: dict[str, Any], name: str = "g") -> dict[str, Any]:
    return {"functions": {"f": {**F, **f}, name: {**F, **g}}}


STEPS_OK = [{"weight": 10}, {"pause": "1m"}, {"weight": 100}]

#: Each config, and the line docs/config.md shows for it.
CASES: list[tuple[Any, str]] = [
    (fn(memroy=128), "functions.f: unknown key 'memroy'; did you mean 'memory'?"),
    ("functions:\n  f: {}\n  f: {}\n", "line 3, column 3: duplicate key 'f'"),
    ("functions: {f: 1\n", "line 2, column 1: expected ',' or '}', but got '<stream end>'"),
    ("", "the file is empty; it needs at least 'functions'"),
    ({**fn(), "alias": "123"}, "alias: must be an alias name (a-z A-Z 0-9 - _, not only digits), got '123'"),
    ({**fn(), "target": "prod"}, "target: must be local or aws, got 'prod'"),
    ({**fn(), "region": "europe"}, "region: must be an AWS region such as eu-west-1, got 'europe'"),
    ({"functions": {}}, "functions: at least one function is needed (or a `select:`)"),
    ({"functions": {"notes.get": F}},
     "functions: must be function names of 1 to 64 of a-z A-Z 0-9 - _, got 'notes.get'"),
    (fn(source="functions/nope"), "functions.f.source: must be a directory (the function's code), "
                                  f"but {SHOWN_ROOT}/functions/nope does not exist"),
    (fn(source="functions/index.py"), "functions.f.source: must be a directory (the function's "
                                      f"code), but {SHOWN_ROOT}/functions/index.py is a file"),
    (fn(include=["nope.py"]), "functions.f.include[0]: must be a file or directory, but "
                              f"{SHOWN_ROOT}/nope.py does not exist"),
    ({"functions": {"f": {"source": "functions/f"}}}, "functions.f.handler: required"),
    (fn(handler="index"), "functions.f.handler: must be file.function (index.handler), got 'index'"),
    (fn(runtime="python3"), "functions.f.runtime: must be a Lambda runtime such as python3.12, got 'python3'"),
    (fn(timeout="ten"), "functions.f.timeout: must be an integer from 1 to 900, got 'ten'"),
    (fn(memory=64), "functions.f.memory: must be an integer from 128 to 10240, got 64"),
    (fn(environment={"AWS_REGION": "x"}), "functions.f.environment.AWS_REGION: reserved by Lambda"),
    (fn(environment={"DEBUG": True}), "functions.f.environment.DEBUG: must be a string (quote it), got True"),
    (fn(environment=["A"]), "functions.f.environment: must be a mapping of names to strings, got list ['A']"),
    (fn(secret_environment={"API_TOKEN": "s3cr3t-value"}),
     "functions.f.secret_environment.API_TOKEN: must name an environment variable holding the "
     "value (e.g. NOTES_API_TOKEN), not the value itself"),
    (fn(after=["g"]), "functions.f.after: unknown function 'g'"),
    (fn(after="notes-get"), "functions.f.after: must be a list, got 'notes-get'"),
    (two({"after": ["g"]}, {"after": ["f"]}), "dependency cycle in 'after': f → g → f"),
    (fn(group="a b"), "functions.f.group: must be a group name of 1 to 64 of a-z A-Z 0-9 - _, got 'a b'"),
    (two({"group": "g", "rollout": {"strategy": "blue-green"}}, {"group": "g"}, name="h"),
     "group g: its members must have the same rollout steps to advance together (f, h): give "
     "them one `rollout:`"),
    ({**fn(), "routes": {"GET notes": "f"}}, 'routes["GET notes"]: the path must look like /notes/{id}, got \'notes\''),
    ({**fn(), "routes": {"FETCH /notes": "f"}}, 'routes["FETCH /notes"]: the method must be one of '
                                                "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY, got 'FETCH'"),
    ({**fn(), "routes": {"GET /notes": "g"}}, 'routes["GET /notes"]: unknown function \'g\''),
    ({**fn(), "routes": {"GET /files/{path+}/x": "f"}},
     'routes["GET /files/{path+}/x"]: a greedy {name+} parameter must be the last segment'),
    ({**fn(), "tables": {"nt": {}}}, "tables: must be table names of 3 to 255 of a-z A-Z 0-9 _ . -, got 'nt'"),
    ({**fn(), "tables": {"notes": {"KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}}},
     "tables.notes.AttributeDefinitions: required, a non-empty list"),
    ({**fn(), "tables": {"notes": {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}},
     "tables.notes.KeySchema[0].AttributeName: 'pk' is not in AttributeDefinitions"),
    ({**fn(), "rollout": {"strategy": "canary", "steps": STEPS_OK, "weight": 10}},
     "rollout: give either 'steps' or 'weight', not both"),
    ({**fn(), "rollout": {"strategy": "canarie"}},
     "rollout.strategy: unknown strategy 'canarie'; did you mean 'canary'? (expected blue-green, "
     "canary, linear, custom or a CodeDeploy preset such as LambdaCanary10Percent5Minutes)"),
    ({**fn(), "rollout": {"strategy": "canary", "weight": 100}},
     "rollout.weight: a canary weight must be below 100, got 100"),
    ({**fn(), "rollout": {"strategy": "linear", "increments": 1}},
     "rollout.increments: must be an integer from 2 to 100, got 1"),
    ({**fn(), "rollout": {"strategy": "canary", "pause": "5 minutes"}},
     "rollout.pause: must be a positive duration such as 30s, 5m, 1h30m or 90 (seconds), got '5 minutes'"),
    ({**fn(), "rollout": {"strategy": "blue-green", "weight": 10}},
     "rollout: unknown key 'weight' (expected one of: strategy, analysis, alarms, bake)"),
    ({**fn(), "rollout": {"strategy": "custom"}}, "rollout.steps: required by the custom strategy"),
    ({**fn(), "rollout": {"strategy": "custom", "steps": [{"weight": 50}, {"weight": 20}, {"weight": 100}]}},
     "rollout.steps[1].weight: weights must increase, got 20 after 50 at step 0"),
    ({**fn(), "rollout": {"strategy": "custom", "steps": [{"weight": 10}, {"weight": 100}, {"pause": "1m"}]}},
     "rollout.steps: the last weight step must be {weight: 100}, and only analysis steps "
     "(post-traffic checks) may follow it; got {'pause': '1m'} last"),
    ({**fn(), "rollout": {"strategy": "custom", "steps": [{"weight": 10}, {"wait": "1m"}, {"weight": 100}]}},
     "rollout.steps[1]: unknown key 'wait'; did you mean 'weight'?"),
    ({**fn(), "rollout": {"strategy": "custom", "steps": [{"weight": 10, "pause": "1m"}, {"weight": 100}]}},
     "rollout.steps[0]: a step is a mapping with one key (weight, pause, analysis or alarms), "
     "got {'weight': 10, 'pause': '1m'}"),
    ({**fn(), "rollout": {"strategy": "custom",
                          "steps": [{"weight": 10}, {"pause": {"invocations": 0}}, {"weight": 100}]}},
     "rollout.steps[1].pause.invocations: must be a positive integer, got 0"),
    ({**fn(), "rollout": {"strategy": "custom",
                          "steps": [{"weight": 10}, {"pause": {"count": 5}}, {"weight": 100}]}},
     "rollout.steps[1].pause: unknown key 'count' (expected one of: invocations)"),
    ({**fn(), "rollout": {"strategy": "canary", "analysis": {"alpah": 0.01}}},
     "rollout.analysis: unknown key 'alpah'; did you mean 'alpha'?"),
    ({**fn(), "rollout": {"strategy": "canary", "alarms": "my-alarm"}},
     "rollout.alarms: must be a list of alarm names, got 'my-alarm'"),
    ({**fn(), "analysis": {"alpha": 2}},
     "analysis.alpha: must be a fraction in [0, 1) or a percent such as '1%', got 2"),
    ({**fn(), "analysis": {"alpha": 0}}, "analysis: alpha must be in (0, 1), got 0.0"),
    ({**fn(), "analysis": {"on_timeout": "continue"}},
     "analysis.on_timeout: must be promote, rollback or inconclusive, got 'continue'"),
    ({**fn(), "analysis": ["alpha"]}, "analysis: must be a mapping, got list ['alpha']"),
    ({**fn(), "metrics": "prometheus"}, "metrics: must be cloudwatch, logs or both, got 'prometheus'"),
    ({**fn(), "hooks": {"pre_traffic": [{"http": {"path": "notes"}}]}},
     "hooks.pre_traffic[0].http.path: required, a path starting with /, got 'notes'"),
    ({**fn(), "hooks": {"pre_trafic": []}}, "hooks: unknown key 'pre_trafic'; did you mean 'pre_traffic'?"),
    ({"functions": {"notes-get": F}, "hooks": {"functions": {"notes-gett": {}}}},
     "hooks.functions: unknown key 'notes-gett'; did you mean 'notes-get'?"),
    ({"functions": {"notes-get": F}, "hooks": {"functions": {"notes-get": {
        "pre_traffic": [{"event": {}, "expect": {"status": 200}}]}}}},
     "hooks.functions.notes-get.pre_traffic[0].expect: unknown key 'status'; did you mean 'status_code'?"),
    ({**fn(), "webhooks": {"urls": ["ftp://x"]}},
     "webhooks.urls[0]: must be an http:// or https:// URL, got 'ftp://x'"),
    ({**fn(), "webhooks": {"urls": ["https://example.com/hook"], "events": ["begun"]}}, None),
    ({**fn(), "webhooks": 5}, "webhooks: must be a mapping, got int 5"),
    ({**fn(), "state": {"store": "redis"}}, "state.store: must be sqlite or dynamodb, got 'redis'"),
    ({**fn(), "state": {"lease": 0}},
     "state.lease: must be a positive duration such as 30s, 5m, 1h30m or 90 (seconds), got 0"),
    ({**fn(), "state": {"stor": "sqlite"}}, "state: unknown key 'stor'; did you mean 'store'?"),
    ({**fn(), "select": [{}]},
     "select[0]: needs tags or names (selecting every function is never what was meant)"),
    ({**fn(), "select": [{"tags": {"team": 3}}]}, "select[0].tags: must map tag keys to string values, got {'team': 3}"),
    ({**fn(), "select": {"names": ["x"]}}, "select: must be a list of selectors (tags, names), got {'names': ['x']}"),
    ({**fn(), "prewarm": {"max_concurrency": 0}}, "prewarm.max_concurrency: must be an integer from 1 to 1000, got 0"),
    ({**fn(), "prewarm": "yes"}, "prewarm: must be true, false or a mapping (enabled, concurrency, "
                                 "max_concurrency, window), got 'yes'"),
    ({**fn(), "controller": "always"},
     "controller: must be on, off or a mapping (enabled, rate), got 'always'"),
    ({**fn(), "controller": {"rat": "2s"}}, "controller: unknown key 'rat'; did you mean 'rate'?"),
    ({**fn(), "controller": {"rate": "0.5s"}},
     "controller.rate: must be a whole number of seconds such as '2 seconds', '1 minute', 30s, "
     "5m or 90, from 1 second to 1 day, got '0.5s'"),
    ({**fn(), "controller": True, "state": {"store": "sqlite"}},
     "controller: on keeps rollouts on DynamoDB, where the controller function reads them; "
     "state.store: sqlite is a file on this machine, out of its reach (remove state.store, or "
     "set it to dynamodb)"),
]


def shown_lines() -> list[str]:
    """Every line of the page's tested blocks."""
    lines, out = PAGE.read_text().splitlines(), []
    for i, line in enumerate(lines):
        if line.strip() == MARK:
            start = next(j for j in range(i + 1, len(lines)) if lines[j].strip())
            assert re.match(r"^```\S*$", lines[start])
            end = next(j for j in range(start + 1, len(lines)) if lines[j].startswith("```"))
            out += lines[start + 1:end]
    return out


@pytest.fixture
def bad(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The docs' /tmp/docrun/bad: functions/f/index.py and a stray functions/index.py."""
    root = tmp_path / "bad"
    (root / "functions" / "f").mkdir(parents=True)
    (root / "functions" / "f" / "index.py").write_text("def handler(e, c):\n    return 1\n")
    (root / "functions" / "index.py").write_text("")
    monkeypatch.chdir(root)
    return root


def printed(config: Any, root: Path) -> str:
    """The line ``lambdashift`` prints for this config (as ``lambdashift: MESSAGE``)."""
    text = config if isinstance(config, str) else yaml.safe_dump(config, sort_keys=False)
    (root / "lambdashift.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config("lambdashift.yaml", env={})
    return f"lambdashift: {caught.value}".replace(str(root), SHOWN_ROOT)


def test_each_error_line_shown_is_printed_for_its_config(bad: Path) -> None:
    made = []
    for config, _ in CASES:
        made.append(printed(config, bad))
    from lambdashift.rollout.webhooks import KNOWN_EVENTS

    events = f"lambdashift: lambdashift.yaml: webhooks.events[0]: unknown event 'begun' ({', '.join(KNOWN_EVENTS)})"
    expected = [f"lambdashift: lambdashift.yaml: {line}" if line else events for _, line in CASES]
    assert made == expected
    secret = ("lambdashift: functions.notes-create.secret_environment.API_TOKEN: $NOTES_API_TOKEN is "
              "not set in the environment of this command")
    (bad / "lambdashift.yaml").write_text(yaml.safe_dump(
        {"functions": {"notes-create": {**F, "secret_environment": {"API_TOKEN": "NOTES_API_TOKEN"}}}}))
    with pytest.raises(ConfigError) as caught:
        load_config("lambdashift.yaml", env={}).function("notes-create").deployed_environment({})
    assert f"lambdashift: {caught.value}" == secret
    assert set(shown_lines()) == {*expected, secret}  # the page shows exactly these
