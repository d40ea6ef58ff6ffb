"""LambdaApi (aws/lambda_api.py) against the emulator over HTTP, and scripted with Stubber.

Each public method's happy path, its errors as lambdashift errors, the reconciliation of
a retried write whose first attempt succeeded, and the shared rate limiter end to end
against an emulator that enforces a control-plane quota.
"""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from lambdashift.aws.lambda_api import AliasState, InvokeResult, LambdaApi
from lambdashift.aws.packaging import code_sha256
from lambdashift.aws.throttle import NO_LIMIT, RateLimiter, RetryPolicy
from lambdashift.emulator.server import start_process
from lambdashift.errors import (
    AwsError,
    ConflictError,
    NotFoundError,
    RevisionMismatchError,
    ThrottledError,
)
from lambdashift.model import Traffic
from tests.conftest import ECHO_HANDLER, NO_STATE_DELAY, ROLE, lambda_client, make_zip, publish_release

FAILING_HANDLER = "def handler(event, context):\n    raise ValueError('nope')\n"


def no_retry_client(endpoint: str) -> Any:
    """A client that sends each call once: retrying is LambdaApi's job."""
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                      read_timeout=60))


def fast_retry(max_attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, base=0.01, cap=0.05, rng=random.Random(0))


def make_api(client: Any, **kwargs: Any) -> LambdaApi:
    kwargs.setdefault("limiter", NO_LIMIT)
    kwargs.setdefault("retry", fast_retry())
    return LambdaApi(client, **kwargs)


@pytest.fixture
def api(emulator) -> LambdaApi:
    return make_api(no_retry_client(emulator.endpoint))


@pytest.fixture
def two_versions(client, make_function, fn_name) -> str:
    """A function with versions 1 and 2 published."""
    make_function(publish=True)
    publish_release(client, fn_name, "v2")
    return fn_name


class LosesResponses:
    """A boto3 client whose named calls reach the server but whose answers are lost once.

    ``before`` runs first, as another writer acting between our attempts would.
    """

    def __init__(self, client: Any, *methods: str, before: Any = None, send: bool = True):
        self._client, self._methods, self._before, self._send = client, set(methods), before, send
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name not in self._methods:
            return real

        def call(**params: Any) -> Any:
            self.calls.append(name)
            if len(self.calls) > 1:
                return real(**params)
            if self._before:
                self._before()
            if self._send:
                real(**params)
            raise ReadTimeoutError(endpoint_url=self._client.meta.endpoint_url)
        return call


# -- aliases -----------------------------------------------------------------------------


def test_create_and_get_alias_return_the_alias_state(api, two_versions):
    created = api.create_alias(two_versions, "live", "1", description="managed")
    assert isinstance(created, AliasState)
    assert created.traffic == Traffic("1") and created.function_version == "1"
    assert created.arn.endswith(f":function:{two_versions}:live") and created.revision_id
    assert api.get_alias(two_versions, "live") == created


def test_update_alias_splits_then_clears_routing_with_empty_weights(api, client, two_versions):
    start = api.create_alias(two_versions, "live", "1")
    split = api.update_alias(two_versions, "live", Traffic("1", "2", 0.1),
                             expected_revision=start.revision_id)
    assert split.traffic == Traffic("1", "2", 0.1) and split.revision_id != start.revision_id
    assert api.get_alias(two_versions, "live") == split
    done = api.update_alias(two_versions, "live", Traffic("2"), expected_revision=split.revision_id)
    assert done.traffic == Traffic("2") and done.function_version == "2"
    assert "RoutingConfig" not in client.get_alias(FunctionName=two_versions, Name="live")


def test_update_alias_without_expected_revision_writes_unconditionally(api, two_versions):
    api.create_alias(two_versions, "live", "1")
    assert api.update_alias(two_versions, "live", Traffic("2", "1", 0.5),
                            expected_revision=None).traffic == Traffic("2", "1", 0.5)


