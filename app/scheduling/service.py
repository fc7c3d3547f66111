"""Firing a tick: claim (schedule, scheduled time) once across every replica, honour pause and the overlap
policy, and dispatch through the plane — a task, or a workflow run — in the claim's own transaction."""

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app import logs
from app.db.models import ScheduleFire, ScheduleState
from app.plane.plane import Plane
from app.scheduling.spec import Overlap, Schedule
from app.workflows.engine import RunStatus
from app.workflows.runner import WorkflowRunner

log = logging.getLogger(__name__)
TaskCheck = Callable[[str], bool]


def _now() -> datetime:
    return datetime.now(UTC)


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ScheduleService:
    def __init__(self, engine: Engine, plane: Plane, runner: WorkflowRunner, *, task_unfinished: TaskCheck,
                 task_cancel: TaskCheck, replica: str | None = None) -> None:
        self.engine = engine
        self.plane = plane
        self.runner = runner
        self._task_unfinished = task_unfinished
        self._task_cancel = task_cancel
        self.replica = replica or replica_name()

    # -- firing --------------------------------------------------------------------------------
    def fire(self, schedule: Schedule, scheduled_at: datetime, trigger: str = "cron") -> ScheduleFire | None:
        """Fire ``schedule``'s tick at ``scheduled_at`` unless another replica did; the record, or None."""
        with logs.context(schedule=schedule.name, scheduled_at=scheduled_at.isoformat(), trigger=trigger):
            return self._fire(schedule, scheduled_at, trigger)

    def _fire(self, schedule: Schedule, scheduled_at: datetime, trigger: str) -> ScheduleFire | None:
        started = time.perf_counter()
        if self.claimed(schedule.name, scheduled_at):
            return None
        try:
            skip, note = self._overlap(schedule, scheduled_at)
            with Session(self.engine, expire_on_commit=False) as db, db.begin():
                if not _claim(db, schedule, scheduled_at, trigger, self.replica):
                    return None  # another replica holds this tick
                outcome, detail, dispatched = ("skipped", skip, None) if skip else self._dispatch(db, schedule)
                detail = "; ".join(part for part in (note, detail) if part) or None
                values = {"outcome": outcome, "detail": detail, "dispatched_id": dispatched,
                          "duration_ms": (time.perf_counter() - started) * 1000}
                db.execute(update(ScheduleFire).where(col(ScheduleFire.schedule) == schedule.name,
                                                      col(ScheduleFire.scheduled_at) == scheduled_at).values(**values))
        except Exception as exc:  # the dispatch (and the claim with it) rolled back: record why, once
            log.exception("schedule %s: the tick at %s failed", schedule.name, scheduled_at.isoformat())
            with Session(self.engine) as db, db.begin():
                _claim(db, schedule, scheduled_at, trigger, self.replica, outcome="failed",
                       detail=f"{type(exc).__name__}: {exc}"[:2000])
        with Session(self.engine) as db:
            fire = db.get(ScheduleFire, (schedule.name, scheduled_at))
        if fire is not None:
            log.info("schedule %s fired for %s: %s %s", schedule.name, scheduled_at.isoformat(), fire.outcome,
                     fire.dispatched_id or fire.detail or "")
        return fire

    def claimed(self, name: str, scheduled_at: datetime) -> bool:
        with Session(self.engine) as db:
            return db.get(ScheduleFire, (name, scheduled_at)) is not None

    def last_fired(self, name: str) -> datetime | None:
        """The latest tick any replica fired (whatever the outcome); manual fires are no ticks."""
        with Session(self.engine) as db:
            return db.execute(select(func.max(col(ScheduleFire.scheduled_at)))
                              .where(col(ScheduleFire.schedule) == name, col(ScheduleFire.trigger) != "manual")
                              ).scalar_one_or_none()

    def first_seen(self, name: str, now: datetime) -> datetime:
        """Since when the schedule's ticks are owed: its state row, written by the first replica to load it
        (``now``, or its first recorded fire if that is older: fired before this record existed) and moved by
        a pause or resume. Kept when the file goes, so a file added back is not new."""
        table = ScheduleState.__table__  # type: ignore[attr-defined]
        with Session(self.engine) as db, db.begin():
            fired = db.execute(select(func.min(col(ScheduleFire.fired_at)))
                               .where(col(ScheduleFire.schedule) == name)).scalar_one_or_none()
            db.execute(_insert(db)(table).values(schedule=name, paused=False, updated_at=min(now, fired or now))
                       .on_conflict_do_nothing(index_elements=["schedule"]))
            state = db.get(ScheduleState, name)
            return state.updated_at if state is not None else now  # deleted meanwhile: it is new again

    def _overlap(self, schedule: Schedule, scheduled_at: datetime) -> tuple[str | None, str | None]:
        """(why to skip this tick, a note) under the overlap policy; ``replace`` cancels the previous run."""
        if self.paused(schedule.name):
            return "paused", None
        if schedule.overlap is Overlap.ALLOW:
            return None, None
        previous = self._previous(schedule.name, scheduled_at)
        if previous is None or not self._unfinished(previous):
            return None, None
        if schedule.overlap is Overlap.FORBID:
            return f"the previous run {previous.dispatched_id} is unfinished (overlap = forbid)", None
        cancelled = self._cancel(previous, f"replaced by the tick at {scheduled_at.isoformat()}")
        return None, (f"replaced {previous.dispatched_id}" if cancelled
                      else f"could not stop {previous.dispatched_id} (already running); started anyway")

    def _previous(self, name: str, scheduled_at: datetime) -> ScheduleFire | None:
        with Session(self.engine) as db:
            query = (select(ScheduleFire).where(col(ScheduleFire.schedule) == name,
                                                col(ScheduleFire.scheduled_at) < scheduled_at,
                                                col(ScheduleFire.dispatched_id).is_not(None))
                     .order_by(col(ScheduleFire.scheduled_at).desc()).limit(1))
            return db.execute(query).scalars().first()

    def _unfinished(self, fire: ScheduleFire) -> bool:
        assert fire.dispatched_id is not None
        if fire.target_kind == "workflow":
            return self.runner.status(fire.dispatched_id) == RunStatus.RUNNING.value
        return self._task_unfinished(fire.dispatched_id)

    def _cancel(self, fire: ScheduleFire, reason: str) -> bool:
        assert fire.dispatched_id is not None
        if fire.target_kind == "workflow":
            return self.runner.cancel(fire.dispatched_id, reason)
        return self._task_cancel(fire.dispatched_id)

    def _dispatch(self, db: Session, schedule: Schedule) -> tuple[str, str | None, str | None]:
        if schedule.target_kind == "workflow":
            started = self.runner.start(db, schedule.target, dict(schedule.payload))
            return "dispatched", None, started.run_id
        enqueued = self.plane.enqueue(schedule.target, dict(schedule.payload), session=db)
        return "dispatched", None if enqueued.created else "a unique key matched a queued task", enqueued.id

    # -- operators -----------------------------------------------------------------------------
    def set_paused(self, name: str, paused: bool) -> None:
        table = ScheduleState.__table__  # type: ignore[attr-defined]
        with Session(self.engine) as db, db.begin():
            statement = _insert(db)(table).values(schedule=name, paused=paused, updated_at=_now())
            # Only a change moves updated_at: it bounds the ticks a catch-up may reach (see first_seen)
            db.execute(statement.on_conflict_do_update(index_elements=["schedule"],
                                                       set_={"paused": paused, "updated_at": _now()},
                                                       where=table.c.paused != paused))

    def paused(self, name: str) -> bool:
        with Session(self.engine) as db:
            state = db.get(ScheduleState, name)
            return bool(state and state.paused)

    def history(self, name: str, limit: int = 50) -> list[dict[str, Any]]:
        with Session(self.engine) as db:
            rows = db.execute(select(ScheduleFire).where(col(ScheduleFire.schedule) == name)
                              .order_by(col(ScheduleFire.scheduled_at).desc()).limit(limit)).scalars().all()
        return [fire_view(row) for row in rows]


