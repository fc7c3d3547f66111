"""The plane's producer API: one call to enqueue a task, atomic with the caller's transaction.

``plane.enqueue("email.welcome", {...}, session=db)`` writes an outbox row in ``db``'s transaction.
After commit the same process sends it at once (the fast path); if that fails — Redis down — the
row stays, and the worker's relay loop sends it later. A rolled-back transaction sends nothing.
"""

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Executable, bindparam, delete, event, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col

from app.availability import Unavailable
from app.db.models import OutboxMessage, TaskUniqueKey
from app.db.pipeline import Params, execute_all
from app.domain.events import EventCatalogue
from app.plane.envelope import Envelope
from app.plane.event_batches import EventBatches, EventBatchSender, Pending
from app.plane.sent import SentRows
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions
from app.plane.tasks.registry import DEFAULT, TaskRegistry

log = logging.getLogger(__name__)
_PENDING = "flowplane_outbox_pending"  # session info: plane -> what it sends once the transaction commits
_CONFIRM_NOW = "flowplane_outbox_confirm_now"
_DEFERRED = "flowplane_outbox_deferred"  # session info: plane -> rows to write with the transaction's last statements
_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_INSERT = (insert(_OUTBOX).values({name: bindparam(name) for name in ("kind", "envelope", "options", "created_at")})
           .returning(_OUTBOX.c.id))
_UNSET: Any = object()

Sender = Callable[[Envelope, TaskOptions], None]
BatchSender = Callable[[list[tuple[Envelope, TaskOptions]]], None]  # all sent, or it raises
EventSender = Callable[[Envelope, dict[str, Any]], None]  # (event, {"headers": ..., "priority": ...})
PublishHook = Callable[[Session, Envelope], None]


@dataclass(frozen=True)
class Enqueued:
    id: str
    created: bool  # False when a unique key matched a task already enqueued


def _now() -> datetime:
    return datetime.now(UTC)


