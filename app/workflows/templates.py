"""Payload, header and unique-key templates: strings with ``{{ path }}`` placeholders, nested in tables
and arrays. Rendering only looks paths up; nothing is ever evaluated, and looked-up values are not
rendered again."""

import copy
from collections.abc import Iterator
from typing import Any

from app.workflows.paths import PATH, lookup
from app.workflows.spec import Context, Reference

OPEN, CLOSE = "{{", "}}"
Where = tuple[str | int, ...]  # keys and indices from the template's root to one string in it


class TemplateError(ValueError):
    """A malformed placeholder; ``column`` counts from 1 within the string at ``where``."""

    def __init__(self, message: str, column: int, where: Where = ()) -> None:
        self.message = message
        self.column = column
        self.where = where
        super().__init__(f"{message} (column {column})")


class _Whole:
    """A string that is exactly one placeholder: renders to the value itself, keeping its JSON type."""

    __slots__ = ("reference",)

    def __init__(self, reference: Reference) -> None:
        self.reference = reference


class _Text:
    """Placeholders inside text: each renders as ``str(value)``, a missing or null value as ''."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str | Reference, ...]) -> None:
        self.parts = parts


def _compile_string(text: str) -> str | _Whole | _Text:
    parts: list[str | Reference] = []
    position = 0
    while (start := text.find(OPEN, position)) >= 0:
        if start > position:
            parts.append(text[position:start])
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            raise TemplateError("'{{' is not closed by '}}'", start + 1)
        inner = text[start + len(OPEN):end]
        path = inner.strip()
        column = start + len(OPEN) + len(inner) - len(inner.lstrip()) + 1
        if not path:
            raise TemplateError("empty '{{ }}': expected a path such as input.email", start + 1)
        if not PATH.fullmatch(path):
            raise TemplateError(
                f"expected a dotted path such as input.email or steps.a.output.id inside '{{{{ }}}}', got {path!r}",
                column)
        parts.append(tuple(path.split(".")))
        position = end + len(CLOSE)
    if position < len(text):
        parts.append(text[position:])
    if not any(isinstance(part, tuple) for part in parts):
        return text
    if len(parts) == 1 and isinstance(parts[0], tuple):
        return _Whole(parts[0])
    return _Text(tuple(parts))


def _compile(value: Any, where: Where) -> Any:
    if isinstance(value, str):
        try:
            return _compile_string(value)
        except TemplateError as error:
            raise TemplateError(error.message, error.column, where) from None
    if isinstance(value, dict):
        return {key: _compile(item, (*where, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_compile(item, (*where, index)) for index, item in enumerate(value)]
    return value  # numbers, booleans, dates: literal


def _render(node: Any, context: Context) -> Any:
    if isinstance(node, _Whole):
        return copy.deepcopy(lookup(context, node.reference))  # the caller may change what it gets
    if isinstance(node, _Text):
        rendered = (part if isinstance(part, str) else lookup(context, part) for part in node.parts)
        return "".join("" if value is None else str(value) for value in rendered)
    if isinstance(node, dict):
        return {key: _render(item, context) for key, item in node.items()}
    if isinstance(node, list):
        return [_render(item, context) for item in node]
    return node


def _references(node: Any) -> Iterator[Reference]:
    if isinstance(node, _Whole):
        yield node.reference
    elif isinstance(node, _Text):
        yield from (part for part in node.parts if isinstance(part, tuple))
    elif isinstance(node, dict):
        for item in node.values():
            yield from _references(item)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


class CompiledTemplate:
    """Implements ``spec.Template``; equal to another when compiled from an equal value."""

    __slots__ = ("_node", "_references", "source")

    def __init__(self, source: Any) -> None:
        self.source = source
        self._node = _compile(source, ())
        self._references = frozenset(_references(self._node))

    def render(self, context: Context) -> Any:
        return _render(self._node, context)

    def references(self) -> frozenset[Reference]:
        return self._references

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledTemplate) and self.source == other.source

    def __hash__(self) -> int:
        return hash(repr(self.source))

    def __repr__(self) -> str:
        return f"Template({self.source!r})"


def compile(value: Any) -> CompiledTemplate:
    """Compile a string, table or array of templates; TemplateError for the first malformed placeholder."""
    return CompiledTemplate(value)
