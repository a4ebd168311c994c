"""Retries: throttling and transient faults are retried; the backup quota error is not."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from backup_orchestrator.retry import RetryPolicy, RetryStats, retrying


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
    "error",
    [
        client_error("ThrottlingException"),
        client_error("InternalFailure", 500),
        client_error("ServiceUnavailable", 503),
        EndpointConnectionError(endpoint_url="https://opsworks-cm.us-east-1.amazonaws.com"),
    ],
)
def test_throttling_and_transient_faults_are_retried(error: Exception) -> None:
    stats = RetryStats()
    slept: list[float] = []

    assert retrying(failing(error, error), stats=stats, sleep=slept.append) == "done"
    assert len(slept) == 2
    assert stats.throttled + stats.transient == 2


@pytest.mark.parametrize(
    "code",
    [
        "LimitExceededException",
        "InvalidStateException",
        "ResourceNotFoundException",
        "ValidationException",
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
