"""What is wrong with a workflow file, each problem placed at a line and column and named by its field."""

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from app.workflows.locate import Key, Locator

STEP_ID = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    field: str  # e.g. steps.welcome_email.retry.first, or steps[3].delay when the step has no usable id
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.field}: {self.message}"


class WorkflowInvalid(ValueError):
    """A workflow file that cannot be used; ``problems`` has every problem found, in file order."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def suggest(word: str, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` when one of ``choices`` is close to ``word``, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in ((int, "an integer"), (float, "a float"), (str, "a string"), (list, "an array"),
                       (dict, "a table"), (datetime, "a date-time"), (date, "a date"), (time, "a time")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def step_ids(data: Any) -> dict[int, str]:
    """Index -> id of each step whose id is usable in messages."""
    steps = data.get("steps") if isinstance(data, dict) else None
    if not isinstance(steps, list):
        return {}
    return {index: step["id"] for index, step in enumerate(steps)
            if isinstance(step, dict) and isinstance(step.get("id"), str) and STEP_ID.fullmatch(step["id"])}


class Report:
    """Collects the problems of one file, turning key paths into positions and field names."""

    def __init__(self, file: str, locator: Locator, data: Any = None) -> None:
        self.file = file
        self.locator = locator
        self.problems: list[Problem] = []
        self._ids = step_ids(data)

    def field(self, path: Key) -> str:
        name = ""
        for position, part in enumerate(path):
            if isinstance(part, int):
                step_id = self._ids.get(part) if position == 1 and path[0] == "steps" else None
                name += f".{step_id}" if step_id else f"[{part}]"
            else:
                name += f".{part}" if name else part
        return name or "(file)"

    def add(self, path: Key, where: tuple[int, int], message: str) -> None:
        self.problems.append(Problem(self.file, max(where[0], 1), max(where[1], 1), self.field(path), message))

    def at_key(self, path: Key, message: str) -> None:
        self.add(path, self.locator.find(path), message)

    def at_value(self, path: Key, message: str, column: int = 0) -> None:
        """At the value; ``column`` > 0 points inside a string value (1 = its first character)."""
        where = self.locator.inside(path, column) if column > 0 else self.locator.value(path)
        self.add(path, where, message)

    def sorted(self) -> list[Problem]:
        return sorted(self.problems, key=lambda problem: (problem.line, problem.column))
