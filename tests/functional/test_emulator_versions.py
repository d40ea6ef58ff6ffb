"""Functions and versions through boto3: AWS_LAMBDA_SEMANTICS.md § Versions and § Revision IDs."""

from __future__ import annotations

import base64
import hashlib

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ECHO_HANDLER, ROLE, make_zip, publish_release


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_create_function_returns_latest_configuration_with_aws_fields(client, make_function, fn_name):
    make_function()
    config = client.get_function_configuration(FunctionName=fn_name)
    assert config["Version"] == "$LATEST"
    assert config["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert config["State"] == "Active" and config["LastUpdateStatus"] == "Successful"
    assert config["Environment"] == {"Variables": {"RELEASE": "v1"}}
    assert config["Runtime"] == "python3.12" and config["Handler"] == "index.handler"
    assert config["Timeout"] == 3 and config["MemorySize"] == 128


def test_code_sha256_is_base64_of_sha256_of_the_zip(client, fn_name):
    package = make_zip({"index.py": ECHO_HANDLER})
    created = client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE,
                                     Handler="index.handler", Code={"ZipFile": package})
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert created["CodeSize"] == len(package)


def test_create_function_with_publish_flag_publishes_version_1(client, make_function, fn_name):
    make_function(publish=True)
    versions = client.list_versions_by_function(FunctionName=fn_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1"]


def test_update_function_code_with_publish_flag_publishes_in_the_same_call(client, make_function, fn_name):
    make_function(publish=True)
    out = client.update_function_code(FunctionName=fn_name, Publish=True,
                                      ZipFile=make_zip({"index.py": ECHO_HANDLER + "\n# v2\n"}))
    assert out["Version"] == "2"


def test_publish_version_numbers_only_increase(client, make_function, fn_name):
    make_function()
    assert [publish_release(client, fn_name, f"r{i}") for i in range(3)] == ["1", "2", "3"]


def test_publish_with_unchanged_code_and_configuration_returns_the_existing_version(
        client, make_function, fn_name):
    make_function()
    first = client.publish_version(FunctionName=fn_name)
    again = client.publish_version(FunctionName=fn_name)
    assert again["Version"] == first["Version"] == "1"
    assert again["RevisionId"] == first["RevisionId"]
    assert len(client.list_versions_by_function(FunctionName=fn_name)["Versions"]) == 2


def test_version_numbers_are_never_reused_after_deleting_a_version(client, make_function, fn_name):
    make_function()
    publish_release(client, fn_name, "a")
    two = publish_release(client, fn_name, "b")
    client.delete_function(FunctionName=fn_name, Qualifier=two)
    assert publish_release(client, fn_name, "c") == "3"


def test_version_numbers_are_never_reused_after_deleting_and_recreating_the_function(
        client, make_function, fn_name):
    make_function(publish=True)
    publish_release(client, fn_name, "b")
    client.delete_function(FunctionName=fn_name)
    make_function(publish=True)
    versions = client.list_versions_by_function(FunctionName=fn_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "3"]


def test_published_version_is_an_immutable_snapshot(client, make_function, fn_name):
    make_function()
    client.publish_version(FunctionName=fn_name)
    client.update_function_configuration(FunctionName=fn_name, Timeout=30,
                                         Environment={"Variables": {"RELEASE": "v2"}})
    v1 = client.get_function_configuration(FunctionName=fn_name, Qualifier="1")
    assert v1["Timeout"] == 3 and v1["Environment"]["Variables"]["RELEASE"] == "v1"
    latest = client.get_function_configuration(FunctionName=fn_name)
    assert latest["Timeout"] == 30


def test_publish_version_with_a_different_code_sha256_is_refused(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        client.publish_version(FunctionName=fn_name, CodeSha256="bm90LXRoZS1oYXNo")
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "CodeSHA256" in message


def test_publish_version_with_the_current_code_sha256_succeeds(client, make_function, fn_name):
    make_function()
    sha = client.get_function_configuration(FunctionName=fn_name)["CodeSha256"]
    assert client.publish_version(FunctionName=fn_name, CodeSha256=sha, Description="ok")["Description"] == "ok"


def test_revision_id_changes_on_every_change_to_a_function(client, make_function, fn_name):
    make_function()
    seen = {client.get_function_configuration(FunctionName=fn_name)["RevisionId"]}
    seen.add(client.update_function_configuration(FunctionName=fn_name, Timeout=5)["RevisionId"])
    seen.add(client.update_function_code(
        FunctionName=fn_name, ZipFile=make_zip({"index.py": ECHO_HANDLER + "#x"}))["RevisionId"])
    assert len(seen) == 3


@pytest.mark.parametrize("operation", ["update_code", "update_configuration", "publish_version"])
def test_stale_revision_id_is_refused_with_precondition_failed(client, make_function, fn_name, operation):
    make_function()
    stale = client.get_function_configuration(FunctionName=fn_name)["RevisionId"]
    client.update_function_configuration(FunctionName=fn_name, Timeout=7)
    calls = {
        "update_code": lambda: client.update_function_code(
            FunctionName=fn_name, RevisionId=stale, ZipFile=make_zip({"index.py": "def handler(e, c): pass"})),
        "update_configuration": lambda: client.update_function_configuration(
            FunctionName=fn_name, RevisionId=stale, Timeout=9),
        "publish_version": lambda: client.publish_version(FunctionName=fn_name, RevisionId=stale),
    }
    with pytest.raises(ClientError) as exc:
        calls[operation]()
    code, status, message = error_of(exc)
    assert (code, status) == ("PreconditionFailedException", 412)
    assert message.startswith("The Revision Id provided does not match the latest Revision Id.")
    assert client.get_function_configuration(FunctionName=fn_name)["Timeout"] == 7


def test_delete_function_with_a_version_qualifier_deletes_that_version_only(client, make_function, fn_name):
    make_function(publish=True)
    publish_release(client, fn_name, "b")
    client.delete_function(FunctionName=fn_name, Qualifier="1")
    assert [v["Version"] for v in client.list_versions_by_function(FunctionName=fn_name)["Versions"]] == [
        "$LATEST", "2"]


def test_latest_cannot_be_deleted_on_its_own(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        client.delete_function(FunctionName=fn_name, Qualifier="$LATEST")
    assert error_of(exc)[:2] == ("InvalidParameterValueException", 400)


def test_a_version_an_alias_uses_cannot_be_deleted(client, make_function, fn_name):
    make_function(publish=True)
    client.create_alias(FunctionName=fn_name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        client.delete_function(FunctionName=fn_name, Qualifier="1")
    assert error_of(exc)[:2] == ("ResourceConflictException", 409)


def test_unknown_function_is_resource_not_found_with_aws_message(client):
    with pytest.raises(ClientError) as exc:
        client.get_function(FunctionName="no-such-function")
    code, status, message = error_of(exc)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-function"


def test_unknown_version_is_resource_not_found(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        client.get_function_configuration(FunctionName=fn_name, Qualifier="9")
    code, status, message = error_of(exc)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message.endswith(f"function:{fn_name}:9")


def test_duplicate_function_is_resource_conflict(client, make_function, fn_name):
    make_function()
    with pytest.raises(ClientError) as exc:
        make_function()
    assert error_of(exc)[:2] == ("ResourceConflictException", 409)


def test_functions_can_be_named_by_arn(client, make_function, fn_name):
    make_function(publish=True)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{fn_name}"
    assert client.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == fn_name
    assert client.get_function_configuration(FunctionName=f"{fn_name}:1")["Version"] == "1"


def test_get_function_returns_a_code_location_that_serves_the_zip(client, make_function, fn_name):
    import urllib.request
    make_function()
    out = client.get_function(FunctionName=fn_name)
    with urllib.request.urlopen(out["Code"]["Location"]) as resp:
        data = resp.read()
    assert base64.b64encode(hashlib.sha256(data).digest()).decode() == out["Configuration"]["CodeSha256"]


def test_list_functions_paginates_with_markers(client, make_function, fn_name):
    names = {make_function(name=f"{fn_name}-{i}") for i in range(7)}
    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        kwargs = {"MaxItems": 3, **({"Marker": marker} if marker else {})}
        out = client.list_functions(**kwargs)
        pages += 1
        assert len(out["Functions"]) <= 3
        seen += [f["FunctionName"] for f in out["Functions"]]
        marker = out.get("NextMarker")
        if not marker:
            break
    assert names <= set(seen) and len(seen) == len(set(seen)) and pages >= 3
    paginated = [f["FunctionName"] for p in client.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 2}) for f in p["Functions"]]
    assert sorted(paginated) == sorted(seen)


def test_list_functions_all_versions(client, make_function, fn_name):
    make_function(publish=True)
    pages = client.get_paginator("list_functions").paginate(FunctionVersion="ALL")
    out = [f["Version"] for page in pages for f in page["Functions"] if f["FunctionName"] == fn_name]
    assert sorted(out) == ["$LATEST", "1"]


def test_list_versions_by_function_paginates(client, make_function, fn_name):
    make_function()
    for i in range(5):
        publish_release(client, fn_name, f"r{i}")
    pages = list(client.get_paginator("list_versions_by_function").paginate(
        FunctionName=fn_name, PaginationConfig={"PageSize": 2}))
    assert [v["Version"] for p in pages for v in p["Versions"]] == ["$LATEST", "1", "2", "3", "4", "5"]
    assert len(pages) == 3


def test_get_account_settings_reports_quotas_and_usage(client, make_function):
    make_function()
    out = client.get_account_settings()
    assert out["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert out["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
    assert out["AccountUsage"]["FunctionCount"] >= 1


def test_reserved_concurrency_round_trips(client, make_function, fn_name):
    make_function()
    client.put_function_concurrency(FunctionName=fn_name, ReservedConcurrentExecutions=3)
    assert client.get_function_concurrency(FunctionName=fn_name)["ReservedConcurrentExecutions"] == 3
    client.delete_function_concurrency(FunctionName=fn_name)
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=fn_name)


def test_waiters_see_the_function_active(client, make_function, fn_name):
    make_function()
    client.get_waiter("function_active_v2").wait(FunctionName=fn_name)
    client.get_waiter("function_updated_v2").wait(FunctionName=fn_name)
