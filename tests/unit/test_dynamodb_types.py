"""AttributeValues: canonical numbers, validation, sizes, and keys that sort like DynamoDB."""

from __future__ import annotations

import base64
import random
from decimal import Decimal

import pytest

from lambdashift.dynamodb.errors import ValidationException
from lambdashift.dynamodb.types import (
    canonical_number,
    check_item,
    check_item_size,
    check_value,
    encode_key,
    item_size,
    plain,
    prefix_end,
    same,
)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("1.50", "1.5"),
        ("1E+2", "100"),
        ("1e2", "100"),
        ("-0", "0"),
        ("0.000", "0"),
        ("007", "7"),
        ("0.00120", "0.0012"),
        ("+5", "5"),
        (".5", "0.5"),
        ("-12.3400", "-12.34"),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1E-130", "0." + "0" * 129 + "1"),
    ],
)
def test_numbers_are_stored_in_canonical_form(given: str, canonical: str) -> None:
    assert canonical_number(given) == canonical


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("abc", "cannot be converted into a number"),
        ("NaN", "cannot be converted into a number"),
        ("Infinity", "cannot be converted into a number"),
        (" 1", "cannot be converted into a number"),
        ("1_000", "cannot be converted into a number"),
        ("", "cannot be converted into a number"),
        ("1" * 39, "more than 38 significant digits"),
        ("1E+126", "Number overflow"),
        ("1E-131", "Number underflow"),
    ],
)
def test_numbers_dynamodb_refuses(given: str, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        canonical_number(given)


def test_38_digits_with_zeros_around_them_are_fine() -> None:
    """Leading and trailing zeros are not significant digits."""
    assert canonical_number("0.000" + "9" * 38 + "000") == "0.000" + "9" * 38


def _sorted_by_key(values: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(values, key=encode_key)


def test_number_keys_sort_numerically() -> None:
    rng = random.Random(7)
    texts = {"0", "1", "-1", "10", "9", "0.1", "-0.1", "-0.12", "-0.123", "0.12", "0.123",
             "1E+125", "-1E+125", "1E-130", "-1E-130", "99999999999999999999999999999999999999"}
    for _ in range(2000):
        digits = rng.randint(1, 38)
        mantissa = rng.randint(-(10**digits), 10**digits)
        texts.add(str(Decimal(mantissa).scaleb(rng.randint(-60, 60))))
    values = [{"N": n} for n in {canonical_number(t) for t in texts}]
    by_key = [Decimal(v["N"]) for v in _sorted_by_key(values)]
    assert by_key == sorted(by_key)
    assert len({encode_key(v) for v in values}) == len(values)  # equal only if equal numbers


def test_string_keys_sort_by_utf8_bytes_not_by_utf16() -> None:
    """U+FF61 sorts before U+1F600 in UTF-8 (and code points), after it in UTF-16."""
    values = [{"S": s} for s in ["\U0001f600", "\uff61", "b", "a", "ab", "", "Z", "é"]]
    assert [v["S"] for v in _sorted_by_key(values)] == ["", "Z", "a", "ab", "b", "é", "\uff61",
                                                        "\U0001f600"]


def test_binary_keys_sort_by_bytes() -> None:
    raw = [b"\xff", b"\x00", b"\x00\x00", b"\x01", b"\x7f\xff"]
    values = [{"B": base64.b64encode(b).decode()} for b in raw]
    assert [base64.b64decode(v["B"]) for v in _sorted_by_key(values)] == sorted(raw)


def test_prefix_end_bounds_every_string_with_the_prefix() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") is None
    assert b"ab\xff\xff" < prefix_end(b"ab")  # type: ignore[operator]


def test_check_value_normalises_numbers_inside_documents() -> None:
    item = check_item({"m": {"M": {"n": {"N": "1.0"}, "l": {"L": [{"NS": ["2.50", "3"]}]}}}})
    assert item == {"m": {"M": {"n": {"N": "1"}, "l": {"L": [{"NS": ["2.5", "3"]}]}}}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "must contain exactly one of the supported datatypes"),
        ({"S": "a", "N": "1"}, "must contain exactly one of the supported datatypes"),
        ({"X": "a"}, "must contain exactly one of the supported datatypes"),
        ({"S": 1}, "invalid value type"),
        ({"SS": []}, "An string set  may not be empty"),
        ({"NS": []}, "An number set  may not be empty"),
        ({"SS": ["a", "a"]}, r"Input collection \[a, a\] contains duplicates"),
        ({"NS": ["1", "1.0"]}, "contains duplicates"),
        ({"NULL": False}, "Null attribute value types must have the value of true"),
        ({"B": "!!"}, "Invalid Base64"),
    ],
)
def test_invalid_values_are_refused(value: dict, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        check_value(value)


def test_empty_strings_and_binary_are_valid_values() -> None:
    assert check_value({"S": ""}) == {"S": ""}
    assert check_value({"B": ""}) == {"B": ""}


def test_same_compares_sets_unordered_and_numbers_by_value() -> None:
    assert same({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert same({"N": "1.0"}, {"N": "1"})
    assert not same({"N": "1"}, {"S": "1"})
    assert same({"L": [{"N": "1"}]}, {"L": [{"N": "1.00"}]})
    assert not same({"M": {"a": {"S": "x"}}}, {"M": {"a": {"S": "x"}, "b": {"S": "y"}}})
    assert plain({"NS": ["1", "2"]}) == frozenset({Decimal(1), Decimal(2)})


def test_item_size_counts_names_and_utf8_values() -> None:
    assert item_size({"id": {"S": "abc"}}) == 5
    assert item_size({"é": {"S": "é"}}) == 4
    assert item_size({"b": {"BOOL": True}, "n": {"NULL": True}}) == 4
    assert item_size({"k": {"B": base64.b64encode(b"12345").decode()}}) == 6
    assert item_size({"n": {"N": "12345"}}) == 1 + 4


def test_items_over_400_kb_are_refused() -> None:
    check_item_size({"a": {"S": "x" * (400 * 1024 - 1)}})
    with pytest.raises(ValidationException, match="Item size has exceeded the maximum allowed size"):
        check_item_size({"a": {"S": "x" * (400 * 1024)}})