class Plane:
    def __init__(self, engine: Engine, registry: TaskRegistry, send_task: Sender, queue: str, *,
                 catalogue: EventCatalogue | None = None, send_event: EventSender | None = None,
                 send_events: EventBatchSender | None = None, events_enabled: bool = True,
                 send_tasks: BatchSender | None = None) -> None:
        self.engine = engine
        self.registry = registry
        self._send_task = send_task
        self._send_tasks = send_tasks
        self.queue = queue
        self.catalogue = catalogue or EventCatalogue([])
        self._send_event = send_event
        self._send_events = send_events
        self.events_enabled = events_enabled and send_event is not None
        self.sent = SentRows(engine)
        # With a batch sender, a commit's events are published by a thread in batches: the committer
        # does not wait for the broker's confirm (their outbox rows are durable already).
        self._events_after_commit = EventBatches(send_events, self.sent) if send_events is not None else None
        self.on_publish: list[PublishHook] = []  # each sees every event published, in its transaction

    def publish(self, event: str, payload: dict[str, Any], *, session: Session | None = None,
                headers: dict[str, Any] | None = None, priority: int = 0, correlation_id: str | None = None,
                run_id: str | None = None, step_id: str | None = None, checked: bool = False) -> str | None:
        """Publish ``event`` to every consumer bound to it; None (nothing sent) when events are off. Hooks
        (workflows' waits on this event) see it in the same transaction, events off or not.

        The payload must match the catalogue's schema (InvalidEvent otherwise, at the producer); ``checked``: the
        caller has it from ``catalogue.validate`` already."""
        payload = payload if checked else self.catalogue.validate(event, payload)
        envelope = Envelope(kind="event", type=event, payload=payload, correlation_id=correlation_id,
                            run_id=run_id, step_id=step_id, version=self.catalogue[event].version)
        if correlation_id is None:  # an event that starts a chain correlates with itself
            envelope = replace(envelope, correlation_id=envelope.id)
        options = {"headers": dict(headers or {}), "priority": priority}
        if session is not None:
            self._write_event(session, envelope, options)
        else:  # a publish of its own returns once the broker confirmed it (or it waits in the outbox)
            with Session(self.engine, expire_on_commit=False, info={_CONFIRM_NOW: True}) as own, own.begin():
                self._write_event(own, envelope, options)
        return envelope.id if self.events_enabled else None

    def _write_event(self, session: Session, envelope: Envelope, options: dict[str, Any]) -> None:
        for hook in self.on_publish:
            hook(session, envelope)
        if self.events_enabled:
            self._write_outbox(session, envelope, options)

    def _write_outbox(self, session: Session, envelope: Envelope, options: dict[str, Any]) -> None:
        self._insert(session, "event", envelope, options, json.dumps(options))

    def _insert(self, session: Session, kind: str, envelope: Envelope, options: Any, options_json: str) -> None:
        """The outbox row, written now with a Core statement (the ORM's unit of work costs more than the insert),
        or with the transaction's last statements when it defers them; its send queued for after the commit."""
        created_at = _now()
        row = {"kind": kind, "envelope": envelope.to_json(), "options": options_json, "created_at": created_at}
        if (unwritten := session.info.get(_DEFERRED, {}).get(self)) is not None:
            unwritten.append((row, created_at, envelope, options))
            return
        outbox_id = session.execute(_INSERT, row).scalar_one()
        self._after_commit(session).append((int(outbox_id), created_at, envelope, options))

    def defer_outbox(self, session: Session) -> None:
        """Hold the outbox rows ``session``'s transaction writes from now on until ``write_outbox`` (or, at the
        latest, its commit): a caller with statements of its own to end with sends them all in one round trip."""
        session.info.setdefault(_DEFERRED, {}).setdefault(self, [])

    def write_outbox(self, session: Session, statements: Sequence[tuple[Executable, Params]] = ()) -> None:
        """Run ``statements`` and write the outbox rows held back, together (one round trip on PostgreSQL); the
        rows are no longer held back after it."""
        unwritten = session.info.get(_DEFERRED, {}).pop(self, None) or []
        if not unwritten and not statements:
            return
        results = execute_all(session.connection(), [*statements, *((_INSERT, row) for row, _, _, _ in unwritten)])
        pending = self._after_commit(session)
        for ids, (_, created_at, envelope, options) in zip(results[len(statements):], unwritten, strict=True):
            pending.append((int(ids[0][0]), created_at, envelope, options))

    def enqueue(self, task: str, payload: dict[str, Any], *, session: Session | None = None,
                priority: Priority | str | None = None, delay: timedelta | None = None,
                eta: datetime | None = None, retry: RetryPolicy | None = None,
                timeout: timedelta | None = _UNSET, unique_key: str | None = None,
                unique_ttl: timedelta | None = None, correlation_id: str | None = None,
                run_id: str | None = None, step_id: str | None = None) -> Enqueued:
        """Enqueue ``task``; inside ``session``'s transaction when one is given."""
        options, ttl = self.registry.options(task, self.queue, priority=priority, delay=delay, eta=eta, retry=retry,
                                             timeout=DEFAULT if timeout is _UNSET else timeout,
                                             unique_key=unique_key, unique_ttl=unique_ttl, now=_now())
        envelope = Envelope(kind="task", type=task, payload=payload, correlation_id=correlation_id,
                            run_id=run_id, step_id=step_id)
        if session is not None:
            return self._write(session, envelope, options, unique_key, ttl)
        with Session(self.engine, expire_on_commit=False) as own, own.begin():
            return self._write(own, envelope, options, unique_key, ttl)

    def _write(self, session: Session, envelope: Envelope, options: TaskOptions, unique_key: str | None,
               ttl: timedelta | None) -> Enqueued:
        if unique_key is not None and ttl is not None:
            winner = _claim_unique(session, f"{self.queue}:{unique_key}", envelope.id, ttl)
            if winner != envelope.id:
                return Enqueued(winner, created=False)
        self.resend(session, envelope, options)
        return Enqueued(envelope.id, created=True)

    def resend(self, session: Session, envelope: Envelope, options: TaskOptions) -> None:
        """Write an already-built task to the outbox of ``session``'s transaction."""
        self._insert(session, "task", envelope, options, options.to_json())

    def _after_commit(self, session: Session) -> list[tuple[int, datetime, Envelope, Any]]:
        pending: list[tuple[int, datetime, Envelope, Any]] = session.info.setdefault(_PENDING, {}).setdefault(self, [])
        return pending

    def _on_commit(self, session: Session, pending: list[tuple[int, datetime, Envelope, Any]]) -> None:
        sent: list[tuple[int, datetime]] = []
        events: list[Pending] = []
        tasks: list[tuple[int, datetime, Envelope, Any]] = []
        later = self._events_after_commit is not None and not session.info.get(_CONFIRM_NOW)
        for outbox_id, created_at, envelope, options in pending:
            if envelope.kind == "event" and later:
                events.append((outbox_id, created_at, envelope, options))
            elif envelope.kind == "task" and self._send_tasks is not None:
                tasks.append((outbox_id, created_at, envelope, options))
            elif self._try_send(envelope, options):
                sent.append((outbox_id, created_at))
        if tasks:
            sent += self._send_task_batch(tasks)
        self.sent.add(sent)
        if events and self._events_after_commit is not None:
            self._events_after_commit.add(events)

    def _send_task_batch(self, tasks: list[tuple[int, datetime, Envelope, Any]]) -> list[tuple[int, datetime]]:
        """A commit's tasks, sent in one round trip; the rows sent (none when that failed: the relay sends them)."""
        assert self._send_tasks is not None
        try:
            self._send_tasks([(envelope, options) for _, _, envelope, options in tasks])
        except Unavailable:
            return []  # its server failed moments ago (that failure was logged): the rows wait for it
        except Exception as exc:
            log.warning("%d task(s) stay in the outbox for the relay: %s (%s)", len(tasks), type(exc).__name__, exc)
            return []
        return [(outbox_id, created_at) for outbox_id, created_at, _, _ in tasks]

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the events this process's commits wrote were published (or left to the relay) and the rows
        it sent were cleared; False if that took longer than ``timeout`` (each)."""
        published = self._events_after_commit.flush(timeout) if self._events_after_commit is not None else True
        return self.sent.flush(timeout) and published

    def close(self) -> None:
        """Before the process stops: publish the events its commits wrote and wait for the rows it sent to be
        cleared (else the relay sends them again)."""
        if not self.flush():
            log.warning("committed events or sent rows are still being handled; the relay may send some again")
        if self._events_after_commit is not None:
            self._events_after_commit.stop()
        self.sent.stop()

    def _try_send(self, envelope: Envelope, options: Any) -> bool:
        try:
            if envelope.kind == "event":
                if self._send_event is None:
                    raise RuntimeError("no event publisher is configured")
                self._send_event(envelope, options)
            else:
                self._send_task(envelope, options)
        except Unavailable:
            return False  # its server failed moments ago (that failure was logged): the row waits for it
        except Exception as exc:
            log.warning("%s %s %s stays in the outbox for the relay: %s (%s)", envelope.kind, envelope.type,
                        envelope.id, type(exc).__name__, exc)
            return False
        return True

    def relay(self, *, older_than: timedelta = timedelta(seconds=2), batch: int = 200) -> int:
        """Send outbox rows the fast path left behind; returns how many went out."""
        cutoff = _now() - older_than
        publishing = self._events_after_commit.unsettled() if self._events_after_commit is not None else set()
        unsettled = publishing | self.sent.unsettled()  # in this order: a row moves from the one to the other
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            kinds = ["task", "event"] if self._send_event is not None else ["task"]
            query = (select(OutboxMessage).where(col(OutboxMessage.created_at) <= cutoff,
                                                 col(OutboxMessage.kind).in_(kinds))
                     .order_by(col(OutboxMessage.id)).limit(batch))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)  # several workers relay without doubling
            sent: list[int] = []
            events: list[tuple[int, Envelope, dict[str, Any]]] = []
            for row in session.execute(query).scalars():
                if row.id in unsettled:
                    continue  # this process sent it a moment ago; its delete is on the way
                if row.kind == "event" and self._send_events is not None:
                    events.append((row.id or 0, Envelope.from_json(row.envelope), json.loads(row.options)))
                    continue
                options = TaskOptions.from_json(row.options) if row.kind == "task" else json.loads(row.options)
                if not self._try_send(Envelope.from_json(row.envelope), options):
                    continue  # one broker may be down while the other is up: skip, do not stall the batch
                sent.append(row.id or 0)
            sent.extend(self._send_event_batch(events))
            if sent:
                session.execute(delete(OutboxMessage).where(col(OutboxMessage.id).in_(sent)))
        return len(sent)


    def _send_event_batch(self, events: list[tuple[int, Envelope, dict[str, Any]]]) -> list[int]:
        """Publish the relay's events with one wait for all their confirms; the outbox ids that went out."""
        if not events or self._send_events is None:
            return []
        try:
            failed = self._send_events([(envelope, options) for _, envelope, options in events])
        except Exception as exc:
            log.warning("%d event(s) stay in the outbox for the relay: %s (%s)", len(events), type(exc).__name__, exc)
            return []
        return [outbox_id for outbox_id, envelope, _ in events if envelope.id not in failed]