def test_update_alias_with_stale_revision_is_refused_and_changes_nothing(api, two_versions):
    stale = api.create_alias(two_versions, "live", "1").revision_id
    current = api.update_alias(two_versions, "live", Traffic("1", "2", 0.1),
                               expected_revision=stale)
    with pytest.raises(RevisionMismatchError) as exc:
        api.update_alias(two_versions, "live", Traffic("2"), expected_revision=stale)
    assert exc.value.code == "PreconditionFailedException" and exc.value.operation == "UpdateAlias"
    assert "does not match the latest Revision Id" in str(exc.value)
    assert api.get_alias(two_versions, "live") == current


def test_first_attempt_mismatch_is_refused_even_if_the_alias_holds_the_wanted_traffic(
        api, two_versions):
    """Someone else wrote it: not ours to claim, so no reconciliation without a retry."""
    stale = api.create_alias(two_versions, "live", "1").revision_id
    api.update_alias(two_versions, "live", Traffic("1", "2", 0.1), expected_revision=None)
    with pytest.raises(RevisionMismatchError):
        api.update_alias(two_versions, "live", Traffic("1", "2", 0.1), expected_revision=stale)


def test_create_existing_alias_is_conflict(api, two_versions):
    api.create_alias(two_versions, "live", "1")
    with pytest.raises(ConflictError) as exc:
        api.create_alias(two_versions, "live", "2")
    assert exc.value.code == "ResourceConflictException" and exc.value.operation == "CreateAlias"


def test_unknown_alias_or_function_is_not_found(api, two_versions):
    with pytest.raises(NotFoundError) as exc:
        api.get_alias(two_versions, "nope")
    assert exc.value.code == "ResourceNotFoundException" and exc.value.operation == "GetAlias"
    with pytest.raises(NotFoundError):
        api.get_alias("no-such-function", "live")
    with pytest.raises(NotFoundError):
        api.update_alias(two_versions, "nope", Traffic("1"), expected_revision=None)
    with pytest.raises(NotFoundError):
        api.create_alias(two_versions, "live", "9")  # no version 9


def test_alias_exists(api, two_versions):
    assert not api.alias_exists(two_versions, "live")
    api.create_alias(two_versions, "live", "1")
    assert api.alias_exists(two_versions, "live")
    assert not api.alias_exists("no-such-function", "live")


def test_alias_on_latest_is_refused_with_an_explanation_but_exists(api, client, two_versions):
    client.create_alias(FunctionName=two_versions, Name="dev", FunctionVersion="$LATEST")
    with pytest.raises(AwsError) as exc:
        api.get_alias(two_versions, "dev")
    assert exc.value.code == "AliasOnLatest" and "published versions" in str(exc.value)
    assert api.alias_exists(two_versions, "dev")
    moved = api.update_alias(two_versions, "dev", Traffic("2"), expected_revision=None)
    assert moved.traffic == Traffic("2")  # the way out: point it at a version


# -- reconciling a retried write ---------------------------------------------------------


def test_retried_update_alias_whose_first_attempt_succeeded_is_reported_as_done(
        client, two_versions):
    api0 = make_api(client)
    start = api0.create_alias(two_versions, "live", "1")
    lossy = LosesResponses(client, "update_alias")
    state = make_api(lossy).update_alias(two_versions, "live", Traffic("1", "2", 0.25),
                                         expected_revision=start.revision_id)
    assert lossy.calls == ["update_alias", "update_alias"]  # the retry got a 412...
    assert state.traffic == Traffic("1", "2", 0.25)  # ...and the alias showed it was done
    assert state == api0.get_alias(two_versions, "live")


def test_retried_update_alias_after_someone_else_wrote_is_a_mismatch(client, two_versions):
    api0 = make_api(client)
    start = api0.create_alias(two_versions, "live", "1")

    def other_writer() -> None:
        client.update_alias(FunctionName=two_versions, Name="live", FunctionVersion="2")

    lossy = LosesResponses(client, "update_alias", before=other_writer, send=False)
    with pytest.raises(RevisionMismatchError):
        make_api(lossy).update_alias(two_versions, "live", Traffic("1", "2", 0.25),
                                     expected_revision=start.revision_id)
    assert api0.get_alias(two_versions, "live").traffic == Traffic("2")


