"""Durable runs: the engine decides, the runner writes. Every outcome (or a worker's batch of them) is one
transaction that records it, marks what became ready and writes those steps' outbox rows through the plane.
The first statements of each such transaction touch the run rows, which serialises outcomes of one run: a
row lock on PostgreSQL, the write lock on SQLite. Two parallel steps finishing together so fire their join
once."""

import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, event, func, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.clock import Clock, SystemClock
from app.db.models import OutboxMessage, StepRun, WorkflowRun, WorkflowVersion
from app.plane.envelope import Envelope
from app.plane.plane import Plane
from app.plane.tasks.handling import Succeeded
from app.workflows import parking, progress
from app.workflows.catalogue import WorkflowCatalogue
from app.workflows.engine import FINISHED, IN_FLIGHT, RunStatus, StepStatus
from app.workflows.inputs import check_inputs
from app.workflows.orders import plane_options
from app.workflows.progress import TaskOrder
from app.workflows.records import Loaded, insert_statements, lock, lock_all, save_statements
from app.workflows.rows import RunRecord, StepRecord
from app.workflows.spec import Step, Workflow

log = logging.getLogger(__name__)
_VERSIONS, _VERSIONS_LISTENING = "flowplane_versions_to_remember", "flowplane_versions_listening"
TaskLookup = Callable[[Collection[str]], set[str]]  # which of these tasks a queue may hold (queued, scheduled, running)


class RunNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Started:
    run_id: str
    workflow: str
    version: str


