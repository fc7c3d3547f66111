"""Reading definition files (workflows, schedules): TOML text in, located problems out."""

import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from app.workflows.problems import Problem, WorkflowInvalid

FILE_FIELD = "(file)"
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def toml_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files ``paths`` name; a directory stands for its ``*.toml`` files."""
    for path in paths:
        yield from sorted(path.glob("*.toml")) if path.is_dir() else (path,)


def read_text(path: Path) -> str:
    """The file's UTF-8 text; WorkflowInvalid (located) when it cannot be read or decoded."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise WorkflowInvalid([Problem(str(path), 1, 1, FILE_FIELD, f"cannot read: {error.strerror}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise WorkflowInvalid([Problem(str(path), line, column, FILE_FIELD, "not UTF-8 text")]) from None


def parse_toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WorkflowInvalid([syntax_problem(str(error), text, file)]) from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise WorkflowInvalid([Problem(file, 1, 1, FILE_FIELD, "invalid TOML: nested too deeply")]) from None


def syntax_problem(message: str, text: str, file: str) -> Problem:
    """tomllib ends its messages with '(at line L, column C)', or '(at end of document)'."""
    position = _TOML_POSITION.search(message)
    if position:
        line, column = int(position.group(1)), int(position.group(2))
        message = message[:position.start()]
    else:
        line = text.count("\n") + 1
        column = len(text) - text.rfind("\n")
        message = message.removesuffix(" (at end of document)")
    return Problem(file, line, column, FILE_FIELD, f"invalid TOML: {message}")
