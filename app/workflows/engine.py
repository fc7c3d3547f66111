"""The pure engine: given a definition, the run's input and where each step stands, decide what happens
next. It reads and writes nothing; the runner does what it decides, in one transaction per outcome."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.workflows.spec import CONTINUE, FAIL_RUN, Step, Workflow


class StepStatus(StrEnum):
    WAITING = "waiting"  # its `after` steps are not done; or, parked, a wait step's timer or event is not due
    READY = "ready"  # handed to the plane (outbox row written)
    RUNNING = "running"  # a worker has it
    RETRYING = "retrying"  # an attempt failed; the plane runs it again after its backoff
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # retries exhausted, a permanent error, or its condition could not be evaluated
    SKIPPED = "skipped"  # its condition was false, events are off, or a unique key matched another task
    CANCELLED = "cancelled"  # the run failed before it could start


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"  # an operator or a schedule's `replace` policy stopped it


IN_FLIGHT = frozenset({StepStatus.READY, StepStatus.RUNNING, StepStatus.RETRYING})
FINISHED = frozenset({StepStatus.SUCCEEDED, StepStatus.DEAD, StepStatus.SKIPPED, StepStatus.CANCELLED})


@dataclass(frozen=True)
class StepState:
    status: StepStatus
    output: Mapping[str, Any] | None = None
    parked: bool = False  # a wait step that started waiting: dispatched already, it wakes on its timer or event


@dataclass(frozen=True)
class Decision:
    dispatch: tuple[str, ...] = ()  # hand these to the plane now
    skip: tuple[str, ...] = ()  # their condition is false
    broken: Mapping[str, str] = field(default_factory=dict)  # step -> why its condition could not be evaluated
    cancel: tuple[str, ...] = ()  # the run failed: these will never start
    run_status: RunStatus = RunStatus.RUNNING

    @property
    def changes(self) -> bool:
        return bool(self.dispatch or self.skip or self.broken or self.cancel)


def context(inputs: Mapping[str, Any], states: Mapping[str, StepState]) -> dict[str, Any]:
    """What conditions and templates look values up in."""
    return {"input": dict(inputs),
            "steps": {step_id: {"status": state.status.value, "output": dict(state.output or {})}
                      for step_id, state in states.items()}}


def _failed_run(workflow: Workflow, states: Mapping[str, StepState]) -> bool:
    """A dead step fails the run unless it says ``continue``; a compensation step runs first, though."""
    return any(states[step.id].status is StepStatus.DEAD and step.on_failure != CONTINUE for step in workflow.steps)


def _done_for_dependents(step: Step, state: StepState) -> bool:
    if state.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED):
        return True
    return state.status is StepStatus.DEAD and step.on_failure == CONTINUE


def decide(workflow: Workflow, inputs: Mapping[str, Any], states: Mapping[str, StepState]) -> Decision:
    """The next move. Skipped steps count as done for their dependents; the caller applies the decision
    and asks again until nothing changes (a skip can make another step ready)."""
    if _failed_run(workflow, states):
        return _failing(workflow, states)
    dispatch: list[str] = []
    skip: list[str] = []
    broken: dict[str, str] = {}
    values = context(inputs, states)
    for step in workflow.steps:
        state = states[step.id]
        if step.id in workflow.compensations or state.status is not StepStatus.WAITING or state.parked:
            continue
        if not all(_done_for_dependents(workflow.step(before), states[before]) for before in step.after):
            continue
        if step.when is not None:
            try:
                wanted = step.when.evaluate(values)
            except ValueError as exc:
                broken[step.id] = f"condition {step.when.source!r} could not be evaluated: {exc}"
                continue
            if not wanted:
                skip.append(step.id)
                continue
        dispatch.append(step.id)
    if dispatch or skip or broken:
        return Decision(dispatch=tuple(dispatch), skip=tuple(skip), broken=broken)
    if any(states[step.id].status not in FINISHED for step in workflow.steps if step.id not in workflow.compensations):
        return Decision()
    unused = tuple(step_id for step_id in workflow.compensations if states[step_id].status is StepStatus.WAITING)
    return Decision(skip=unused) if unused else Decision(run_status=RunStatus.SUCCEEDED)


def _failing(workflow: Workflow, states: Mapping[str, StepState]) -> Decision:
    """Start the compensation steps that dead steps name, cancel what has not started, and finish the run
    once nothing is in flight."""
    dispatch = [step.on_failure for step in workflow.steps
                if states[step.id].status is StepStatus.DEAD and step.on_failure not in (FAIL_RUN, CONTINUE)
                and states[step.on_failure].status is StepStatus.WAITING]
    dispatch = list(dict.fromkeys(dispatch))
    cancel = [step.id for step in workflow.steps
              if states[step.id].status is StepStatus.WAITING and step.id not in dispatch
              and step.id not in workflow.compensations]
    if dispatch or cancel:
        return Decision(dispatch=tuple(dispatch), cancel=tuple(cancel))
    if any(state.status in IN_FLIGHT for state in states.values()):
        return Decision()  # a step still running may yet die and name another compensation
    unused = tuple(step_id for step_id in workflow.compensations if states[step_id].status is StepStatus.WAITING)
    return Decision(cancel=unused) if unused else Decision(run_status=RunStatus.FAILED)