class WorkflowRunner:
    def __init__(self, engine: Engine, plane: Plane, catalogue: WorkflowCatalogue, *,
                 tasks_held: TaskLookup = set, lease: timedelta = timedelta(minutes=2),
                 clock: Clock | None = None) -> None:
        self.engine = engine
        self.plane = plane
        self.catalogue = catalogue
        self._tasks_held = tasks_held
        self.lease = lease
        self.clock = clock or SystemClock()  # every time the runner records or compares (tests move it)
        self._stored_versions: set[str] = set()  # definitions known to be in workflow_versions

    # -- starting ------------------------------------------------------------------------------
    def start(self, db: Session, name: str, raw_input: Any, *, correlation_id: str | None = None) -> Started:
        """Start ``name`` inside ``db``'s transaction: run, steps and the first outbox rows commit with the
        caller's own writes, or not at all. Raises UnknownWorkflow or InvalidInput before writing."""
        workflow = self.catalogue.get(name)
        inputs = check_inputs(workflow, raw_input)
        now = self.clock.now()
        if workflow.version not in self._stored_versions:
            _keep_version(db, workflow, now)
            parking.register_shapes(db.connection(), workflow)
            self._remember_when_committed(db, workflow.version)
        run_id = uuid.uuid4().hex
        run = RunRecord(id=run_id, workflow=workflow.name, version=workflow.version, status=RunStatus.RUNNING.value,
                        input=json.dumps(inputs), correlation_id=correlation_id or run_id, error=None,
                        created_at=now, updated_at=now, finished_at=None)
        rows = {step.id: StepRecord(run_id=run.id, step_id=step.id, kind=step.kind, target=step.target,
                                    status=StepStatus.WAITING.value, updated_at=now) for step in workflow.steps}
        self.plane.defer_outbox(db)  # its rows go with the run's: one round trip
        self._advance(db, run, workflow, rows)  # decided first: the steps are inserted as they leave the start
        self.plane.write_outbox(db, insert_statements(run, rows))
        return Started(run.id, workflow.name, workflow.version)

    def _remember_when_committed(self, db: Session, version: str) -> None:
        """Known stored once ``db`` commits; a rollback forgets it (the session may be used again)."""
        if not db.info.get(_VERSIONS_LISTENING):
            db.info[_VERSIONS_LISTENING] = True  # listeners stay for the session's life; it is short
            event.listen(db, "after_commit", lambda _: self._stored_versions.update(db.info.pop(_VERSIONS, ())))
            event.listen(db, "after_rollback", lambda _: db.info.pop(_VERSIONS, None))
        db.info.setdefault(_VERSIONS, set()).add(version)

    # -- outcomes the worker reports -------------------------------------------------------------
    def step_started(self, envelope: Envelope, began: datetime) -> None:
        """Show the step running (the plane calls this only for a handler that does not return quickly)."""
        # Not over an outcome recorded meanwhile: this attempt's own retry, or anything finished
        current = or_(and_(col(StepRun.status).in_(_live({StepStatus.READY, StepStatus.RUNNING})),
                           col(StepRun.attempts) <= envelope.attempt),
                      and_(col(StepRun.status) == StepStatus.RETRYING.value, col(StepRun.attempts) < envelope.attempt))
        with self.engine.begin() as connection:
            connection.execute(update(StepRun).where(col(StepRun.run_id) == envelope.run_id,
                                                     col(StepRun.step_id) == envelope.step_id, current)
                               .values(status=StepStatus.RUNNING.value, attempts=envelope.attempt,
                                       updated_at=self.clock.now(),
                                       started_at=func.coalesce(col(StepRun.started_at), began),
                                       worker=_worker()))

    def step_retrying(self, envelope: Envelope, error: str, began: datetime | None = None) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(StepRun).where(col(StepRun.run_id) == envelope.run_id,
                                                     col(StepRun.step_id) == envelope.step_id,
                                                     col(StepRun.status).in_(_live(IN_FLIGHT)))
                               .values(status=StepStatus.RETRYING.value, error=error[:2000],
                                       updated_at=self.clock.now(),
                                       attempts=envelope.attempt, worker=_worker(),
                                       started_at=func.coalesce(col(StepRun.started_at), began or self.clock.now())))

    def step_succeeded(self, envelope: Envelope, output: Mapping[str, Any] | None,
                       began: datetime | None = None) -> None:
        self._finish(envelope, StepStatus.SUCCEEDED, output=output, began=began)

    def steps_succeeded(self, outcomes: Sequence[Succeeded]) -> None:
        """Record a worker's batch of successes in one transaction: each run locked once (in id order, so two
        batches never wait for each other crosswise), every outcome recorded and what it made ready dispatched
        as one at a time would, then every change saved together. All or none: on an error nothing is recorded."""
        by_run: dict[str, list[Succeeded]] = {}
        for outcome in outcomes:
            assert outcome.envelope.run_id and outcome.envelope.step_id
            by_run.setdefault(outcome.envelope.run_id, []).append(outcome)
        with Session(self.engine, expire_on_commit=False) as db, db.begin():
            locked = lock_all(db.connection(), sorted(by_run), self.clock.now())
            self.plane.defer_outbox(db)  # its rows go with the saves: one round trip
            worker = _worker()
            for run_id in sorted(by_run):
                if (loaded := locked.get(run_id)) is None:
                    raise RunNotFound(run_id)
                workflow = self.definition(db, loaded.run.version)
                for envelope, output, began in by_run[run_id]:
                    assert envelope.step_id
                    if progress.record_outcome(loaded.run, loaded.steps, envelope.step_id, StepStatus.SUCCEEDED,
                                               attempt=envelope.attempt, now=self.clock.now(), output=output,
                                               began=began, worker=worker):
                        self._advance(db, loaded.run, workflow, loaded.steps)
            self.plane.write_outbox(db, save_statements(locked.values()))

    def step_dead(self, envelope: Envelope, error: str, began: datetime | None = None) -> None:
        self._finish(envelope, StepStatus.DEAD, error=error, began=began)

    def _finish(self, envelope: Envelope, status: StepStatus, *, output: Mapping[str, Any] | None = None,
                error: str | None = None, began: datetime | None = None) -> None:
        assert envelope.run_id and envelope.step_id
        with Session(self.engine, expire_on_commit=False) as db, db.begin():
            loaded, workflow = self._lock(db, envelope.run_id)
            self.plane.defer_outbox(db)  # its rows go with the saves: one round trip
            if progress.record_outcome(loaded.run, loaded.steps, envelope.step_id, status, attempt=envelope.attempt,
                                       now=self.clock.now(), output=output, error=error, began=began,
                                       worker=_worker()):
                self._advance(db, loaded.run, workflow, loaded.steps)
                self.plane.write_outbox(db, save_statements([loaded]))

    # -- operators -----------------------------------------------------------------------------
    def retry(self, run_id: str) -> list[str]:
        """Send dead steps again and resume the run (what it cancelled may start again); the dead steps' ids."""
        with Session(self.engine, expire_on_commit=False) as db, db.begin():
            loaded, workflow = self._lock(db, run_id)
            run, rows = loaded.run, loaded.steps
            dead = [row for row in rows.values() if row.status == StepStatus.DEAD.value]
            now = self.clock.now()
            for row in dead:
                row.status, row.error, row.finished_at, row.updated_at = StepStatus.WAITING.value, None, None, now
            if dead:
                progress.reopen(run, rows)
                self._advance(db, run, workflow, rows, resend=True)
                loaded.save(db.connection())
            return [row.step_id for row in dead]

    def cancel(self, run_id: str, reason: str) -> bool:
        """Stop a running run: steps not yet finished are cancelled and whatever they report later is
        ignored (a task already in a queue still runs; its handler's idempotency key keeps that safe)."""
        with Session(self.engine, expire_on_commit=False) as db, db.begin():
            loaded, _ = self._lock(db, run_id)
            run, rows = loaded.run, loaded.steps
            if run.status != RunStatus.RUNNING.value:
                return False
            now = self.clock.now()
            for row in rows.values():
                if StepStatus(row.status) not in FINISHED:
                    progress.set_status(row, StepStatus.CANCELLED, now)
            run.status, run.error, run.finished_at, run.updated_at = RunStatus.CANCELLED.value, reason, now, now
            loaded.save(db.connection())
            return True

    def status(self, run_id: str) -> str | None:
        with Session(self.engine) as db:
            run = db.get(WorkflowRun, run_id)
            return run.status if run else None

    def reconcile(self, *, now: datetime | None = None, limit: int = 200) -> int:
        """Dispatch again steps in flight for longer than the lease whose task no queue holds any more
        (a worker's Redis flushed, a task lost in transit); returns how many were sent again."""
        cutoff = (now or self.clock.now()) - self.lease
        with Session(self.engine) as db:
            stale = db.exec(select(StepRun.run_id, StepRun.step_id, StepRun.task_id)
                            .where(col(StepRun.status).in_(_live(IN_FLIGHT)), col(StepRun.updated_at) < cutoff)
                            .limit(limit)).all()
        wanted = {task_id for _, _, task_id in stale if task_id}
        held = self._tasks_held(wanted) if wanted else set()
        if missing := wanted - held:  # a second look: a task handed back to its queue moved while we read
            held |= self._tasks_held(missing)
        resent = 0
        for run_id, step_id, task_id in stale:
            if task_id and (task_id in held or self._in_outbox(task_id)):
                with Session(self.engine) as db, db.begin():  # alive: look again after another lease
                    db.execute(update(StepRun).where(col(StepRun.run_id) == run_id, col(StepRun.step_id) == step_id)
                               .values(updated_at=self.clock.now()))
                continue
            with Session(self.engine, expire_on_commit=False) as db, db.begin():
                loaded, workflow = self._lock(db, run_id)
                row = loaded.steps[step_id]
                if StepStatus(row.status) not in IN_FLIGHT or (row.updated_at and row.updated_at >= cutoff):
                    continue  # it moved while we looked
                log.warning("step %s of run %s: task %s is in no queue; dispatching it again", step_id, run_id,
                            task_id)
                self._dispatch(db, loaded.run, workflow, workflow.step(step_id), loaded.steps, resend=True)
                loaded.save(db.connection())
                resent += 1
        return resent

    def _in_outbox(self, task_id: str) -> bool:
        with Session(self.engine) as db:
            query = select(OutboxMessage.id).where(col(OutboxMessage.envelope).contains(f'"id":"{task_id}"'))
            return db.exec(query.limit(1)).first() is not None

    # -- the machinery -------------------------------------------------------------------------
    def lock(self, db: Session, run_id: str) -> tuple[Loaded, Workflow]:
        """Lock ``run_id`` for this transaction and load it with its definition; RunNotFound if there is none."""
        return self._lock(db, run_id)

    def advance(self, db: Session, loaded: Loaded, workflow: Workflow) -> None:
        """Carry out what the engine decides next for a locked run, and save what changed."""
        self._advance(db, loaded.run, workflow, loaded.steps)
        loaded.save(db.connection())

    def _lock(self, db: Session, run_id: str) -> tuple[Loaded, Workflow]:
        loaded = lock(db.connection(), run_id, self.clock.now())
        if loaded is None:
            raise RunNotFound(run_id)
        return loaded, self.definition(db, loaded.run.version)

    def definition(self, db: Session, version: str) -> Workflow:
        def stored() -> tuple[str, str]:
            row = db.get(WorkflowVersion, version)
            if row is None:
                raise LookupError(f"workflow version {version} is not stored")
            return row.source, row.path

        return self.catalogue.version(version, stored)

    def _advance(self, db: Session, run: RunRecord, workflow: Workflow, rows: dict[str, StepRecord],
                 *, resend: bool = False) -> None:
        progress.advance(run, workflow, rows, self.clock, _Outbox(self.plane, db), resend=resend)

    def _dispatch(self, db: Session, run: RunRecord, workflow: Workflow, step: Step, rows: dict[str, StepRecord],
                  *, resend: bool = False) -> None:
        progress.dispatch(run, step, rows, self.clock, _Outbox(self.plane, db), resend=resend)


