"""What a call to AWS can end in: the one tuple callers catch, and a refusal's code and message."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from backup_orchestrator.aws.errors import (
    ERRORS,
    CallFailed,
    OutcomeUnknown,
    UnexpectedAnswer,
    error_code,
    error_message,
)


def refusal(error: dict[str, Any] | None) -> ClientError:
    """A ClientError as botocore raises it, with `error` as the parsed Error (None: none)."""
    response: Any = {"ResponseMetadata": {"HTTPStatusCode": 400}}
    if error is not None:
        response["Error"] = error
    return ClientError(response, "CreateBackup")


def caught_as_a_failed_call(exc: Exception) -> bool:
    """Whether a caller's `except ERRORS` catches `exc`."""
    try:
        raise exc
    except ERRORS:
        return True
    except Exception:
        return False


@pytest.mark.parametrize(
    "exc",
    [
        refusal({"Code": "LimitExceededException", "Message": "full"}),
        EndpointConnectionError(endpoint_url="https://opsworks-cm.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://opsworks-cm.us-east-1.amazonaws.com"),
        ParamValidationError(report="ServerName is missing"),
        CallFailed("the answer held no backup"),
        OutcomeUnknown("whether it took effect is unknown"),
        UnexpectedAnswer("no BackupId in the answer"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_refusals_lost_answers_and_unusable_outcomes_are_what_callers_catch(
    exc: Exception,
) -> None:
    assert caught_as_a_failed_call(exc)


@pytest.mark.parametrize(
    "exc",
    [KeyError("BackupId"), TypeError("bad argument"), ValueError("x"), RuntimeError("defect")],
    ids=lambda exc: type(exc).__name__,
)
def test_a_defect_is_not_caught_as_a_failed_call(exc: Exception) -> None:
    assert not caught_as_a_failed_call(exc)


def test_the_package_own_failures_are_failed_calls_not_defects() -> None:
    assert issubclass(OutcomeUnknown, CallFailed)
    assert issubclass(UnexpectedAnswer, CallFailed)
    assert issubclass(CallFailed, RuntimeError)
    # Neither is the other: a caller can tell a lost change from a malformed answer.
    assert not issubclass(OutcomeUnknown, UnexpectedAnswer)
    assert not issubclass(UnexpectedAnswer, OutcomeUnknown)
    # The ones botocore raises stay botocore's.
    assert {ClientError, BotoCoreError} <= set(ERRORS)


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            {"Code": "ResourceNotFoundException", "Message": "Backup b-1 not found"},
            "ResourceNotFoundException",
            "Backup b-1 not found",
        ),
        ({"Code": "ThrottlingException"}, "ThrottlingException", ""),
        ({"Message": "Internal error"}, "", "Internal error"),
        ({}, "", ""),
        (None, "", ""),
    ],
)
def test_a_refusal_says_its_code_and_message_even_when_the_service_left_them_out(
    error: dict[str, Any] | None, code: str, message: str
) -> None:
    exc = refusal(error)

    assert (error_code(exc), error_message(exc)) == (code, message)
