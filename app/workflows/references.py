"""Checks of what conditions and templates look up: their syntax, and that each path names a declared
input or a step that has finished by the time the step using it starts."""

from collections.abc import Iterator
from typing import Any

from app.workflows import expressions, templates
from app.workflows.graph import RawStep, StepGraph
from app.workflows.locate import Key
from app.workflows.paths import STEP_PARTS, dotted
from app.workflows.problems import Report, suggest
from app.workflows.spec import InputType, Reference

_TEMPLATE_KEYS = (("payload",), ("headers",), ("unique", "key"), ("match",), ("until",))
_INPUT_TYPES = frozenset(kind.value for kind in InputType)


def check_references(data: Any, graph: StepGraph, report: Report) -> None:
    inputs = _declared_inputs(data)
    for step in graph.steps:
        for path, text in _texts(step):
            is_condition = len(path) == 3 and path[2] == "when"  # not a payload key called `when`
            found = _condition(text, path, report) if is_condition else _template(text, path, report)
            for reference in sorted(found):
                message = _problem(reference, inputs, step, graph)
                if message:
                    report.at_value(path, f"{dotted(reference)}: {message}", text.find(dotted(reference)) + 1)


def _declared_inputs(data: Any) -> dict[str, str | None]:
    """Input name -> its type, or None when the declaration is malformed (reported elsewhere)."""
    inputs = data.get("input") if isinstance(data, dict) else None
    declared: dict[str, str | None] = {}
    for name, spec in (inputs.items() if isinstance(inputs, dict) else ()):
        kind = spec.get("type") if isinstance(spec, dict) else spec
        declared[name] = kind if isinstance(kind, str) and kind in _INPUT_TYPES else None
    return declared


def _texts(step: RawStep) -> Iterator[tuple[Key, str]]:
    """Each condition and template string of a step, with its key path."""
    base: Key = ("steps", step.index)
    when = step.table.get("when")
    if isinstance(when, str):
        yield (*base, "when"), when
    for keys in _TEMPLATE_KEYS:
        value: Any = step.table
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        yield from _strings(value, (*base, *keys))


def _strings(value: Any, path: Key) -> Iterator[tuple[Key, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _condition(text: str, path: Key, report: Report) -> frozenset[Reference]:
    try:
        return expressions.compile(text).references()
    except expressions.ExpressionSyntaxError as error:
        report.at_value(path, f"invalid condition: {error.message}", error.column)
        return frozenset()


def _template(text: str, path: Key, report: Report) -> frozenset[Reference]:
    try:
        return templates.compile(text).references()
    except templates.TemplateError as error:
        report.at_value(path, f"invalid template: {error.message}", error.column)
        return frozenset()


def _problem(reference: Reference, inputs: dict[str, str | None], step: RawStep, graph: StepGraph) -> str | None:
    root = reference[0]
    if root == "input":
        return _input_problem(reference, inputs)
    if root != "steps":
        return "expected a path starting with 'input.' or 'steps.'"
    if len(reference) < 3:
        return "expected steps.<id>.output[.<key>...] or steps.<id>.status"
    step_id, part = reference[1], reference[2]
    if step_id not in graph.index:
        return f"there is no step {step_id!r}{suggest(step_id, graph.index)}"
    if step_id == step.id:
        return "a step cannot read its own output or status"
    if step.id is not None and step_id not in graph.readable(step.id):
        return (f"step {step_id!r} is not sure to have finished when this step starts: "
                "name it in 'after', directly or through a step it waits for")
    if part not in STEP_PARTS:
        return f"expected steps.{step_id}.output or steps.{step_id}.status, got {part!r} after the step id"
    if part == "status" and len(reference) > 3:
        return "a step's status is a string: it has no keys below it"
    return None


def _input_problem(reference: Reference, inputs: dict[str, str | None]) -> str | None:
    if len(reference) < 2:
        return "expected input.<name>"
    name = reference[1]
    if name not in inputs:
        return f"no input {name!r} is declared in [input]{suggest(name, inputs)}"
    kind = inputs[name]
    if len(reference) > 2 and kind is not None and kind != InputType.JSON:
        return f"input {name!r} is of type {kind}: only json inputs have keys below them"
    return None