def test_retried_create_alias_whose_first_attempt_succeeded_is_reported_as_done(
        client, two_versions):
    lossy = LosesResponses(client, "create_alias")
    state = make_api(lossy).create_alias(two_versions, "live", "2")
    assert lossy.calls == ["create_alias", "create_alias"] and state.traffic == Traffic("2")


def test_retried_update_code_whose_first_attempt_succeeded_is_reported_as_done(
        client, make_function):
    name = make_function()
    revision = client.get_function_configuration(FunctionName=name)["RevisionId"]
    package = make_zip({"index.py": ECHO_HANDLER + "\n# v2\n"})
    lossy = LosesResponses(client, "update_function_code")
    config = make_api(lossy).update_code(name, package, expected_revision=revision)
    assert lossy.calls == ["update_function_code"] * 2
    assert config["CodeSha256"] == code_sha256(package)


def test_update_alias_retried_by_botocore_itself_is_reconciled_too(emulator, two_versions):
    """A client with botocore's own retries on (a user's client may have them) retries under
    LambdaApi's loop; the write that landed before the lost answer is reconciled."""
    client = boto3.client("lambda", endpoint_url=emulator.endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=Config(retries={"total_max_attempts": 2, "mode": "standard"}))
    start = make_api(client).create_alias(two_versions, "live", "1")
    sent: list[str] = []

    def deliver_then_time_out(request: Any, **_: Any) -> None:
        sent.append(request.method)
        if len(sent) == 1:  # the server applies it; the answer never comes back
            urllib.request.urlopen(urllib.request.Request(
                request.url, data=request.body, headers=dict(request.headers),
                method=request.method)).read()
            raise ReadTimeoutError(endpoint_url=request.url)

    client.meta.events.register("before-send.lambda.UpdateAlias", deliver_then_time_out)
    state = make_api(client, retry=fast_retry(1)).update_alias(
        two_versions, "live", Traffic("1", "2", 0.5), expected_revision=start.revision_id)
    assert sent == ["PUT", "PUT"] and state.traffic == Traffic("1", "2", 0.5)


ALIAS_SHAPE = {"AliasArn": "arn:aws:lambda:us-east-1:123456789012:function:f:live",
               "Name": "live", "FunctionVersion": "1", "RevisionId": "r2",
               "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}}


def scripted_update(answer_after_412: dict[str, Any]) -> tuple[LambdaApi, Stubber]:
    """UpdateAlias: a 500 (but applied server-side), then 412 on the retry, then GetAlias."""
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="t",
                          aws_secret_access_key="t")
    stub = Stubber(client)
    stub.add_client_error("update_alias", service_error_code="ServiceException",
                          http_status_code=500)
    stub.add_client_error("update_alias", service_error_code="PreconditionFailedException",
                          service_message="The Revision Id provided does not match",
                          http_status_code=412,
                          expected_params={"FunctionName": "f", "Name": "live",
                                           "FunctionVersion": "1", "RevisionId": "r1",
                                           "RoutingConfig": ALIAS_SHAPE["RoutingConfig"]})
    stub.add_response("get_alias", answer_after_412, {"FunctionName": "f", "Name": "live"})
    return make_api(client), stub


def test_stubbed_500_then_412_then_alias_at_intent_is_success():
    api, stub = scripted_update(ALIAS_SHAPE)
    with stub:
        state = api.update_alias("f", "live", Traffic("1", "2", 0.25), expected_revision="r1")
        stub.assert_no_pending_responses()
    assert state == AliasState(Traffic("1", "2", 0.25), "r2", "1", ALIAS_SHAPE["AliasArn"])


def test_stubbed_500_then_412_then_alias_elsewhere_is_a_mismatch():
    elsewhere = {"AdditionalVersionWeights": {"2": 0.5}}
    api, stub = scripted_update({**ALIAS_SHAPE, "RoutingConfig": elsewhere})
    with stub, pytest.raises(RevisionMismatchError):
        api.update_alias("f", "live", Traffic("1", "2", 0.25), expected_revision="r1")


# -- functions and versions --------------------------------------------------------------


