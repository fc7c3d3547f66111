"""The syntax of ``when`` conditions: a hand-written tokenizer and recursive-descent parser that turn
the text into a small tree of literals, paths, comparisons and boolean operators. Precedence, loosest
first: ``or``, ``and``, ``not``, then one comparison (``== != < <= > >= in``, ``not in``), then values:
numbers, 'strings', true, false, null, dotted paths, [lists] and (parentheses)."""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from app.workflows.paths import PATH
from app.workflows.spec import Reference

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
ORDERING = ("<", "<=", ">", ">=")
COMPARISONS = ("==", "!=", *ORDERING, "in", "not in")
MAX_NESTING = 64  # deeper than any condition a person writes; keeps the parser's recursion bounded


class ExpressionSyntaxError(ValueError):
    """Text that is not a condition; ``column`` counts from 1."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} (column {column})")


# -- tokens --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, end
    text: str
    value: Any
    column: int


_NUMBER = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", "-")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}


def _string(text: str, start: int) -> tuple[str, int]:
    """The string literal opening at ``start`` and the index after it."""
    quote, index = text[start], start + 1
    chars: list[str] = []
    while index < len(text):
        char = text[index]
        if char == quote:
            return "".join(chars), index + 1
        if char == "\\":
            escaped = text[index + 1:index + 2]
            if escaped not in _ESCAPES:
                raise ExpressionSyntaxError(f"unknown escape '\\{escaped}' in a string", index + 1)
            chars.append(_ESCAPES[escaped])
            index += 2
            continue
        chars.append(char)
        index += 1
    raise ExpressionSyntaxError(f"string opened with {quote} is not closed", start + 1)


def tokenize(text: str) -> Iterator[Token]:
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char in "'\"":
            value, end = _string(text, index)
            yield Token("string", text[index:end], value, index + 1)
            index = end
        elif number := _NUMBER.match(text, index):
            literal = number.group()
            number_value: int | float
            try:
                number_value = float(literal) if number.group(1) or number.group(2) else int(literal)
            except ValueError:  # Python refuses ints of more than 4,300 digits
                raise ExpressionSyntaxError("number too long", index + 1) from None
            yield Token("number", literal, number_value, index + 1)
            index = number.end()
        elif path := PATH.match(text, index):
            yield Token("name", path.group(), path.group(), index + 1)
            index = path.end()
        elif operator := next((op for op in _OPERATORS if text.startswith(op, index)), None):
            yield Token("op", operator, operator, index + 1)
            index += len(operator)
        else:
            raise ExpressionSyntaxError(f"unexpected character {char!r}", index + 1)
    yield Token("end", "", None, len(text) + 1)


# -- tree ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    reference: Reference


@dataclass(frozen=True)
class ListOf:
    items: tuple["Node", ...]


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class BoolOp:
    operator: str  # and | or; n-ary so a long chain stays shallow
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Compare:
    operator: str
    left: "Node"
    right: "Node"


Node = Literal | Path | ListOf | Not | BoolOp | Compare
_CONSTANTS = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(tokenize(text))
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def is_word(self, word: str, ahead: int = 0) -> bool:
        token = self.tokens[min(self.index + ahead, len(self.tokens) - 1)]
        return token.kind == "name" and token.text == word

    def is_op(self, op: str) -> bool:
        return self.token.kind == "op" and self.token.text == op

    def advance(self) -> Token:
        token = self.token
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def expect(self, op: str, what: str) -> None:
        if not self.is_op(op):
            raise self.error(f"expected {what}")
        self.advance()

    def error(self, expected: str) -> ExpressionSyntaxError:
        found = "the end of the condition" if self.token.kind == "end" else repr(self.token.text)
        return ExpressionSyntaxError(f"{expected}, found {found}", self.token.column)

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionSyntaxError(f"nested more than {MAX_NESTING} deep", self.token.column)

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise self.error("expected a condition")
        node = self.disjunction()
        if self.token.kind != "end":
            raise self.error("expected 'and', 'or' or the end of the condition")
        return node

    def disjunction(self) -> Node:
        return self.chain("or", self.conjunction)

    def conjunction(self) -> Node:
        return self.chain("and", self.negation)

    def chain(self, word: str, operand: Callable[[], Node]) -> Node:
        operands = [operand()]
        while self.is_word(word):
            self.advance()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else BoolOp(word, tuple(operands))

    def negation(self) -> Node:
        if self.is_word("not"):
            self.advance()
            self.nest()
            node = Not(self.negation())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison_operator(self) -> str | None:
        if self.token.kind == "op" and self.token.text in COMPARISONS:
            return self.advance().text
        if self.is_word("in"):
            self.advance()
            return "in"
        if self.is_word("not") and self.is_word("in", 1):
            self.advance()
            self.advance()
            return "not in"
        return None

    def comparison(self) -> Node:
        left = self.operand()
        operator = self.comparison_operator()
        if operator is None:
            return left
        node = Compare(operator, left, self.operand())
        column = self.token.column
        if self.comparison_operator() is not None:
            raise ExpressionSyntaxError("comparisons cannot be chained; join them with 'and'", column)
        return node

    def operand(self) -> Node:
        token = self.token
        if token.kind in ("number", "string"):
            self.advance()
            return Literal(token.value)
        if token.kind == "name" and token.text in _CONSTANTS:
            self.advance()
            return Literal(_CONSTANTS[token.text])
        if token.kind == "name" and token.text not in KEYWORDS:
            self.advance()
            return Path(tuple(token.text.split(".")))
        if self.is_op("-"):
            self.advance()
            if self.token.kind != "number":
                raise self.error("expected a number after '-'")
            return Literal(-self.advance().value)
        if self.is_op("(") or self.is_op("["):
            self.nest()
            node = self.group() if self.advance().text == "(" else self.items()
            self.depth -= 1
            return node
        raise self.error("expected a value: a number, 'string', true, false, null, a path or a [list]")

    def group(self) -> Node:
        node = self.disjunction()
        self.expect(")", "')'")
        return node

    def items(self) -> Node:
        items: list[Node] = []
        while not self.is_op("]"):
            items.append(self.operand())
            if not self.is_op(","):
                break
            self.advance()
        self.expect("]", "',' or ']'")
        return ListOf(tuple(items))


def parse(text: str) -> Node:
    """The tree of ``text``; ExpressionSyntaxError with the column where it stops making sense."""
    return _Parser(text).parse()
