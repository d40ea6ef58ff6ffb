"""PartiQL's statements for DynamoDB, tokenized and translated into expressions.

:class:`Statement` walks one statement's tokens and renders its paths, values and
conditions as DynamoDB expression text with ``#n``/``:v`` placeholders, so that
``partiql.py`` can hand them to the Query/Scan/PutItem/UpdateItem/DeleteItem code.
"""

from __future__ import annotations

import re
from typing import Any

from lambdashift.dynamodb.errors import ValidationException
from lambdashift.dynamodb.types import canonical_number, check_value

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<qid>\"(?:[^\"]|\"\")*\")"
    r"|(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<op><<|>>|<>|!=|<=|>=|[=<>()\[\]{},.:*?+-]))"
)
_COMPARE = ("=", "<>", "!=", "<", "<=", ">", ">=")
_SORT_OPS = ("=", "<", "<=", ">", ">=")


def malformed(detail: str) -> ValidationException:
    """AWS's words for a statement it cannot parse."""
    return ValidationException(f"Statement wasn't well formed, can't be processed: {detail}")


class Statement:
    """Tokens of one statement, and the names and values its translation refers to."""

    def __init__(self, text: Any, parameters: Any) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValidationException("1 validation error detected: Value null at 'statement' "
                                      "failed to satisfy constraint: Member must not be null")
        if parameters is not None and not isinstance(parameters, list):
            raise ValidationException("Parameters must be a list of AttributeValues")
        self.params = [check_value(p) for p in parameters or []]
        self.used = 0
        self.tokens: list[tuple[str, str]] = []
        position = 0
        text = text.strip().rstrip(";")
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip() == "":
                    break
                raise malformed(f"Unexpected character '{text[position].strip()}'")
            kind = match.lastgroup or "op"
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        self.i = 0
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    # -- tokens ------------------------------------------------------------------------
    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("eof", "")

    def word(self, *words: str) -> str | None:
        kind, text = self.peek()
        if kind == "id" and text.upper() in words:
            self.i += 1
            return text.upper()
        return None

    def need_word(self, word: str) -> None:
        if self.word(word) is None:
            raise malformed(f"Expected {word}, found '{self.peek()[1] or 'end of statement'}'")

    def op(self, *ops: str) -> str | None:
        kind, text = self.peek()
        if kind == "op" and text in ops:
            self.i += 1
            return text
        return None

    def need_op(self, op: str) -> None:
        if self.op(op) is None:
            raise malformed(f"Expected '{op}', found '{self.peek()[1] or 'end of statement'}'")

    def done(self) -> None:
        if self.i != len(self.tokens):
            raise malformed(f"Unexpected '{self.peek()[1]}'")

    # -- placeholders --------------------------------------------------------------------
    def name(self, attribute: str) -> str:
        key = f"#n{len(self.names)}"
        self.names[key] = attribute
        return key

    def value(self, value: dict[str, Any]) -> str:
        key = f":v{len(self.values)}"
        self.values[key] = value
        return key

    # -- grammar -------------------------------------------------------------------------
    def identifier(self) -> str:
        kind, text = self.peek()
        if kind == "qid":
            self.i += 1
            return text[1:-1].replace('""', '"')
        if kind == "id":
            self.i += 1
            return text
        raise malformed(f"Expected identifier, found '{text or 'end of statement'}'")

    def source(self) -> tuple[str, str | None]:
        table = self.identifier()
        return (table, self.identifier()) if self.op(".") else (table, None)

    def path(self) -> tuple[list[str | int], str]:
        parts: list[str | int] = [self.identifier()]
        text = self.name(str(parts[0]))
        while True:
            if self.op("."):
                parts.append(self.identifier())
                text += "." + self.name(str(parts[-1]))
            elif self.op("["):
                kind, number = self.peek()
                if kind != "num" or not number.isdigit():
                    raise malformed("Expected a list index")
                self.i += 1
                self.need_op("]")
                parts.append(int(number))
                text += f"[{number}]"
            else:
                return parts, text

    def literal(self) -> dict[str, Any]:
        kind, text = self.peek()
        if self.op("?"):
            if self.used >= len(self.params):
                raise ValidationException("Number of parameters in request and statement "
                                          "don't match.")
            self.used += 1
            return self.params[self.used - 1]
        if kind == "str":
            self.i += 1
            return {"S": text[1:-1].replace("''", "'")}
        if kind == "num":
            self.i += 1
            return {"N": canonical_number(text)}
        word = self.word("TRUE", "FALSE", "NULL")
        if word:
            return {"NULL": True} if word == "NULL" else {"BOOL": word == "TRUE"}
        if self.op("["):
            return {"L": self._sequence("]")}
        if self.op("<<"):
            members = self._sequence(">>")
            kinds = {next(iter(m)) for m in members}
            if len(kinds) != 1 or not kinds <= {"S", "N", "B"}:
                raise malformed("A set holds strings, numbers or binaries, all of one type")
            kind = kinds.pop()
            return check_value({kind + "S": [m[kind] for m in members]})
        if self.op("{"):
            entries: dict[str, Any] = {}
            while not self.op("}"):
                if entries:
                    self.need_op(",")
                key_kind, key = self.peek()
                if key_kind != "str":
                    raise malformed("Map keys are 'quoted strings'")
                self.i += 1
                self.need_op(":")
                entries[key[1:-1].replace("''", "'")] = self.literal()
            return {"M": entries}
        raise malformed(f"Expected a value, found '{text or 'end of statement'}'")

    def _sequence(self, end: str) -> list[dict[str, Any]]:
        members: list[dict[str, Any]] = []
        while not self.op(end):
            if members:
                self.need_op(",")
            members.append(self.literal())
        return members

    def operand(self) -> tuple[str, Any]:
        """``(expression text, what it is)``: ``("path", parts)``, ``("value", v)``, ``("call", name)``."""
        kind, text = self.peek()
        if kind in ("id", "qid") and self.i + 1 < len(self.tokens) and \
                self.tokens[self.i + 1] == ("op", "(") and kind == "id" and \
                text.upper() not in ("TRUE", "FALSE", "NULL"):
            self.i += 2
            args: list[tuple[str, Any]] = []
            while not self.op(")"):
                if args:
                    self.need_op(",")
                args.append(self.operand())
            rendered = f"{text.lower()}({', '.join(a[0] for a in args)})"
            return rendered, ("call", text.lower(), [a[1] for a in args])
        if kind in ("id", "qid") and text.upper() not in ("TRUE", "FALSE", "NULL"):
            parts, rendered = self.path()
            return rendered, ("path", parts)
        value = self.literal()
        return self.value(value), ("value", value)

    def condition(self) -> list[tuple[str, Any]]:
        """The WHERE as its top-level AND parts: ``(text, (attr, op, value) | None)``."""
        parts = [self.predicate()]
        while self.word("AND"):
            parts.append(self.predicate())
        if self.word("OR"):
            rest = self.condition()
            text = " AND ".join(p[0] for p in parts) + " OR " + " AND ".join(p[0] for p in rest)
            return [(f"({text})", None)]
        return parts

    def predicate(self) -> tuple[str, Any]:
        if self.word("NOT"):
            inner = self.predicate()
            return f"NOT {inner[0]}", None
        if self.op("("):
            inner = self.condition()
            self.need_op(")")
            return "(" + " AND ".join(p[0] for p in inner) + ")", None
        left, what = self.operand()
        op = self.op(*_COMPARE)
        if op:
            right, value = self.operand()
            op = "<>" if op == "!=" else op
            simple = (what[1][0], op, value[1]) if what[0] == "path" and len(what[1]) == 1 \
                and value[0] == "value" else None
            return f"{left} {op} {right}", simple
        if self.word("BETWEEN"):
            low, low_value = self.operand()
            self.need_word("AND")
            high, high_value = self.operand()
            simple = (what[1][0], "BETWEEN", (low_value[1], high_value[1])) \
                if what[0] == "path" and len(what[1]) == 1 else None
            return f"{left} BETWEEN {low} AND {high}", simple
        if self.word("IN"):
            self.need_op("[")
            options = []
            while not self.op("]"):
                if options:
                    self.need_op(",")
                options.append(self.operand()[0])
            return f"{left} IN ({', '.join(options)})", None
        if what[0] == "call":
            args = what[2]
            if what[1] == "begins_with" and len(args) == 2 and args[0][0] == "path" and \
                    len(args[0][1]) == 1 and args[1][0] == "value":
                return left, (args[0][1][0], "begins_with", args[1][1])
            return left, None
        raise malformed(f"Expected a comparison, found '{self.peek()[1] or 'end of statement'}'")

    def request(self, table: str, *expressions: str) -> dict[str, Any]:
        """A request on ``table`` with the placeholders ``expressions`` use (DynamoDB
        refuses unused ones; the key equalities a WHERE gives become ``Key`` instead)."""
        used = set(re.findall(r"[#:][nv][0-9]+", " ".join(expressions)))
        request: dict[str, Any] = {"TableName": table}
        names = {k: v for k, v in self.names.items() if k in used}
        values = {k: v for k, v in self.values.items() if k in used}
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = values
        return request


