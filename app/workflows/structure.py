"""The structural check: pydantic validates the parsed TOML against ``document.WorkflowFile``, and each
of its errors becomes a problem phrased as what was expected, at the key it concerns."""

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from app.workflows.document import (
    KIND_KEYS,
    MODELS,
    OWN_KEYS,
    InputSpec,
    RetrySpec,
    UniqueSpec,
    WorkflowFile,
    step_kind,
    step_kinds,
)
from app.workflows.locate import Key
from app.workflows.problems import Report, suggest, toml_type

# What a field holds, in words, for "expected ..., got ..." messages; others fall back on their type.
EXPECTED = {
    "after": 'a list of step ids, e.g. after = ["welcome_email"]',
    "payload": 'a table, e.g. payload = { user_id = "{{ input.user_id }}" }',
    "headers": "a table of header values",
    "when": "a condition string, e.g. when = \"input.plan == 'pro'\"",
    "retry": "a table, e.g. retry = { attempts = 3 }",
    "unique": 'a table, e.g. unique = { key = "...", ttl = "1h" }',
    "input": 'a table of input names, e.g. [input] then email = "email"',
    "steps": "[[steps]] tables",
    "on_failure": "'fail_run', 'continue' or the id of a compensation step",
    "match": 'a table of the event\'s payload fields, e.g. match = { user_id = "{{ input.user_id }}" }',
    "until": 'a template string resolving to an ISO time or a duration, e.g. until = "{{ input.ends_at }}"',
    **dict.fromkeys(("delay", "timeout", "first", "max", "ttl", "wait"), "a duration string such as '30s' or '5m'"),
}
_KIND_NAMES = "'task' (a task name), 'event' (an event type), 'wait' or 'until' (a timer) or 'wait_for' (an event)"
_BY_TYPE = {"int_type": "an integer", "string_type": "a string", "bool_type": "true or false",
            "list_type": "an array", "dict_type": "a table", "model_type": "a table", "float_type": "a number"}
Model = TypeVar("Model", bound=BaseModel)
_KIND_KEY_NAMES = frozenset(key for keys in KIND_KEYS.values() for key in keys)
_IDENTIFIER = "lowercase letters, digits and '_', starting with a letter"
_EVENT_PRIORITY = "an integer from 0 to 255 (an event's priority)"


def validated(model: type[Model], data: dict[str, Any], report: Report,
              describe: Callable[[ErrorDetails, dict[str, Any], Report], None]) -> Model | None:
    """``data`` as ``model``, or None once ``describe`` has reported each of pydantic's errors. The `None`
    branch of an optional key is not one: TOML has no null, and the key's other branch says what is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as invalid:
        for error in invalid.errors():
            if error["type"] != "none_required":
                describe(error, data, report)
        return None


def check_structure(data: dict[str, Any], report: Report) -> WorkflowFile | None:
    return validated(WorkflowFile, data, report, _report)


def _report(error: ErrorDetails, data: dict[str, Any], report: Report) -> None:
    kind = error["type"]
    path, is_key = key_path(error["loc"], data)
    if kind == "missing":  # placed at the table that lacks the key, named as the key
        report.at_key(path[:-1] if path[-1] in _KIND_KEY_NAMES else path, _missing(path, data))
    elif kind == "extra_forbidden":
        report.at_key(path, _unknown(path, data))
    elif is_key:
        report.at_key(path, f"expected a name of {_IDENTIFIER}, got {path[-1]!r}")
    else:
        report.at_value(path, value_message(error, path, data))


def key_path(loc: tuple[int | str, ...], data: Any) -> tuple[Key, bool]:
    """The key path in the file, without the union tags and class names pydantic puts in ``loc``;
    and whether the error is about a table's key rather than its value."""
    path: list[str | int] = []
    current, is_key = data, False
    for position, part in enumerate(loc):
        if part == "[key]":
            is_key = True
        elif isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, dict) and position == len(loc) - 1:
            path.append(part)  # a missing key
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
    return tuple(path), is_key


def _raw(path: Key, data: Any) -> Any:
    for part in path:
        data = data[part]
    return data


def _model(path: Key, data: Any) -> type[BaseModel] | None:
    """The model checking the table at ``path``."""
    if not path:
        return WorkflowFile
    if path[0] == "input" and len(path) == 2:
        return InputSpec
    if path[0] == "steps" and len(path) >= 2:
        if len(path) == 2:
            return MODELS[step_kind(_raw(path[:2], data))]
        return RetrySpec if path[2:] == ("retry",) else UniqueSpec if path[2:] == ("unique",) else None
    return None


def _missing(path: Key, data: Any) -> str:
    key = path[-1]
    if path[0] == "steps" and key in _KIND_KEY_NAMES:
        if key == "wait_for":
            return "a step that takes 'match' waits for an event: it needs 'wait_for' (the event type)"
        return f"a step needs {_KIND_NAMES}"
    if key == "steps":
        return "missing required key 'steps': a workflow needs at least one [[steps]] table"
    return f"missing required key {key!r}"


def _unknown(path: Key, data: Any) -> str:
    key = str(path[-1])
    if path[0] == "steps" and len(path) == 3:
        step = _raw(path[:2], data)
        if key in _KIND_KEY_NAMES and len(step_kinds(step)) > 1:
            return f"a step takes one of {_KIND_NAMES}, not several"
        if key in OWN_KEYS:
            kinds = " and ".join(OWN_KEYS[key])
            return f"{key!r} applies to {kinds} steps only"
    model = _model(path[:-1], data)
    known = list(model.model_fields) if model else []
    return f"unknown key {key!r}{suggest(key, known)}"


def value_message(error: ErrorDetails, path: Key, data: Any, wording: Mapping[str, str] = EXPECTED) -> str:
    """An error about a value, in words; ``wording`` says what each key holds (schedules pass their own)."""
    kind, value, ctx = error["type"], error["input"], error.get("ctx", {})
    field = path[-1] if path else ""
    is_event = len(path) > 2 and path[0] == "steps" and step_kind(_raw(path[:2], data)) == "event"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))  # the parser's own words, e.g. parse_duration's
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        return f"expected {expected}, got {value!r}{suggest(str(value), choices)}"
    if kind == "string_pattern_mismatch":
        return f"expected {_IDENTIFIER}, got {value!r}"
    if is_event and field == "priority":
        return f"expected {_EVENT_PRIORITY}, got {value!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = f">= {ctx['ge']}" if "ge" in ctx else f"<= {ctx.get('le')}"
        return f"expected an integer {bound}, got {value!r}"
    if kind == "too_short":
        return f"expected at least one {'[[steps]] table' if field == 'steps' else 'item'}"
    if kind in _BY_TYPE:
        return f"expected {_expected(path, kind, wording)}, got {toml_type(value)}"
    return str(error["msg"])


def _expected(path: Key, kind: str, wording: Mapping[str, str]) -> str:
    last = path[-1] if path else ""
    if len(path) == 2 and path[0] == "input":
        return 'an input type such as "str", or a table such as { type = "int", required = false }'
    if isinstance(last, int):
        return "a step id (a string)" if path[-2:-1] == ("after",) else _BY_TYPE[kind]
    return wording.get(last, _BY_TYPE[kind])
