"""A checked workflow file turned into the ``spec`` values the engine and the runner use."""

import hashlib
from dataclasses import replace

from app.durations import parse_duration
from app.workflows import expressions, templates
from app.workflows.document import EventStep, InputSpec, TaskStep, WaitForStep, WaitStep, WorkflowFile
from app.workflows.spec import InputField, InputType, Retry, Step, Unique, Workflow


def build_workflow(document: WorkflowFile, *, text: str, file: str, lines: dict[int, int]) -> Workflow:
    """``lines``: step index -> line of its [[steps]] header."""
    steps = tuple(_step(step, lines.get(index, 0)) for index, step in enumerate(document.steps))
    ids = {step.id for step in steps}
    return Workflow(
        name=document.name,
        description=document.description,
        inputs=tuple(_input(name, declared) for name, declared in document.input.items()),
        steps=steps,
        version=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        source=text,
        path=file,
        compensations=frozenset(step.on_failure for step in steps if step.on_failure in ids),
    )


def _input(name: str, declared: InputType | InputSpec) -> InputField:
    if isinstance(declared, InputSpec):
        return InputField(name, declared.type, declared.required, declared.default)
    return InputField(name, declared)


def _step(step: TaskStep | EventStep | WaitStep | WaitForStep, line: int) -> Step:
    common = Step(
        id=step.id,
        kind="task",
        target="",
        after=tuple(step.after),
        when=expressions.compile(step.when) if step.when is not None else None,
        on_failure=step.on_failure,
        line=line,
    )
    if isinstance(step, WaitStep):
        return replace(common, kind="wait", target=step.wait or "until",
                       wait=parse_duration(step.wait) if step.wait is not None else None,
                       until=templates.compile(step.until) if step.until is not None else None)
    if isinstance(step, WaitForStep):
        return replace(common, kind="wait_for", target=step.wait_for,
                       match=templates.compile(step.match) if step.match is not None else None,
                       match_fields=tuple(sorted(step.match or {})),
                       timeout=parse_duration(step.timeout) if step.timeout is not None else None)
    common = replace(common, payload=templates.compile(step.payload) if step.payload is not None else None)
    if isinstance(step, EventStep):
        return replace(common, kind="event", target=step.event,
                       headers=templates.compile(step.headers) if step.headers is not None else None,
                       event_priority=step.priority)
    retry = step.retry
    return replace(
        common,
        kind="task",
        target=step.task,
        priority=step.priority,
        delay=parse_duration(step.delay) if step.delay is not None else None,
        timeout=parse_duration(step.timeout) if step.timeout is not None else None,
        retry=Retry(retry.attempts, retry.backoff, parse_duration(retry.first), parse_duration(retry.max),
                    retry.jitter) if retry is not None else None,
        unique=Unique(templates.compile(step.unique.key), parse_duration(step.unique.ttl))
        if step.unique is not None else None,
    )

