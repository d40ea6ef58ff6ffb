"""Bad input gets AWS's error type and a clear message; the server stays up, state unchanged."""

from __future__ import annotations

import io
import os
import zipfile

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ECHO_HANDLER, ROLE, make_zip
from tests.functional.test_emulator_versions import error_of


def state_of(client, name):
    config = client.get_function_configuration(FunctionName=name)
    return config["RevisionId"], config["CodeSha256"], [
        v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]


@pytest.mark.parametrize("path,method", [
    ("/2015-03-31/functions", "POST"),
    ("/2015-03-31/functions/{name}/versions", "POST"),
    ("/2015-03-31/functions/{name}/aliases", "POST"),
    ("/2015-03-31/functions/{name}/configuration", "PUT"),
])
def test_malformed_json_is_invalid_request_content_and_changes_nothing(
        client, emulator, make_function, fn_name, path, method):
    make_function()
    before = state_of(client, fn_name)
    resp = httpx.request(method, emulator.endpoint + path.format(name=fn_name),
                         content=b'{"FunctionName": ', headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert "Could not parse request body into json" in resp.json()["Message"]
    assert state_of(client, fn_name) == before


def test_unknown_operation_is_an_aws_error_not_a_traceback(emulator):
    resp = httpx.post(emulator.endpoint + "/2015-03-31/no-such-operation", content=b"{}")
    assert resp.status_code == 404
    assert resp.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "POST /2015-03-31/no-such-operation" in resp.json()["Message"]
    assert httpx.get(emulator.endpoint + "/_lambdashift/health").json()["status"] == "ok"


@pytest.mark.parametrize("name", ["bad name", "a" * 65, "fn!", "arn:aws:lambda:us-east-1:123:function:x"])
def test_function_names_follow_aws_pattern(client, name):
    with pytest.raises(ClientError) as exc:
        client.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE,
                               Handler="index.handler", Code={"ZipFile": make_zip({"index.py": ""})})
    code, status, message = error_of(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "failed to satisfy constraint" in message


def test_zip_that_is_not_a_zip_is_refused(client, fn_name):
    with pytest.raises(ClientError) as exc:
        client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE,
                               Handler="index.handler", Code={"ZipFile": b"this is not a zip"})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Could not unzip uploaded file.")
    with pytest.raises(ClientError) as missing:
        client.get_function(FunctionName=fn_name)
    assert error_of(missing)[0] == "ResourceNotFoundException"


def test_zip_without_the_handler_module_is_refused(client, fn_name):
    with pytest.raises(ClientError) as exc:
        client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE,
                               Handler="app.handler", Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})})
    code, status, message = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "app.py" in message


def test_update_code_to_a_bad_zip_keeps_the_old_code(client, make_function, fn_name):
    make_function()
    before = state_of(client, fn_name)
    with pytest.raises(ClientError):
        client.update_function_code(FunctionName=fn_name, ZipFile=make_zip({"other.py": "x = 1"}))
    assert state_of(client, fn_name) == before
    assert client.invoke(FunctionName=fn_name, Payload=b"{}")["StatusCode"] == 200


def test_zip_over_50_mb_is_request_too_large(client, make_function, fn_name):
    make_function()
    before = state_of(client, fn_name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.py", ECHO_HANDLER)
        archive.writestr("blob.bin", os.urandom(51 * 1024 * 1024))
    with pytest.raises(ClientError) as exc:
        client.update_function_code(FunctionName=fn_name, ZipFile=buf.getvalue())
    code, status, message = error_of(exc)
    assert (code, status) == ("RequestTooLargeException", 413)
    assert "UpdateFunctionCode" in message
    assert state_of(client, fn_name) == before


def test_retired_runtime_is_refused_with_awss_message(client, fn_name):
    with pytest.raises(ClientError) as exc:
        client.create_function(FunctionName=fn_name, Runtime="python3.7", Role=ROLE,
                               Handler="index.handler", Code={"ZipFile": make_zip({"index.py": ""})})
    code, _, message = error_of(exc)
    assert code == "InvalidParameterValueException" and "no longer supported" in message


def test_reserved_environment_keys_are_refused(client, fn_name):
    with pytest.raises(ClientError) as exc:
        client.create_function(FunctionName=fn_name, Runtime="python3.12", Role=ROLE,
                               Handler="index.handler", Code={"ZipFile": make_zip({"index.py": ""})},
                               Environment={"Variables": {"AWS_REGION": "eu-west-1"}})
    code, _, message = error_of(exc)
    assert code == "InvalidParameterValueException" and "AWS_REGION" in message


@pytest.mark.parametrize("kwargs,where", [
    ({"Timeout": 901}, "timeout"),
    ({"MemorySize": 20000}, "memorySize"),
    ({"Role": "not-a-role"}, "role"),
])
def test_configuration_values_are_range_checked(client, make_function, fn_name, kwargs, where):
    make_function()
    before = state_of(client, fn_name)
    with pytest.raises(ClientError) as exc:
        client.update_function_configuration(FunctionName=fn_name, **kwargs)
    code, _, message = error_of(exc)
    assert code == "ValidationException" and f"at '{where}'" in message
    assert state_of(client, fn_name) == before


def test_bad_pagination_marker_is_invalid_parameter_value(client):
    with pytest.raises(ClientError) as exc:
        client.list_functions(Marker="garbage!!")
    assert error_of(exc)[:2] == ("InvalidParameterValueException", 400)
