"""AWS-shaped errors of the DynamoDB API.

Every class carries the error type AWS sends in ``__type`` (boto3 reads the part after
``#`` as ``Error.Code``) and its HTTP status. Messages use AWS's wording, so code that
matches on them behaves as it would against DynamoDB::

    DynamoError
    ├── ValidationException
    ├── SerializationException
    ├── ConditionalCheckFailedException   (may carry the item: ReturnValuesOnConditionCheckFailure)
    ├── TransactionCanceledException      (carries one reason per action)
    ├── ResourceNotFoundException
    ├── ResourceInUseException
    ├── LimitExceededException
    ├── PolicyNotFoundException
    ├── DuplicateItemException
    ├── UnknownOperationException
    └── InternalServerError               (500: a bug of ours, never the caller's)
"""

from __future__ import annotations

from typing import Any

PREFIX = "com.amazonaws.dynamodb.v20120810#"
CONDITION_FAILED = "The conditional request failed"


class DynamoError(Exception):
    """An error the API answers with; subclasses set the AWS type and the status."""

    error_type = "InternalServerError"
    status = 400
    #: Some AWS types live under another namespace than the service's.
    prefix = PREFIX

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_body(self) -> dict[str, Any]:
        """The JSON body AWS sends with this error."""
        return {"__type": self.prefix + self.error_type, "message": self.message}


class ValidationException(DynamoError):
    """The request breaks a rule of the API (missing key, bad expression, limits)."""

    error_type = "ValidationException"
    prefix = "com.amazon.coral.validate#"


class SerializationException(DynamoError):
    """The body is not JSON, or a value has the wrong JSON type."""

    error_type = "SerializationException"
    prefix = "com.amazon.coral.service#"


class ConditionalCheckFailedException(DynamoError):
    """A write's ConditionExpression was false; nothing was written."""

    error_type = "ConditionalCheckFailedException"

    def __init__(self, item: dict[str, Any] | None = None) -> None:
        super().__init__(CONDITION_FAILED)
        self.item = item

    def to_body(self) -> dict[str, Any]:
        body = super().to_body()
        if self.item is not None:
            body["Item"] = self.item
        return body


class TransactionCanceledException(DynamoError):
    """A TransactWriteItems action failed; none of them was applied."""

    error_type = "TransactionCanceledException"

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        codes = ", ".join(reason["Code"] for reason in reasons)
        super().__init__(
            "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{codes}]"
        )
        self.reasons = reasons

    def to_body(self) -> dict[str, Any]:
        return {**super().to_body(), "CancellationReasons": self.reasons}


class ResourceNotFoundException(DynamoError):
    """The table (or index) does not exist."""

    error_type = "ResourceNotFoundException"


class ResourceInUseException(DynamoError):
    """CreateTable of a table that already exists."""

    error_type = "ResourceInUseException"


class DuplicateItemException(DynamoError):
    """A PartiQL INSERT of an item whose primary key is already taken."""

    error_type = "DuplicateItemException"


class PolicyNotFoundException(DynamoError):
    """The table has no resource-based policy, or not the revision the caller expected."""

    error_type = "PolicyNotFoundException"


class LimitExceededException(DynamoError):
    """Too many table or index operations at once (one index created or deleted per call)."""

    error_type = "LimitExceededException"


class UnknownOperationException(DynamoError):
    """``X-Amz-Target`` names no operation of DynamoDB_20120810 that we serve."""

    error_type = "UnknownOperationException"
    prefix = "com.amazon.coral.service#"


class InternalServerError(DynamoError):
    """An unexpected failure on our side."""

    error_type = "InternalServerError"
    status = 500


def require_shape(ok: bool, member: str) -> None:
    """SerializationException, as AWS answers a member of the wrong JSON type.

    AWS checks the JSON against the API's shapes (a map here, a string there) before any
    rule of the operation, so such a request never reaches a ValidationException.
    """
    if not ok:
        raise SerializationException(f"Unexpected JSON value type for {member}")


def table_not_found(name: str) -> ResourceNotFoundException:
    """AWS's answer for an item operation on a table that does not exist."""
    return ResourceNotFoundException("Requested resource not found")


#: What AWS puts before the messages its request model (not the operation) raises.
DETECTED = "1 validation error detected: "


def detected(detail: str) -> ValidationException:
    """A ValidationException AWS words with its ``1 validation error detected: `` prefix."""
    return ValidationException(DETECTED + detail)


def invalid_parameter(detail: str) -> ValidationException:
    """The ``One or more parameter values were invalid: ...`` family of messages."""
    return ValidationException(f"One or more parameter values were invalid: {detail}")
