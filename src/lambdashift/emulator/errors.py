"""AWS-shaped errors of the emulated Lambda API.

Each class carries AWS's error type (sent as ``x-amzn-ErrorType``, read by boto3 as
``Error.Code``), its HTTP status and AWS's message wording. They are raised by the store
(where AWS's rules live) and rendered by the API layer; they never reach a client as a
Python traceback.
"""

from __future__ import annotations


class LambdaApiError(Exception):
    """An error the emulated Lambda API answers with; subclasses set type and status."""

    error_type = "ServiceException"
    status = 500
    #: AWS's ``Type`` field: "User" for the caller's mistakes, "Service" for ours.
    fault = "User"

    def __init__(self, message: str, **extra: str) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_body(self) -> dict[str, str]:
        """The JSON body AWS sends with this error."""
        return {"Type": self.fault, "Message": self.message, "message": self.message, **self.extra}


class ValidationException(LambdaApiError):
    """A parameter fails the service model's constraints (pattern, length, range)."""

    error_type = "ValidationException"
    status = 400


class InvalidParameterValueException(LambdaApiError):
    """A parameter is well formed but not acceptable (e.g. a routing config AWS refuses)."""

    error_type = "InvalidParameterValueException"
    status = 400


class InvalidRequestContentException(LambdaApiError):
    """The request body is not valid JSON, or not the JSON object the operation expects."""

    error_type = "InvalidRequestContentException"
    status = 400


class RequestTooLargeException(LambdaApiError):
    """The request (e.g. a deployment package or an invoke payload) is over AWS's limit."""

    error_type = "RequestTooLargeException"
    status = 413


class ResourceNotFoundException(LambdaApiError):
    """The function, version or alias does not exist."""

    error_type = "ResourceNotFoundException"
    status = 404


class ResourceConflictException(LambdaApiError):
    """The resource already exists."""

    error_type = "ResourceConflictException"
    status = 409


class ConflictException(LambdaApiError):
    """EventBridge Scheduler's conflict: the schedule already exists."""

    error_type = "ConflictException"
    status = 409


class PreconditionFailedException(LambdaApiError):
    """The RevisionId given is not the current one."""

    error_type = "PreconditionFailedException"
    status = 412


class TooManyRequestsException(LambdaApiError):
    """Throttled: the function is at its concurrency limit."""

    error_type = "TooManyRequestsException"
    status = 429


class UnknownOperationException(LambdaApiError):
    """No Lambda operation has this method and path."""

    error_type = "UnknownOperationException"
    status = 404


class InvalidRuntimeException(LambdaApiError):
    """Invoke of a function whose runtime this machine cannot run (AWS: an unsupported
    runtime or runtime version); the message names the runtime and what to install."""

    error_type = "InvalidRuntimeException"
    status = 502
    fault = "Service"


class ServiceException(LambdaApiError):
    """The emulator itself failed; the state is unchanged."""

    error_type = "ServiceException"
    status = 500
    fault = "Service"


class ProvisionedConcurrencyConfigNotFoundException(LambdaApiError):
    """No provisioned concurrency is configured for this qualifier."""

    error_type = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404
