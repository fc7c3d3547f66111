"""A run and its steps as plain records: what the runner reads from the database and writes back, and what the
simulator keeps in memory. No database here (``records`` reads and writes them)."""

from dataclasses import dataclass
from datetime import datetime

from app.workflows.engine import StepStatus


@dataclass(slots=True)
class RunRecord:
    id: str
    workflow: str
    version: str
    status: str
    input: str
    correlation_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


@dataclass(slots=True)
class StepRecord:
    run_id: str
    step_id: str
    kind: str
    target: str
    status: str
    attempts: int = 0
    task_id: str | None = None
    worker: str | None = None
    output: str | None = None
    error: str | None = None
    ready_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime | None = None
    due_at: datetime | None = None
    awaiting: str | None = None
    match_key: str | None = None


def is_parked(row: StepRecord) -> bool:
    """A wait step that started waiting: its timer or event has not come yet."""
    return row.status == StepStatus.WAITING.value and (row.due_at is not None or row.awaiting is not None)


def unpark(row: StepRecord) -> None:
    row.due_at = row.awaiting = row.match_key = None
