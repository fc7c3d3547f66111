"""Read workflow files: parse the TOML, check its structure, then what spans keys (steps, cycles,
templates), and report every problem at once; build the ``spec.Workflow`` only when there are none."""

from collections.abc import Collection, Iterable
from pathlib import Path

from app.workflows.build import build_workflow
from app.workflows.checks import check_steps
from app.workflows.locate import Locator
from app.workflows.problems import Problem, Report, WorkflowInvalid
from app.workflows.references import check_references
from app.workflows.spec import Workflow
from app.workflows.structure import check_structure
from app.workflows.tomlfiles import FILE_FIELD, parse_toml, read_text, toml_files

__all__ = ["FILE_FIELD", "Problem", "WorkflowInvalid", "load_file", "load_text", "validate_paths"]



def load_text(text: str, file: str, *, tasks: Collection[str], events: Collection[str]) -> Workflow:
    """The workflow in ``text``; WorkflowInvalid with every problem found. ``file`` names it in messages."""
    data = parse_toml(text, file)
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
    return load_text(read_text(path), str(path), tasks=tasks, events=events)


def validate_paths(paths: Iterable[Path], *, tasks: Collection[str],
                   events: Collection[str]) -> tuple[list[Workflow], list[Problem]]:
    """Every workflow that loads, and the problems of the files that do not; a directory stands for
    its ``*.toml`` files. A second file declaring a name already taken is a problem of that file."""
    workflows: dict[str, Workflow] = {}
    problems: list[Problem] = []
    for path in toml_files(paths):
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