# Once for every session (listening on each new one costs more than a start's statements): a session's planes
# write what they held back before it commits, send what it wrote after, and forget both if it rolls back.
@event.listens_for(OrmSession, "before_commit")
def _write_held_back(session: OrmSession) -> None:
    for plane in list(session.info.get(_DEFERRED, {})):
        plane.write_outbox(session)


@event.listens_for(OrmSession, "after_commit")
def _send_committed(session: OrmSession) -> None:
    for plane, pending in session.info.pop(_PENDING, {}).items():
        plane._on_commit(session, pending)


@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_DEFERRED, None)


def _claim_unique(session: Session, key: str, task_id: str, ttl: timedelta) -> str:
    """Claim ``key`` for ``task_id`` unless a live claim exists; the id that holds it afterwards."""
    now = _now()
    table = TaskUniqueKey.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(key=key, task_id=task_id, expires_at=now + ttl)
    statement = statement.on_conflict_do_update(
        index_elements=["key"],
        set_={"task_id": statement.excluded.task_id, "expires_at": statement.excluded.expires_at},
        where=table.c.expires_at <= now,
    )
    session.execute(statement)
    return str(session.execute(select(table.c.task_id).where(table.c.key == key)).scalar_one())


def delete_expired_unique_keys(engine: Engine) -> int:
    with engine.begin() as connection:
        result = connection.execute(delete(TaskUniqueKey).where(col(TaskUniqueKey.expires_at) <= _now()))
    return int(result.rowcount)
