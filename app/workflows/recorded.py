"""Recorded runs as scenarios: what a run was given and what happened to it (each task step's attempts and how
they ended, the events that woke its waits, when) read back from the database, to be simulated again, on the
version it ran or on an edited file (``replay``), or written as a scenario file (``export-scenario``)."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import StepRun, WorkflowRun
from app.workflows.engine import IN_FLIGHT, StepStatus
from app.workflows.simulated import Arrival, Scenario, StepScript

_PERMANENT = "PermanentError"


@dataclass(frozen=True)
class Recording:
    run: WorkflowRun
    steps: dict[str, StepRun]

    @property
    def finished(self) -> bool:
        return self.run.status != "running"

    def ended(self, status: StepStatus) -> list[str]:
        """Ids of the steps recorded with ``status``, in the order they ended."""
        rows = [row for row in self.steps.values() if row.status == status.value]
        return [row.step_id for row in sorted(rows, key=lambda row: (row.finished_at or row.updated_at
                                                                      or self.run.created_at))]

    def in_flight(self) -> list[str]:
        return [row.step_id for row in self.steps.values() if StepStatus(row.status) in IN_FLIGHT]


def recordings(engine: Engine, workflow: str, *, run_ids: Sequence[str] = (), limit: int = 100) -> list[Recording]:
    """The named runs, or ``workflow``'s latest ``limit``, newest first."""
    with Session(engine) as db:
        query = select(WorkflowRun)
        if run_ids:
            query = query.where(col(WorkflowRun.id).in_(list(run_ids)))
        else:
            query = query.where(WorkflowRun.workflow == workflow).order_by(
                col(WorkflowRun.created_at).desc(), col(WorkflowRun.id).desc()).limit(limit)
        runs = list(db.exec(query).all())
        steps: dict[str, dict[str, StepRun]] = {run.id: {} for run in runs}
        for start in range(0, len(runs), 500):
            chunk = [run.id for run in runs[start:start + 500]]
            for row in db.exec(select(StepRun).where(col(StepRun.run_id).in_(chunk))).all():
                steps[row.run_id][row.step_id] = row
    by_id = {run.id: Recording(run, steps[run.id]) for run in runs}
    return [by_id[run_id] for run_id in run_ids if run_id in by_id] if run_ids else list(by_id.values())


def as_scenario(recording: Recording) -> Scenario:
    """The recording as a scenario (for the run's own version, or an edit of it): its input and start,
    each task step's attempts as they went, and each awaited event when it came. Time-outs and timers need no
    script: the simulator's clock brings them when they fall due (the real sweep, up to a second later). An
    operator's retry or wake is not replayed: ``replay.unreproduced`` names such steps."""
    run = recording.run
    start = _aware(run.created_at)
    scripts: dict[str, StepScript] = {}
    arrivals: list[Arrival] = []
    for row in recording.steps.values():
        output = json.loads(row.output) if row.output else None
        if row.kind == "task":
            scripts[row.step_id] = _script(row, output)
        elif row.kind == "wait_for" and isinstance(output, dict) and isinstance(output.get("event"), dict):
            at = _aware(row.finished_at or row.updated_at or run.created_at) - start
            arrivals.append(Arrival(at, row.target, output["event"]))
    arrivals.sort(key=lambda arrival: arrival.at)
    return Scenario(input=json.loads(run.input), steps=scripts, events=tuple(arrivals), start=start)


def _script(row: StepRun, output: Any) -> StepScript:
    attempts = max(row.attempts, 1)
    if row.status == StepStatus.SUCCEEDED.value:
        return StepScript(failures=attempts - 1, output=output if isinstance(output, dict) else None)
    if row.status == StepStatus.DEAD.value:
        error = row.error or "failed"
        if error.startswith(_PERMANENT):
            return StepScript(failures=attempts - 1, then="permanent", error=error.split(": ", 1)[-1][:200])
        return StepScript(failures=attempts - 1, then="fail", error=error.split(": ", 1)[-1][:200])
    if row.status == StepStatus.RETRYING.value:  # failed so far; what comes next is not known yet
        return StepScript(failures=row.attempts, error=(row.error or "failed").split(": ", 1)[-1][:200])
    return StepScript()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
