"""The shared rate limiter and the retry policy (aws/throttle.py), on fake clocks.

The retry tests script AWS's answers with ``botocore.stub.Stubber`` on a real boto3
client, so the errors have exactly the shape botocore gives a caller.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from lambdashift.aws.throttle import NO_LIMIT, RateLimiter, RetryPolicy, is_retryable
from lambdashift.errors import AwsError, ThrottledError

ALIAS = {"AliasArn": "arn:aws:lambda:us-east-1:123456789012:function:f:live", "Name": "live",
         "FunctionVersion": "1", "Description": "", "RevisionId": "r1"}


class FakeClock:
    """One simulated clock for a single thread: sleeping advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ThreadClocks:
    """A simulated clock per thread: calls take no time, a thread's time moves only by sleeping."""

    def __init__(self) -> None:
        self._local = threading.local()

    def __call__(self) -> float:
        return getattr(self._local, "now", 0.0)

    def sleep(self, seconds: float) -> None:
        self._local.now = self() + seconds
        time.sleep(0)  # let the other threads run: interleave as real sleeping would


@pytest.fixture
def client():
    return boto3.client("lambda", region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def policy(**kwargs) -> tuple[RetryPolicy, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("rng", random.Random(7))
    return RetryPolicy(sleep=slept.append, **kwargs), slept


def get_alias(client):
    return lambda: client.get_alias(FunctionName="f", Name="live")


# -- RateLimiter --------------------------------------------------------------------------


def test_limiter_keeps_8_threads_to_15_per_simulated_second():
    clocks = ThreadClocks()
    limiter = RateLimiter(15.0, 15, clock=clocks, sleep=clocks.sleep)
    granted: list[float] = []
    lock = threading.Lock()

    def rollout() -> None:
        for _ in range(40):
            limiter.acquire()
            with lock:
                granted.append(clocks())

    threads = [threading.Thread(target=rollout) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 320
    per_second = Counter(math.floor(t + 1e-9) for t in granted)  # 1e-9: float rounding
    assert per_second[0] <= 15 + 15
    last = max(per_second)
    assert all(per_second[s] <= 15 for s in range(1, last + 1))
    assert all(per_second[s] == 15 for s in range(1, last))  # and no capacity is wasted
    assert max(granted) == pytest.approx((320 - 15) / 15)


def test_limiter_grants_the_burst_at_once_then_one_token_per_interval():
    clock = FakeClock()
    limiter = RateLimiter(10.0, 3, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(6):
        limiter.acquire()
        times.append(clock())
    assert times == pytest.approx([0.0, 0.0, 0.0, 0.1, 0.2, 0.3])


def test_limiter_saves_up_no_more_than_the_burst_while_idle():
    clock = FakeClock()
    limiter = RateLimiter(10.0, 2, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    clock.now = 100.0  # idle for a long time
    for _ in range(3):
        limiter.acquire()
    assert clock() == pytest.approx(100.1)
    assert clock.sleeps == pytest.approx([0.1])


def test_limiter_paces_real_threads_on_the_real_clock():
    limiter = RateLimiter(200.0, 1)
    start = time.monotonic()
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(10)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - start >= (40 - 1) / 200 * 0.95


def test_no_limit_never_sleeps():
    start = time.monotonic()
    for _ in range(10_000):
        NO_LIMIT.acquire()
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 5), (5, 0)])
def test_limiter_refuses_nonsense_settings(rate, burst):
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)


# -- RetryPolicy: backoff ----------------------------------------------------------------


def test_backoff_is_full_jitter_under_the_capped_exponential():
    retry = RetryPolicy(base=0.2, cap=20.0, rng=random.Random(1))
    for n in range(12):
        ceiling = min(20.0, 0.2 * 2 ** n)
        draws = [retry.backoff(n) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert max(draws) > 0.9 * ceiling and min(draws) < 0.1 * ceiling  # spread over [0, c]
        assert sum(draws) / len(draws) == pytest.approx(ceiling / 2, rel=0.15)


def test_backoff_is_reproducible_with_a_seeded_rng():
    a = RetryPolicy(rng=random.Random(42))
    b = RetryPolicy(rng=random.Random(42))
    assert [a.backoff(n) for n in range(7)] == [b.backoff(n) for n in range(7)]


def test_backoff_stays_capped_for_huge_retry_numbers():
    retry = RetryPolicy(base=1.0, cap=5.0, rng=random.Random(3))
    assert all(retry.backoff(10_000) <= 5.0 for _ in range(100))


# -- RetryPolicy: what is retried ---------------------------------------------------------


def test_throttling_is_retried_with_seeded_jittered_waits_until_it_succeeds(client):
    retry, slept = policy(max_attempts=8, base=0.2, cap=20.0, rng=random.Random(42))
    with Stubber(client) as stub:
        for _ in range(7):
            stub.add_client_error("get_alias", service_error_code="TooManyRequestsException",
                                  service_message="Rate exceeded", http_status_code=429)
        stub.add_response("get_alias", ALIAS, {"FunctionName": "f", "Name": "live"})
        out = retry.call(get_alias(client), operation="GetAlias")
        stub.assert_no_pending_responses()
    assert out["RevisionId"] == "r1"
    rng = random.Random(42)
    assert slept == [rng.uniform(0, min(20.0, 0.2 * 2 ** n)) for n in range(7)]
    assert all(0 <= s <= min(20.0, 0.2 * 2 ** n) for n, s in enumerate(slept))


def test_server_errors_are_retried(client):
    retry, slept = policy()
    with Stubber(client) as stub:
        stub.add_client_error("get_alias", service_error_code="ServiceException",
                              http_status_code=500)
        stub.add_client_error("get_alias", service_error_code="InternalFailure",
                              http_status_code=503)
        stub.add_response("get_alias", ALIAS)
        assert retry.call(get_alias(client), operation="GetAlias")["Name"] == "live"
    assert len(slept) == 2


@pytest.mark.parametrize("code, status", [
    ("ThrottlingException", 400), ("Throttling", 400), ("RequestLimitExceeded", 503),
    ("SlowDown", 429),  # an unknown code, but HTTP 429
])
def test_every_throttling_code_and_any_429_is_retried(client, code, status):
    retry, slept = policy()
    with Stubber(client) as stub:
        stub.add_client_error("get_alias", service_error_code=code, http_status_code=status)
        stub.add_response("get_alias", ALIAS)
        retry.call(get_alias(client), operation="GetAlias")
    assert len(slept) == 1


@pytest.mark.parametrize("code, status", [
    ("PreconditionFailedException", 412),
    ("ResourceNotFoundException", 404),
    ("ResourceConflictException", 409),
    ("InvalidParameterValueException", 400),
    ("AccessDeniedException", 403),
])
def test_client_errors_other_than_throttling_surface_at_once(client, code, status):
    retry, slept = policy()
    with Stubber(client) as stub:
        stub.add_client_error("get_alias", service_error_code=code, http_status_code=status)
        stub.add_response("get_alias", ALIAS)  # never used: there is no second attempt
        with pytest.raises(ClientError) as exc:
            retry.call(get_alias(client), operation="GetAlias")
    assert exc.value.response["Error"]["Code"] == code
    assert slept == []


def test_gives_up_on_throttling_with_throttled_error_naming_operation_and_attempts(client):
    retry, slept = policy(max_attempts=4)
    with Stubber(client) as stub:
        for _ in range(4):
            stub.add_client_error("get_alias", service_error_code="TooManyRequestsException",
                                  http_status_code=429)
        with pytest.raises(ThrottledError) as exc:
            retry.call(get_alias(client), operation="GetAlias")
        stub.assert_no_pending_responses()
    assert len(slept) == 3
    assert "GetAlias" in str(exc.value) and "4 attempts" in str(exc.value)
    assert (exc.value.code, exc.value.operation) == ("TooManyRequestsException", "GetAlias")


def test_gives_up_on_server_errors_with_aws_error_not_throttled_error(client):
    retry, _ = policy(max_attempts=3)
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("update_alias", service_error_code="ServiceException",
                                  service_message="boom", http_status_code=500)
        with pytest.raises(AwsError) as exc:
            retry.call(lambda: client.update_alias(FunctionName="f", Name="live"),
                       operation="UpdateAlias")
    assert not isinstance(exc.value, ThrottledError)
    assert "UpdateAlias" in str(exc.value) and "3 attempts" in str(exc.value)
    assert "boom" in str(exc.value) and exc.value.code == "ServiceException"


def failing(errors: list[Exception], result: str = "ok"):
    calls = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result
    return fn, calls


@pytest.mark.parametrize("error", [
    EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    ConnectionClosedError(endpoint_url="http://127.0.0.1:1"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
])
def test_connection_errors_are_retried(error):
    retry, slept = policy()
    fn, calls = failing([error, error])
    assert retry.call(fn, operation="GetAlias") == "ok"
    assert len(calls) == 3 and len(slept) == 2


def test_connection_error_on_every_attempt_is_reraised_for_the_caller_to_word():
    retry, _ = policy(max_attempts=3)
    fn, calls = failing([EndpointConnectionError(endpoint_url="http://x")] * 3)
    with pytest.raises(EndpointConnectionError):
        retry.call(fn, operation="GetAlias")
    assert len(calls) == 3


def test_other_exceptions_are_not_retried():
    retry, slept = policy()
    fn, calls = failing([ValueError("bug")])
    with pytest.raises(ValueError):
        retry.call(fn, operation="GetAlias")
    assert len(calls) == 1 and slept == [] and not is_retryable(ValueError())


def test_throttling_only_retries_throttling_and_refused_connections_but_not_5xx(client):
    retry, slept = policy()
    with Stubber(client) as stub:
        stub.add_client_error("invoke", service_error_code="TooManyRequestsException",
                              http_status_code=429)
        stub.add_client_error("invoke", service_error_code="ServiceException",
                              http_status_code=500)
        with pytest.raises(ClientError) as exc:
            retry.call(lambda: client.invoke(FunctionName="f"), operation="Invoke",
                       throttling_only=True)
    assert exc.value.response["Error"]["Code"] == "ServiceException" and len(slept) == 1
    fn, calls = failing([EndpointConnectionError(endpoint_url="http://x")])
    assert retry.call(fn, operation="Invoke", throttling_only=True) == "ok"
    fn, calls = failing([ReadTimeoutError(endpoint_url="http://x")])  # it may have run
    with pytest.raises(ReadTimeoutError):
        retry.call(fn, operation="Invoke", throttling_only=True)
    assert len(calls) == 1


def test_max_attempts_one_never_retries(client):
    retry, slept = policy(max_attempts=1)
    with Stubber(client) as stub:
        stub.add_client_error("get_alias", service_error_code="TooManyRequestsException",
                              http_status_code=429)
        with pytest.raises(ThrottledError):
            retry.call(get_alias(client), operation="GetAlias")
    assert slept == []
