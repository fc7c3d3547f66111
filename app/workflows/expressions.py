"""``when`` conditions: parsed by ``app.workflows.expression_parser``, evaluated here by walking the
tree. Nothing reaches ``eval``: a condition can only compare literals and looked-up values.

    steps.check.output.score >= 0.5 and input.plan in ['pro', 'team'] and not input.trial
"""

from collections.abc import Iterator
from typing import Any

from app.workflows.expression_parser import (
    BoolOp,
    Compare,
    ExpressionSyntaxError,
    ListOf,
    Literal,
    Node,
    Not,
    Path,
    parse,
)
from app.workflows.paths import lookup
from app.workflows.spec import Context, Reference

__all__ = ["CompiledCondition", "ConditionError", "ExpressionSyntaxError", "compile"]


class ConditionError(ValueError):
    """A condition that cannot be evaluated on these values, e.g. ``'a' < 1``."""


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    return "a table" if isinstance(value, dict) else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    # true is not 1 here, unlike Python
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list | tuple):
        return any(_equal(item, element) for element in container)
    if isinstance(container, str | dict) and isinstance(item, str):
        return item in container
    raise ConditionError(f"'in' needs a list, or a string or table with a string on its left; "
                         f"got {type_name(item)} in {type_name(container)}")


def _order(operator: str, left: Any, right: Any) -> bool:
    if not (_is_number(left) and _is_number(right) or isinstance(left, str) and isinstance(right, str)):
        raise ConditionError(f"cannot compare {type_name(left)} with {type_name(right)} using {operator!r}: "
                             "it needs two numbers or two strings")
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    return bool(left > right) if operator == ">" else bool(left >= right)


def evaluate_node(node: Node, context: Context) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Path):
        return lookup(context, node.reference)
    if isinstance(node, ListOf):
        return [evaluate_node(item, context) for item in node.items]
    if isinstance(node, Not):
        return not evaluate_node(node.operand, context)
    if isinstance(node, BoolOp):  # short-circuits, so `x != null and x > 1` is safe when x is missing
        values = (bool(evaluate_node(operand, context)) for operand in node.operands)
        return all(values) if node.operator == "and" else any(values)
    left, right = evaluate_node(node.left, context), evaluate_node(node.right, context)
    if node.operator in ("==", "!="):
        return _equal(left, right) == (node.operator == "==")
    if node.operator in ("in", "not in"):
        return _contains(right, left) == (node.operator == "in")
    return _order(node.operator, left, right)


def _references(node: Node) -> Iterator[Reference]:
    if isinstance(node, Path):
        yield node.reference
    children: tuple[Node, ...] = ()
    if isinstance(node, ListOf):
        children = node.items
    elif isinstance(node, Not):
        children = (node.operand,)
    elif isinstance(node, BoolOp):
        children = node.operands
    elif isinstance(node, Compare):
        children = (node.left, node.right)
    for child in children:
        yield from _references(child)


class CompiledCondition:
    """Implements ``spec.Condition``; equal to another compiled from the same text."""

    __slots__ = ("_references", "source", "tree")

    def __init__(self, source: str) -> None:
        self.source = source
        self.tree = parse(source)
        self._references = frozenset(_references(self.tree))

    def evaluate(self, context: Context) -> bool:
        return bool(evaluate_node(self.tree, context))

    def references(self) -> frozenset[Reference]:
        return self._references

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledCondition) and self.source == other.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"


def compile(text: str) -> CompiledCondition:
    """Parse ``text``; ExpressionSyntaxError with the column where it stops making sense."""
    return CompiledCondition(text)