def fire_view(fire: ScheduleFire) -> dict[str, Any]:
    return {"schedule": fire.schedule, "scheduled_at": fire.scheduled_at.isoformat(),
            "fired_at": fire.fired_at.isoformat(), "replica": fire.replica, "trigger": fire.trigger,
            "outcome": fire.outcome, "detail": fire.detail, "dispatched_id": fire.dispatched_id,
            "duration_ms": round(fire.duration_ms, 1)}


def _claim(db: Session, schedule: Schedule, scheduled_at: datetime, trigger: str, replica: str, *,
           outcome: str = "claimed", detail: str | None = None) -> bool:
    """Insert the tick's row unless it exists; True when this call inserted it (the caller owns the tick)."""
    table = ScheduleFire.__table__  # type: ignore[attr-defined]
    statement = (_insert(db)(table).values(schedule=schedule.name, scheduled_at=scheduled_at, fired_at=_now(),
                                           replica=replica, trigger=trigger, outcome=outcome, detail=detail,
                                           target_kind=schedule.target_kind, duration_ms=0.0)
                 .on_conflict_do_nothing(index_elements=["schedule", "scheduled_at"])
                 .returning(table.c.schedule))
    return db.execute(statement).first() is not None


def _insert(db: Session) -> Callable[[Any], Any]:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
