"""Aliases and routing through boto3: AWS_LAMBDA_SEMANTICS.md § Aliases and routing."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.conftest import publish_release
from tests.functional.test_emulator_versions import error_of


@pytest.fixture
def two_versions(client, make_function, fn_name) -> str:
    """A function with versions 1 and 2 published."""
    make_function(publish=True)
    publish_release(client, fn_name, "v2")
    return fn_name


def test_create_alias_returns_201_and_aws_shape_without_routing_key(client, two_versions):
    out = client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["AliasArn"].endswith(f":function:{two_versions}:live")
    assert out["FunctionVersion"] == "1" and "RoutingConfig" not in out and out["RevisionId"]


def test_alias_with_weighted_routing_round_trips(client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    out = client.get_alias(FunctionName=two_versions, Name="live")
    assert out["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}


def test_empty_additional_version_weights_clears_routing_and_drops_the_key(client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    out = client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="2",
                              RoutingConfig={"AdditionalVersionWeights": {}})
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "RoutingConfig" not in out and out["FunctionVersion"] == "2"
    assert "RoutingConfig" not in client.get_alias(FunctionName=two_versions, Name="live")


def test_update_alias_without_routing_config_keeps_the_routing(client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    out = client.update_alias(FunctionName=two_versions, Name="live", Description="keep")
    assert out["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}


def test_successful_update_alias_always_yields_a_new_revision_id(client, two_versions):
    first = client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")["RevisionId"]
    second = client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")["RevisionId"]
    third = client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")["RevisionId"]
    assert len({first, second, third}) == 3


def test_update_alias_with_stale_revision_id_is_refused_and_changes_nothing(client, two_versions):
    stale = client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")["RevisionId"]
    current = client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                                  RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})["RevisionId"]
    with pytest.raises(ClientError) as exc:
        client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="2",
                            RoutingConfig={"AdditionalVersionWeights": {}}, RevisionId=stale)
    code, status, message = error_of(exc)
    assert (code, status) == ("PreconditionFailedException", 412)
    assert message.startswith("The Revision Id provided does not match the latest Revision Id.")
    after = client.get_alias(FunctionName=two_versions, Name="live")
    assert after["RevisionId"] == current and after["FunctionVersion"] == "1"
    ok = client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="2",
                             RoutingConfig={"AdditionalVersionWeights": {}}, RevisionId=current)
    assert ok["FunctionVersion"] == "2"


def test_more_than_one_additional_version_is_invalid_parameter_value(client, two_versions):
    publish_release(client, two_versions, "v3")
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == "Number of items in AdditionalVersionWeights cannot be greater than 1"


@pytest.mark.parametrize("weight", [1.5, -0.1])
def test_weight_outside_0_to_1_is_a_validation_exception(raw_client, two_versions, weight):
    with pytest.raises(ClientError) as exc:
        raw_client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"2": weight}})
    assert error_of(exc)[:2] == ("ValidationException", 400)


def test_latest_as_additional_version_is_a_validation_exception(client, two_versions):
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.1}})
    assert error_of(exc)[:2] == ("ValidationException", 400)


def test_latest_primary_with_weights_is_invalid_parameter_value(client, two_versions):
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="$LATEST",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == "$LATEST is not supported for an alias pointing to more than 1 version"


def test_latest_primary_without_weights_is_allowed(client, two_versions):
    assert client.create_alias(FunctionName=two_versions, Name="dev",
                               FunctionVersion="$LATEST")["FunctionVersion"] == "$LATEST"


def test_additional_version_equal_to_primary_is_invalid_parameter_value(client, two_versions):
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}})
    assert error_of(exc)[:2] == ("InvalidParameterValueException", 400)


@pytest.mark.parametrize("routing", [None, {"AdditionalVersionWeights": {"9": 0.1}}])
def test_missing_primary_or_additional_version_is_resource_not_found(client, two_versions, routing):
    kwargs = {"RoutingConfig": routing} if routing else {}
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name="live",
                            FunctionVersion="1" if routing else "7", **kwargs)
    code, status, message = error_of(exc)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == (f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:"
                       f"{two_versions}:{'9' if routing else '7'}")


def test_existing_alias_name_is_resource_conflict(client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="2")
    code, status, message = error_of(exc)
    assert (code, status) == ("ResourceConflictException", 409)
    assert message.startswith("Alias already exists: ")


def test_unknown_alias_get_and_update_messages(client, two_versions):
    with pytest.raises(ClientError) as exc:
        client.get_alias(FunctionName=two_versions, Name="nope")
    assert error_of(exc)[:2] == ("ResourceNotFoundException", 404)
    assert error_of(exc)[2].startswith("Cannot find alias arn: ")
    with pytest.raises(ClientError) as exc:
        client.update_alias(FunctionName=two_versions, Name="nope", FunctionVersion="1")
    assert error_of(exc)[2].startswith("Alias not found: ")


@pytest.mark.parametrize("name", ["123", "bad name", "a" * 129, "live!"])
def test_alias_names_follow_aws_pattern(client, two_versions, name):
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name=name, FunctionVersion="1")
    assert error_of(exc)[:2] == ("ValidationException", 400)


def test_delete_alias_returns_204(client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1")
    out = client.delete_alias(FunctionName=two_versions, Name="live")
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_aliases(FunctionName=two_versions)["Aliases"] == []


def test_list_aliases_filters_by_version_and_paginates(client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                        RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    client.create_alias(FunctionName=two_versions, Name="dev", FunctionVersion="2")
    client.create_alias(FunctionName=two_versions, Name="old", FunctionVersion="1")
    assert {a["Name"] for a in client.list_aliases(FunctionName=two_versions, FunctionVersion="2")[
        "Aliases"]} == {"live", "dev"}
    pages = list(client.get_paginator("list_aliases").paginate(
        FunctionName=two_versions, PaginationConfig={"PageSize": 2}))
    assert [a["Name"] for p in pages for a in p["Aliases"]] == ["dev", "live", "old"]


def test_get_function_configuration_through_an_alias(client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="2")
    out = client.get_function_configuration(FunctionName=two_versions, Qualifier="live")
    assert out["Version"] == "2" and out["FunctionArn"].endswith(":live")


def test_both_versions_of_a_split_must_share_one_execution_role(client, two_versions):
    client.update_function_configuration(FunctionName=two_versions,
                                         Role="arn:aws:iam::000000000000:role/another-role")
    three = client.publish_version(FunctionName=two_versions)["Version"]
    with pytest.raises(ClientError) as exc:
        client.create_alias(FunctionName=two_versions, Name="live", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {three: 0.1}})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400) and "execution role" in message
