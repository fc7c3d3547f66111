"""Whether a simulated run came to what its scenario expects, and which of a workflow's paths no scenario took."""

import json
from collections.abc import Iterable, Mapping
from typing import Any

from app.plane.tasks.registry import TaskRegistry
from app.workflows.engine import StepStatus
from app.workflows.scenarios import LoadedScenario
from app.workflows.simulated import Facts, Result
from app.workflows.spec import Workflow

_ENDED = {"ran": StepStatus.SUCCEEDED, "skipped": StepStatus.SKIPPED, "dead": StepStatus.DEAD,
          "cancelled": StepStatus.CANCELLED}


def unmet(loaded: LoadedScenario, result: Result) -> list[str]:
    """Each expectation the run did not meet, located in the scenario file; empty when all hold."""
    expect = loaded.spec.expect
    if expect is None:
        return []
    failures: list[str] = []

    def check(path: tuple[str | int, ...], expected: Any, got: Any) -> None:
        if expected != got:
            failures.append(f"{loaded.where(path)}: expected {_show(expected)}, got {_show(got)}")

    if expect.status is not None:
        check(("expect", "status"), expect.status, result.status)
    for name, status in _ENDED.items():
        if (wanted := getattr(expect, name)) is not None:
            check(("expect", name), wanted, result.in_order(status))
    if expect.published is not None:
        check(("expect", "published"), expect.published, [event_type for event_type, _ in result.published])
    for step_id, attempts in expect.attempts.items():
        check(("expect", "attempts", step_id), attempts, result.steps[step_id].attempts)
    return failures + _unmet_values(loaded, result)


def _unmet_values(loaded: LoadedScenario, result: Result) -> list[str]:
    """The expected values of rendered payloads and of outputs that differ."""
    assert loaded.spec.expect is not None
    failures: list[str] = []
    outputs = {step_id: json.loads(row.output) if row.output else {} for step_id, row in result.steps.items()}
    for name, found in (("payloads", result.payloads), ("outputs", outputs)):
        for step_id, values in getattr(loaded.spec.expect, name).items():
            if step_id not in found:
                failures.append(f"{loaded.where(('expect', name, step_id))}: step {step_id!r} was never dispatched")
                continue
            for key, value in values.items():
                got = found[step_id].get(key, "(absent)")
                if got != value:
                    failures.append(f"{loaded.where(('expect', name, step_id, key))}: expected {_show(value)}, "
                                    f"got {_show(got)}")
    return failures


def gaps(workflow: Workflow, facts: Facts, registry: TaskRegistry) -> list[str]:
    """The `when` branches, retry paths and wait outcomes of ``workflow`` that no scenario exercised, each
    placed at its step in the workflow file."""
    found: list[str] = []
    for step in workflow.steps:
        where = f"{workflow.path}:{step.line}: steps.{step.id}"
        if step.when is not None and step.id not in workflow.compensations:
            seen = facts.conditions.get(step.id, set())
            for value in (True, False):
                if value not in seen:
                    found.append(f"{where}: no scenario makes its condition {str(value).lower()} "
                                 f"({step.when.source})")
        if step.kind == "task" and step.target in registry:
            attempts = step.retry.attempts if step.retry is not None else registry[step.target].retry.attempts
            if attempts > 1 and step.id not in facts.retried:
                found.append(f"{where}: no scenario retries it (script fail = 1 for {step.id})")
        if step.kind == "wait_for":
            if step.id not in facts.event_came:
                found.append(f"{where}: no scenario sends the {step.target} it waits for")
            if step.timeout is not None and step.id not in facts.timed_out:
                found.append(f"{where}: no scenario lets its wait time out")
    return found


def merged(all_facts: Iterable[Facts]) -> Facts:
    total = Facts()
    for facts in all_facts:
        total.merge(facts)
    return total


def _show(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, default=str)
    return repr(value)
