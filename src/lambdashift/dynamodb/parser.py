"""Tokenizer and recursive-descent parser for DynamoDB expressions.

Grammar (keywords case-insensitive; precedence from loosest: OR, AND, NOT, predicates)::

    condition  := conjunct (OR conjunct)*
    conjunct   := negation (AND negation)*
    negation   := NOT negation | "(" condition ")" | function | operand comparison
    comparison := ("=" | "<>" | "<" | "<=" | ">" | ">=") operand
                | BETWEEN operand AND operand | IN "(" operand ("," operand)* ")"
    update     := (SET action,+ | REMOVE path,+ | ADD path value,+ | DELETE path value,+)+
    action     := path "=" value [("+" | "-") value]
    path       := name ("." name | "[" digits "]")*

Errors are ValidationExceptions worded like AWS's, prefixed ``Invalid <Kind>:``.
"""

from __future__ import annotations

import re
from typing import Any

from lambdashift.dynamodb.errors import DETECTED, ValidationException, detected
from lambdashift.dynamodb.expressions import (
    CONDITION_FUNCTIONS,
    RESERVED,
    UPDATE_FUNCTIONS,
    Arith,
    Between,
    Call,
    Compare,
    In,
    Literal,
    Logic,
    Path,
    Placeholders,
    Update,
)
from lambdashift.dynamodb.types import type_of

# ---------------------------------------------------------------------------------------
# Tokenizer

_TOKEN = re.compile(
    r"\s*(?:(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>[0-9]+)|(?P<op><>|<=|>=|[=<>()\[\],.+-]))"
)


def tokenize(text: str, kind: str) -> list[tuple[str, str, int]]:
    """``(type, text, position)`` tokens, ending with ``("eof", "<EOF>", len)``."""
    tokens = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ValidationException(
                f'Invalid {kind}: Invalid token; token: "{text[pos]}", near: '
                f'"{text[max(0, pos - 2):pos + 2]}"'
            )
        group = match.lastgroup or "op"
        tokens.append((group, match.group(group), match.start(group)))
        pos = match.end()
    tokens.append(("eof", "<EOF>", len(text)))
    return tokens


# ---------------------------------------------------------------------------------------
# Parser


