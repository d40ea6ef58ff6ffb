"""LambdaApi against moto's in-process Lambda (``mock_aws``): an independent implementation.

The same wrapper, the same boto3 code path as against AWS, checked against someone else's
reading of the Lambda API. Where moto differs from AWS (AWS_LAMBDA_SEMANTICS.md), the test
asserts what moto does and its name starts with ``test_moto_differs_``; nothing is skipped.
No Invoke here: moto would try to run the function in Docker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from lambdashift.aws.lambda_api import AliasState, LambdaApi
from lambdashift.aws.packaging import code_sha256
from lambdashift.aws.throttle import NO_LIMIT, RetryPolicy
from lambdashift.errors import AwsError, ConflictError, NotFoundError
from lambdashift.model import Traffic
from tests.conftest import ECHO_HANDLER, make_zip

TRUST = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}
PACKAGE = make_zip({"index.py": ECHO_HANDLER})


@pytest.fixture
def role() -> Iterator[str]:
    """Inside mock_aws: an IAM role moto's Lambda accepts (it checks that the role exists)."""
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        yield iam.create_role(RoleName="lambdashift-test",
                              AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]


@pytest.fixture
def api(role) -> LambdaApi:
    client = boto3.client("lambda", region_name="us-east-1",
                          config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    return LambdaApi(client, limiter=NO_LIMIT, retry=RetryPolicy(max_attempts=2, base=0.0))


@pytest.fixture
def raw(role) -> Any:
    return boto3.client("lambda", region_name="us-east-1")


def create(api: LambdaApi, role: str, name: str = "notes-get", **kwargs: Any) -> dict[str, Any]:
    return api.create_function(name, zip_bytes=PACKAGE, handler="index.handler",
                               runtime="python3.12", role=role, **kwargs)


@pytest.fixture
def two_versions(api, role) -> str:
    """notes-get with versions 1 and 2, published through LambdaApi."""
    create(api, role, environment={"RELEASE": "v1"}, publish=True)
    api.update_configuration("notes-get", environment={"RELEASE": "v2"}, expected_revision=None)
    api.wait_updated("notes-get")
    assert api.publish_version("notes-get", code_sha256=code_sha256(PACKAGE),
                               expected_revision=None) == "2"
    return "notes-get"


# -- what moto does as AWS does ----------------------------------------------------------


def test_create_function_and_read_its_configuration(api, role):
    config = create(api, role, memory=256, timeout=7, environment={"RELEASE": "v1"})
    assert config["CodeSha256"] == code_sha256(PACKAGE) and "ResponseMetadata" not in config
    assert api.function_exists("notes-get") and not api.function_exists("nope")
    latest = api.function_configuration("notes-get")
    assert latest["MemorySize"] == 256 and latest["Timeout"] == 7
    assert latest["Environment"] == {"Variables": {"RELEASE": "v1"}}
    with pytest.raises(NotFoundError):
        api.function_configuration("nope")


def test_versions_publish_and_latest_version(api, role):
    create(api, role)
    assert api.versions("notes-get") == [] and api.latest_version("notes-get") is None
    assert api.publish_version("notes-get", code_sha256=code_sha256(PACKAGE),
                               expected_revision=None, description="first") == "1"
    assert api.publish_version("notes-get", code_sha256=None, expected_revision=None) == "1"
    api.update_code("notes-get", make_zip({"index.py": ECHO_HANDLER + "# 2\n"}),
                    expected_revision=None)
    assert api.wait_updated("notes-get")["LastUpdateStatus"] == "Successful"
    assert api.publish_version("notes-get", code_sha256=None, expected_revision=None) == "2"
    assert api.versions("notes-get") == ["1", "2"] and api.latest_version("notes-get") == "2"
    assert api.function_configuration("notes-get", "1")["Description"] == "first"


def test_update_code_returns_the_new_code_sha256(api, role):
    create(api, role)
    package = make_zip({"index.py": ECHO_HANDLER + "# changed\n"})
    assert api.update_code("notes-get", package,
                           expected_revision=None)["CodeSha256"] == code_sha256(package)


def test_create_get_and_update_alias(api, two_versions):
    created = api.create_alias(two_versions, "live", "1", description="managed by lambdashift")
    assert isinstance(created, AliasState) and created.traffic == Traffic("1")
    assert created.arn.endswith(":function:notes-get:live") and created.revision_id
    assert api.alias_exists(two_versions, "live") and not api.alias_exists(two_versions, "dev")
    split = api.update_alias(two_versions, "live", Traffic("1", "2", 0.1),
                             expected_revision=created.revision_id)
    assert split.traffic == Traffic("1", "2", 0.1)
    assert api.get_alias(two_versions, "live").traffic == Traffic("1", "2", 0.1)
    done = api.update_alias(two_versions, "live", Traffic("2"), expected_revision=split.revision_id)
    assert done.traffic == Traffic("2") and done.function_version == "2"
    assert api.get_alias(two_versions, "live").traffic == Traffic("2")


def test_unknown_alias_function_or_version_is_not_found(api, two_versions):
    with pytest.raises(NotFoundError):
        api.get_alias(two_versions, "nope")
    with pytest.raises(NotFoundError):
        api.get_alias("nope", "live")
    with pytest.raises(NotFoundError):
        api.update_alias(two_versions, "nope", Traffic("1"), expected_revision=None)
    with pytest.raises(NotFoundError):
        api.create_alias(two_versions, "live", "9")


def test_alias_on_latest_is_refused_with_an_explanation(api, raw, two_versions):
    raw.create_alias(FunctionName=two_versions, Name="dev", FunctionVersion="$LATEST")
    with pytest.raises(AwsError) as exc:
        api.get_alias(two_versions, "dev")
    assert exc.value.code == "AliasOnLatest" and api.alias_exists(two_versions, "dev")


# -- where moto differs from AWS ---------------------------------------------------------


def test_moto_differs_accepts_a_stale_alias_revision_and_never_changes_it(api, two_versions):
    """AWS: PreconditionFailedException (412), and every UpdateAlias yields a new RevisionId."""
    created = api.create_alias(two_versions, "live", "1")
    split = api.update_alias(two_versions, "live", Traffic("1", "2", 0.5),
                             expected_revision="not-the-current-revision")
    assert split.traffic == Traffic("1", "2", 0.5)
    assert split.revision_id == created.revision_id


def test_moto_differs_keeps_an_empty_routing_config_in_the_alias(api, raw, two_versions):
    """AWS drops the RoutingConfig key once AdditionalVersionWeights is emptied."""
    api.create_alias(two_versions, "live", "1")
    api.update_alias(two_versions, "live", Traffic("1", "2", 0.5), expected_revision=None)
    api.update_alias(two_versions, "live", Traffic("2"), expected_revision=None)
    shown = raw.get_alias(FunctionName=two_versions, Name="live")
    assert shown["RoutingConfig"] == {"AdditionalVersionWeights": {}}
    assert api.get_alias(two_versions, "live").traffic == Traffic("2")  # read the same anyway


def test_moto_differs_answers_alias_reads_and_updates_with_201(raw, api, two_versions):
    """AWS: GetAlias and UpdateAlias answer 200 (LambdaApi does not look at the status)."""
    api.create_alias(two_versions, "live", "1")
    assert raw.get_alias(FunctionName=two_versions, Name="live")[
        "ResponseMetadata"]["HTTPStatusCode"] == 201


def test_moto_differs_names_an_existing_alias_conflict_exception(api, two_versions):
    """AWS: ResourceConflictException (409) → ConflictError. moto's ConflictException code is
    not one of AWS's Lambda codes, so LambdaApi leaves it a plain AwsError on purpose."""
    api.create_alias(two_versions, "live", "1")
    with pytest.raises(AwsError) as exc:
        api.create_alias(two_versions, "live", "2")
    assert exc.value.code == "ConflictException" and not isinstance(exc.value, ConflictError)
    assert "Alias already exists" in str(exc.value)


def test_moto_differs_routes_to_a_version_that_does_not_exist(api, two_versions):
    """AWS: ResourceNotFoundException (404) for an additional version that does not exist."""
    api.create_alias(two_versions, "live", "1")
    state = api.update_alias(two_versions, "live", Traffic("1", "9", 0.5), expected_revision=None)
    assert state.traffic == Traffic("1", "9", 0.5)


def test_moto_differs_has_no_function_revision_ids(api, role):
    """AWS: every function version carries a RevisionId, and UpdateFunctionCode,
    UpdateFunctionConfiguration and PublishVersion refuse a stale one (412)."""
    config = create(api, role)
    assert "RevisionId" not in config
    assert "RevisionId" not in api.function_configuration("notes-get")
    updated = api.update_code("notes-get", make_zip({"index.py": "x = 1\n"}),
                              expected_revision="stale")
    assert "RevisionId" not in updated
    config = api.update_configuration("notes-get", timeout=9, expected_revision="stale")
    assert config["Timeout"] == 9
    assert api.publish_version("notes-get", code_sha256=None, expected_revision="stale") == "1"


def test_moto_differs_publishes_whatever_code_sha256_is_given(api, role):
    """AWS: InvalidParameterValueException when CodeSha256 is not $LATEST's."""
    create(api, role)
    assert api.publish_version("notes-get", code_sha256="bm90IHRoaXMgY29kZQ==",
                               expected_revision=None) == "1"


def test_moto_differs_lists_no_versions_for_an_unknown_function(api):
    """AWS: ListVersionsByFunction of an unknown function is ResourceNotFoundException."""
    assert api.versions("nope") == [] and api.latest_version("nope") is None


def test_moto_differs_leaves_last_update_status_out_of_create_function(api, role):
    """AWS's CreateFunction answers State Pending while the function is being created; moto is
    Active at once and omits LastUpdateStatus until the first read. wait_updated copes."""
    config = create(api, role)
    assert config["State"] == "Active" and "LastUpdateStatus" not in config
    assert api.wait_updated("notes-get")["LastUpdateStatus"] == "Successful"


# -- issue 11's rules, where moto follows AWS -------------------------------------------


def test_a_description_change_alone_makes_the_next_version(api, raw, role):
    create(api, role)
    raw.update_function_configuration(FunctionName="notes-get", Description="first")
    assert api.publish_version("notes-get", code_sha256=None, expected_revision=None) == "1"
    raw.update_function_configuration(FunctionName="notes-get", Description="second")
    assert api.publish_version("notes-get", code_sha256=None, expected_revision=None) == "2"
    assert api.publish_version("notes-get", code_sha256=None, expected_revision=None) == "2"


def test_calls_without_a_qualifier_answer_the_unqualified_function_arn(api, raw, role):
    arn = "arn:aws:lambda:us-east-1:123456789012:function:notes-get"
    assert create(api, role)["FunctionArn"] == arn
    assert raw.get_function(FunctionName="notes-get")["Configuration"]["FunctionArn"] == arn
    assert api.function_configuration("notes-get")["FunctionArn"] == arn
    assert raw.update_function_configuration(FunctionName="notes-get", Timeout=5)["FunctionArn"] == arn
    versions = raw.list_versions_by_function(FunctionName="notes-get")["Versions"]
    assert [v["FunctionArn"] for v in versions] == [f"{arn}:$LATEST"]


def test_an_alias_to_a_missing_version_names_the_qualified_arn(api, raw, role):
    create(api, role)
    with pytest.raises(NotFoundError) as exc:
        api.create_alias("notes-get", "live", "1")
    assert "Function not found: arn:aws:lambda:us-east-1:123456789012:function:notes-get:1" in str(exc.value)


def test_add_permission_answers_the_statement_as_a_json_string(raw, two_versions):
    raw.create_alias(FunctionName="notes-get", Name="live", FunctionVersion="1")
    source = "arn:aws:execute-api:us-east-1:123456789012:abc/*/GET/notes/*"
    statement = json.loads(raw.add_permission(
        FunctionName="notes-get", Qualifier="live", StatementId="http-api",
        Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
        SourceArn=source)["Statement"])
    assert statement["Resource"].endswith(":function:notes-get:live")
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": source}}
    policy = raw.get_policy(FunctionName="notes-get", Qualifier="live")
    assert json.loads(policy["Policy"])["Statement"] == [statement] and policy["RevisionId"]


def test_moto_differs_accepts_a_duplicate_statement_id(raw, two_versions):
    """AWS: ResourceConflictException "The statement id (...) provided already exists"."""
    for _ in range(2):
        raw.add_permission(FunctionName="notes-get", StatementId="same",
                           Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com")
    assert len(json.loads(raw.get_policy(FunctionName="notes-get")["Policy"])["Statement"]) == 2


def test_moto_differs_splits_an_alias_over_versions_with_different_roles(api, raw, role):
    """AWS: both versions of a weighted alias must have the same execution role."""
    create(api, role, publish=True)
    other = boto3.client("iam", region_name="us-east-1").create_role(
        RoleName="other", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    raw.update_function_configuration(FunctionName="notes-get", Role=other)
    assert api.publish_version("notes-get", code_sha256=None, expected_revision=None) == "2"
    api.create_alias("notes-get", "live", "1")
    split = api.update_alias("notes-get", "live", Traffic("1", "2", 0.1), expected_revision=None)
    assert split.traffic == Traffic("1", "2", 0.1)
