"""Fuzzing lambdashift.yaml with hypothesis: a bad file is exit 2 and one line, never a traceback.

Two kinds of file: YAML documents built from the config's own keys with values of every
shape (so that the checks deep inside, steps, analysis, hooks, routes, tables, are
reached), and raw text with YAML's special characters (so that the parser's errors are).
Each is run through the CLI's ``main`` in process (``status --config FILE``): a bad file
must give exit 2 and exactly one line on stderr, naming the file; a file that happens to be
valid may only go on to say the local stack is not running (exit 1, one line). An
"internal error" line is what main prints for an exception nobody expected: a bug.
A few examples also go through a real ``lambdashift`` process, to show the exit code.
"""

from __future__ import annotations

import os
import contextlib
import io
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdashift.cli.main import main
from tests.e2e.conftest import cli
from tests.reliability_log import record

#: LAMBDASHIFT_FUZZ_EXAMPLES=N runs N per case instead, for a deeper search by hand.
EXAMPLES = int(os.environ.get("LAMBDASHIFT_FUZZ_EXAMPLES", "100"))

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "src", "index.handler", "python3.12", "10s", "5m", "manual", "1e400",
                     "canary", "linear", "blue-green", "custom", "LambdaAllAtOnce", "GET /x",
                     "POST /notes/{id}", "notes", "live", "local", "aws", "us-east-1", "-1",
                     "0.0", "nan", "{invocations: 3}", "${X}", "fn"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), scalars), inner,
                                                 max_size=4)), max_leaves=12)


