"""The structural check of a schedule file: pydantic validates it against ``document.ScheduleFile`` and
each error becomes a problem, in the workflow validator's words where they fit (``value_message``)."""

from typing import Any

from pydantic_core import ErrorDetails

from app.scheduling.document import ScheduleFile, TargetSpec
from app.workflows.locate import Key
from app.workflows.problems import Report, suggest
from app.workflows.structure import key_path, validated, value_message

_DURATION = "a duration string such as '10m' or '1h'"
# What a key holds, in words, for "expected ..., got ..." messages; others fall back on their type.
EXPECTED = {
    "target": 'a table, e.g. [target] then task = "sessions.cleanup"',
    "payload": 'a table of plain values, e.g. payload = { kind = "signups" }',
    "cron": 'a cron expression string, e.g. cron = "30 3 * * *"',
    "every": _DURATION,
    "misfire_grace": _DURATION,
    "timezone": 'an IANA timezone name, e.g. timezone = "Europe/Paris"',
    "task": "a task name (a string)",
    "workflow": "a workflow name (a string)",
}
_TOP, _TARGET = frozenset(ScheduleFile.model_fields) - {"target"}, frozenset(TargetSpec.model_fields)


def check_structure(data: dict[str, Any], report: Report) -> ScheduleFile | None:
    return validated(ScheduleFile, data, report, _report)


def _report(error: ErrorDetails, data: dict[str, Any], report: Report) -> None:
    kind = error["type"]
    path, _ = key_path(error["loc"], data)
    if kind == "missing":
        report.at_key(path, _missing(path))
    elif kind == "extra_forbidden":
        report.at_key(path, _unknown(path))
    else:
        report.at_value(path, value_message(error, path, data, EXPECTED))


def _missing(path: Key) -> str:
    if path == ("target",):
        return 'missing required table [target]: what each tick starts, e.g. [target] then task = "sessions.cleanup"'
    return f"missing required key {path[-1]!r}"


def _unknown(path: Key) -> str:
    key = str(path[-1])
    in_target = path[:-1] == ("target",)
    # A key of the other table: most often written below [target] by mistake, or above it.
    if in_target and key in _TOP:
        return f"{key!r} belongs at the top of the file, before [target] (keys after a [table] line go into it)"
    if not in_target and key in _TARGET:
        return f"{key!r} belongs in the [target] table"
    return f"unknown key {key!r}{suggest(key, _TARGET if in_target else ScheduleFile.model_fields)}"