class _Parser:
    def __init__(self, text: str, kind: str, placeholders: Placeholders) -> None:
        if not isinstance(text, str):
            raise ValidationException(f"{kind} must be a string")
        if not text.strip():
            # AWS prefixes this one for an UpdateExpression only (its other checks of
            # update clauses too): the other kinds answer the bare message.
            prefix = DETECTED if kind == "UpdateExpression" else ""
            raise ValidationException(
                f"{prefix}Invalid {kind}: The expression can not be empty;"
            )
        self.text = text
        self.kind = kind
        self.ph = placeholders
        self.tokens = tokenize(text, kind)
        self.i = 0

    # -- helpers -------------------------------------------------------------------
    def peek(self, offset: int = 0) -> tuple[str, str, int]:
        """The token ``offset`` ahead (the end token past the end)."""
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def keyword(self, *words: str) -> str | None:
        """Consume the next token if it is one of ``words`` (any case); which one."""
        group, text, _ = self.peek()
        if group == "ident" and text.upper() in words:
            self.i += 1
            return text.upper()
        return None

    def accept(self, op: str) -> bool:
        """Consume the next token if it is the operator ``op``."""
        group, text, _ = self.peek()
        if group == "op" and text == op:
            self.i += 1
            return True
        return False

    def expect(self, op: str) -> None:
        """Consume the operator ``op`` or fail with AWS's syntax error."""
        if not self.accept(op):
            raise self.syntax_error()

    def syntax_error(self) -> ValidationException:
        """AWS's ``Syntax error; token: ..., near: ...`` for the current token."""
        _, token, pos = self.peek()
        before = self.tokens[self.i - 1][2] if self.i > 0 else pos
        after = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        end = after[2] + len(after[1]) if after and after[0] != "eof" else len(self.text)
        return self.error(f'Syntax error; token: "{token}", near: "{self.text[before:end]}"')

    def error(self, detail: str) -> ValidationException:
        """A ValidationException prefixed ``Invalid <Kind>:``."""
        return ValidationException(f"Invalid {self.kind}: {detail}")

    def done(self) -> None:
        """Fail unless every token was consumed."""
        if self.peek()[0] != "eof":
            raise self.syntax_error()

    # -- paths and operands --------------------------------------------------------
    def path(self) -> Path:
        """``path := name ("." name | "[" digits "]")*``."""
        parts: list[str | int] = [self.attribute_name()]
        while True:
            if self.accept("."):
                parts.append(self.attribute_name())
            elif self.accept("["):
                group, text, _ = self.peek()
                if group != "number":
                    raise self.syntax_error()
                self.i += 1
                parts.append(int(text))
                self.expect("]")
            else:
                return Path(tuple(parts))

    def attribute_name(self) -> str:
        """A ``#name`` (resolved) or a plain name (not a reserved word)."""
        group, text, _ = self.peek()
        if group == "name":
            if text not in self.ph.names:
                raise self.error(
                    "An expression attribute name used in the document path is not defined; "
                    f"attribute name: {text}"
                )
            self.ph.used_names.add(text)
            self.i += 1
            return self.ph.names[text]
        if group == "ident":
            if text.upper() in RESERVED:
                raise self.error(f"Attribute name is a reserved keyword; reserved keyword: {text}")
            self.i += 1
            return text
        raise self.syntax_error()

    def literal(self) -> Literal:
        """A ``:value``, resolved."""
        _, text, _ = self.peek()
        if text not in self.ph.values:
            raise self.error(
                "An expression attribute value used in expression is not defined; "
                f"attribute value: {text}"
            )
        self.ph.used_values.add(text)
        self.i += 1
        return Literal(self.ph.values[text])

    def operand(self, functions: dict[str, int]) -> Any:
        """A path, a ``:value``, or a call of one of ``functions``."""
        group, text, _ = self.peek()
        if group == "value":
            return self.literal()
        if group == "ident" and self.peek(1)[1] == "(":
            return self.call(functions)
        if group in ("name", "ident"):
            return self.path()
        raise self.syntax_error()

    def call(self, allowed: dict[str, int]) -> Call:
        """``name(args)``, checked for arity and argument kinds as AWS checks them."""
        _, name, _ = self.peek()
        known = {**CONDITION_FUNCTIONS, **UPDATE_FUNCTIONS, "size": 1}
        if name not in known:
            raise self.error(f"Invalid function name; function: {name}")
        if name not in allowed:
            raise self.error(
                f"The function is not allowed to be used this way in an expression; "
                f"function: {name}"
            )
        self.i += 2
        args = [self.operand(UPDATE_FUNCTIONS if name in UPDATE_FUNCTIONS else {"size": 1})]
        while self.accept(","):
            args.append(self.operand(UPDATE_FUNCTIONS if name in UPDATE_FUNCTIONS else {}))
        self.expect(")")
        if len(args) != known[name]:
            raise self.error(
                f"Incorrect number of operands for operator or function; operator or "
                f"function: {name}, number of operands: {len(args)}"
            )
        if name != "list_append" and not isinstance(args[0], Path):
            raise self.error(
                f"Operator or function requires a document path; operator or function: {name}"
            )
        if name in ("begins_with", "attribute_type") and isinstance(args[1], Literal):
            wanted = "S" if name == "attribute_type" else None
            actual = type_of(args[1].value)
            if actual not in ((wanted,) if wanted else ("S", "B")):
                raise self.error(
                    f"Incorrect operand type for operator or function; operator or function: "
                    f"{name}, operand type: {actual}"
                )
        return Call(name, tuple(args))

    # -- conditions ----------------------------------------------------------------
    def condition(self) -> Any:
        """``condition := conjunct (OR conjunct)*``."""
        left = self.conjunction()
        while self.keyword("OR"):
            left = Logic("OR", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        """``conjunct := negation (AND negation)*``."""
        left = self.negation()
        while self.keyword("AND"):
            left = Logic("AND", left, self.negation())
        return left

    def negation(self) -> Any:
        """``NOT negation`` or a predicate."""
        if self.keyword("NOT"):
            return Logic("NOT", self.negation())
        return self.predicate()

    def predicate(self) -> Any:
        """A parenthesised condition, a function, or a comparison."""
        if self.accept("("):
            inner = self.condition()
            self.expect(")")
            return inner
        group, text, _ = self.peek()
        if group == "ident" and text in CONDITION_FUNCTIONS and self.peek(1)[1] == "(":
            return self.call(CONDITION_FUNCTIONS)
        left = self.operand({"size": 1})
        group, op, _ = self.peek()
        if group == "op" and op in ("=", "<>", "<", "<=", ">", ">="):
            self.i += 1
            return Compare(op, left, self.operand({"size": 1}))
        if self.keyword("BETWEEN"):
            low = self.operand({"size": 1})
            if not self.keyword("AND"):
                raise self.syntax_error()
            return Between(left, low, self.operand({"size": 1}))
        if self.keyword("IN"):
            self.expect("(")
            options = [self.operand({"size": 1})]
            while self.accept(","):
                options.append(self.operand({"size": 1}))
            self.expect(")")
            return In(left, tuple(options))
        raise self.syntax_error()

    # -- updates -------------------------------------------------------------------
    def update(self) -> Update:
        """``SET``/``REMOVE``/``ADD``/``DELETE`` clauses, each at most once."""
        result = Update()
        seen: set[str] = set()
        while self.peek()[0] != "eof":
            clause = self.keyword("SET", "REMOVE", "ADD", "DELETE")
            if clause is None:
                raise self.syntax_error()
            if clause in seen:
                raise detected(
                    f'Invalid UpdateExpression: The "{clause}" section can only be used once '
                    "in an update expression;"
                )
            seen.add(clause)
            while True:
                if clause == "SET":
                    target = self.path()
                    self.expect("=")
                    result.set.append((target, self.set_value()))
                elif clause == "REMOVE":
                    result.remove.append(self.path())
                else:
                    target = self.path()
                    if self.peek()[0] != "value":
                        raise self.syntax_error()
                    getattr(result, clause.lower()).append((target, self.literal()))
                if not self.accept(","):
                    break
        return result

    def set_value(self) -> Any:
        """``operand [("+" | "-") operand]``."""
        left = self.operand(UPDATE_FUNCTIONS)
        group, op, _ = self.peek()
        if group == "op" and op in "+-":
            self.i += 1
            return Arith(op, left, self.operand(UPDATE_FUNCTIONS))
        return left


def parse_condition(text: str, kind: str, placeholders: Placeholders) -> Any:
    """A ConditionExpression / FilterExpression / KeyConditionExpression as a tree."""
    parser = _Parser(text, kind, placeholders)
    tree = parser.condition()
    parser.done()
    return tree


def parse_update(text: str, placeholders: Placeholders) -> Update:
    """An UpdateExpression, with overlapping paths refused as AWS does."""
    parser = _Parser(text, "UpdateExpression", placeholders)
    update = parser.update()
    parser.done()
    check_overlaps(update.paths(), "UpdateExpression")
    return update


def parse_projection(text: str, placeholders: Placeholders) -> list[Path]:
    """A ProjectionExpression: comma-separated document paths."""
    parser = _Parser(text, "ProjectionExpression", placeholders)
    paths = [parser.path()]
    while parser.accept(","):
        paths.append(parser.path())
    parser.done()
    check_overlaps(paths, "ProjectionExpression")
    return paths


def check_overlaps(paths: list[Path], kind: str) -> None:
    """Paths that are the same or one inside the other overlap; refused as AWS does.

    Paths that go on from a common prefix as a map key in one and a list index in the
    other ``conflict`` (the attribute cannot be both). AWS reports an overlap, if any pair
    has one, before a conflict.
    """
    pairs = [(a, b) for i, a in enumerate(paths) for b in paths[i + 1:]]
    for first, second in pairs:
        shorter = min(len(first.parts), len(second.parts))
        if first.parts[:shorter] == second.parts[:shorter]:
            raise detected(
                f"Invalid {kind}: Two document paths overlap with each other; must remove "
                f"or rewrite one of these paths; path one: {first}, path two: {second}"
            )
    for first, second in pairs:
        for a, b in zip(first.parts, second.parts):
            if isinstance(a, int) != isinstance(b, int):
                raise detected(
                    f"Invalid {kind}: Two document paths conflict with each other; must "
                    f"remove or rewrite one of these paths; path one: {first}, path two: "
                    f"{second}"
                )
            if a != b:
                break
