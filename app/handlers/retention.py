"""``data.retention``: delete history older than its retention setting.

Finished workflow runs (with their steps), dead letters, schedule fires, consumers' dedupe records,
email verification tokens long expired and old awaited events (signals). A running run is never touched, however old."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Delete, Engine, delete, select
from sqlmodel import col

from app.config import Settings
from app.db.models import ConsumedMessage, DeadLetter, EmailVerification, ScheduleFire, StepRun, WorkflowRun
from app.plane.tasks.registry import TaskContext
from app.workflows.engine import RunStatus
from app.workflows.parking import forget_signals

FINISHED = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value)
BATCH = 500  # runs per transaction: locks stay short however much history has piled up


def purge_old(engine: Engine, settings: Settings, now: datetime) -> dict[str, int]:
    """Delete what is past retention at ``now``; how many rows of each kind went."""
    runs, steps = _purge_finished_runs(engine, now - settings.retention.finished_runs)
    with engine.begin() as connection:
        counts = {
            "workflow_runs": runs,
            "step_runs": steps,
            "dead_letters": _count(connection, delete(DeadLetter).where(
                col(DeadLetter.failed_at) < now - settings.tasks.dead_letter_retention)),
            # By the tick's own time: a claim goes only once no catch-up could want that tick again.
            "schedule_fires": _count(connection, delete(ScheduleFire).where(
                col(ScheduleFire.scheduled_at) < now - settings.retention.schedule_history)),
            "consumed_messages": _count(connection, delete(ConsumedMessage).where(
                col(ConsumedMessage.processed_at) < now - settings.retention.consumed_messages)),
            # Kept a while past expiry, so a late click on a used link still reads "already verified"
            "email_verifications": _count(connection, delete(EmailVerification).where(
                col(EmailVerification.expires_at) < now - settings.retention.verification_tokens)),
            "workflow_signals": forget_signals(connection, now - settings.retention.awaited_events),
        }
    return counts


def apply_retention(context: TaskContext, payload: dict[str, Any]) -> dict[str, int]:
    return purge_old(context.services.engine, context.services.settings, context.services.clock.now())


def _purge_finished_runs(engine: Engine, cutoff: datetime) -> tuple[int, int]:
    old: list[ColumnElement[bool]] = [col(WorkflowRun.status).in_(FINISHED),
                                      col(WorkflowRun.finished_at).is_not(None), col(WorkflowRun.finished_at) < cutoff]
    runs = steps = 0
    while True:
        with engine.begin() as connection:
            # FOR UPDATE (PostgreSQL): an operator retrying one of these runs waits until it is gone. The
            # conditions are checked again in the deletes, which on SQLite hold the write lock from the first one.
            ids = list(connection.execute(select(col(WorkflowRun.id)).where(*old).order_by(col(WorkflowRun.id))
                                          .limit(BATCH).with_for_update()).scalars())
            if not ids:
                break
            still_old = select(col(WorkflowRun.id)).where(col(WorkflowRun.id).in_(ids), *old)
            # Explicit, although the foreign key cascades: it does so on SQLite only with foreign keys on.
            steps += _count(connection, delete(StepRun).where(col(StepRun.run_id).in_(still_old)))
            runs += _count(connection, delete(WorkflowRun).where(col(WorkflowRun.id).in_(ids), *old))
        if len(ids) < BATCH:
            break
    return runs, steps


def _count(connection: Connection, statement: Delete) -> int:
    return int(connection.execute(statement).rowcount)