def _maybe(keys: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """A mapping with some of ``keys`` (each with its own strategy) and maybe a stray one."""
    return st.fixed_dictionaries({}, optional={**keys, "bogus": values})


steps = st.lists(st.one_of(
    _maybe({"weight": values | st.integers(-5, 150), "pause": values | st.sampled_from(["1s", "manual"]),
            "analysis": values, "alarms": values}),
    values), max_size=4)
rollout = _maybe({"strategy": values | st.sampled_from(["canary", "linear", "custom", "blue-green"]),
                  "steps": steps | values, "weight": values, "pause": values, "increments": values,
                  "analysis": values, "alarms": values})
function = _maybe({"source": st.just("src") | values, "handler": st.just("index.handler") | values,
                   "runtime": st.just("python3.12") | values, "timeout": values, "memory": values,
                   "environment": values, "after": values, "include": values, "rollout": rollout | values})
config = _maybe({
    "alias": values, "target": st.just("local") | values, "region": values,
    "functions": st.dictionaries(st.sampled_from(["fn", "b", "x y", "1"]) | st.text(max_size=6),
                                 function | values, max_size=3) | values,
    "routes": st.dictionaries(st.sampled_from(["GET /x", "POST /notes/{id}", "BOGUS /", "GET x"])
                              | st.text(max_size=10), values, max_size=3) | values,
    "tables": values, "rollout": rollout | values, "analysis": values,
    "hooks": _maybe({"timeout": values, "pre_traffic": values, "post_traffic": values,
                     "functions": values}) | values,
    "webhooks": values,
})
yaml_text = st.text(alphabet=st.sampled_from(list("ab: -[]{}&*!|>'\"%@`#,?\n\t\\x0123.") + ["\ufeff", "é"]),
                    max_size=60)

#: A valid file; the mutated strategy sets one place in it to a value of any shape, so the
#: checks deep inside (one step's weight, one table's key schema) are reached.
BASE = {
    "alias": "live", "target": "local",
    "functions": {"fn": {"source": "src", "handler": "index.handler", "runtime": "python3.12",
                         "timeout": 10, "environment": {"TABLE": "notes"}},
                  "b": {"source": "src", "handler": "index.handler", "after": ["fn"],
                        "rollout": {"strategy": "linear", "increments": 2, "pause": "1s"}}},
    "routes": {"GET /x/{id}": "fn", "POST /x": "b"},
    "tables": {"notes": {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                         "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                         "BillingMode": "PAY_PER_REQUEST"}},
    "rollout": {"strategy": "custom", "steps": [{"weight": 10}, {"pause": "1s"},
                                                {"analysis": {"alpha": "1%"}}, {"weight": 100}]},
    "analysis": {"min_invocations": 100},
    "webhooks": {"urls": ["http://127.0.0.1:9/x"], "events": ["started"]},
}
PLACES = [
    ("alias",), ("target",), ("region",), ("functions",), ("functions", "fn"),
    ("functions", "fn", "source"), ("functions", "fn", "handler"), ("functions", "fn", "runtime"),
    ("functions", "fn", "timeout"), ("functions", "fn", "memory"), ("functions", "fn", "environment"),
    ("functions", "fn", "environment", "TABLE"), ("functions", "fn", "include"),
    ("functions", "b", "after"), ("functions", "b", "rollout"), ("functions", "b", "rollout", "pause"),
    ("functions", "b", "rollout", "increments"), ("routes",), ("routes", "GET /x/{id}"),
    ("routes", "PUT /y"), ("tables",), ("tables", "notes"), ("tables", "notes", "KeySchema"),
    ("tables", "notes", "AttributeDefinitions"), ("tables", "notes", "GlobalSecondaryIndexes"),
    ("rollout",), ("rollout", "strategy"), ("rollout", "steps"), ("rollout", "steps", 0),
    ("rollout", "steps", 0, "weight"), ("rollout", "steps", 1, "pause"),
    ("rollout", "steps", 2, "analysis"), ("rollout", "steps", 2, "analysis", "alpha"),
    ("rollout", "steps", 2, "analysis", "max_wait"), ("rollout", "alarms"), ("analysis",),
    ("analysis", "alpha"), ("analysis", "min_duration"), ("analysis", "on_timeout"),
    ("webhooks",), ("webhooks", "urls"), ("webhooks", "events"), ("webhooks", "timeout"),
    ("webhooks", "attempts"),
]


def _set(data: object, place: tuple, value: object) -> object:
    import copy

    data = copy.deepcopy(data)
    target = data
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    return data


mutated = st.builds(_set, st.just(BASE), st.sampled_from(PLACES), values)

COUNTS: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _record():
    yield
    record("fuzz: lambdashift.yaml", "hypothesis: YAML built from the config's keys with values "
           "of every shape, and raw YAML-ish text, through `lambdashift status --config`",
           COUNTS["files"], f"{COUNTS['exit 2']} exit 2 with one line, {COUNTS['valid']} valid "
           f"(exit 1: no stack); tracebacks or internal errors: {COUNTS['bad']}", COUNTS["bad"])


def _run_in_process(path: Path) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["status", "--config", str(path)])
        except SystemExit as exc:  # argparse only; the config never comes to it
            code = int(exc.code or 0)
    return code, err.getvalue()


def _check(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code, err = _run_in_process(path)
    lines = err.strip().splitlines()
    COUNTS["files"] += 1
    ok = (len(lines) == 1 and "Traceback" not in err and "internal error" not in err
          and (code == 2 and str(path) in err or code == 1 and "no local stack is running" in err))
    if not ok:
        COUNTS["bad"] += 1
    else:
        COUNTS["exit 2" if code == 2 else "valid"] += 1
    assert ok, (code, err[-600:], text[:400])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzzcfg")
    (root / "src").mkdir()
    (root / "src" / "index.py").write_text("def handler(e, c):\n    return 1\n")
    return root


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=config | values)
def test_a_config_of_any_shape_is_exit_2_and_one_line(workdir, data):
    _check(workdir / "lambdashift.yaml", yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=mutated)
def test_a_valid_config_with_one_bad_place_is_exit_2_and_one_line(workdir, data):
    _check(workdir / "lambdashift.yaml", yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@settings(max_examples=EXAMPLES // 2, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(text=yaml_text)
def test_yaml_that_does_not_parse_is_exit_2_and_one_line(workdir, text):
    _check(workdir / "lambdashift.yaml", text)


@pytest.mark.parametrize("text", ["functions: [", "functions:\n  fn: {source: ., timeout: .inf}"])
def test_the_real_command_exits_2_with_one_line(tmp_path, text):
    (tmp_path / "lambdashift.yaml").write_text(text)
    out = cli("status", "--config", str(tmp_path / "lambdashift.yaml"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
