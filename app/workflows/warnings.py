"""What a valid workflow probably did not mean: warnings, not errors (``validate --strict`` fails on them).

- a step no run can reach: its condition is false whatever the steps it reads can produce;
- a `wait_for` without a `timeout`: a run whose event never comes waits for ever;
- a condition or template reading an output field its step cannot produce (waits and events have known outputs);
- a task whose retries can outlast the wait that follows it."""

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from app.plane.tasks.registry import TaskRegistry
from app.workflows.engine import StepStatus
from app.workflows.locate import Locator
from app.workflows.problems import Problem
from app.workflows.spec import Step, Workflow

# The outputs of the steps whose outputs the engine makes, each field with the values it can take.
OUTPUTS: Mapping[str, Mapping[str, tuple[Any, ...]]] = {
    "wait": {"due_at": ("2026-01-01T00:00:00+00:00",), "woken": (True, False)},
    "wait_for": {"timed_out": (True, False), "event": ({},), "woken": (True,)},
    "event": {"message_id": ("id",), "skipped": ("events are disabled",)},
}
_STATUSES = tuple(status.value for status in StepStatus)
RetrySpan = Callable[[Step], timedelta | None]  # how long a task step's retries can take at most (None: unknown)


def retry_span(registry: TaskRegistry) -> RetrySpan:
    """How long a task step's retries can take at most, from its first failure to its last attempt: its own
    policy, or its task's default."""
    def span(step: Step) -> timedelta | None:
        if step.target not in registry:
            return None
        policy = registry[step.target].retry
        if step.retry is not None:
            retry = step.retry
            policy = policy.with_changes(attempts=retry.attempts, backoff=retry.backoff, first=retry.first,
                                         max=retry.max, jitter=retry.jitter)
        return sum((policy.ceiling(attempt) for attempt in range(1, policy.attempts)), timedelta(0))

    return span


def warnings(workflow: Workflow, retry_span: RetrySpan = lambda step: None) -> list[Problem]:
    located = Locator(workflow.source)
    index = {step.id: position for position, step in enumerate(workflow.steps)}
    steps = {step.id: step for step in workflow.steps}

    def at(step: Step, key: str, message: str) -> Problem:
        line, column = located.find(("steps", index[step.id], key))
        return Problem(workflow.path, line, column, f"steps.{step.id}" + (f".{key}" if key else ""),
                       f"warning: {message}")

    found: list[Problem] = []
    for step in workflow.steps:
        if step.kind == "wait_for" and step.timeout is None:
            found.append(at(step, "wait_for", f"no timeout: a run whose {step.target} never comes waits for ever"))
        for key, reference in _references(step):
            if _unknown_output(reference, steps):
                kind = steps[reference[1]].kind
                found.append(at(step, key, f"reads {'.'.join(reference)}, which a {kind} step never produces "
                                           f"(its output has {', '.join(OUTPUTS[kind])})"))
        if step.when is not None and step.id not in workflow.compensations and _never_true(step, steps):
            found.append(at(step, "when", f"unreachable: its condition ({step.when.source}) is false whatever the "
                                          "steps it reads can produce"))
        for before_id in step.after:
            before = steps[before_id]
            span, waits = retry_span(before) if before.kind == "task" else None, _waits_for(step)
            if span is not None and waits is not None and span > waits:
                found.append(at(before, "retry", f"its retries can take up to {_span(span)}, longer than the "
                                                 f"{_span(waits)} that {step.id} waits after it"))
    return sorted(found, key=lambda problem: (problem.line, problem.column))


def _references(step: Step) -> Iterator[tuple[str, tuple[str, ...]]]:
    for key, compiled in (("when", step.when), ("payload", step.payload), ("headers", step.headers),
                          ("match", step.match), ("until", step.until)):
        if compiled is not None:
            for reference in sorted(compiled.references()):
                yield key, tuple(reference)


def _unknown_output(reference: tuple[str, ...], steps: Mapping[str, Step]) -> bool:
    """Whether ``reference`` reads an output field that its step, a wait or an event, never produces."""
    if len(reference) < 4 or reference[0] != "steps" or reference[2] != "output" or reference[1] not in steps:
        return False
    kind = steps[reference[1]].kind
    return kind in OUTPUTS and reference[3] not in OUTPUTS[kind]


def _never_true(step: Step, steps: Mapping[str, Step]) -> bool:
    """Whether no combination of the values its references can take makes ``step``'s condition true. Undecided
    (False) when it reads anything whose values are open: an input, a task's output."""
    assert step.when is not None
    domains: dict[tuple[str, ...], tuple[Any, ...]] = {}
    for reference in step.when.references():
        path = tuple(reference)
        if len(path) >= 3 and path[0] == "steps" and path[1] in steps and path[2] == "status":
            domains[path] = _STATUSES
        elif len(path) >= 4 and path[0] == "steps" and path[1] in steps and path[2] == "output" \
                and steps[path[1]].kind in OUTPUTS and len(path) == 4:
            domains[path] = (*OUTPUTS[steps[path[1]].kind].get(path[3], ()), None)
        else:
            return False
    for values in itertools.product(*domains.values()):
        context: dict[str, Any] = {"input": {}, "steps": {}}
        for path, value in zip(domains, values, strict=True):
            entry = context["steps"].setdefault(path[1], {"status": "succeeded", "output": {}})
            if path[2] == "status":
                entry["status"] = value
            elif value is not None:
                entry["output"][path[3]] = value
        try:
            if step.when.evaluate(context):
                return False
        except ValueError:
            continue  # e.g. comparing null with a number: not true for those values
    return True


def _waits_for(step: Step) -> timedelta | None:
    if step.kind == "wait_for":
        return step.timeout
    return step.wait if step.kind == "wait" else None


def _span(value: timedelta) -> str:
    """4h 3m, 2d, 45s."""
    seconds, parts = int(value.total_seconds()), []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts) or "0s"