def key_parts(parts: list[tuple[str, Any]], hash_name: str, range_name: str | None
               ) -> tuple[list[str], list[str]]:
    """WHERE parts as key conditions (the partition key's equality, at most one condition
    on the sort key) and the rest; no key conditions if the partition key has none."""
    keys: list[str] = []
    rest: list[str] = []
    seen: set[str] = set()
    for text, simple in parts:
        attribute, op = (simple[0], simple[1]) if simple else (None, None)
        is_key = (attribute == hash_name and op == "=") or (
            range_name is not None and attribute == range_name
            and op in (*_SORT_OPS, "BETWEEN", "begins_with"))
        if is_key and attribute not in seen:
            seen.add(attribute)  # type: ignore[arg-type]
            keys.append(text)
        else:
            rest.append(text)
    if hash_name not in seen:
        return [], [p[0] for p in parts]
    return keys, rest


def key_values(parts: list[tuple[str, Any]], names: tuple[str, ...]) -> dict[str, Any] | None:
    """The item key a WHERE pins down by equalities, or None if it does not."""
    key: dict[str, Any] = {}
    for _, simple in parts:
        if simple and simple[1] == "=" and simple[0] in names and simple[0] not in key:
            key[simple[0]] = simple[2]
    return key if set(key) == set(names) else None


