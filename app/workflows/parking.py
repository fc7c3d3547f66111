"""Parked wait steps, in the database: a row, never a process. A timer step waits with ``due_at``; a
wait_for step with the awaited event type and the digest of its match values (``match_key``), and its time-out
as ``due_at``. Published events that some workflow awaits are kept as signals, so a step that parks after its
event still finds it: a wait counts events published since its run started. Publishing and parking take the
same lock on the key (PostgreSQL; SQLite has one writer), so of the two, the later always sees the earlier."""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, bindparam, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db.models import AwaitedShape, StepRun, WorkflowSignal
from app.db.pipeline import fetch_all
from app.workflows.engine import StepState, StepStatus, context
from app.workflows.spec import Step, Workflow
from app.workflows.waits import fields_of

ADVANCING_RUN = "flowplane_advancing_run"  # session info: the run whose own publish the hook must leave alone
SHAPES: Table = AwaitedShape.__table__  # type: ignore[attr-defined]
_SHAPES = select(SHAPES.c.fields).where(SHAPES.c.event_type == bindparam("event_type"))
SIGNALS: Table = WorkflowSignal.__table__  # type: ignore[attr-defined]
STEPS: Table = StepRun.__table__  # type: ignore[attr-defined]


def register_shapes(connection: Connection, workflow: Workflow) -> None:
    """Note which match fields this version waits on, with the version: events are keyed by these shapes."""
    shapes = {(step.target, fields_of(step)) for step in workflow.steps if step.kind == "wait_for"}
    if not shapes:
        return
    insert_ = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(insert_(SHAPES).on_conflict_do_nothing(),
                       [{"event_type": event_type, "fields": fields} for event_type, fields in shapes])


def earlier_event(connection: Connection, event_type: str, key: str, since: datetime) -> dict[str, Any] | None:
    """The first awaited event published with ``key`` since ``since`` (a run's start): a wait that parks after its
    event was published finds it. Serialised with the publishers of that key."""
    serialise_on(connection, key)
    earlier = connection.execute(
        select(SIGNALS.c.payload).where(SIGNALS.c.event_type == event_type, SIGNALS.c.match_key == key,
                                        SIGNALS.c.created_at >= since)
        .order_by(SIGNALS.c.created_at, SIGNALS.c.id).limit(1)).scalar_one_or_none()
    return dict(json.loads(earlier)) if earlier is not None else None


def render_match(step: Step, inputs: Mapping[str, Any], states: Mapping[str, StepState]) -> dict[str, Any]:
    """A parked step's match values again (for people: only their digest is stored)."""
    rendered = step.match.render(context(inputs, states)) if step.match is not None else {}
    return rendered if isinstance(rendered, dict) else {}


def serialise_on(connection: Connection, key: str) -> None:
    """Publishing an event and parking a step on its key take turns (a transaction-long lock, PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def shapes_for(connection: Connection, event_type: str) -> list[list[str]]:
    [rows] = fetch_all(connection, [(_SHAPES, {"event_type": event_type})])  # often a transaction's first read
    return [shape.split(",") if shape else [] for shape, in rows]


def record_signal(connection: Connection, event_type: str, key: str, message_id: str, payload: Mapping[str, Any],
                  now: datetime) -> None:
    connection.execute(insert(SIGNALS).values(event_type=event_type, match_key=key, message_id=message_id,
                                              payload=json.dumps(dict(payload)), created_at=now))


def parked_on(connection: Connection, event_type: str, key: str) -> list[tuple[str, str]]:
    """(run, step) of each step parked for this event and key: one index probe."""
    return [(run_id, step_id) for run_id, step_id in connection.execute(parked_on_query(event_type, key))]


def parked_on_query(event_type: str, key: str) -> Select[Any]:
    return select(STEPS.c.run_id, STEPS.c.step_id).where(
        STEPS.c.awaiting == event_type, STEPS.c.match_key == key, STEPS.c.status == StepStatus.WAITING.value)


def due(connection: Connection, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(run, step) of parked steps whose timer or time-out has come, oldest first: an index range."""
    return [(run_id, step_id) for run_id, step_id in connection.execute(due_query(now, limit))]


def due_query(now: datetime, limit: int) -> Select[Any]:
    # The status through a function: SQLite would otherwise walk every waiting step by the status index.
    waiting = func.coalesce(STEPS.c.status, "") == StepStatus.WAITING.value
    return select(STEPS.c.run_id, STEPS.c.step_id).where(STEPS.c.due_at <= now, waiting).order_by(
        STEPS.c.due_at).limit(limit)


def forget_signals(connection: Connection, older_than: datetime) -> int:
    return int(connection.execute(delete(SIGNALS).where(SIGNALS.c.created_at < older_than)).rowcount)
