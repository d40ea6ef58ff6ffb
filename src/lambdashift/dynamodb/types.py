"""AttributeValues: validation, canonical numbers, comparison, sizes and sortable keys.

Items are kept in their wire form (``{"title": {"S": "x"}, "n": {"N": "1.5"}}``, binary
as base64 text), so a stored item is answered without conversion. What needs real values
works on them here:

* :func:`check_item` / :func:`check_value` validate as DynamoDB does and put numbers in
  canonical form (``"1.50"`` → ``"1.5"``, ``"1E+2"`` → ``"100"``), as DynamoDB returns them;
* :func:`encode_key` turns a key attribute into bytes whose ``memcmp`` order is
  DynamoDB's: numbers numerically, strings by UTF-8 bytes, binary by bytes. SQLite
  compares BLOBs with ``memcmp``, so its B-tree indexes sort keys the way DynamoDB does;
* :func:`plain` gives comparable Python values (Decimal, str, bytes) for expressions;
* :func:`item_size` follows DynamoDB's size accounting (400 KB items, 1 MB pages).
"""

from __future__ import annotations

import base64
import binascii
import decimal
import hashlib
import re
from decimal import Decimal
from typing import Any

from lambdashift.dynamodb.errors import ValidationException, detected, invalid_parameter

MAX_ITEM_BYTES = 400 * 1024
SCALAR_TYPES = frozenset({"S", "N", "B"})
SET_TYPES = {"SS": "S", "NS": "N", "BS": "B"}
ALL_TYPES = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})
#: Wide enough that arithmetic on, and canonicalizing of, 38-digit numbers never rounds:
#: the default context has 28 digits and would round silently.
EXACT = decimal.Context(prec=80, Emax=999, Emin=-999)
_MAX_DIGITS = 38
# DynamoDB's range: 1E-130 .. 9.9999999999999999999999999999999999999E+125.
_MAX_ADJUSTED = 125
_MIN_ADJUSTED = -130
MAX_DEPTH = 32
# What DynamoDB parses as a number (Decimal alone would also take "NaN", " 1", "1_0").
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def type_of(value: dict[str, Any]) -> str:
    """The type descriptor of a (valid) AttributeValue: ``"S"``, ``"NS"``, ``"M"``..."""
    return next(iter(value))


# ---------------------------------------------------------------------------------------
# Numbers


def canonical_number(text: Any) -> str:
    """DynamoDB's form of a number string; ValidationException if it is not one it stores."""
    if not isinstance(text, str) or not _NUMBER.fullmatch(text):
        raise ValidationException("A value provided cannot be converted into a number")
    number = Decimal(text)
    if number.is_zero():
        return "0"
    # Leading and trailing zeros are not significant: 0.00120 has two digits.
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    if len(digits) > _MAX_DIGITS:
        raise ValidationException(
            "Attempting to store more than 38 significant digits in a Number"
        )
    if number.adjusted() > _MAX_ADJUSTED:
        raise ValidationException(
            "Number overflow. Attempting to store a number with magnitude larger than "
            "supported range"
        )
    if number.adjusted() < _MIN_ADJUSTED:
        raise ValidationException(
            "Number underflow. Attempting to store a number with magnitude smaller than "
            "supported range"
        )
    return format(number.normalize(EXACT), "f")


def _encode_number(text: str) -> bytes:
    """Bytes that sort like the number: sign, then exponent, then digits.

    Positive numbers: ``0x03``, the adjusted exponent + 256 in two bytes, the digits as
    ASCII (trailing zeros are gone, so a shorter digit string that is a prefix of a longer
    one is the smaller number, exactly as ``memcmp`` says). Negative numbers: ``0x01``
    and every following byte complemented, then ``0xff``, which puts ``-0.12`` after
    ``-0.123``. Zero is ``0x02``, between the two.
    """
    number = Decimal(text)
    if number.is_zero():
        return b"\x02"
    sign, digits, _ = number.as_tuple()
    body = (number.adjusted() + 256).to_bytes(2, "big") + "".join(map(str, digits)).rstrip(
        "0"
    ).encode()
    if not sign:
        return b"\x03" + body
    return b"\x01" + bytes(255 - b for b in body) + b"\xff"