class _Outbox:
    """What leaves a run goes out through the plane, in the run's transaction (outbox rows)."""

    def __init__(self, plane: Plane, db: Session) -> None:
        self.plane, self.db = plane, db

    def publish(self, run: RunRecord, step: Step, payload: dict[str, Any],
                headers: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        checked = self.plane.catalogue.validate(step.target, payload)
        # The publish hook wakes other runs' waits; this run's, in memory here, progress wakes (its rows in the
        # database are not saved yet: the hook would wake a stale copy).
        self.db.info[parking.ADVANCING_RUN] = run.id
        try:
            message_id = self.plane.publish(step.target, checked, session=self.db, headers=headers,
                                            priority=step.event_priority, correlation_id=run.correlation_id,
                                            run_id=run.id, step_id=step.id, checked=True)
        finally:
            self.db.info.pop(parking.ADVANCING_RUN, None)
        return message_id, checked

    def enqueue(self, run: RunRecord, step: Step, payload: dict[str, Any], order: TaskOrder) -> tuple[str, bool]:
        enqueued = self.plane.enqueue(step.target, payload, session=self.db, run_id=run.id, step_id=step.id,
                                      correlation_id=run.correlation_id, **plane_options(order))
        return enqueued.id, enqueued.created

    def earlier_event(self, run: RunRecord, step: Step, key: str) -> Mapping[str, Any] | None:
        return parking.earlier_event(self.db.connection(), step.target, key, run.created_at)


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"  # called after the fork: the worker process's own pid


def _keep_version(db: Session, workflow: Workflow, now: datetime) -> None:
    """Store the definition's text under its hash, once: runs started on it finish on it."""
    table = WorkflowVersion.__table__  # type: ignore[attr-defined]
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(insert(table).values(version=workflow.version, name=workflow.name, path=workflow.path,
                                    source=workflow.source, created_at=now)
               .on_conflict_do_nothing(index_elements=["version"]))


def _live(statuses: Iterable[StepStatus]) -> list[str]:
    return [status.value for status in statuses]
