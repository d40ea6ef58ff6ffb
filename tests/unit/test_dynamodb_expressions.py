"""DynamoDB expressions: parsing (with AWS's error wording) and evaluation against items."""

from __future__ import annotations

from typing import Any

import pytest

from lambdashift.dynamodb.errors import ValidationException
from lambdashift.dynamodb.evaluate import apply_update, holds, project
from lambdashift.dynamodb.expressions import Path, Placeholders
from lambdashift.dynamodb.parser import parse_condition, parse_projection, parse_update

ITEM = {
    "id": {"S": "n1"},
    "title": {"S": "Groceries"},
    "qty": {"N": "3"},
    "price": {"N": "9.5"},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "2"]},
    "arr": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"S": "y"}}}]},
    "doc": {"M": {"inner": {"M": {"v": {"N": "7"}}}, "s": {"S": "hello"}}},
    "blank": {"S": ""},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
}


def values(**given: Any) -> dict[str, dict[str, Any]]:
    """ExpressionAttributeValues from Python values: str → S, int/float → N, list → L."""
    out = {}
    for name, value in given.items():
        if isinstance(value, dict):
            out[f":{name}"] = value
        elif isinstance(value, bool):
            out[f":{name}"] = {"BOOL": value}
        elif isinstance(value, (int, float)):
            out[f":{name}"] = {"N": str(value)}
        else:
            out[f":{name}"] = {"S": value}
    return out


def check(text: str, item: dict[str, Any] = ITEM, names: dict[str, str] | None = None,
          **vals: Any) -> bool:
    placeholders = Placeholders(names, values(**vals) or None)
    tree = parse_condition(text, "ConditionExpression", placeholders)
    placeholders.check_all_used()
    return holds(tree, item)


# ---------------------------------------------------------------------------------------
# Conditions


@pytest.mark.parametrize(
    ("text", "vals", "expected"),
    [
        ("attribute_exists(id)", {}, True),
        ("attribute_not_exists(id)", {}, False),
        ("attribute_not_exists(missing)", {}, True),
        ("attribute_exists(doc.inner.v)", {}, True),
        ("attribute_exists(arr[2].deep)", {}, True),
        ("attribute_exists(arr[5])", {}, False),
        ("attribute_type(tags, :t)", {"t": "SS"}, True),
        ("attribute_type(qty, :t)", {"t": "S"}, False),
        ("begins_with(title, :p)", {"p": "Groc"}, True),
        ("begins_with(title, :p)", {"p": "groc"}, False),
        ("contains(title, :p)", {"p": "ocer"}, True),
        ("contains(tags, :p)", {"p": "a"}, True),
        ("contains(tags, :p)", {"p": "z"}, False),
        ("contains(nums, :p)", {"p": 2}, True),
        ("contains(arr, :p)", {"p": "x"}, True),
        ("size(title) = :n", {"n": 9}, True),
        ("size(tags) = :n", {"n": 2}, True),
        ("size(arr) > :n", {"n": 2}, True),
        ("size(doc) = :n", {"n": 2}, True),
        ("size(qty) = :n", {"n": 1}, False),
        ("qty = :n", {"n": 3}, True),
        ("qty = :n", {"n": "3"}, False),
        ("qty <> :n", {"n": "3"}, True),
        ("missing <> :n", {"n": 1}, True),
        ("missing = :n", {"n": 1}, False),
        ("missing < :n", {"n": 1}, False),
        ("qty < :n", {"n": 10}, True),
        ("qty < :n", {"n": "10"}, False),
        ("price >= :n", {"n": 9.5}, True),
        ("price > :n", {"n": 9.5}, False),
        ("title <= :s", {"s": "Groceries"}, True),
        ("qty BETWEEN :a AND :b", {"a": 1, "b": 3}, True),
        ("qty BETWEEN :a AND :b", {"a": 4, "b": 5}, False),
        ("qty IN (:a, :b)", {"a": 1, "b": 3}, True),
        ("title IN (:a)", {"a": "x"}, False),
        ("blank = :e", {"e": ""}, True),
        ("flag = :t", {"t": True}, True),
        ("NOT attribute_exists(id)", {}, False),
        ("attribute_exists(id) AND qty = :n", {"n": 4}, False),
        ("attribute_exists(id) OR qty = :n", {"n": 4}, True),
        ("NOT (qty = :a OR qty = :b)", {"a": 1, "b": 2}, True),
        ("qty = :a OR qty = :b AND qty = :c", {"a": 3, "b": 1, "c": 2}, True),
        ("(qty = :a OR qty = :b) AND qty = :c", {"a": 3, "b": 1, "c": 2}, False),
        ("doc.s = :s", {"s": "hello"}, True),
        ("arr[1] = :n", {"n": 1}, True),
        ("nums = :ns", {"ns": {"NS": ["2", "1"]}}, True),
        ("qty = price", {}, False),
        ("a and b", {}, None),  # placeholder: replaced below
    ][:-1],
)
def test_conditions(text: str, vals: dict[str, Any], expected: bool) -> None:
    assert check(text, **vals) is expected


