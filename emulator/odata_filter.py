"""The OData `filter` of the send and bulk-group REST APIs (reference-odata-filter.md). Pure.

`parse(text)` checks a filter once, before anything is sent: syntax, and types (a filter must
be boolean; `not length(userId) gt 5` is an error because `not` binds tighter than `gt`, as the
reference says). The result evaluates against one connection at a time with `matches`.

Semantics, where the reference leaves room (chosen as Microsoft's emulator does):
identifier names are case-insensitive, string comparisons are not (`tolower` exists for that);
`gt`/`ge`/`lt`/`le` compare integers, and any comparison with null is false except `eq`/`ne`;
string functions of a null user id are null (`length`, `tolower`, ...), false (`startswith`,
`endswith`, `contains`) or -1 (`indexof`); `substring` out of range is null.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MAX_LENGTH = 4096
MAX_DEPTH = 100

Value = str | int | bool | None | tuple[str, ...]


class FilterError(ValueError):
    """A filter that is not valid; the message says where."""


class Type(enum.Enum):
    BOOL = "bool"
    INT = "int"
    STRING = "string"
    COLLECTION = "collection"
    NULL = "null"


@dataclass(frozen=True)
class Subject:
    """What a filter can see of one connection."""

    connection_id: str
    user_id: str | None
    groups: frozenset[str]


# --- syntax tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: str | int | bool | None


@dataclass(frozen=True)
class Field:
    name: str  # canonical: connectionId, userId, groups


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str  # and, or, eq, ne, gt, ge, lt, le
    left: Node
    right: Node


@dataclass(frozen=True)
class In:
    item: Node
    within: tuple[Node, ...] | Field  # a list of values, or the `groups` collection


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = Literal | Field | Not | Binary | In | Call

FIELDS = {"connectionid": "connectionId", "userid": "userId", "groups": "groups"}
_FIELD_TYPES = {"connectionId": Type.STRING, "userId": Type.STRING, "groups": Type.COLLECTION}
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", *COMPARISONS}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<int>[+-]?\d+)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[(),])
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # string, int, name, punct, end
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:  # only trailing whitespace is left
            break
        kind = m.lastgroup or "bad"
        lexeme = m.group(kind)
        if kind == "bad":
            if lexeme == "'":
                raise FilterError(f"unterminated string literal at {m.start(kind)}")
            raise FilterError(f"unexpected character {lexeme!r} at {m.start(kind)}")
        out.append(_Token(kind, lexeme, m.start(kind)))
        pos = m.end()
    out.append(_Token("end", "", len(text)))
    return out


class _Parser:
    """Recursive descent, lowest precedence first: or, and, comparison/in, not, primary."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def next(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def word(self) -> str | None:
        token = self.peek()
        return token.text.lower() if token.kind == "name" else None

    def expect(self, text: str) -> None:
        token = self.next()
        if token.text != text:
            shown = token.text or "the end"
            raise FilterError(f"expected {text!r} at {token.at}, found {shown!r}")

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"filter is nested deeper than {MAX_DEPTH}")

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.peek()
        if token.kind != "end":
            raise FilterError(f"unexpected {token.text!r} at {token.at}")
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.word() == "or":
            self.next()
            node = Binary("or", node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.comparison()
        while self.word() == "and":
            self.next()
            node = Binary("and", node, self.comparison())
        return node

    def comparison(self) -> Node:
        node = self.unary()
        word = self.word()
        if word in COMPARISONS:
            self.next()
            return Binary(word, node, self.unary())
        if word == "in":
            self.next()
            return In(node, self.in_target())
        return node

    def in_target(self) -> tuple[Node, ...] | Field:
        token = self.peek()
        if token.kind == "name":
            field = self.primary()
            if field != Field("groups"):
                raise FilterError(f"'in' needs a list or groups at {token.at}")
            return Field("groups")
        self.expect("(")
        if self.word() == "groups":  # ( groups )
            self.next()
            self.expect(")")
            return Field("groups")
        items = [self.or_expr()]
        while self.peek().text == ",":
            self.next()
            items.append(self.or_expr())
        self.expect(")")
        return tuple(items)

    def unary(self) -> Node:
        if self.word() == "not":
            self.next()
            self.nested()
            node = Not(self.unary())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        token = self.next()
        if token.text == "(":
            self.nested()
            node = self.or_expr()
            self.expect(")")
            self.depth -= 1
            return node
        if token.kind == "string":
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "int":
            value = int(token.text)
            if not -(2**31) <= value < 2**31:
                raise FilterError(f"integer {token.text} is out of range")
            return Literal(value)
        if token.kind == "name":
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return Literal(lowered == "true")
            if lowered == "null":
                return Literal(None)
            if self.peek().text == "(":
                return self.call(token)
            if lowered in FIELDS:
                return Field(FIELDS[lowered])
            if lowered in _KEYWORDS:
                raise FilterError(f"unexpected {token.text!r} at {token.at}")
            raise FilterError(f"unknown identifier {token.text!r} at {token.at}")
        shown = token.text or "the end"
        raise FilterError(f"unexpected {shown!r} at {token.at}")

    def call(self, name: _Token) -> Node:
        self.expect("(")
        self.nested()
        args = [self.or_expr()]
        while self.peek().text == ",":
            self.next()
            args.append(self.or_expr())
        self.expect(")")
        self.depth -= 1
        if name.text not in _FUNCTIONS:
            raise FilterError(f"unknown function {name.text!r} at {name.at}")
        return Call(name.text, tuple(args))


# --- types ---------------------------------------------------------------------------------
def _literal_type(value: str | int | bool | None) -> Type:
    if value is None:
        return Type.NULL
    if isinstance(value, bool):
        return Type.BOOL
    if isinstance(value, int):
        return Type.INT
    return Type.STRING


_S, _I, _C = Type.STRING, Type.INT, Type.COLLECTION
# name -> (accepted argument types per position, result type)
_FUNCTIONS: dict[str, tuple[tuple[frozenset[Type], ...], Type]] = {
    "length": ((frozenset({_S, _C}),), Type.INT),
    "tolower": ((frozenset({_S}),), Type.STRING),
    "toupper": ((frozenset({_S}),), Type.STRING),
    "trim": ((frozenset({_S}),), Type.STRING),
    "contains": ((frozenset({_S}), frozenset({_S})), Type.BOOL),
    "startswith": ((frozenset({_S}), frozenset({_S})), Type.BOOL),
    "endswith": ((frozenset({_S}), frozenset({_S})), Type.BOOL),
    "indexof": ((frozenset({_S}), frozenset({_S})), Type.INT),
    "concat": ((frozenset({_S}), frozenset({_S})), Type.STRING),
    "substring": ((frozenset({_S}), frozenset({_I}), frozenset({_I})), Type.STRING),
}


def _expect(node: Node, allowed: set[Type] | frozenset[Type], what: str) -> Type:
    found = type_of(node)
    if found is Type.NULL and allowed & {Type.STRING, Type.INT}:
        return found  # null where a string or an integer may be: the result is null/false
    if found not in allowed:
        wanted = " or ".join(sorted(t.value for t in allowed))
        raise FilterError(f"{what}: type {found.value!r}, expected {wanted!r}")
    return found


def type_of(node: Node) -> Type:
    """The static type of an expression; FilterError when it has none."""
    if isinstance(node, Literal):
        return _literal_type(node.value)
    if isinstance(node, Field):
        return _FIELD_TYPES[node.name]
    if isinstance(node, Not):
        _expect(node.operand, {Type.BOOL}, "not")
        return Type.BOOL
    if isinstance(node, Binary):
        if node.op in ("and", "or"):
            _expect(node.left, {Type.BOOL}, node.op)
            _expect(node.right, {Type.BOOL}, node.op)
        elif node.op in ("eq", "ne"):
            scalars = {Type.BOOL, Type.INT, Type.STRING, Type.NULL}
            _expect(node.left, scalars, node.op)
            _expect(node.right, scalars, node.op)
        else:
            _expect(node.left, {Type.INT}, node.op)
            _expect(node.right, {Type.INT}, node.op)
        return Type.BOOL
    if isinstance(node, In):
        _expect(node.item, {Type.STRING, Type.INT, Type.BOOL, Type.NULL}, "in")
        if not isinstance(node.within, Field):
            for item in node.within:
                _expect(item, {Type.STRING, Type.INT, Type.BOOL, Type.NULL}, "in list")
        return Type.BOOL
    params, result = _FUNCTIONS[node.name]
    required = 2 if node.name == "substring" else len(params)
    if not required <= len(node.args) <= len(params):
        raise FilterError(f"{node.name} takes {len(params)} argument(s), got {len(node.args)}")
    for arg, accepted in zip(node.args, params, strict=False):
        _expect(arg, accepted, node.name)
    return result


@dataclass(frozen=True)
class Filter:
    text: str
    root: Node

    def matches(self, subject: Subject) -> bool:
        return _evaluate(self.root, subject) is True


def parse(text: str) -> Filter:
    """A checked filter, or FilterError saying what is wrong."""
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise FilterError("filter is empty")
    try:
        root = _Parser(text).parse()
        if type_of(root) is not Type.BOOL:
            raise FilterError(f"type {type_of(root).value!r}, expected 'bool'")
    except FilterError as exc:
        raise FilterError(f"Invalid syntax for '{text}': {exc}") from None
    except RecursionError:
        raise FilterError(f"Invalid syntax for '{text}': nested too deeply") from None
    return Filter(text, root)


# --- evaluation ----------------------------------------------------------------------------
def _substring(text: str, start: int, length: int | None) -> str | None:
    if (
        start < 0
        or start > len(text)
        or (length is not None and not 0 <= length <= len(text) - start)
    ):
        return None
    return text[start:] if length is None else text[start : start + length]


def _string_function(name: str, args: Sequence[Value]) -> Value:
    first = args[0]
    if name == "length":
        return len(first) if isinstance(first, str | tuple) else None
    if name == "concat":
        left, right = args
        if left is None and right is None:
            return None
        return f"{left or ''}{right or ''}"
    if name == "substring":
        start, length = args[1], (args[2] if len(args) > 2 else None)
        if not isinstance(first, str) or not isinstance(start, int):
            return None
        if len(args) > 2 and not isinstance(length, int):
            return None
        return _substring(first, start, length if isinstance(length, int) else None)
    if name in ("tolower", "toupper", "trim"):
        if first is None:
            return None
        convert: Callable[[str], str] = {"tolower": str.lower, "toupper": str.upper}.get(
            name, str.strip
        )
        return convert(str(first))
    second = args[1]
    if name == "indexof":
        return -1 if first is None or second is None else str(first).find(str(second))
    if first is None or second is None:
        return False
    predicate: Callable[[str, str], bool] = {
        "contains": str.__contains__,
        "startswith": str.startswith,
        "endswith": str.endswith,
    }[name]
    return predicate(str(first), str(second))


def _compare(op: str, left: Value, right: Value) -> bool:
    if op == "eq":
        return left == right and type(left) is type(right)
    if op == "ne":
        return not (left == right and type(left) is type(right))
    if not isinstance(left, int) or not isinstance(right, int):
        return False  # null
    return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]


def _evaluate(node: Node, s: Subject) -> Value:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Field):
        if node.name == "groups":
            return tuple(sorted(s.groups))
        return s.connection_id if node.name == "connectionId" else s.user_id
    if isinstance(node, Not):
        return not _evaluate(node.operand, s)
    if isinstance(node, Binary):
        if node.op == "and":
            return _evaluate(node.left, s) is True and _evaluate(node.right, s) is True
        if node.op == "or":
            return _evaluate(node.left, s) is True or _evaluate(node.right, s) is True
        return _compare(node.op, _evaluate(node.left, s), _evaluate(node.right, s))
    if isinstance(node, In):
        item = _evaluate(node.item, s)
        if isinstance(node.within, Field):
            return isinstance(item, str) and item in s.groups
        return any(_compare("eq", item, _evaluate(x, s)) for x in node.within)
    return _string_function(node.name, [_evaluate(a, s) for a in node.args])