# ---------------------------------------------------------------------------------------
# Keys


def encode_key(value: dict[str, Any]) -> bytes:
    """The sortable bytes of a key AttributeValue (S, N or B)."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return raw.encode("utf-8")
    if kind == "N":
        return _encode_number(raw)
    return base64.b64decode(raw)


def scan_hash(partition: bytes, kind: str) -> int:
    """Where a partition key falls in the table's scan order (0 .. 2**32-1).

    DynamoDB scans in the order of its partitions' hashes, not of the keys: an MD5 of
    the salt ``Outliers`` and the key's bytes (UTF-8 for S, raw for B, DynamoDB's base-100
    serialization for N), as reverse-engineered by the dynalite project and held by
    scans recorded on AWS (partition ``A`` before ``B``). Keeping that order makes a
    Scan page through partitions as AWS does and gives ``Segment``/``TotalSegments`` a
    cheap meaning: a range of this hash. ``partition`` is :func:`encode_key`'s bytes.
    """
    raw = _number_bytes(decode_number(partition)) if kind == "N" else partition
    return int.from_bytes(hashlib.md5(b"Outliers" + raw).digest()[:4], "big")


def decode_number(encoded: bytes) -> Decimal:
    """The number :func:`_encode_number` encoded."""
    if encoded[0] == 2:
        return Decimal(0)
    negative = encoded[0] == 1
    body = bytes(255 - b for b in encoded[1:-1]) if negative else encoded[1:]
    adjusted = int.from_bytes(body[:2], "big") - 256
    digits = body[2:].decode()
    value = Decimal(f"{'-' if negative else ''}{digits[0]}.{digits[1:] or '0'}E{adjusted}")
    return value


def _number_bytes(number: Decimal) -> bytes:
    """A number as DynamoDB serializes it for hashing: base-100 digits, like Oracle's NUMBER.

    One exponent byte (the power of 100, offset 193 for positive numbers, inverted for
    negative ones), then each pair of digits as a byte (pair + 1; negative: 101 - pair),
    and for negative numbers of fewer than 20 pairs a closing 102. Zero is 0x80.
    """
    if number.is_zero():
        return b"\x80"
    sign, digits, exponent = number.normalize(EXACT).as_tuple()
    places = list(digits)
    before_point = len(places) + int(exponent)
    pad = before_point % 2
    places = [0] * pad + places + [0] * ((len(places) + pad) % 2)
    pairs = [places[i] * 10 + places[i + 1] for i in range(0, len(places), 2)]
    head = (before_point + pad) // 2 - 64
    if sign:
        body = [101 - p for p in pairs] + ([102] if len(pairs) < 20 else [])
        return bytes([~head & 0xFF, *body])
    return bytes([head & 0xFF, *(p + 1 for p in pairs)])


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


# ---------------------------------------------------------------------------------------
# Validation


def check_item(item: Any, what: str = "Item") -> dict[str, Any]:
    """A validated item (numbers canonical); raises ValidationException otherwise."""
    if not isinstance(item, dict):
        raise ValidationException(f"{what} must be a map of attribute names to values")
    return {name: check_value(value) for name, value in item.items()}


def check_value(value: Any, depth: int = 0) -> dict[str, Any]:
    """A validated AttributeValue, with canonical numbers."""
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ALL_TYPES:
        raise ValidationException(
            "Supplied AttributeValue is empty, must contain exactly one of the supported "
            "datatypes"
        )
    if depth > MAX_DEPTH:
        raise ValidationException("Nesting Levels have exceeded supported limits")
    kind, raw = next(iter(value.items()))
    if kind == "S":
        _expect(isinstance(raw, str), kind)
        return value
    if kind == "N":
        return {"N": canonical_number(raw)}
    if kind == "B":
        _check_binary(raw)
        return value
    if kind == "BOOL":
        _expect(isinstance(raw, bool), kind)
        return value
    if kind == "NULL":
        if raw is not True:
            raise invalid_parameter("Null attribute value types must have the value of true")
        return value
    if kind == "L":
        _expect(isinstance(raw, list), kind)
        return {"L": [check_value(v, depth + 1) for v in raw]}
    if kind == "M":
        _expect(isinstance(raw, dict), kind)
        return {"M": {k: check_value(v, depth + 1) for k, v in raw.items()}}
    return _check_set(kind, raw)


def _check_set(kind: str, raw: Any) -> dict[str, Any]:
    _expect(isinstance(raw, list), kind)
    if not raw:
        # AWS's own wording, double space included.
        noun = {"SS": "string", "NS": "number", "BS": "binary"}[kind]
        raise detected(
            f"One or more parameter values were invalid: An {noun} set  may not be empty"
        )
    if kind == "NS":
        members = [canonical_number(v) for v in raw]
        seen = {Decimal(v) for v in members}
    elif kind == "SS":
        for v in raw:
            _expect(isinstance(v, str), kind)
        members, seen = raw, set(raw)
    else:
        for v in raw:
            _check_binary(v)
        members, seen = raw, {base64.b64decode(v) for v in raw}
    if len(seen) != len(members):
        raise ValidationException(f"Input collection {_show(members)} contains duplicates.")
    return {kind: members}


def _show(members: list[str]) -> str:
    return "[" + ", ".join(members) + "]"


def _check_binary(raw: Any) -> None:
    _expect(isinstance(raw, str), "B")
    try:
        base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationException(
            "Invalid Base64 encoding for a binary value"
        ) from None


def _expect(ok: bool, kind: str) -> None:
    if not ok:
        raise ValidationException(
            f"The parameter '{kind}' has an invalid value type for an AttributeValue"
        )


# ---------------------------------------------------------------------------------------
# Values for expressions


def plain(value: dict[str, Any]) -> Any:
    """A comparable Python value: Decimal, str, bytes, bool, None, or a frozenset.

    Strings compare by code point in Python, which is the order of their UTF-8 bytes,
    DynamoDB's string order.
    """
    kind, raw = next(iter(value.items()))
    if kind == "S" or kind == "BOOL":
        return raw
    if kind == "N":
        return Decimal(raw)
    if kind == "B":
        return base64.b64decode(raw)
    if kind == "NULL":
        return None
    if kind in SET_TYPES:
        return frozenset(plain({SET_TYPES[kind]: member}) for member in raw)
    return raw


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """DynamoDB's ``=``: same type and same value (sets unordered, numbers by value)."""
    kind = type_of(a)
    if kind != type_of(b):
        return False
    if kind == "L":
        return len(a["L"]) == len(b["L"]) and all(map(same, a["L"], b["L"]))
    if kind == "M":
        left, right = a["M"], b["M"]
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return plain(a) == plain(b)


def value_size(value: dict[str, Any]) -> int:
    """Bytes a value counts for, DynamoDB's way (its documented approximation)."""
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return _number_size(raw)
    if kind == "B":
        return len(raw) * 3 // 4 - raw.count("=", -2)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode("utf-8")) for v in raw)
    if kind == "NS":
        return sum(_number_size(v) for v in raw)
    if kind == "BS":
        return sum(len(v) * 3 // 4 - v.count("=", -2) for v in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    return 3 + sum(1 + len(k.encode("utf-8")) + value_size(v) for k, v in raw.items())


def _number_size(text: str) -> int:
    digits = sum(c.isdigit() for c in text.lstrip("-0.").replace(".", ""))
    return 1 + (digits + 1) // 2


def item_size(item: dict[str, Any]) -> int:
    """An item's size: every attribute's name in UTF-8 plus its value."""
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def check_item_size(item: dict[str, Any]) -> int:
    """The item's size; ValidationException past DynamoDB's 400 KB."""
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    return size
