"""A run's input, checked against the workflow's declared fields before anything is written."""

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from app.workflows.spec import InputField, InputType, Workflow


class InvalidInput(ValueError):
    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"input.{name}: {message}" for name, message in self.problems.items()))


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    return float(value)


def _uuid(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError("expected a UUID") from None


def _email(text: str) -> str:
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"expected an email address: {exc}") from None


def _datetime(text: str) -> str:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError("expected a date-time with a timezone offset")
    return parsed.isoformat()


_ANY: dict[InputType, Callable[[Any], Any]] = {InputType.JSON: lambda value: value, InputType.BOOL: _boolean,
                                                InputType.INT: _integer, InputType.FLOAT: _number}
_TEXT: dict[InputType, Callable[[str], Any]] = {InputType.STR: lambda text: text, InputType.UUID: _uuid,
                                                InputType.EMAIL: _email, InputType.DATETIME: _datetime}


def _coerce(field: InputField, value: Any) -> Any:
    if field.type in _ANY:
        return _ANY[field.type](value)
    if not isinstance(value, str):
        raise ValueError(f"expected a string ({field.type.value})")
    return _TEXT[field.type](value)


def check_inputs(workflow: Workflow, raw: Any) -> dict[str, Any]:
    """The run's input as the steps will see it; InvalidInput naming every bad field."""
    if not isinstance(raw, Mapping):
        raise InvalidInput({"(input)": "expected a JSON object"})
    declared = {field.name: field for field in workflow.inputs}
    problems = {name: "not an input of this workflow" for name in raw if name not in declared}
    values: dict[str, Any] = {}
    for name, field in declared.items():
        if name not in raw or raw[name] is None:
            if field.required:
                problems[name] = f"required ({field.type.value})"
            else:
                values[name] = field.default
            continue
        try:
            values[name] = _coerce(field, raw[name])
        except ValueError as exc:
            problems[name] = str(exc)
    if problems:
        raise InvalidInput(problems)
    return values
