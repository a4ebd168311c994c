"""The errors the state machines' functions end with, by name: a contract with the definitions.

Step Functions names a Lambda task's error after the exception's class (the `errorType` of the
function's answer), so the tracker and the drill catch and retry by these names
(infra/constructs/ reads them here). Every call the functions make to OpsWorks CM goes through
the adapter, which rides out throttling and transient faults itself; what still fails ends in
one of these.
"""

from __future__ import annotations


class TaskError(Exception):
    """A state machine's task could not do what it was asked; the message says why."""


class BadTaskInput(TaskError):
    """The task's input lacks a field, or holds one it cannot use; the message names it."""


class ServiceUnavailable(TaskError):
    """OpsWorks CM could not be reached, or kept throttling or failing, past the adapter's
    retries: worth trying again a little later."""


class ServiceError(TaskError):
    """OpsWorks CM refused the call (access, validation), or its answer cannot be used: trying
    again does not help."""


class ServerNotFound(TaskError):
    """The server does not exist (any more)."""


class NameTaken(TaskError):
    """CreateServer: a server of that name already exists."""


class NoFreeSlot(TaskError):
    """CreateServer: the account's server limit is reached."""


class ServerChanging(TaskError):
    """DeleteServer: the server is in a state that cannot be deleted yet (InvalidState)."""


# The service's error codes the functions name, by code.
NAMED = {
    "ResourceNotFoundException": ServerNotFound,
    "ResourceAlreadyExistsException": NameTaken,
    "LimitExceededException": NoFreeSlot,
    "InvalidStateException": ServerChanging,
}
# What a Lambda task is retried on: the errors of Lambda itself that AWS documents as transient
# (the service, its throttling, the SDK call Step Functions makes), the service unavailable past
# the function's own retries, and an invocation that hung past the task's timeout.
LAMBDA_TRANSIENT = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
RETRIED = (*LAMBDA_TRANSIENT, ServiceUnavailable.__name__, "States.Timeout")
