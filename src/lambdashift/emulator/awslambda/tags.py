"""AWS's rules for Lambda tags (ListTags, TagResource, UntagResource), as plain functions.

Tags belong to a function, never to one of its versions or aliases ("Tagging Lambda
functions": Lambda does not support tags on aliases or versions), and the ``Resource`` of
all three calls is a full function ARN. AWS checks, in this order: the ARN's shape
(ValidationException), a qualifier on it (InvalidParameterValueException, before looking
the function up), then the function (ResourceNotFoundException).
"""

from __future__ import annotations

from typing import Any

from lambdashift.emulator.awslambda import validation as v
from lambdashift.emulator.errors import InvalidParameterValueException

#: AWS: at most 50 tags per resource.
MAX_TAGS = 50

QUALIFIED_TAGS = ("Tags on function aliases and versions are not supported. "
                  "Please specify a function ARN.")


def taggable_function(resource: str) -> str:
    """The function ARN of a tag call, checked as AWS checks it before any lookup."""
    v.check_pattern(resource, "resource", v.TAGGABLE_ARN_PATTERN, max_len=10000)
    _, qualifier = v.split_function_name(resource, "resource")
    if qualifier:
        raise InvalidParameterValueException(QUALIFIED_TAGS)
    return resource


def merged(current: dict[str, str], params: dict[str, Any]) -> dict[str, str]:
    """TagResource: the tags after adding (or overwriting) the request's."""
    if "Tags" not in params:
        raise v.shape_error("tags", "Tags is required")
    tags = {**current, **v.check_tags(params["Tags"])}
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException(
            f"Number of tags exceeds resource tag limit: a function can have at most {MAX_TAGS} "
            f"tags, this request would leave {len(tags)}.")
    return tags


def without(current: dict[str, str], keys: list[str]) -> dict[str, str]:
    """UntagResource: the tags without ``keys`` (an absent key is not an error, as on AWS)."""
    if not keys:
        raise v.shape_error("tagKeys", "TagKeys is required")
    return {k: val for k, val in current.items() if k not in keys}
