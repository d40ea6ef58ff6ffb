"""AWS rules that rollouts depend on, through boto3 (issue 11): each test is named after one.

Versions snapshot the configuration (a description change alone makes a new version);
ARNs are unqualified unless a qualifier is named; a weighted alias's two versions share
role and dead-letter config and the alias has no provisioned concurrency; resource
policies are per qualifier, shaped as AWS shapes them.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ECHO_HANDLER, ROLE, make_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
OTHER_ROLE = "arn:aws:iam::000000000000:role/someone-else"
DLQ = "arn:aws:sqs:us-east-1:000000000000:dead-letters"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


# -- a configuration change makes a new version ------------------------------------------


def test_a_description_change_alone_makes_the_next_version(client, make_function, fn_name):
    """Recorded on AWS: two description updates with a publish after each give versions 1, 2;
    a second publish with nothing changed returns the existing version."""
    make_function()
    client.update_function_configuration(FunctionName=fn_name, Description="first")
    assert client.publish_version(FunctionName=fn_name)["Version"] == "1"
    client.update_function_configuration(FunctionName=fn_name, Description="second")
    second = client.publish_version(FunctionName=fn_name)
    again = client.publish_version(FunctionName=fn_name)
    assert second["Version"] == "2" and second["Description"] == "second"
    assert again["Version"] == "2" and again["RevisionId"] == second["RevisionId"]


@pytest.mark.parametrize("change", [
    {"Handler": "index.handler2"}, {"Timeout": 9}, {"MemorySize": 256}, {"Role": OTHER_ROLE},
    {"Environment": {"Variables": {"RELEASE": "v9"}}}, {"DeadLetterConfig": {"TargetArn": DLQ}},
])
def test_every_setting_aws_snapshots_makes_a_new_version(client, make_function, fn_name, change):
    make_function({"index.py": ECHO_HANDLER + "\nhandler2 = handler\n"}, publish=True)
    client.update_function_configuration(FunctionName=fn_name, **change)
    assert client.publish_version(FunctionName=fn_name)["Version"] == "2"


def test_a_publish_description_does_not_make_an_unchanged_function_publish_again(
        client, make_function, fn_name):
    make_function()
    assert client.publish_version(FunctionName=fn_name, Description="v1 notes")["Version"] == "1"
    assert client.publish_version(FunctionName=fn_name)["Version"] == "1"


# -- ARNs ----------------------------------------------------------------------------------


def test_calls_without_a_qualifier_answer_the_unqualified_function_arn(client, fn_name):
    unqualified = ARN + fn_name
    created = client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE,
                                     Handler="index.handler",
                                     Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})})
    assert created["FunctionArn"] == unqualified
    assert client.get_function(FunctionName=fn_name)["Configuration"]["FunctionArn"] == unqualified
    assert client.get_function_configuration(FunctionName=fn_name)["FunctionArn"] == unqualified
    updated = client.update_function_configuration(FunctionName=fn_name, Description="x")
    assert updated["FunctionArn"] == unqualified
    code = client.update_function_code(FunctionName=fn_name,
                                       ZipFile=make_zip({"index.py": ECHO_HANDLER + "#2"}))
    assert code["FunctionArn"] == unqualified
    # Every page: other tests share this emulator, and AWS pages ListFunctions by 50.
    listed = [f for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
    assert [v["FunctionArn"] for v in listed if v["FunctionName"] == fn_name] == [unqualified]


def test_only_list_versions_by_function_names_latest_in_the_arn(client, make_function, fn_name):
    make_function(publish=True)
    arns = [v["FunctionArn"] for v in client.list_versions_by_function(FunctionName=fn_name)["Versions"]]
    assert arns == [f"{ARN}{fn_name}:$LATEST", f"{ARN}{fn_name}:1"]
    named = client.get_function_configuration(FunctionName=fn_name, Qualifier="$LATEST")
    assert named["FunctionArn"] == f"{ARN}{fn_name}:$LATEST"


def test_an_alias_to_a_missing_version_names_the_qualified_arn(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    assert error_of(exc) == ("ResourceNotFoundException", 404, f"Function not found: {ARN}{fn_name}:1")


# -- weighted aliases ------------------------------------------------------------------------


def two_versions(client, make_function, fn_name, **second) -> None:
    make_function(publish=True)
    client.update_function_configuration(FunctionName=fn_name, **second)
    assert client.publish_version(FunctionName=fn_name)["Version"] == "2"
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")


def test_weighted_alias_versions_must_share_the_execution_role(client, make_function, fn_name):
    two_versions(client, make_function, fn_name, Role=OTHER_ROLE)
    with pytest.raises(ClientError) as exc:
        client.update_alias(FunctionName=fn_name, Name="live",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400) and "execution role" in message
    assert "RoutingConfig" not in client.get_alias(FunctionName=fn_name, Name="live")


def test_weighted_alias_versions_must_share_the_dead_letter_config(client, make_function, fn_name):
    two_versions(client, make_function, fn_name, DeadLetterConfig={"TargetArn": DLQ})
    assert client.get_function_configuration(
        FunctionName=fn_name, Qualifier="2")["DeadLetterConfig"] == {"TargetArn": DLQ}
    with pytest.raises(ClientError) as exc:
        client.update_alias(FunctionName=fn_name, Name="live",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "dead-letter queue" in message


def test_alias_with_weights_cannot_have_provisioned_concurrency(client, make_function, fn_name):
    """AWS: "Alias with weights can not be used with Provisioned Concurrency", both ways."""
    two_versions(client, make_function, fn_name, Description="v2")
    client.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live",
                                              ProvisionedConcurrentExecutions=2)
    got = client.get_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live")
    assert got["RequestedProvisionedConcurrentExecutions"] == 2 and got["Status"] == "READY"
    with pytest.raises(ClientError) as exc:
        client.update_alias(FunctionName=fn_name, Name="live",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert error_of(exc) == ("InvalidParameterValueException", 400,
                             "Alias with weights can not be used with Provisioned Concurrency")
    client.delete_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live")
    with pytest.raises(ClientError) as exc:
        client.get_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live")
    assert error_of(exc)[:2] == ("ProvisionedConcurrencyConfigNotFoundException", 404)
    client.update_alias(FunctionName=fn_name, Name="live",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    with pytest.raises(ClientError) as exc:
        client.put_provisioned_concurrency_config(FunctionName=fn_name, Qualifier="live",
                                                  ProvisionedConcurrentExecutions=2)
    assert error_of(exc)[2] == "Alias with weights can not be used with Provisioned Concurrency"


# -- resource policies --------------------------------------------------------------------


def grant(client, fn_name: str, qualifier: str | None = "live", sid: str = "http-api", **extra):
    params = {"FunctionName": fn_name, "StatementId": sid, "Action": "lambda:InvokeFunction",
              "Principal": "apigateway.amazonaws.com",
              "SourceArn": "arn:aws:execute-api:us-east-1:000000000000:abc123/*/GET/notes/*",
              **extra}
    if qualifier:
        params["Qualifier"] = qualifier
    return client.add_permission(**params)


def test_add_permission_answers_the_statement_as_a_json_string(client, make_function, fn_name):
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    statement = json.loads(grant(client, fn_name)["Statement"])
    assert statement == {
        "Sid": "http-api", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": f"{ARN}{fn_name}:live",
        "Condition": {"ArnLike": {"AWS:SourceArn":
                                  "arn:aws:execute-api:us-east-1:000000000000:abc123/*/GET/notes/*"}},
    }
    policy = client.get_policy(FunctionName=fn_name, Qualifier="live")
    document = json.loads(policy["Policy"])
    assert document["Version"] == "2012-10-17" and document["Statement"] == [statement]
    assert policy["RevisionId"]


def test_policies_are_per_qualifier(client, make_function, fn_name):
    """A permission on the function does not cover its alias: API Gateway invokes the alias."""
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    grant(client, fn_name, qualifier=None)
    with pytest.raises(ClientError) as exc:
        client.get_policy(FunctionName=fn_name, Qualifier="live")
    assert error_of(exc) == ("ResourceNotFoundException", 404, "The resource you requested does not exist.")
    grant(client, fn_name, qualifier="live")  # the same Sid on another qualifier is fine
    assert len(json.loads(client.get_policy(FunctionName=fn_name)["Policy"])["Statement"]) == 1


def test_a_duplicate_statement_id_is_a_conflict(client, make_function, fn_name):
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    grant(client, fn_name)
    with pytest.raises(ClientError) as exc:
        grant(client, fn_name)
    assert error_of(exc) == (
        "ResourceConflictException", 409,
        "The statement id (http-api) provided already exists. Please provide a new statement id, "
        "or remove the existing statement.")


def test_a_stale_policy_revision_is_refused_and_remove_permission_empties_the_policy(
        client, make_function, fn_name):
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    grant(client, fn_name)
    revision = client.get_policy(FunctionName=fn_name, Qualifier="live")["RevisionId"]
    grant(client, fn_name, sid="second", RevisionId=revision)
    with pytest.raises(ClientError) as exc:
        grant(client, fn_name, sid="third", RevisionId=revision)
    assert error_of(exc)[:2] == ("PreconditionFailedException", 412)
    client.remove_permission(FunctionName=fn_name, Qualifier="live", StatementId="http-api")
    client.remove_permission(FunctionName=fn_name, Qualifier="live", StatementId="second")
    with pytest.raises(ClientError) as exc:
        client.remove_permission(FunctionName=fn_name, Qualifier="live", StatementId="second")
    assert error_of(exc) == ("ResourceNotFoundException", 404,
                             "No policy is associated with the given resource.")


def test_policies_cannot_be_added_to_latest_or_a_missing_alias(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        grant(client, fn_name, qualifier="$LATEST")
    assert error_of(exc) == ("InvalidParameterValueException", 400,
                             "We currently do not support adding policies for $LATEST.")
    with pytest.raises(ClientError) as exc:
        grant(client, fn_name, qualifier="live")
    assert error_of(exc)[:2] == ("ResourceNotFoundException", 404)
