"""What operators read about workflows and runs, as plain JSON-ready dicts for the API and the CLI."""

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from app.db.models import StepRun, WorkflowRun
from app.durations import format_duration
from app.workflows.catalogue import Rejected
from app.workflows.engine import StepState, StepStatus
from app.workflows.parking import render_match
from app.workflows.spec import Step, Workflow

MAX_CURSOR = 512  # one this API returns is about 120 characters
Definition = Callable[[Session, str], Workflow]  # a run's pinned version: WorkflowRunner.definition


class BadCursor(ValueError):
    pass


def _step(step: Step) -> dict[str, Any]:
    view: dict[str, Any] = {"id": step.id, "kind": step.kind, "target": step.target, "after": list(step.after),
                            "when": step.when.source if step.when is not None else None,
                            "on_failure": step.on_failure}
    if step.kind == "task":
        view.update(priority=step.priority, delay=format_duration(step.delay) if step.delay else None,
                    timeout=format_duration(step.timeout) if step.timeout else None,
                    retry=None if step.retry is None else {
                        "attempts": step.retry.attempts, "backoff": step.retry.backoff,
                        "first": format_duration(step.retry.first), "max": format_duration(step.retry.max),
                        "jitter": step.retry.jitter})
    return view


def workflow_view(workflow: Workflow, rejected: Rejected | None = None) -> dict[str, Any]:
    return {"name": workflow.name, "description": workflow.description, "version": workflow.version,
            "file": workflow.path,
            "input": {field.name: {"type": field.type.value, "required": field.required} for field in workflow.inputs},
            "steps": [_step(step) for step in workflow.steps],
            "rejected_edit": None if rejected is None else [str(problem) for problem in rejected.problems]}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def run_summary(run: WorkflowRun) -> dict[str, Any]:
    return {"id": run.id, "workflow": run.workflow, "version": run.version, "status": run.status,
            "correlation_id": run.correlation_id, "error": run.error, "created_at": _iso(run.created_at),
            "finished_at": _iso(run.finished_at)}


def _parked(row: StepRun) -> bool:
    return row.status == StepStatus.WAITING.value and (row.due_at is not None or row.awaiting is not None)


def waiting_view(row: StepRun, match: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """What a parked step waits for: ``{"until": iso}`` (a timer), or ``{"event": type, "match": {...},
    "timeout_at": iso | None}`` (match None when the run's definition is not at hand); None if it is not parked."""
    if not _parked(row):
        return None
    if row.awaiting is not None:
        return {"event": row.awaiting, "match": match, "timeout_at": _iso(row.due_at)}
    return {"until": _iso(row.due_at)}


def step_view(row: StepRun, match: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": row.step_id, "kind": row.kind, "target": row.target, "status": row.status,
            "attempts": row.attempts, "task_id": row.task_id, "worker": row.worker,
            "output": json.loads(row.output) if row.output else None, "last_error": row.error,
            "ready_at": _iso(row.ready_at), "started_at": _iso(row.started_at),
            "finished_at": _iso(row.finished_at), "updated_at": _iso(row.updated_at),
            # a parked wait: when it falls due (its timer, or its time-out), and the event it waits for
            "due_at": _iso(row.due_at), "awaiting": row.awaiting, "waiting": waiting_view(row, match)}


def _matches(db: Session, definition: Definition | None, run: WorkflowRun,
             rows: Sequence[StepRun]) -> dict[str, dict[str, Any]]:
    """Parked event waits' match values, rendered again from the run's pinned definition (only a digest is
    stored)."""
    awaiting = [row for row in rows if _parked(row) and row.awaiting is not None]
    if not awaiting or definition is None:
        return {}
    try:
        workflow = definition(db, run.version)
        states = {row.step_id: StepState(StepStatus(row.status), json.loads(row.output) if row.output else None)
                  for row in rows}
        inputs = json.loads(run.input)
        return {row.step_id: render_match(workflow.step(row.step_id), inputs, states) for row in awaiting}
    except LookupError:  # the version is not stored, or lacks the step: shown without its values
        return {}


def run_detail(engine: Engine, run_id: str, definition: Definition | None = None) -> dict[str, Any] | None:
    """The run and its steps; pass ``definition`` (the runner's) to show parked event waits' match values."""
    with Session(engine) as db:
        run = db.get(WorkflowRun, run_id)
        if run is None:
            return None
        rows = db.exec(select(StepRun).where(StepRun.run_id == run_id)).all()
        order = {step_id: index for index, step_id in enumerate(_step_order(rows))}
        steps = sorted(rows, key=lambda row: order[row.step_id])
        matches = _matches(db, definition, run, steps)
        return {**run_summary(run), "input": json.loads(run.input),
                "steps": [step_view(row, matches.get(row.step_id)) for row in steps]}


def _step_order(rows: Any) -> list[str]:
    """Steps in the order they became ready, those not yet ready last."""
    return [row.step_id for row in sorted(rows, key=lambda row: (row.ready_at is None and row.finished_at is None,
                                                                   row.ready_at or row.finished_at or row.updated_at))]


def encode_cursor(run: WorkflowRun) -> str:
    return base64.urlsafe_b64encode(json.dumps([run.created_at.isoformat(), run.id]).encode()).decode()


_RUN_ID = re.compile(r"[0-9a-f]{32}")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    if len(cursor) > MAX_CURSOR:
        raise BadCursor("cursor is not one this API returned (too long)")
    # Decoded to exactly [str, str]: a cursor nested a thousand deep stops at its first bracket, not in recursion.
    try:
        created, run_id = msgspec.json.decode(base64.urlsafe_b64decode(cursor.encode()), type=tuple[str, str])
        moment = datetime.fromisoformat(created)
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError):
        raise BadCursor("cursor is not one this API returned") from None
    if moment.tzinfo is None:
        raise BadCursor("cursor is not one this API returned (its time has no timezone)")
    # Run ids are uuid4 hex: anything else (a NUL PostgreSQL refuses in text, say) is not a cursor of ours.
    if not _RUN_ID.fullmatch(run_id):
        raise BadCursor("cursor is not one this API returned (its run id is not a run id)")
    return moment, run_id


def list_runs(engine: Engine, *, workflow: str | None = None, status: str | None = None, limit: int = 50,
              cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; pass the returned cursor to get the next page (None: no more)."""
    query = select(WorkflowRun)
    if workflow:
        query = query.where(WorkflowRun.workflow == workflow)
    if status:
        query = query.where(WorkflowRun.status == status)
    if cursor:
        created, run_id = _decode_cursor(cursor)
        query = query.where(or_(col(WorkflowRun.created_at) < created,
                                and_(col(WorkflowRun.created_at) == created, col(WorkflowRun.id) < run_id)))
    query = query.order_by(col(WorkflowRun.created_at).desc(), col(WorkflowRun.id).desc()).limit(limit + 1)
    with Session(engine) as db:
        runs = list(db.exec(query).all())
    following = encode_cursor(runs[limit - 1]) if len(runs) > limit else None
    return [run_summary(run) for run in runs[:limit]], following
