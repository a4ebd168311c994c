"""How a state machine's function ends (task_answers.py): every failure of a call turned into an
error named for the definition's Retry and Catch rules."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, SSLError

from backup_orchestrator.aws.errors import OutcomeUnknown
from backup_orchestrator.contract.task_errors import (
    NAMED,
    RETRIED,
    NameTaken,
    ServerNotFound,
    ServiceError,
    ServiceUnavailable,
    TaskError,
)
from backup_orchestrator.run.task_answers import TASK_POLICY, named_errors


def refusal(code: str, status: int = 400) -> ClientError:
    answer: Any = {
        "Error": {"Code": code, "Message": "said so"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(answer, "DescribeServers")


@pytest.mark.parametrize(
    ("error", "named", "expected"),
    [
        (refusal("ResourceNotFoundException"), NAMED, ServerNotFound),
        (refusal("ResourceAlreadyExistsException"), NAMED, NameTaken),
        # Without names to give, a service's code is no drill's business.
        (refusal("ResourceNotFoundException"), None, ServiceError),
        (refusal("ThrottlingException"), NAMED, ServiceUnavailable),
        (refusal("InternalFailure", 500), NAMED, ServiceUnavailable),
        (refusal("AccessDeniedException"), NAMED, ServiceError),
        (refusal("ValidationException"), None, ServiceError),
        (EndpointConnectionError(endpoint_url="https://x"), None, ServiceUnavailable),
        # No answer of any kind (here TLS failing) is worth trying again later.
        (SSLError(endpoint_url="https://x", error=OSError("handshake")), None, ServiceUnavailable),
        (OutcomeUnknown("lost, and checking failed"), None, ServiceError),
    ],
)
def test_each_failure_gets_its_name(
    error: Exception, named: dict[str, type[TaskError]] | None, expected: type[TaskError]
) -> None:
    with pytest.raises(TaskError) as raised, named_errors(named):
        raise error

    assert type(raised.value) is expected
    assert raised.value.__cause__ is error


def test_the_message_keeps_the_service_s_code_and_words() -> None:
    with pytest.raises(ServiceError, match=r"^AccessDeniedException: said so$"), named_errors():
        raise refusal("AccessDeniedException")


def test_a_defect_is_not_dressed_as_a_service_error() -> None:
    with pytest.raises(KeyError), named_errors(NAMED):
        raise KeyError("a bug")


def test_only_the_unavailable_service_is_retried_of_the_function_s_own_errors() -> None:
    own = {name for name in RETRIED if not name.startswith(("Lambda.", "States."))}

    assert own == {ServiceUnavailable.__name__}


def test_a_task_s_calls_give_up_sooner_than_a_run_s() -> None:
    worst = sum(
        min(TASK_POLICY.cap_seconds, TASK_POLICY.base_seconds * 2**n)
        for n in range(TASK_POLICY.attempts - 1)
    )

    assert worst < 10
