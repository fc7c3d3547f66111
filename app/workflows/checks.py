"""Checks that need more than one key: step ids, task and event names, ``after``, ``on_failure``,
cycles, unreachable steps, retry bounds, input defaults. They read the parsed file as it is and skip
values of the wrong type, which the structural check reports."""

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

from app.durations import format_duration, parse_duration
from app.workflows.graph import RawStep, StepGraph
from app.workflows.problems import Report, suggest, toml_type
from app.workflows.spec import CONTINUE, FAIL_RUN, Retry

_DEFAULT_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "email": (str,), "uuid": (str,), "datetime": (str,), "int": (int,), "float": (int, float),
    "bool": (bool,)}


def check_steps(data: Any, report: Report, *, tasks: Collection[str], events: Collection[str]) -> StepGraph:
    graph = StepGraph.build(data)
    _check_ids(graph, report)
    for step in graph.steps:
        _check_target(step, report, "task", tasks)
        _check_target(step, report, "event", events)
        _check_target(step, report, "wait_for", events)
        _check_match(step, report, events)
        _check_timer(step, report)
        _check_after(step, graph, report)
        _check_on_failure(step, graph, report)
        _check_retry(step, report)
    _check_compensations(graph, report)
    cyclic = _check_cycles(graph, report)
    _check_unreachable(graph, cyclic, report)
    _check_defaults(data, report)
    return graph


def _check_ids(graph: StepGraph, report: Report) -> None:
    for step in graph.steps:
        if step.id is not None and graph.index[step.id] != step.index:
            line, _ = report.locator.find(("steps", graph.index[step.id]))
            report.at_value(("steps", step.index, "id"), f"duplicate step id {step.id!r}: the step at line {line} "
                                                         "has it already")


def _check_target(step: RawStep, report: Report, key: str, known: Collection[str]) -> None:
    name = step.table.get(key)
    if isinstance(name, str) and name not in known:
        what = "task" if key == "task" else "event type"
        listed = f" (known: {', '.join(sorted(known))})" if 0 < len(known) <= 8 else ""
        report.at_value(("steps", step.index, key), f"unknown {what} {name!r}{suggest(name, known)}{listed}")


def _check_match(step: RawStep, report: Report, events: Collection[str]) -> None:
    """Each `match` key must be a field of the awaited event's payload (when the catalogue says which)."""
    event, match = step.table.get("wait_for"), step.table.get("match")
    if not isinstance(event, str) or not isinstance(match, dict) or not isinstance(events, Mapping):
        return
    fields = events.get(event)
    if fields is None:
        return  # an unknown event type, reported already
    for key in match:
        if key not in fields:
            report.at_key(("steps", step.index, "match", key),
                          f"the payload of {event!r} has no field {key!r}{suggest(key, fields)} "
                          f"(its fields: {', '.join(sorted(fields))})")


def _check_timer(step: RawStep, report: Report) -> None:
    table = step.table
    if "wait" in table and "until" in table:
        report.at_key(("steps", step.index, "until"), "a wait step takes 'wait' (a duration) or 'until' (a time), "
                                                      "not both")


def _check_after(step: RawStep, graph: StepGraph, report: Report) -> None:
    for position, name in step.after:
        path = ("steps", step.index, "after", position)
        if name == step.id:
            report.at_value(path, "a step cannot run after itself")
        elif name not in graph.index:
            report.at_value(path, f"no step {name!r}{suggest(name, graph.index)}")


def _check_on_failure(step: RawStep, graph: StepGraph, report: Report) -> None:
    target = step.on_failure
    if target is None or target in (FAIL_RUN, CONTINUE):
        return
    path = ("steps", step.index, "on_failure")
    if target == step.id:
        report.at_value(path, "a step cannot be its own compensation step")
    elif target not in graph.index:
        choices = [FAIL_RUN, CONTINUE, *graph.index]
        report.at_value(path, f"expected '{FAIL_RUN}', '{CONTINUE}' or the id of a compensation step; "
                              f"there is no step {target!r}{suggest(target, choices)}")


def _check_compensations(graph: StepGraph, report: Report) -> None:
    for step_id, step in graph.with_ids():
        sources = graph.compensates.get(step_id)
        if sources and step.table.get("after"):
            report.at_key(("steps", step.index, "after"),
                          f"a compensation step cannot have 'after': it starts only when {_names(sources)} fails")


def _check_cycles(graph: StepGraph, report: Report) -> set[str]:
    cyclic: set[str] = set()
    for cycle in graph.cycles():
        cyclic.update(cycle)
        report.at_key(("steps", graph.index[cycle[0]], "after"),
                      f"cycle: {' -> '.join([*cycle, cycle[0]])} (each waits for the next, so none can start)")
    return cyclic


def _check_unreachable(graph: StepGraph, cyclic: set[str], report: Report) -> None:
    """Steps waiting (maybe through others) for a step that never finishes on the normal path."""
    never: dict[str, str] = {step_id: "which is in a cycle" for step_id in cyclic}
    for compensation, sources in graph.compensates.items():
        never.setdefault(compensation, f"a compensation step that only runs when {_names(sources)} fails")
    changed = True
    while changed:
        changed = False
        for step_id, step in graph.with_ids():
            if step_id in never or step_id in graph.compensates:
                continue
            blocker = next(((position, name) for position, name in step.after if name in never), None)
            if blocker is not None:
                position, name = blocker
                reason = never[name]
                never[step_id] = "which can never start"
                report.at_value(("steps", step.index, "after", position),
                                f"unreachable: it waits for {name!r}, {reason}")
                changed = True


def _check_retry(step: RawStep, report: Report) -> None:
    retry = step.table.get("retry")
    if not isinstance(retry, dict):
        return
    first, longest = _duration(retry.get("first"), Retry.first), _duration(retry.get("max"), Retry.max)
    if first is not None and longest is not None and first > longest:
        key = "first" if "first" in retry else "max"
        default = "" if "max" in retry else ", the default"
        report.at_value(("steps", step.index, "retry", key),
                        f"retry.first ({format_duration(first)}) must not be longer than retry.max "
                        f"({format_duration(longest)}{default})")


def _duration(value: Any, default: timedelta) -> timedelta | None:
    if value is None:
        return default
    try:
        return parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _check_defaults(data: Any, report: Report) -> None:
    inputs = data.get("input") if isinstance(data, dict) else None
    for name, spec in (inputs.items() if isinstance(inputs, dict) else ()):
        if not isinstance(spec, dict) or "default" not in spec or not isinstance(spec.get("type"), str):
            continue
        wanted, default = _DEFAULT_TYPES.get(spec["type"]), spec["default"]
        if wanted and (not isinstance(default, wanted) or isinstance(default, bool) and bool not in wanted):
            quoted = " (a quoted string)" if wanted == (str,) else ""
            report.at_value(("input", name, "default"),
                            f"expected a default of type {spec['type']}{quoted}, got {toml_type(default)}")


def _names(step_ids: list[str]) -> str:
    return " or ".join(repr(step_id) for step_id in step_ids)
