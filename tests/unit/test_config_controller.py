"""``controller:`` of lambdashift.yaml: off by default, the short and long forms, the rate,
and the DynamoDB state store it implies."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdashift.config import TOP_KEYS, ControllerConfig, load_config
from lambdashift.config.controller import parse_controller
from lambdashift.errors import ConfigError

FUNCTION = """
functions:
  f:
    source: functions/f
    handler: index.handler
"""


@pytest.fixture
def write(tmp_path: Path):
    (tmp_path / "functions" / "f").mkdir(parents=True)

    def load(extra: str):
        path = tmp_path / "lambdashift.yaml"
        path.write_text(FUNCTION + textwrap.dedent(extra))
        return load_config(path, env={})
    return load


def test_off_by_default_and_the_state_store_stays_sqlite(write):
    config = write("")
    assert "controller" in TOP_KEYS
    assert config.controller == ControllerConfig() and not config.controller
    assert config.state.store == "sqlite"


def test_yaml_on_alone_turns_it_on_every_minute_and_implies_dynamodb_state(write):
    config = write("controller: on\n")
    assert config.controller.enabled and config.controller.rate_seconds == 60
    assert config.controller.expression == "rate(1 minute)"
    assert config.state.store == "dynamodb" and config.state.table == "lambdashift-state"


def test_yaml_off_is_off(write):
    assert not write("controller: off\n").controller


def test_state_settings_other_than_the_store_are_kept(write):
    config = write("controller: on\nstate: {table: team-state, lease: 30s}\n")
    assert (config.state.store, config.state.table, config.state.lease_seconds) == \
        ("dynamodb", "team-state", 30.0)


def test_an_explicit_sqlite_store_is_refused_since_the_controller_cannot_reach_it(write):
    with pytest.raises(ConfigError, match=r"controller: on keeps rollouts on DynamoDB.*"
                                          r"state\.store: sqlite"):
        write("controller: on\nstate: {store: sqlite}\n")
    # Off, sqlite is fine; on with dynamodb written out is fine.
    assert write("controller: off\nstate: {store: sqlite}\n").state.store == "sqlite"
    assert write("controller: on\nstate: {store: dynamodb}\n").state.store == "dynamodb"


@pytest.mark.parametrize(("rate", "seconds", "expression"), [
    ("2 seconds", 2, "rate(2 seconds)"),
    ("1 second", 1, "rate(1 second)"),
    ("1 minute", 60, "rate(1 minute)"),
    ("rate(5 minutes)", 300, "rate(5 minutes)"),
    ("30s", 30, "rate(30 seconds)"),
    ("90", 90, "rate(90 seconds)"),
    (120, 120, "rate(2 minutes)"),
    ("1h", 3600, "rate(1 hour)"),
    ("2 days", 86400 * 2, None),
])
def test_rate_forms_become_a_scheduler_rate_expression(rate, seconds, expression):
    if expression is None:  # over a day
        with pytest.raises(ConfigError, match="from 1 second to 1 day"):
            parse_controller({"rate": rate})
        return
    parsed = parse_controller({"rate": rate})
    assert parsed.enabled and parsed.rate_seconds == seconds
    assert parsed.expression == expression


@pytest.mark.parametrize(("raw", "words"), [
    ({"rate": "0.5s"}, "controller.rate: must be a whole number of seconds"),
    ({"rate": "soon"}, "controller.rate: must be a whole number of seconds"),
    ({"rate": True}, "controller.rate: must be a whole number of seconds"),
    ({"rate": "0 seconds"}, "from 1 second to 1 day"),
    ({"enabled": "yes"}, "controller.enabled: must be true or false"),
    ({"enabeld": True}, "did you mean 'enabled'?"),
    ("always", "controller: must be on, off or a mapping"),
    (3, "controller: must be on, off or a mapping"),
])
def test_bad_values_are_one_clear_config_error(raw, words):
    with pytest.raises(ConfigError) as caught:
        parse_controller(raw)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_mapping_with_enabled_false_keeps_the_rate_but_is_off():
    parsed = parse_controller({"enabled": False, "rate": "2s"})
    assert not parsed and parsed.rate_seconds == 2
