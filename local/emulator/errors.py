"""The errors the emulated service answers with, as botocore expects them on the wire."""

from __future__ import annotations


class ServiceError(Exception):
    """An error response: its `code` becomes `__type`, so botocore raises the modeled class."""

    code = "InternalFailure"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationException(ServiceError):
    code = "ValidationException"
    status = 400


class InvalidStateException(ServiceError):
    code = "InvalidStateException"
    status = 400


class LimitExceededException(ServiceError):
    code = "LimitExceededException"
    status = 400


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"
    status = 400


class ResourceAlreadyExistsException(ServiceError):
    code = "ResourceAlreadyExistsException"
    status = 400


class InvalidNextTokenException(ServiceError):
    code = "InvalidNextTokenException"
    status = 400


class ThrottlingException(ServiceError):
    """What AWS answers past the request rate; botocore's retry modes treat it as throttling."""

    code = "ThrottlingException"
    status = 400


class SerializationException(ServiceError):
    code = "SerializationException"
    status = 400


class UnknownOperationException(ServiceError):
    code = "UnknownOperationException"
    status = 400


class UnsupportedOperationException(ServiceError):
    """An operation of the API that the emulator does not implement."""

    code = "UnsupportedOperationException"
    status = 400


class AccessDeniedException(ServiceError):
    """IAM refused the caller (a common error of every AWS API, not in the service's model)."""

    code = "AccessDeniedException"
    status = 400


class InternalFailure(ServiceError):
    code = "InternalFailure"
    status = 500


class ServiceUnavailable(ServiceError):
    code = "ServiceUnavailable"
    status = 503
