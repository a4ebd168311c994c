"""The errors the state machines' functions end with (task_errors.py): Step Functions names a
Lambda task's error after the exception's class, so the names the definitions catch and retry
by are the classes' own."""

from __future__ import annotations

from backup_orchestrator.contract import task_errors
from backup_orchestrator.contract.task_errors import (
    NAMED,
    RETRIED,
    BadTaskInput,
    NameTaken,
    NoFreeSlot,
    ServerChanging,
    ServerNotFound,
    ServiceError,
    ServiceUnavailable,
    TaskError,
)


def test_each_named_error_is_a_task_error_under_its_own_name() -> None:
    errors = [
        BadTaskInput,
        NameTaken,
        NoFreeSlot,
        ServerChanging,
        ServerNotFound,
        ServiceError,
        ServiceUnavailable,
    ]

    assert all(issubclass(e, TaskError) for e in errors)
    assert len({e.__name__ for e in errors}) == len(errors)
    assert all(getattr(task_errors, e.__name__) is e for e in errors)


def test_the_service_codes_named_for_the_drill() -> None:
    assert {
        "ResourceNotFoundException": ServerNotFound,
        "ResourceAlreadyExistsException": NameTaken,
        "LimitExceededException": NoFreeSlot,
        "InvalidStateException": ServerChanging,
    } == NAMED


def test_retried_are_lambda_s_transient_errors_the_unavailable_service_and_a_hung_task() -> None:
    assert set(RETRIED) == {
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "ServiceUnavailable",
        "States.Timeout",
    }
    # Nothing a retry cannot change: a refusal, a missing server, bad input.
    assert not {ServiceError.__name__, ServerNotFound.__name__, BadTaskInput.__name__} & set(
        RETRIED
    )
