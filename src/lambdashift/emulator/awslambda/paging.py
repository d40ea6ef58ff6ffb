"""Marker-based pagination as the Lambda list operations do it."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from lambdashift.emulator.awslambda.validation import check_int
from lambdashift.emulator.errors import InvalidParameterValueException

T = TypeVar("T")

#: AWS returns at most 50 items a page unless MaxItems asks for fewer.
DEFAULT_PAGE = 50


def page(items: list[T], marker: str | None, max_items: Any) -> tuple[list[T], str | None]:
    """One page of ``items`` after ``marker``, and the marker of the next page (or None)."""
    size = DEFAULT_PAGE if max_items is None else min(check_int(max_items, "maxItems", 1, 10000), DEFAULT_PAGE)
    start = _decode(marker) if marker else 0
    chunk = items[start:start + size]
    end = start + len(chunk)
    return chunk, (_encode(end) if end < len(items) else None)


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"lambdashift:{offset}".encode()).decode()


def _decode(marker: str) -> int:
    try:
        prefix, _, offset = base64.urlsafe_b64decode(marker.encode()).decode().partition(":")
        if prefix != "lambdashift" or not offset.isdigit():
            raise ValueError(marker)
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameterValueException(f"Invalid pagination marker: {marker}") from None
