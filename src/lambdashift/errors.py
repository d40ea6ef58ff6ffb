"""The one exception tree of lambdashift.

    LambdashiftError                 base of everything lambdashift raises on purpose
    ├── ConfigError                  bad lambdashift.yaml or command-line input (CLI exit 2)
    ├── PackagingError               a source directory cannot be packaged
    ├── AwsError                     an AWS (or emulator) call failed; translated at the boundary
    │   ├── NotFoundError            ResourceNotFoundException
    │   ├── ConflictError            ResourceConflictException
    │   ├── RevisionMismatchError    PreconditionFailedException: someone else changed it
    │   ├── ConditionFailedError     a DynamoDB conditional write found the item changed
    │   └── ThrottledError           TooManyRequestsException / throttling, after retries
    ├── RolloutError                 a rollout cannot go on as asked
    │   ├── LockedError              another process holds the function's rollout lock
    │   └── DriftError               the alias changed under a running rollout
    └── LocalStackError              the embedded local stack cannot start or is not running

Errors raised by the emulator *server* are AWS-shaped errors (``lambdashift.emulator.errors``)
and never leave the server as Python exceptions: clients see them as AWS errors.
"""

from __future__ import annotations


class LambdashiftError(Exception):
    """Base of every error lambdashift raises on purpose."""


class ConfigError(LambdashiftError):
    """Invalid configuration or command-line input; the message names the key path."""


class PackagingError(LambdashiftError):
    """A function's source directory cannot be turned into a deployment package."""


class AwsError(LambdashiftError):
    """An AWS API call failed; ``code`` is AWS's error code."""

    def __init__(self, message: str, *, code: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation


class NotFoundError(AwsError):
    """The function, version or alias does not exist."""


class ConflictError(AwsError):
    """The resource already exists or is being changed."""


class RevisionMismatchError(AwsError):
    """The RevisionId sent is not the current one: someone else changed the resource."""


class ConditionFailedError(AwsError):
    """A DynamoDB conditional write (or transaction) was refused: the item was not as expected."""


class ThrottledError(AwsError):
    """AWS kept throttling the call after every retry."""


class RolloutError(LambdashiftError):
    """A rollout cannot proceed as asked."""


class LockedError(RolloutError):
    """Another process holds the rollout lock of this function."""


class DriftError(RolloutError):
    """The alias was changed by someone else while a rollout owned it."""


class LocalStackError(LambdashiftError):
    """The embedded local stack cannot start, or is not running."""
