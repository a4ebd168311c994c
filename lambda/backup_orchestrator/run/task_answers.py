"""How the state machines' functions call the service and end: through the adapter, with
retries short enough for a task, and every failure turned into a named error of the contract
(contract/task_errors.py) that the definitions catch and retry by name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from backup_orchestrator.aws.clients import TASK_CONFIG, opsworkscm_client, service_pace
from backup_orchestrator.aws.errors import ERRORS, CallFailed, answer_code, describe
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy, is_retryable
from backup_orchestrator.contract.task_errors import (
    ServiceError,
    ServiceUnavailable,
    TaskError,
)

# A task's calls give up sooner than a run's: the state machine retries the task itself.
TASK_POLICY = RetryPolicy(attempts=5, base_seconds=0.25, cap_seconds=8.0)


def task_service(rate: float) -> OpsWorksCM:
    """The adapter a task uses: the carried model, paced at `rate` requests per second with the
    service's burst, the task's retries."""
    return OpsWorksCM(opsworkscm_client(config=TASK_CONFIG, pace=service_pace(rate)), TASK_POLICY)


@contextmanager
def named_errors(named: Mapping[str, type[TaskError]] | None = None) -> Iterator[None]:
    """Turn what a call to the service ends in into a named error: one of `named` by the
    service's code, ServiceUnavailable for throttling, transient faults and no answer (past the
    adapter's retries), ServiceError for any other refusal or unusable answer."""
    try:
        yield
    except ERRORS as exc:
        if isinstance(exc, CallFailed):
            raise ServiceError(str(exc)) from exc
        code = answer_code(exc)
        if named and code is not None and code in named:
            raise named[code](describe(exc)) from exc
        # No answer at all, or throttling and faults past the adapter's retries: try later.
        unavailable = code is None or is_retryable(exc)[0]
        raise (ServiceUnavailable if unavailable else ServiceError)(describe(exc)) from exc