def test_versions_are_ascending_numbers_across_pages(api, client, make_function):
    name = make_function(publish=True)
    for n in range(2, 53):  # 52 versions + $LATEST: two pages of 50
        publish_release(client, name, f"v{n}")
    assert client.list_versions_by_function(FunctionName=name).get("NextMarker")
    assert api.versions(name) == [str(n) for n in range(1, 53)]
    assert api.latest_version(name) == "52"


def test_latest_version_is_none_before_the_first_publish(api, make_function):
    name = make_function()
    assert api.versions(name) == [] and api.latest_version(name) is None
    with pytest.raises(NotFoundError):
        api.versions("no-such-function")


def test_function_configuration_and_existence(api, two_versions):
    latest = api.function_configuration(two_versions)
    assert latest["Version"] == "$LATEST" and "ResponseMetadata" not in latest
    first = api.function_configuration(two_versions, "1")
    assert first["Version"] == "1" and first["Environment"]["Variables"]["RELEASE"] == "v1"
    assert api.function_exists(two_versions) and not api.function_exists("no-such-function")
    with pytest.raises(NotFoundError):
        api.function_configuration(two_versions, "99")


def test_create_function_then_again_is_conflict(api, fn_name):
    package = make_zip({"index.py": ECHO_HANDLER})
    config = api.create_function(fn_name, zip_bytes=package, handler="index.handler",
                                 runtime="python3.12", role=ROLE, environment={"RELEASE": "a"},
                                 memory=256, timeout=5)
    assert config["CodeSha256"] == code_sha256(package) and config["MemorySize"] == 256
    assert api.function_exists(fn_name)
    with pytest.raises(ConflictError):
        api.create_function(fn_name, zip_bytes=package, handler="index.handler",
                            runtime="python3.12", role=ROLE)


def test_update_code_wait_and_publish_make_a_new_version(api, make_function):
    name = make_function(publish=True)
    revision = api.function_configuration(name)["RevisionId"]
    package = make_zip({"index.py": ECHO_HANDLER + "\n# changed\n"})
    updated = api.update_code(name, package, expected_revision=revision)
    assert updated["CodeSha256"] == code_sha256(package)
    ready = api.wait_updated(name)
    assert ready["LastUpdateStatus"] == "Successful"
    version = api.publish_version(name, code_sha256=code_sha256(package),
                                  expected_revision=ready["RevisionId"], description="v2")
    assert version == "2"
    assert api.publish_version(name, code_sha256=None, expected_revision=None) == "2"  # unchanged
    with pytest.raises(RevisionMismatchError):
        api.update_code(name, package, expected_revision=revision)


def test_publish_with_another_code_sha256_is_refused(api, make_function):
    name = make_function()
    with pytest.raises(AwsError) as exc:
        api.publish_version(name, code_sha256="bm90IHRoaXMgY29kZQ==", expected_revision=None)
    assert exc.value.code == "InvalidParameterValueException"
    assert not isinstance(exc.value, (NotFoundError, RevisionMismatchError))
    assert api.versions(name) == []


def test_update_configuration_changes_only_what_is_given(api, make_function):
    name = make_function(publish=True)
    revision = api.function_configuration(name)["RevisionId"]
    config = api.update_configuration(name, environment={"RELEASE": "v2"}, memory=512,
                                      expected_revision=revision)
    assert config["Environment"] == {"Variables": {"RELEASE": "v2"}}
    assert config["MemorySize"] == 512 and config["Timeout"] == 3
    assert config["Handler"] == "index.handler"
    with pytest.raises(RevisionMismatchError):
        api.update_configuration(name, timeout=9, expected_revision=revision)
    assert api.publish_version(name, code_sha256=None,
                               expected_revision=config["RevisionId"]) == "2"


# -- invoke ------------------------------------------------------------------------------


def test_invoke_reports_the_executed_version_and_payload(api, two_versions):
    api.create_alias(two_versions, "live", "2")
    result = api.invoke(two_versions, "live", b'{"ping": 1}')
    assert isinstance(result, InvokeResult)
    assert (result.status, result.executed_version, result.function_error) == (200, "2", None)
    body = json.loads(result.payload)
    assert body["event"] == {"ping": 1} and body["release"] == "v2"


