"""The check's verdicts as plain functions of the facts (rollout/check.py)."""

from __future__ import annotations

from lambdashift.aws.inventory import AccountFacts, FunctionFacts
from lambdashift.rollout.check import check_alarms, check_function, check_storage

ROLE = "arn:aws:iam::123456789012:role/notes"


def facts(**changes) -> FunctionFacts:
    base = {"name": "notes-get", "exists": True,
            "alias": {"FunctionVersion": "1", "AliasArn": "arn:aws:lambda:eu-west-1:123456789012:function:notes-get:live"},
            "versions": ("1", "2"),
            "configs": {"1": {"Role": ROLE, "State": "Active"}, "2": {"Role": ROLE, "State": "Active"}},
            "alias_provisioned": False}
    return FunctionFacts(**{**base, **changes})


def test_two_compatible_versions_have_no_finding():
    assert check_function(facts(), "live", owned=False) == []


def test_different_dead_letter_configs_block_with_the_fix():
    configs = {"1": {"Role": ROLE}, "2": {"Role": ROLE, "DeadLetterConfig": {"TargetArn": "arn:aws:sqs:eu-west-1:123456789012:dlq"}}}
    (finding,) = check_function(facts(configs=configs), "live", owned=False)
    assert finding.blocking and finding.check == "versions" and "dead-letter" in finding.message
    assert "DeadLetterConfig" in finding.fix


def test_provisioned_concurrency_on_the_alias_blocks():
    (finding,) = check_function(facts(alias_provisioned=True), "live", owned=False)
    assert finding.blocking and "delete-provisioned-concurrency-config" in finding.fix


def test_a_split_owned_by_a_rollout_is_not_a_finding_but_someone_elses_is():
    split = {"FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}}
    assert check_function(facts(alias=split), "live", owned=True) == []
    (finding,) = check_function(facts(alias=split), "live", owned=False)
    assert finding.blocking and "10% to version 2" in finding.message


def test_a_candidate_still_pending_blocks():
    configs = {"1": {"Role": ROLE}, "2": {"Role": ROLE, "State": "Pending"}}
    (finding,) = check_function(facts(configs=configs), "live", owned=False)
    assert finding.check == "candidate" and "Pending" in finding.message


def test_code_storage_left_against_the_quota():
    assert check_storage(AccountFacts(1000, 100), needed=50) == []
    (full,) = check_storage(AccountFacts(1000, 990), needed=50)
    assert full.blocking and "10 bytes of code storage left" in full.message
    (low,) = check_storage(AccountFacts(1000, 960), needed=10)
    assert not low.blocking
    (unknown,) = check_storage(None, needed=10)
    assert not unknown.blocking and "not checked" in unknown.message


def test_missing_alarms_block_and_a_target_without_cloudwatch_warns():
    (missing,) = check_alarms("notes-get", ["a", "b"], missing=["b"])
    assert missing.blocking and "'b'" in missing.message
    (local,) = check_alarms("notes-get", ["a"], missing=None)
    assert not local.blocking
