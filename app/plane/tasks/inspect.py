"""What operators see and do: counts by state, pages of tasks, one task's detail, retry, delete,
purge, pause and resume. Shared by the API and the CLI."""

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from app.db.models import DeadLetter
from app.plane.envelope import Envelope
from app.plane.plane import Plane
from app.plane.tasks import dead
from app.plane.tasks.huey_plane import PlaneHuey
from app.plane.tasks.policy import Priority, TaskOptions
from app.plane.tasks.storage import minute_of

STATES = ("pending", "scheduled", "retrying", "active", "dead")
SCAN_LIMIT = 10_000  # members decoded at most per listing: inspection must not stall a huge queue


@dataclass(frozen=True)
class TaskView:
    id: str
    task: str
    state: str
    priority: str
    attempt: int
    max_attempts: int
    payload: dict[str, Any]
    correlation_id: str | None
    created_at: datetime
    due_at: datetime | None = None  # scheduled/retrying: when it runs; active: when its lease expires
    failed_at: datetime | None = None
    error: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class Page:
    total: int
    items: list[TaskView]


def _priority_name(value: int) -> str:
    try:
        return Priority(value).name.lower()
    except ValueError:
        return str(value)


class TaskInspector:
    def __init__(self, huey: PlaneHuey, plane: Plane, engine: Engine) -> None:
        self.huey = huey
        self.plane = plane
        self.engine = engine

    @property
    def queue(self) -> str:
        return self.plane.queue

    def _view(self, data: bytes, state: str, score: float) -> TaskView | None:
        try:
            task = self.huey.deserialize_task(data)
            envelope = Envelope.from_json(task.args[0])
            options = TaskOptions.from_json(task.args[1])
        except Exception:
            return None
        if state == "scheduled" and envelope.attempt > 1:
            state = "retrying"
        due = None
        if state in ("scheduled", "retrying", "active"):
            due = datetime.fromtimestamp(score, UTC) if state == "active" else (
                task.eta.replace(tzinfo=UTC) if task.eta else None)
        return TaskView(id=envelope.id, task=envelope.type, state=state, priority=_priority_name(options.priority),
                        attempt=envelope.attempt, max_attempts=options.retry.attempts, payload=envelope.payload,
                        correlation_id=envelope.correlation_id, created_at=envelope.created_at, due_at=due)

    def _scan(self, stored_state: str) -> list[TaskView]:
        views = (self._view(data, stored_state, score)
                 for data, score in self.huey.leased.members(stored_state, 0, SCAN_LIMIT))
        return [view for view in views if view is not None]

    def stats(self) -> dict[str, Any]:
        counts = self.huey.leased.counts()
        retrying = sum(1 for view in self._scan("scheduled") if view.state == "retrying")
        dead_total, _ = dead.page(self.engine, limit=0)
        now = minute_of()
        minutes = list(range(now - 59, now + 1))
        processed = self.huey.leased.outcomes("processed", minutes)
        failed = self.huey.leased.outcomes("failed", minutes)
        return {
            "queue": self.queue,
            "paused": counts.paused,
            "pending": counts.pending,
            "scheduled": counts.scheduled - retrying,
            "retrying": retrying,
            "active": counts.active,
            "dead": dead_total,
            "processed_last_hour": sum(processed),
            "failed_last_hour": sum(failed),
            "processed_per_minute": processed,
            "failed_per_minute": failed,
        }

    def list(self, state: str, *, offset: int = 0, limit: int = 50, task: str | None = None) -> Page:
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}")
        if state == "dead":
            total, letters = dead.page(self.engine, task=task, offset=offset, limit=limit)
            return Page(total, [_dead_view(letter) for letter in letters])
        stored = "scheduled" if state == "retrying" else state
        views = [view for view in self._scan(stored) if view.state == state and (task is None or view.task == task)]
        return Page(len(views), views[offset:offset + limit])

    def holding(self, task_ids: Collection[str]) -> set[str]:
        """Which of these tasks a queue may hold: found pending, scheduled or leased, or not ruled out. A
        state with more tasks than one look reads rules nothing out: sending a task again is the
        reconciler's remedy for a lost one, and a deep backlog must not be doubled by it."""
        present: set[str] = set()
        # In the order tasks move (due, then taken): one that moves while we look is seen where it went. One
        # handed back (a worker stopping, an expired lease) moves the other way: the caller looks twice.
        for state in ("scheduled", "pending", "active"):
            members = self.huey.leased.members(state, 0, SCAN_LIMIT + 1)
            if len(members) > SCAN_LIMIT:
                return set(task_ids)
            for data, _ in members:
                with contextlib.suppress(Exception):  # an undecodable member holds none of them
                    present.add(self.huey.serializer.deserialize(data).id)
        return present & set(task_ids)

    def get(self, task_id: str) -> TaskView | None:
        letter = dead.get(self.engine, task_id)
        if letter is not None:
            return _dead_view(letter)
        for stored in ("active", "pending", "scheduled"):
            for view in self._scan(stored):
                if view.id == task_id:
                    return view
        return None

    def retry(self, task_id: str) -> bool:
        """A dead task gets a new attempt; a scheduled or retrying one runs now."""
        if dead.retry(self.engine, self.plane, task_id):
            return True
        for data, _ in self.huey.leased.members("scheduled", 0, SCAN_LIMIT):
            view = self._view(data, "scheduled", 0)
            if view is not None and view.id == task_id and self.huey.leased.remove(
                    "scheduled", _matches(self, task_id), task_id):
                task = self.huey.deserialize_task(data)
                task.eta = None
                self.huey.enqueue(task)
                return True
        return False

    def delete(self, task_id: str) -> bool:
        if dead.remove(self.engine, task_id):
            return True
        return any(self.huey.leased.remove(state, _matches(self, task_id), task_id)
                   for state in ("pending", "scheduled"))

    def purge_dead(self) -> int:
        return dead.purge(self.engine)

    def pause(self) -> None:
        self.huey.leased.pause()

    def resume(self) -> None:
        self.huey.leased.resume()


def _matches(inspector: TaskInspector, task_id: str) -> Any:
    def match(data: bytes) -> bool:
        view = inspector._view(data, "pending", 0)
        return view is not None and view.id == task_id

    return match


def _dead_view(letter: DeadLetter) -> TaskView:
    envelope = Envelope.from_json(letter.envelope)
    options = TaskOptions.from_json(letter.options)
    return TaskView(id=letter.id, task=letter.task, state="dead", priority=_priority_name(options.priority),
                    attempt=letter.attempts, max_attempts=options.retry.attempts, payload=envelope.payload,
                    correlation_id=envelope.correlation_id, created_at=letter.first_enqueued_at,
                    failed_at=letter.failed_at, error=letter.error, traceback=letter.traceback)