def test_invoke_handler_error_is_a_result_not_an_exception(api, make_function):
    name = make_function({"index.py": FAILING_HANDLER}, publish=True)
    result = api.invoke(name, "1", b"{}")
    assert result.status == 200 and result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "ValueError"
    with pytest.raises(NotFoundError):
        api.invoke("no-such-function", None, b"{}")


def test_invoke_with_tail_returns_that_invocations_log_lines(api, make_function):
    """LogType: Tail, what the candidate check prints under a rejection."""
    name = make_function({"index.py": FAILING_HANDLER}, publish=True)
    result = api.invoke(name, "1", b"{}", tail=True)
    assert result.logs.startswith("START RequestId: ") and "[ERROR] ValueError: nope" in result.logs
    assert api.invoke(name, "1", b"{}").logs == ""  # only when asked for


def test_concurrency_limit_is_the_reserved_one_else_the_accounts_unreserved(api, client, make_function):
    name = make_function({"index.py": FAILING_HANDLER}, publish=True)
    unreserved = client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert api.concurrency_limit(name) == unreserved
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    assert api.concurrency_limit(name) == 7
    assert api.concurrency_limit("no-such-function") is None


# -- pacing: the limiter per attempt, never for invoke -----------------------------------


class CountingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(rate=float("inf"))
        self.count = 0

    def acquire(self) -> None:
        self.count += 1


def test_every_control_plane_attempt_takes_a_token_and_invoke_none(client, make_function):
    name = make_function(publish=True)
    stubbed = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="t",
                           aws_secret_access_key="t")
    limiter = CountingLimiter()
    with Stubber(stubbed) as stub:
        for _ in range(2):
            stub.add_client_error("get_alias", service_error_code="TooManyRequestsException",
                                  http_status_code=429)
        stub.add_response("get_alias", ALIAS_SHAPE)
        make_api(stubbed, limiter=limiter).get_alias("f", "live")
    assert limiter.count == 3
    real = make_api(client, limiter=limiter)
    real.invoke(name, "1", b"{}")
    assert limiter.count == 3


# -- errors from below the API -----------------------------------------------------------


def test_unreachable_local_endpoint_says_so_in_one_line():
    api = make_api(no_retry_client("http://127.0.0.1:1"), retry=fast_retry(3))
    with pytest.raises(AwsError) as exc:
        api.get_alias("f", "live")
    message = str(exc.value)
    assert message.startswith("cannot reach the Lambda API at http://127.0.0.1:1")
    assert "is the local stack running?" in message and "3 attempts" in message
    assert "\n" not in message and exc.value.code == "EndpointConnectionError"


class Raises:
    """A client whose every call raises ``error`` (for errors a real server cannot cause)."""

    def __init__(self, client: Any, error: Exception) -> None:
        self.meta, self._error = client.meta, error

    def __getattr__(self, name: str) -> Any:
        def call(**params: Any) -> Any:
            raise self._error
        return call


def test_unreachable_aws_endpoint_points_at_network_and_region():
    aws = boto3.client("lambda", region_name="eu-west-1", aws_access_key_id="t",
                       aws_secret_access_key="t")
    error = EndpointConnectionError(endpoint_url=aws.meta.endpoint_url)
    with pytest.raises(AwsError) as exc:
        make_api(Raises(aws, error), retry=fast_retry(2)).versions("f")
    assert "lambda.eu-west-1.amazonaws.com" in str(exc.value)
    assert "check the network and the region" in str(exc.value)


def test_missing_credentials_are_named(emulator, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bare = boto3.session.Session().client("lambda", region_name="us-east-1",
                                          endpoint_url=emulator.endpoint)
    with pytest.raises(AwsError) as exc:
        make_api(bare).get_alias("f", "live")
    assert str(exc.value).startswith("no AWS credentials found")
    assert exc.value.code == "NoCredentials"


def test_invalid_parameters_are_one_line_aws_errors(api):
    with pytest.raises(AwsError) as exc:
        api.get_alias("", "live")
    assert exc.value.code == "ParamValidation" and "\n" not in str(exc.value)
    assert "GetAlias" in str(exc.value)


def test_server_errors_on_every_attempt_give_aws_error_naming_the_operation():
    stubbed = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="t",
                           aws_secret_access_key="t")
    with Stubber(stubbed) as stub:
        for _ in range(2):
            stub.add_client_error("list_versions_by_function",
                                  service_error_code="ServiceException", http_status_code=500)
        with pytest.raises(AwsError) as exc:
            make_api(stubbed, retry=fast_retry(2)).versions("f")
    assert exc.value.operation == "ListVersionsByFunction" and "2 attempts" in str(exc.value)


