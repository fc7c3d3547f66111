"""Clearing outbox rows once their message went out, off the sender's path. The commit that wrote a
row returns as soon as the message is on its broker; a thread of the process deletes the rows sent
meanwhile in one statement, at most one every ``LINGER`` seconds, so a busy process pays one
transaction per batch instead of one per commit. A row whose delete is lost (the process killed
first) is sent again by the relay: handlers take messages at least once and dedupe by their
idempotency key. A row is deleted by its id and its creation time together: SQLite may give a
deleted row's id to a new row, which must not go with it."""

import logging
import os
import threading
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, delete, tuple_
from sqlmodel import col

from app.db.models import OutboxMessage
from app.plane.forks import on_fork

log = logging.getLogger(__name__)
BATCH = 1000
LINGER = 0.1  # seconds the first sent row waits for others to share its delete


class SentRows:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._changed = threading.Condition()
        self._pending: dict[int, datetime] = {}  # outbox id -> its created_at
        self._deleting: dict[int, datetime] = {}
        self._pid = -1  # the thread runs in the process that sends: threads don't cross a fork
        self._generation = 0  # the running thread's; another means it is to stop
        self._running = False
        self._flushing = 0  # callers waiting in flush(): no lingering for them
        on_fork(self._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's lock may have been held by a thread the child does not have."""
        self._changed = threading.Condition()
        self._pid, self._pending, self._deleting, self._running, self._flushing = -1, {}, {}, False, 0

    def add(self, rows: Iterable[tuple[int, datetime]]) -> None:
        """Rows sent: (outbox id, created_at) each."""
        with self._changed:
            if self._pid != os.getpid():  # new, or forked: what the parent had pending is the parent's
                self._pid, self._pending, self._deleting, self._running = os.getpid(), {}, {}, False
            if not self._running:
                self._running, self._generation = True, self._generation + 1
                threading.Thread(target=self._run, args=(self._generation,), name="outbox-sent-rows",
                                 daemon=True).start()
            idle = not self._pending
            self._pending.update(rows)
            if idle:  # the thread waits for a first row; later ones join it without waking it
                self._changed.notify_all()

    def unsettled(self) -> set[int]:
        """Ids sent and not deleted yet: the relay leaves them alone. Taken before the relay reads the
        outbox, so a row deleted in between is either in here or no longer in what the relay reads."""
        with self._changed:
            return set(self._pending) | set(self._deleting)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row sent so far is deleted (a process about to stop); False on timeout."""
        with self._changed:
            self._flushing += 1
            self._changed.notify_all()
            try:
                return self._changed.wait_for(lambda: not self._pending and not self._deleting, timeout)
            finally:
                self._flushing -= 1

    def stop(self) -> None:
        """End the thread once nothing is pending; a later ``add`` starts another."""
        with self._changed:
            self._running = False
            self._changed.notify_all()

    def _run(self, generation: int) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending) or not self._running
                                       or self._generation != generation)
                if self._generation != generation or not self._pending:
                    return  # stopped, or another thread took over
                self._changed.wait_for(lambda: self._flushing > 0 or not self._running
                                       or self._generation != generation, LINGER)
                batch = {outbox_id: self._pending.pop(outbox_id) for outbox_id in sorted(self._pending)[:BATCH]}
                self._deleting.update(batch)
            try:
                with self.engine.begin() as connection:
                    connection.execute(delete(OutboxMessage).where(
                        col(OutboxMessage.id).in_(list(batch)),  # the index lookup (SQLite scans for a row value)
                        tuple_(col(OutboxMessage.id), col(OutboxMessage.created_at)).in_(list(batch.items()))))
            except Exception:  # the relay sends them again; handlers dedupe by idempotency key
                log.warning("could not clear %d sent outbox rows", len(batch), exc_info=True)
            with self._changed:
                for outbox_id in batch:
                    self._deleting.pop(outbox_id, None)
                self._changed.notify_all()

