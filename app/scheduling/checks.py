"""Checks that need more than one key or knowledge from outside the file: exactly one of cron / every and
of task / workflow, the cron fields, the timezone, task and workflow names, duration bounds, payload values.
They read the parsed file as it is and skip values of the wrong type, which the structural check reports."""

import functools
import zoneinfo
from collections.abc import Collection
from datetime import date, time, timedelta
from typing import Any

from app.durations import parse_duration
from app.scheduling import cron
from app.workflows.locate import Key
from app.workflows.problems import Report, suggest

_SHORTEST_INTERVAL = timedelta(seconds=1)


def check_schedule(data: dict[str, Any], report: Report, *, tasks: Collection[str], workflows: Collection[str],
                   default_timezone: str) -> str | None:
    """Report what is wrong; the schedule's timezone when it is a known one, else None."""
    timezone = _check_timezone(data, report, default_timezone)
    _check_trigger(data, report, timezone or "UTC")
    _check_bounds(data, report)
    target = data.get("target")
    if isinstance(target, dict):
        _check_target(target, report, tasks=tasks, workflows=workflows)
        _check_payload(target.get("payload"), ("target", "payload"), report)
    return timezone


@functools.cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())  # reads the tz database: once, when first needed


def timezone_problem(name: str) -> str | None:
    """Why ``name`` is not a usable IANA timezone, or None."""
    if name in known_timezones():
        return None
    same_letters = [zone for zone in known_timezones() if zone.lower() == name.lower()]
    hint = f"; did you mean {same_letters[0]!r}?" if same_letters else suggest(name, known_timezones())
    return f"unknown timezone {name!r}: expected an IANA name such as 'Europe/Paris' or 'UTC'{hint}"


def _check_timezone(data: dict[str, Any], report: Report, default: str) -> str | None:
    written = data.get("timezone")
    if "timezone" in data and not isinstance(written, str):
        return None
    name = written if isinstance(written, str) else default
    problem = timezone_problem(name)
    if problem is None:
        return name
    if isinstance(written, str):
        report.at_value(("timezone",), problem)
    else:  # the settings are wrong, but this schedule is where it shows
        report.at_key(("timezone",), f"no timezone given, and the default scheduler.timezone: {problem}")
    return None


def _check_trigger(data: dict[str, Any], report: Report, timezone: str) -> None:
    if "cron" not in data and "every" not in data:
        report.at_key(("cron",), "a schedule needs 'cron' (a cron expression) or 'every' (an interval)")
    elif "cron" in data and "every" in data:
        report.at_key(("every",), "a schedule takes either 'cron' or 'every', not both")
    expression = data.get("cron")
    if isinstance(expression, str):
        for error in cron.check(expression, timezone):
            report.at_value(("cron",), error.message, error.column)


def _check_bounds(data: dict[str, Any], report: Report) -> None:
    every, grace = _duration(data.get("every")), _duration(data.get("misfire_grace"))
    if every is not None and every < _SHORTEST_INTERVAL:
        report.at_value(("every",), f"an interval must be at least 1s, got {data['every']!r}")
    if grace is not None and grace <= timedelta(0):
        report.at_value(("misfire_grace",), f"misfire_grace must be more than 0, got {data['misfire_grace']!r}")


def _duration(value: Any) -> timedelta | None:
    """The duration written, if it is one; the structural check reports those that are not."""
    try:
        return parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _check_target(target: dict[str, Any], report: Report, *, tasks: Collection[str],
                  workflows: Collection[str]) -> None:
    if "task" not in target and "workflow" not in target:
        report.at_key(("target",), "a target needs 'task' (a task name) or 'workflow' (a workflow name)")
    elif "task" in target and "workflow" in target:
        report.at_key(("target", "workflow"), "a target takes either 'task' or 'workflow', not both")
    for key, known in (("task", tasks), ("workflow", workflows)):
        name = target.get(key)
        if isinstance(name, str) and name not in known:
            listed = f" (known: {', '.join(sorted(known))})" if 0 < len(known) <= 8 else ""
            report.at_value(("target", key), f"unknown {key} {name!r}{suggest(name, known)}{listed}")


def _check_payload(value: Any, path: Key, report: Report) -> None:
    """Payloads travel as JSON, which has no dates: a TOML date would fail at every tick, so fail now."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_payload(item, (*path, key), report)
    elif isinstance(value, list) and len(path) > 2:
        for index, item in enumerate(value):
            _check_payload(item, (*path, index), report)
    elif isinstance(value, date | time) and len(path) > 2:
        report.at_value(path, "a TOML date or time cannot be sent (payloads travel as JSON): quote it, "
                              'e.g. "2024-01-31"')
