"""``select:`` on the emulator: functions found by name pattern and tag, listed once a run."""

from __future__ import annotations

import uuid

import pytest

from lambdashift.aws.lambda_api import LambdaApi
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.config import parse_config
from lambdashift.errors import ConfigError
from lambdashift.rollout.selection import Selection, expand
from tests.conftest import ECHO_HANDLER, ROLE, make_zip


class CountingApi(LambdaApi):
    """The real wrapper, counting the list calls it makes."""

    calls: dict[str, int]

    def _send(self, operation, target, method, params, **kw):  # noqa: ANN001, ANN003, ANN201
        self.calls[operation] = self.calls.get(operation, 0) + 1
        return super()._send(operation, target, method, params, **kw)


@pytest.fixture
def fleet(client):
    """60 functions (more than one ListFunctions page): 40 orders-*, 20 billing-*, tagged."""
    prefix = uuid.uuid4().hex[:6]
    names = {}
    for i in range(60):
        kind = "orders" if i < 40 else "billing"
        name = f"{prefix}-{kind}-{i:02d}"
        tags = {"team": kind, **({"lambdashift:alias": "live"} if i % 2 == 0 else {})}
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                               Handler="index.handler", Tags=tags,
                               Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})})
        names[name] = tags
    api = CountingApi(client, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=2, base=0.0))
    api.calls = {}
    return prefix, names, api


def config_with(tmp_path, select):  # noqa: ANN001, ANN201
    return parse_config({"select": select}, file=tmp_path / "lambdashift.yaml")


def test_names_and_tags_select_across_pages_and_list_once(fleet, tmp_path):
    prefix, names, api = fleet
    config = config_with(tmp_path, [
        {"names": [f"{prefix}-orders-*"], "tags": {"lambdashift:alias": "live"}},
        {"names": [f"{prefix}-billing-4?"], "group": "billing",
         "rollout": {"strategy": "blue-green"}},
    ])
    expanded = expand(config, api)
    orders = sorted(n for n, t in names.items() if "orders" in n and "lambdashift:alias" in t)
    billing = sorted(n for n in names if "billing-4" in n)
    assert sorted(n for n in expanded.functions if n.startswith(prefix)) == sorted(orders + billing)
    assert all(expanded.function(n).group == "billing" for n in billing)
    assert expanded.function(billing[0]).rollout.strategy == "blue-green"
    assert expanded.function(orders[0]).rollout.strategy == "canary"
    # One listing for both selectors (paginated: 50 a page), tags only for name matches.
    pages = api.calls["ListFunctions"]
    assert pages >= 2
    assert api.calls["ListTags"] == 40  # the orders-* names only, each once
    assert "GetFunctionConfiguration" not in api.calls  # the ARNs come from the listing


def test_a_listed_function_keeps_its_own_settings(fleet, tmp_path):
    prefix, names, api = fleet
    one = sorted(names)[0]
    (tmp_path / "src").mkdir()
    config = parse_config({
        "functions": {one: {"source": "src", "handler": "index.handler", "timeout": 9}},
        "select": [{"names": [f"{prefix}-*"]}]}, file=tmp_path / "lambdashift.yaml")
    expanded = expand(config, api, Selection(api))
    assert expanded.function(one).timeout == 9
    assert len([n for n in expanded.functions if n.startswith(prefix)]) == 60


def test_a_selector_needs_names_or_tags(tmp_path):
    with pytest.raises(ConfigError, match=r"select\[0\]: needs tags or names"):
        config_with(tmp_path, [{"group": "x"}])
