"""Config errors a newcomer meets: a did-you-mean for every key, required ones included,
and a ``source:`` error that says what is at the path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from lambdashift.config import parse_config
from lambdashift.errors import ConfigError

BASE = {"functions": {"f": {"source": "fn", "handler": "index.handler"}}}
TABLE = {"AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
         "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "index.py").write_text("def handler(e, c):\n    return 1\n")
    return tmp_path


def refusal(root: Path, extra: dict) -> str:
    data = copy.deepcopy(BASE)
    for key, value in extra.items():
        if key == "function":
            data["functions"]["f"] = value
        else:
            data[key] = value
    with pytest.raises(ConfigError) as caught:
        parse_config(data, file=root / "lambdashift.yaml")
    return str(caught.value)


FN = {"source": "fn", "handler": "index.handler"}


@pytest.mark.parametrize(("extra", "where", "typo", "meant"), [
    ({"rollout": {"stratgy": "canary"}}, "rollout", "stratgy", "strategy"),  # the issue's case
    ({"rollout": {"stratgy": "linear", "increments": 20}}, "rollout", "stratgy", "strategy"),
    ({"function": {**FN, "rollout": {"strtegy": "blue-green"}}}, "functions.f.rollout", "strtegy",
     "strategy"),
    ({"function": {"sorce": "fn", "handler": "index.handler"}}, "functions.f", "sorce", "source"),
    ({"function": {"source": "fn", "handlr": "index.handler"}}, "functions.f", "handlr", "handler"),
    ({"rollout": {"strategy": "custom", "step": [{"weight": 100}]}}, "rollout", "step", "steps"),
    ({"hooks": {"pre_traffic": [{"evnt": {}}]}}, "hooks.pre_traffic[0]", "evnt", "event"),
    ({"hooks": {"pre_traffic": [{"htp": {"path": "/"}}]}}, "hooks.pre_traffic[0]", "htp", "http"),
    ({"tables": {"notes": {"AttributeDefinition": TABLE["AttributeDefinitions"],
                           "KeySchema": TABLE["KeySchema"]}}},
     "tables.notes", "AttributeDefinition", "AttributeDefinitions"),
    ({"tables": {"notes": {"AttributeDefinitions": TABLE["AttributeDefinitions"],
                           "KeySchemas": TABLE["KeySchema"]}}}, "tables.notes", "KeySchemas", "KeySchema"),
    ({"prewarm": {"concurency": 2}}, "prewarm", "concurency", "concurrency"),
    ({"webhooks": {"url": ["http://127.0.0.1:1/"]}}, "webhooks", "url", "urls"),
])
def test_a_typo_of_a_key_required_or_not_gets_a_did_you_mean(root, extra, where, typo, meant) -> None:
    message = refusal(root, extra).split("lambdashift.yaml: ", 1)[1]
    assert message == f"{where}: unknown key {typo!r}; did you mean {meant!r}?"


def test_a_missing_strategy_with_no_typo_nearby_is_still_required(root) -> None:
    assert "rollout.strategy: required" in refusal(root, {"rollout": {"weight": 10}})


def test_a_source_that_is_a_file_says_it_is_a_file(root) -> None:
    message = refusal(root, {"function": {**FN, "source": "fn/index.py"}})
    assert f"functions.f.source: must be a directory (the function's code), but " \
           f"{root / 'fn' / 'index.py'} is a file" in message
    assert "no such" not in message


def test_a_missing_source_says_it_does_not_exist_with_a_did_you_mean(root) -> None:
    message = refusal(root, {"function": {**FN, "source": "fnn"}})
    assert f"{root / 'fnn'} does not exist; did you mean 'fn'?" in message


def test_a_missing_source_deep_down_names_the_nearest_directory_that_exists(root) -> None:
    message = refusal(root, {"function": {**FN, "source": "a/b/c"}})
    assert f"{root / 'a/b/c'} does not exist (nor does {root / 'a/b'}; {root} does)" in message


def test_a_source_that_is_a_dangling_link_says_where_it_points(root) -> None:
    (root / "link").symlink_to("gone")
    message = refusal(root, {"function": {**FN, "source": "link"}})
    assert f"{root / 'link'} is a symbolic link to gone, which does not exist" in message


def test_an_include_that_is_missing_says_it_does_not_exist(root) -> None:
    message = refusal(root, {"function": {**FN, "include": ["shared.py"]}})
    assert f"functions.f.include[0]: must be a file or directory, but {root / 'shared.py'} does not exist" in message
