"""Read schedule files the way workflow files are read: parse the TOML, check its structure, then what
spans keys or needs the registries, and report every problem at once (the same ``Problem``, printed
``file:line:col: field: message``); build the ``spec.Schedule`` only when there are none."""

import hashlib
from collections.abc import Collection, Iterable
from pathlib import Path

from app.durations import parse_duration
from app.scheduling.checks import check_schedule
from app.scheduling.document import ScheduleFile
from app.scheduling.spec import Schedule
from app.scheduling.structure import check_structure
from app.workflows.locate import Locator
from app.workflows.problems import Problem, Report, WorkflowInvalid
from app.workflows.tomlfiles import FILE_FIELD, parse_toml, read_text, toml_files

__all__ = ["Problem", "WorkflowInvalid", "load_file", "load_text", "validate_paths"]


def load_text(text: str, file: str, *, tasks: Collection[str], workflows: Collection[str],
              default_timezone: str) -> Schedule:
    """The schedule in ``text``; WorkflowInvalid with every problem found. ``file`` names it in messages;
    ``default_timezone`` (the settings' scheduler.timezone) applies when the file names none."""
    data = parse_toml(text, file)
    report = Report(file, Locator(text))
    document = check_structure(data, report)
    timezone = check_schedule(data, report, tasks=tasks, workflows=workflows, default_timezone=default_timezone)
    if report.problems or document is None or timezone is None:
        raise WorkflowInvalid(dict.fromkeys(report.sorted()) or [Problem(file, 1, 1, FILE_FIELD, "invalid")])
    return _build(document, timezone=timezone, text=text, file=file)


def load_file(path: Path, *, tasks: Collection[str], workflows: Collection[str], default_timezone: str) -> Schedule:
    return load_text(read_text(path), str(path), tasks=tasks, workflows=workflows, default_timezone=default_timezone)


def validate_paths(paths: Iterable[Path], *, tasks: Collection[str], workflows: Collection[str],
                   default_timezone: str) -> tuple[list[Schedule], list[Problem]]:
    """Every schedule that loads, and the problems of the files that do not; a directory stands for its
    ``*.toml`` files. A second file declaring a name already taken is a problem of that file."""
    schedules: dict[str, Schedule] = {}
    problems: list[Problem] = []
    for path in toml_files(paths):
        try:
            text = read_text(path)
            schedule = load_text(text, str(path), tasks=tasks, workflows=workflows, default_timezone=default_timezone)
        except WorkflowInvalid as invalid:
            problems.extend(invalid.problems)
            continue
        if schedule.name in schedules:
            line, column = Locator(text).value(("name",))
            first = schedules[schedule.name].path
            problems.append(Problem(schedule.path, line, column, "name",
                                    f"schedule {schedule.name!r} is already declared in {first}"))
            continue
        schedules[schedule.name] = schedule
    return list(schedules.values()), problems


def _build(document: ScheduleFile, *, timezone: str, text: str, file: str) -> Schedule:
    target = document.target
    return Schedule(
        name=document.name,
        target_kind="task" if target.task is not None else "workflow",
        target=target.task if target.task is not None else target.workflow or "",
        payload=target.payload,
        cron=document.cron,
        every=parse_duration(document.every) if document.every is not None else None,
        timezone=timezone,
        enabled=document.enabled,
        misfire_grace=parse_duration(document.misfire_grace),
        coalesce=document.coalesce,
        overlap=document.overlap,
        description=document.description,
        version=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        path=file,
    )