def test_keywords_are_case_insensitive() -> None:
    assert check("attribute_exists(id) and not qty between :a AND :b", a=5, b=6)


def test_names_come_from_expression_attribute_names() -> None:
    assert check("#c = :n AND #m.#i.v = :v", names={"#c": "qty", "#m": "doc", "#i": "inner"},
                 n=3, v=7)
    # A name containing a dot is one attribute, not a path.
    assert check("attribute_exists(#d)", {"a.b": {"S": "x"}}, names={"#d": "a.b"})


@pytest.mark.parametrize(
    ("text", "vals", "names", "message"),
    [
        ("qty = :x", {}, None,
         "Invalid ConditionExpression: An expression attribute value used in expression is not "
         "defined; attribute value: :x"),
        ("#n = :x", {"x": 1}, None,
         "Invalid ConditionExpression: An expression attribute name used in the document path "
         "is not defined; attribute name: #n"),
        ("id = :a", {"a": 1, "b": 2}, None,
         "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}"),
        ("id = :a", {"a": 1}, {"#x": "x", "#y": "y"},
         "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x, #y}"),
        ("id = ", {}, None, 'Invalid ConditionExpression: Syntax error; token: "<EOF>"'),
        ("id == :a", {"a": 1}, None, 'Syntax error; token: "="'),
        ("foo(id)", {}, None, "Invalid ConditionExpression: Invalid function name; function: foo"),
        ("attribute_exists(:a)", {"a": 1}, None,
         "Operator or function requires a document path; operator or function: attribute_exists"),
        ("begins_with(id, :a)", {"a": 1}, None,
         "Incorrect operand type for operator or function; operator or function: begins_with, "
         "operand type: N"),
        ("if_not_exists(id, :a) = :a", {"a": 1}, None,
         "The function is not allowed to be used this way in an expression; function: "
         "if_not_exists"),
        ("status = :a", {"a": 1}, None,
         "Attribute name is a reserved keyword; reserved keyword: status"),
        ("id = :a $", {"a": 1}, None, 'Invalid token; token: "$"'),
        ("   ", {}, None, "The expression can not be empty"),
    ],
)
def test_condition_errors_use_aws_wording(text: str, vals: dict[str, Any],
                                          names: dict[str, str] | None, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        check(text, names=names, **vals)
    assert message in caught.value.message


def test_empty_placeholder_maps_are_refused() -> None:
    with pytest.raises(ValidationException, match="ExpressionAttributeValues must not be empty"):
        Placeholders(None, {})
    with pytest.raises(ValidationException, match="ExpressionAttributeNames must not be empty"):
        Placeholders({}, None)


# ---------------------------------------------------------------------------------------
# Updates


def update(text: str, item: dict[str, Any] = ITEM, names: dict[str, str] | None = None,
           **vals: Any) -> dict[str, Any]:
    placeholders = Placeholders(names, values(**vals) or None)
    parsed = parse_update(text, placeholders)
    placeholders.check_all_used()
    return apply_update(parsed, item)


def test_set_remove_add_delete_in_one_expression() -> None:
    new = update("SET title = :t, price = price + :p REMOVE flag ADD qty :one, tags :more "
                 "DELETE nums :gone", t="New", p=0.5, one=1,
                 more={"SS": ["b", "c"]}, gone={"NS": ["1"]})
    assert new["title"] == {"S": "New"} and new["price"] == {"N": "10"}
    assert "flag" not in new and new["qty"] == {"N": "4"}
    assert new["tags"] == {"SS": ["a", "b", "c"]} and new["nums"] == {"NS": ["2"]}
    assert ITEM["qty"] == {"N": "3"}  # the original is untouched


def test_right_hand_sides_see_the_item_before_the_update() -> None:
    new = update("SET a = b, b = a", {"a": {"N": "1"}, "b": {"N": "2"}})
    assert new == {"a": {"N": "2"}, "b": {"N": "1"}}


def test_if_not_exists_and_list_append() -> None:
    new = update("SET created = if_not_exists(created, :now), title = if_not_exists(title, :x), "
                 "#l = list_append(#l, :more), fresh = list_append(:more, if_not_exists(fresh, :none))",
                 names={"#l": "arr"}, now="today", x="ignored",
                 more={"L": [{"S": "z"}]}, none={"L": []})
    assert new["created"] == {"S": "today"} and new["title"] == ITEM["title"]
    assert new["arr"]["L"][-1] == {"S": "z"} and len(new["arr"]["L"]) == 4
    assert new["fresh"] == {"L": [{"S": "z"}]}


def test_nested_set_and_remove_and_list_indexes() -> None:
    new = update("SET doc.inner.v = :v, doc.added = :v, arr[1] = :v, arr[9] = :v "
                 "REMOVE arr[0], doc.s", v=1)
    assert new["doc"]["M"]["inner"]["M"]["v"] == {"N": "1"}
    assert new["doc"]["M"]["added"] == {"N": "1"} and "s" not in new["doc"]["M"]
    # arr[0] removed; arr[1] set to 1; arr[9] appended at the end
    assert new["arr"]["L"] == [{"N": "1"}, ITEM["arr"]["L"][2], {"N": "1"}]


def test_removing_several_list_indexes_refers_to_the_original_positions() -> None:
    item = {"l": {"L": [{"N": str(i)} for i in range(5)]}}
    assert update("REMOVE l[1], l[3]", item)["l"]["L"] == [{"N": "0"}, {"N": "2"}, {"N": "4"}]


def test_delete_emptying_a_set_removes_the_attribute_and_add_creates_missing_ones() -> None:
    new = update("DELETE tags :all ADD newcount :n, newset :s", all={"SS": ["a", "b"]}, n=5,
                 s={"NS": ["1"]})
    assert "tags" not in new and new["newcount"] == {"N": "5"} and new["newset"] == {"NS": ["1"]}


@pytest.mark.parametrize(
    ("text", "vals", "message"),
    [
        ("SET title = title + :n", {"n": 1},
         "An operand in the update expression has an incorrect data type"),
        ("SET x = missing + :n", {"n": 1},
         "The provided expression refers to an attribute that does not exist in the item"),
        ("SET nowhere.x = :n", {"n": 1},
         "The document path provided in the update expression is invalid for update"),
        ("ADD title :s", {"s": "x"}, "Incorrect operand type for operator or function; operator: "
                                     "ADD, operand type: STRING"),
        ("ADD qty :s", {"s": {"SS": ["x"]}},
         "An operand in the update expression has an incorrect data type"),
        ("DELETE tags :s", {"s": "a"}, "operator: DELETE, operand type: STRING"),
        ("SET a = :n SET b = :n", {"n": 1},
         'The "SET" section can only be used once in an update expression;'),
        ("SET a = :n REMOVE a", {"n": 1}, "Two document paths overlap with each other; must "
                                          "remove or rewrite one of these paths; path one: [a], "
                                          "path two: [a]"),
        ("SET a.b = :n, a = :n", {"n": 1}, "Two document paths overlap"),
        ("SET a = size(b)", {}, "The function is not allowed to be used this way in an "
                                "expression; function: size"),
        ("SET qty = qty + :big", {"big": {"N": "9" * 38}},
         "Attempting to store more than 38 significant digits in a Number"),
        ("UPSERT a = :n", {"n": 1}, 'Syntax error; token: "UPSERT"'),
    ],
)
def test_update_errors(text: str, vals: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        update(text, **vals)
    assert message in caught.value.message


# ---------------------------------------------------------------------------------------
# Projections


def test_projection_keeps_the_named_paths_nested_as_in_the_item() -> None:
    paths = parse_projection("id, doc.inner, arr[2].deep, arr[0], missing, #c",
                             Placeholders({"#c": "qty"}, None))
    assert project(ITEM, paths) == {
        "id": ITEM["id"],
        "qty": ITEM["qty"],
        "doc": {"M": {"inner": ITEM["doc"]["M"]["inner"]}},
        "arr": {"L": [{"S": "x"}, {"M": {"deep": {"S": "y"}}}]},
    }


def test_projection_overlaps_are_refused() -> None:
    with pytest.raises(ValidationException, match=r"path one: \[a\], path two: \[a, b\]"):
        parse_projection("a, a.b", Placeholders(None, None))


def test_paths_print_like_aws_with_list_indexes_in_brackets() -> None:
    assert str(Path(("a", 0, "b"))) == "[a, [0], b]"


def test_arithmetic_is_exact_to_38_digits() -> None:
    """Python's default decimal context has 28 digits; DynamoDB keeps 38."""
    item = {"n": {"N": "1234567890123456789012345678901234567"}}
    assert update("SET n = n + :one", item, one=1)["n"] == {
        "N": "1234567890123456789012345678901234568"
    }
    assert update("ADD n :x", item, x=0.1)["n"] == {"N": "1234567890123456789012345678901234567.1"}
    assert update("SET n = n - :n", item, n={"N": "1234567890123456789012345678901234567"})[
        "n"] == {"N": "0"}


def test_updates_never_change_the_item_they_start_from() -> None:
    """Values are shared between old and new items; nested changes copy first."""
    import json

    before = json.dumps(ITEM, sort_keys=True)
    update("SET doc.inner.v = :v, arr[2].deep = :v, doc2 = doc REMOVE doc.s ADD tags :t "
           "DELETE nums :n", v=1, t={"SS": ["z"]}, n={"NS": ["1"]})
    new = update("SET copy = arr REMOVE arr[0]")
    assert json.dumps(ITEM, sort_keys=True) == before
    assert new["copy"] == ITEM["arr"] and len(new["arr"]["L"]) == 2
