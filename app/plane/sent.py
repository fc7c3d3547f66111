"""Clearing outbox rows once their message went out, off the sender's path. The commit that wrote a
row returns as soon as the message is on its broker; a thread of the process deletes the rows sent
meanwhile in one statement, so a busy process pays one transaction per batch instead of one per
commit. A row whose delete is lost (the process killed first) is sent again by the relay: handlers
take messages at least once and dedupe by their idempotency key."""

import logging
import os
import threading
from collections.abc import Iterable

from sqlalchemy import Engine, delete
from sqlmodel import col

from app.db.models import OutboxMessage

log = logging.getLogger(__name__)
BATCH = 1000


class SentRows:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._changed = threading.Condition()
        self._pending: set[int] = set()
        self._deleting: set[int] = set()
        self._pid = -1  # the thread runs in the process that sends: threads don't cross a fork
        self._generation = 0  # the running thread's; another means it is to stop
        self._running = False

    def add(self, ids: Iterable[int]) -> None:
        with self._changed:
            if self._pid != os.getpid():  # new, or forked: what the parent had pending is the parent's
                self._pid, self._pending, self._deleting, self._running = os.getpid(), set(), set(), False
            if not self._running:
                self._running, self._generation = True, self._generation + 1
                threading.Thread(target=self._run, args=(self._generation,), name="outbox-sent-rows",
                                 daemon=True).start()
            self._pending.update(ids)
            self._changed.notify_all()

    def __contains__(self, outbox_id: int) -> bool:
        """Sent and not deleted yet: the relay leaves it alone."""
        with self._changed:
            return outbox_id in self._pending or outbox_id in self._deleting

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row sent so far is deleted (a process about to stop); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._deleting, timeout)

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
                batch = set(sorted(self._pending)[:BATCH])
                self._pending -= batch
                self._deleting |= batch
            try:
                with self.engine.begin() as connection:
                    connection.execute(delete(OutboxMessage).where(col(OutboxMessage.id).in_(batch)))
            except Exception:  # the relay sends them again; handlers dedupe by idempotency key
                log.warning("could not clear %d sent outbox rows", len(batch), exc_info=True)
            with self._changed:
                self._deleting -= batch
                self._changed.notify_all()
