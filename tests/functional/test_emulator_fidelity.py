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


# -- tags: the calls Terraform makes for every tag change (issue 21) ----------------------


def test_tag_resource_and_untag_resource_change_a_functions_tags(client, make_function, fn_name):
    make_function()
    client.tag_resource(Resource=ARN + fn_name, Tags={"team": "notes", "env": "dev"})
    client.tag_resource(Resource=ARN + fn_name, Tags={"env": "prod"})
    assert client.list_tags(Resource=ARN + fn_name)["Tags"] == {"team": "notes", "env": "prod"}
    client.untag_resource(Resource=ARN + fn_name, TagKeys=["team", "not-there"])
    assert client.list_tags(Resource=ARN + fn_name)["Tags"] == {"env": "prod"}
    assert client.get_function(FunctionName=fn_name)["Tags"] == {"env": "prod"}


@pytest.mark.parametrize("call", ["list_tags", "tag_resource", "untag_resource"])
@pytest.mark.parametrize("qualifier", ["live", "1", "$LATEST"])
def test_tags_on_function_aliases_and_versions_are_not_supported(client, make_function, fn_name,
                                                                  call, qualifier):
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    extra = {"tag_resource": {"Tags": {"a": "b"}}, "untag_resource": {"TagKeys": ["a"]}}.get(call, {})
    with pytest.raises(ClientError) as exc:
        getattr(client, call)(Resource=f"{ARN}{fn_name}:{qualifier}", **extra)
    assert error_of(exc) == ("InvalidParameterValueException", 400,
                             "Tags on function aliases and versions are not supported. "
                             "Please specify a function ARN.")


def test_tags_of_a_qualified_arn_are_refused_before_the_function_is_looked_up(client):
    with pytest.raises(ClientError) as exc:
        client.list_tags(Resource=f"{ARN}no-such-function:live")
    assert error_of(exc)[:2] == ("InvalidParameterValueException", 400)


@pytest.mark.parametrize("resource", ["not-an-arn", "arn:aws:lambda:us-east-1:000000000000:layer:x",
                                      "arn:aws:s3:::bucket"])
def test_tags_of_a_malformed_arn_are_a_validation_exception(client, resource):
    with pytest.raises(ClientError) as exc:
        client.list_tags(Resource=resource)
    code, status, message = error_of(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(f"1 validation error detected: Value '{resource}' at 'resource' "
                              "failed to satisfy constraint: Member must satisfy regular expression")


def test_tags_of_an_unknown_function_are_resource_not_found(client):
    with pytest.raises(ClientError) as exc:
        client.tag_resource(Resource=ARN + "no-such-function", Tags={"a": "b"})
    assert error_of(exc) == ("ResourceNotFoundException", 404,
                             f"Function not found: {ARN}no-such-function")


def test_a_function_has_at_most_50_tags(client, make_function, fn_name):
    make_function()
    client.tag_resource(Resource=ARN + fn_name, Tags={f"k{i}": "v" for i in range(50)})
    with pytest.raises(ClientError) as exc:
        client.tag_resource(Resource=ARN + fn_name, Tags={"one-more": "v"})
    assert error_of(exc)[:2] == ("InvalidParameterValueException", 400)
    assert len(client.list_tags(Resource=ARN + fn_name)["Tags"]) == 50


# -- regions: a function ARN of another region never reaches this one ---------------------


@pytest.mark.parametrize("call", ["get_function", "invoke", "get_function_configuration",
                                  "list_aliases", "publish_version"])
def test_functions_from_another_region_are_not_reachable_in_this_region(client, make_function,
                                                                        fn_name, call):
    make_function(publish=True)
    other = f"arn:aws:lambda:eu-central-1:000000000000:function:{fn_name}"
    with pytest.raises(ClientError) as exc:
        getattr(client, call)(FunctionName=other)
    assert error_of(exc) == ("ResourceNotFoundException", 404,
                             "Functions from 'eu-central-1' are not reachable in this region "
                             "('us-east-1')")


def test_list_tags_of_another_regions_function_is_not_reachable(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        client.list_tags(Resource=f"arn:aws:lambda:eu-central-1:000000000000:function:{fn_name}")
    assert error_of(exc)[:2] == ("ResourceNotFoundException", 404)
    assert "not reachable in this region" in error_of(exc)[2]


def test_a_function_of_this_region_by_full_arn_is_reachable(client, make_function, fn_name):
    make_function()
    assert client.get_function(FunctionName=ARN + fn_name)["Configuration"]["FunctionName"] == fn_name


# -- DeleteFunction of a version that is not there succeeds (retries, pruning) ------------


def test_delete_function_of_a_missing_version_succeeds(client, make_function, fn_name):
    make_function(publish=True)
    client.delete_function(FunctionName=fn_name, Qualifier="7")
    client.delete_function(FunctionName=fn_name, Qualifier="1")
    client.delete_function(FunctionName=fn_name, Qualifier="1")  # a retry after a lost answer
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=fn_name)["Versions"]]
    assert versions == ["$LATEST"]


def test_delete_function_of_a_missing_version_of_a_missing_function_is_not_found(client):
    with pytest.raises(ClientError) as exc:
        client.delete_function(FunctionName="no-such-function", Qualifier="1")
    assert error_of(exc)[:2] == ("ResourceNotFoundException", 404)


# -- PublishVersion renews $LATEST's RevisionId ------------------------------------------


def test_publish_version_gives_latest_a_new_revision_id(client, make_function, fn_name):
    make_function()
    before = client.get_function_configuration(FunctionName=fn_name)["RevisionId"]
    client.publish_version(FunctionName=fn_name)
    after = client.get_function_configuration(FunctionName=fn_name)["RevisionId"]
    assert after != before
    with pytest.raises(ClientError) as exc:
        client.update_function_configuration(FunctionName=fn_name, Description="x", RevisionId=before)
    assert error_of(exc)[:2] == ("PreconditionFailedException", 412)
    client.update_function_configuration(FunctionName=fn_name, Description="x", RevisionId=after)


# -- messages as AWS words them -----------------------------------------------------------


def test_create_alias_on_an_unknown_function_names_the_version_arn(client):
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName="no-such-function", Name="live", FunctionVersion="1")
    assert error_of(exc) == ("ResourceNotFoundException", 404,
                             f"Function not found: {ARN}no-such-function:1")


def test_deleting_a_version_an_alias_uses_lists_aliases_as_aws_does(client, make_function, fn_name):
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="b-v2", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        client.delete_function(FunctionName=fn_name, Qualifier="1")
    assert error_of(exc) == ("ResourceConflictException", 409,
                             "Unable to delete version because the following aliases reference it: [b-v2]")
