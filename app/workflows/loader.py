"""Read workflow files: parse the TOML, check its structure, then what spans keys (steps, cycles,
templates), and report every problem at once; build the ``spec.Workflow`` only when there are none."""

import re
import tomllib
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

from app.workflows.build import build_workflow
from app.workflows.checks import check_steps
from app.workflows.locate import Locator
from app.workflows.problems import Problem, Report, WorkflowInvalid
from app.workflows.references import check_references
from app.workflows.spec import Workflow
from app.workflows.structure import check_structure

__all__ = ["Problem", "WorkflowInvalid", "load_file", "load_text", "validate_paths"]

FILE_FIELD = "(file)"
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def load_text(text: str, file: str, *, tasks: Collection[str], events: Collection[str]) -> Workflow:
    """The workflow in ``text``; WorkflowInvalid with every problem found. ``file`` names it in messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise WorkflowInvalid([_syntax_problem(str(error), text, file)]) from None
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise WorkflowInvalid([Problem(file, 1, 1, FILE_FIELD, "invalid TOML: nested too deeply")]) from None
    locator = Locator(text)
    report = Report(file, locator, data)
    document = check_structure(data, report)
    graph = check_steps(data, report, tasks=tasks, events=events)
    check_references(data, graph, report)
    if report.problems or document is None:
        raise WorkflowInvalid(dict.fromkeys(report.sorted()) or [Problem(file, 1, 1, FILE_FIELD, "invalid")])
    lines = {index: locator.find(("steps", index))[0] for index in range(len(document.steps))}
    return build_workflow(document, text=text, file=file, lines=lines)


def load_file(path: Path, *, tasks: Collection[str], events: Collection[str]) -> Workflow:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise WorkflowInvalid([Problem(str(path), 1, 1, FILE_FIELD, f"cannot read: {error.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise WorkflowInvalid([Problem(str(path), line, column, FILE_FIELD, "not UTF-8 text")]) from None
    return load_text(text, str(path), tasks=tasks, events=events)


def validate_paths(paths: Iterable[Path], *, tasks: Collection[str],
                   events: Collection[str]) -> tuple[list[Workflow], list[Problem]]:
    """Every workflow that loads, and the problems of the files that do not; a directory stands for
    its ``*.toml`` files. A second file declaring a name already taken is a problem of that file."""
    workflows: dict[str, Workflow] = {}
    problems: list[Problem] = []
    for path in _files(paths):
        try:
            workflow = load_file(path, tasks=tasks, events=events)
        except WorkflowInvalid as invalid:
            problems.extend(invalid.problems)
            continue
        if workflow.name in workflows:
            line, column = Locator(workflow.source).value(("name",))
            first = workflows[workflow.name].path
            problems.append(Problem(workflow.path, line, column, "name",
                                    f"workflow {workflow.name!r} is already declared in {first}"))
            continue
        workflows[workflow.name] = workflow
    return list(workflows.values()), problems


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        yield from sorted(path.glob("*.toml")) if path.is_dir() else (path,)


def _syntax_problem(message: str, text: str, file: str) -> Problem:
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
