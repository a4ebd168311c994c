"""Retries: throttling and transient faults are retried; the backup quota error is not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from backup_orchestrator.aws.retries import RetryPolicy, RetryStats, is_retryable, retrying


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "CreateBackup")


def failing(*errors: Exception) -> Any:
    remaining = list(errors)

    def call() -> str:
        if remaining:
            raise remaining.pop(0)
        return "done"

    return call


@pytest.mark.parametrize(
    ("error", "throttling"),
    [
        (client_error("ThrottlingException"), True),
        (client_error("TooManyRequestsException"), True),
        (client_error("InternalFailure", 500), False),
        (client_error("ServiceUnavailable", 503), False),
        (client_error("RequestTimeout", 400), False),
        (client_error("SomethingNew", 502), False),
        (client_error("SomethingElse", 500), False),
        (
            EndpointConnectionError(endpoint_url="https://opsworks-cm.us-east-1.amazonaws.com"),
            False,
        ),
    ],
    ids=[
        "throttling",
        "too-many",
        "500",
        "503",
        "request-timeout",
        "any-5xx",
        "exactly-500",
        "connection",
    ],
)
def test_throttling_and_transient_faults_are_retried(error: Exception, throttling: bool) -> None:
    stats = RetryStats()
    slept: list[float] = []

    assert retrying(failing(error, error), stats=stats, sleep=slept.append) == "done"
    assert len(slept) == 2
    assert (stats.throttled, stats.transient) == ((2, 0) if throttling else (0, 2))
    assert is_retryable(error) == (True, throttling)


@pytest.mark.parametrize(
    "code",
    [
        "LimitExceededException",
        "InvalidStateException",
        "ResourceNotFoundException",
        "ValidationException",
        "AccessDeniedException",
        "SomethingNew",
    ],
)
def test_service_answers_are_not_retried(code: str) -> None:
    slept: list[float] = []

    with pytest.raises(ClientError):
        retrying(failing(client_error(code)), sleep=slept.append)

    assert slept == []


def test_gives_up_after_the_attempts_with_capped_backoff() -> None:
    slept: list[float] = []
    storm = [client_error("ThrottlingException")] * 10

    with pytest.raises(ClientError):
        retrying(
            failing(*storm),
            policy=RetryPolicy(attempts=6, base_seconds=1, cap_seconds=4),
            sleep=slept.append,
        )

    assert len(slept) == 5
    assert all(0 <= s <= 4 for s in slept)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    slept: list[float] = []
    storm = [client_error("ThrottlingException")] * 7

    retrying(
        failing(*storm),
        policy=RetryPolicy(attempts=8, base_seconds=0.5, cap_seconds=10),
        sleep=slept.append,
        jitter=lambda ceiling: ceiling,
    )

    assert slept == [0.5, 1, 2, 4, 8, 10, 10]


def test_full_jitter_waits_anywhere_from_nothing_to_the_ceiling() -> None:
    slept: list[float] = []

    for _ in range(50):
        retrying(failing(client_error("ThrottlingException")), sleep=slept.append)

    assert all(0 <= s <= RetryPolicy().base_seconds for s in slept)
    assert min(slept) < RetryPolicy().base_seconds / 4 < max(slept) / 2


def test_an_error_without_a_code_or_status_is_not_retried() -> None:
    bare = ClientError({}, "CreateBackup")

    assert is_retryable(bare) == (False, False)
