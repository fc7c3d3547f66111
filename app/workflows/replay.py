"""Replay: a recorded run simulated on the version it ran and on an edited file, from the same scenario (its
input, its task outcomes, its events when they came); the first step where the two part, and why. Nothing is
written or sent: both sides are simulations."""

import json
from dataclasses import dataclass
from typing import Any

from app.domain.events import EventCatalogue
from app.plane.tasks.registry import TaskRegistry
from app.workflows.engine import StepStatus
from app.workflows.recorded import Recording, as_scenario
from app.workflows.simulated import Result, ScenarioError
from app.workflows.simulation import simulate
from app.workflows.spec import Workflow


@dataclass(frozen=True)
class Verdict:
    run_id: str
    identical: bool
    step: str | None = None  # where it diverges (None: the run as a whole, or identical)
    reason: str = ""
    unreproduced: str = ""  # the recording and its own version's simulation disagree (an operator's hand, say)

    def describe(self) -> str:
        if self.identical:
            line = f"{self.run_id}  identical"
        else:
            line = f"{self.run_id}  diverges at {'step ' + self.step if self.step else 'the run'}: {self.reason}"
        return line + (f"  (note: {self.unreproduced})" if self.unreproduced else "")


def replay(recording: Recording, pinned: Workflow, edited: Workflow, registry: TaskRegistry,
           catalogue: EventCatalogue) -> Verdict:
    run_id = recording.run.id
    scenario = as_scenario(recording)
    try:
        baseline = simulate(pinned, scenario, registry, catalogue)
    except ScenarioError as error:
        return Verdict(run_id, False, None, f"its own version cannot replay it: {error}")
    differs = unreproduced(recording, baseline)
    try:
        changed = simulate(edited, scenario, registry, catalogue)
    except ScenarioError as error:
        return Verdict(run_id, False, None, f"the edit refuses the run's {error.path[0]}: {error}", differs)
    step, reason = first_divergence(baseline, changed)
    return Verdict(run_id, not reason, step, reason, differs)


def first_divergence(before: Result, after: Result) -> tuple[str | None, str]:
    """The first step (in the order ``before`` ended them) that ends differently, or renders a different payload,
    in ``after``; ("", "") when none does and the runs end alike."""
    last = {entry.step: index for index, entry in enumerate(before.timeline) if entry.step}
    order = sorted(before.steps, key=lambda step_id: last.get(step_id, len(before.timeline)))
    order += [step_id for step_id in after.steps if step_id not in before.steps]
    for step_id in order:
        if step_id not in after.steps:
            return step_id, f"removed by the edit (it was {before.steps[step_id].status})"
        if step_id not in before.steps:
            return step_id, f"added by the edit ({after.steps[step_id].status})"
        if reason := _step_change(step_id, before, after):
            return step_id, reason
    if before.status != after.status:
        return None, f"the run {before.status}, with the edit {after.status}"
    return None, ""


def _step_change(step_id: str, before: Result, after: Result) -> str:
    was, now = before.steps[step_id], after.steps[step_id]
    if was.status != now.status:
        step = after.workflow.step(step_id)
        flips = {was.status, now.status} & {StepStatus.SKIPPED.value} and step.when is not None
        why = f"its condition ({step.when.source}) " if flips and step.when else ""
        return f"{why}{was.status} → {now.status}"
    if was.attempts != now.attempts:
        return f"attempts {was.attempts} → {now.attempts} (its retry policy)"
    old, new = before.payloads.get(step_id), after.payloads.get(step_id)
    if old != new:
        return f"its payload renders differently: {_difference(old, new)}"
    return ""


def _difference(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = [key for key in dict.fromkeys([*old, *new]) if old.get(key) != new.get(key)]
        return "; ".join(f"{key} {_show(old.get(key))} → {_show(new.get(key))}" for key in keys)
    return f"{_show(old)} → {_show(new)}"


def _show(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value, default=str)


def unreproduced(recording: Recording, baseline: Result) -> str:
    """Where the recording and its own version's simulation part: an operator retried a dead step or woke a wait
    (the simulator knows neither), a task timed out, or the run is still in flight there."""
    notes: list[str] = []
    for step_id, row in recording.steps.items():
        simulated = baseline.steps.get(step_id)
        if simulated is None or row.status not in _ENDED:
            continue
        if row.status != simulated.status:
            notes.append(f"{step_id} recorded {row.status}, simulated {simulated.status}")
        elif row.kind == "task" and row.attempts != simulated.attempts:
            notes.append(f"{step_id} recorded {row.attempts} attempt(s), simulated {simulated.attempts}")
        elif row.kind.startswith("wait") and row.output and json.loads(row.output).get("woken") is True:
            notes.append(f"{step_id} was woken by an operator")
    return "; ".join(notes)


_ENDED = {status.value for status in (StepStatus.SUCCEEDED, StepStatus.DEAD, StepStatus.SKIPPED,
                                      StepStatus.CANCELLED)}
