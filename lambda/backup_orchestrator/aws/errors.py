"""What a call to AWS through this package can end in, as one tuple the callers catch.

`ClientError` is an answer (the service refused, or said no such thing); `BotoCoreError` is no
answer (the connection, a timeout, an unreadable reply); `CallFailed` is this package's own word
that a call's outcome cannot be used: a change whose answer was lost and could not be checked
(`OutcomeUnknown`), an answer without what every answer of its kind holds
(`UnexpectedAnswer`), or a "not found" a listing read contradicts (`AccessDenied`). Anything else
is a defect, and is left to fail loudly.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError


class CallFailed(RuntimeError):
    """A call to AWS whose outcome cannot be used; the message says why."""


class OutcomeUnknown(CallFailed):
    """A change may or may not have taken effect: its answer was lost and checking failed too."""


class UnexpectedAnswer(CallFailed):
    """An answer lacks what the API promises (an attribute, every item written)."""


class AccessDenied(CallFailed):
    """The service answered "not found" (which it documents as "does not exist, or access was
    denied") for a resource a read that lists still shows: access was denied (safety rule 16)."""


ERRORS = (ClientError, BotoCoreError, CallFailed)


def error_code(exc: ClientError) -> str:
    """The service's error code of a refusal (`ResourceNotFoundException`, ...)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def answer_code(exc: BaseException) -> str | None:
    """The service's error code when `exc` is its answer (a refusal); None for no answer, or for
    this package's own word on a call."""
    return error_code(exc) if isinstance(exc, ClientError) else None


def describe(exc: BaseException) -> str:
    """One line for a person: the service's code and words, or the error's kind and words."""
    if isinstance(exc, ClientError):
        return f"{error_code(exc)}: {error_message(exc)}"
    return f"{type(exc).__name__}: {exc}"