# -- wait_updated ------------------------------------------------------------------------


def scripted_configs(*configs: dict[str, Any]) -> tuple[Any, Stubber]:
    stubbed = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="t",
                           aws_secret_access_key="t")
    stub = Stubber(stubbed)
    for config in configs:
        stub.add_response("get_function_configuration", {"FunctionName": "f", **config})
    return stubbed, stub


def test_wait_updated_polls_until_successful():
    stubbed, stub = scripted_configs({"State": "Pending"},
                                     {"State": "Active", "LastUpdateStatus": "InProgress"},
                                     {"State": "Active", "LastUpdateStatus": "Successful"})
    slept: list[float] = []
    with stub:
        config = make_api(stubbed, sleep=slept.append).wait_updated("f", interval=0.5)
        stub.assert_no_pending_responses()
    assert config["LastUpdateStatus"] == "Successful" and slept == [0.5, 0.5]


def test_wait_updated_reports_the_failure_reason():
    stubbed, stub = scripted_configs({"State": "Active", "LastUpdateStatus": "Failed",
                                      "LastUpdateStatusReason": "The zip is corrupt",
                                      "LastUpdateStatusReasonCode": "InvalidZipFileException"})
    with stub, pytest.raises(AwsError) as exc:
        make_api(stubbed, sleep=lambda s: None).wait_updated("f")
    assert "The zip is corrupt" in str(exc.value) and exc.value.code == "InvalidZipFileException"


def test_wait_updated_is_bounded():
    now = [0.0]
    stubbed, stub = scripted_configs(*[{"State": "Active", "LastUpdateStatus": "InProgress"}] * 4)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with stub, pytest.raises(AwsError) as exc:
        api = make_api(stubbed, clock=lambda: now[0], sleep=sleep)
        api.wait_updated("f", timeout=3, interval=1)
    assert exc.value.code == "Timeout" and now[0] == 3


# -- the shared limiter end to end -------------------------------------------------------


@pytest.fixture(scope="module")
def quota_emulator(tmp_path_factory):
    """An emulator that throttles control-plane calls to 5 per second, as AWS does at 15."""
    proc = start_process(tmp_path_factory.mktemp("quota") / "data",
                         extra_args=["--control-plane-rate", "5", *NO_STATE_DELAY])
    yield proc
    proc.stop()


def test_shared_limiter_keeps_concurrent_callers_under_the_servers_quota(quota_emulator):
    raw = no_retry_client(quota_emulator.endpoint)
    raw.create_function(FunctionName="paced", Runtime="python3.12", Role=ROLE,
                        Handler="index.handler",
                        Code={"ZipFile": make_zip({"index.py": ECHO_HANDLER})})
    statuses = []
    for _ in range(20):  # a burst of raw calls: the emulator refuses what exceeds its quota
        try:
            raw.get_function_configuration(FunctionName="paced")
            statuses.append(200)
        except ClientError as exc:
            statuses.append(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    assert 429 in statuses and 200 in statuses

    threading.Event().wait(1.1)  # let the emulator's bucket fill again
    limiter = RateLimiter(rate=4, burst=1)  # one limiter shared by three "rollouts"
    errors: list[Exception] = []
    done: list[str] = []

    def rollout() -> None:
        # max_attempts=1: a single 429 would surface as ThrottledError, not be retried away
        api = LambdaApi(no_retry_client(quota_emulator.endpoint), limiter=limiter,
                        retry=RetryPolicy(max_attempts=1))
        for _ in range(10):
            try:
                done.append(api.function_configuration("paced")["FunctionName"])
            except (ThrottledError, AwsError) as exc:
                errors.append(exc)

    threads = [threading.Thread(target=rollout) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(done) == 30
