"""Publishing the events a commit wrote, off the committer's path. Their outbox rows are durable once
the commit returns, so the caller (an API request starting a workflow) need not wait for the broker's
confirm: a thread of the process publishes whatever commits queued meanwhile as one batch, with one
wait for all its confirms, and hands the rows that went out to ``SentRows`` for deletion. A batch the
broker refuses, or a process killed first, leaves its rows to the relay: delivery stays at least once,
and consumers dedupe by message id."""

import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from app.availability import Unavailable
from app.plane.envelope import Envelope
from app.plane.forks import on_fork
from app.plane.sent import SentRows

log = logging.getLogger(__name__)
BATCH = 200  # events per publish; the relay's batch too
EventBatchSender = Callable[[list[tuple[Envelope, dict[str, Any]]]], set[str]]  # -> ids not confirmed
Pending = tuple[int, datetime, Envelope, dict[str, Any]]  # (outbox id, its created_at, event, options)


class EventBatches:
    def __init__(self, send: EventBatchSender, sent: SentRows) -> None:
        self._send = send
        self._sent = sent
        self._changed = threading.Condition()
        self._pending: list[Pending] = []
        self._publishing: set[int] = set()
        self._pid = -1  # the thread runs in the process that committed: threads don't cross a fork
        self._running = False
        on_fork(self._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's lock may have been held by a thread the child does not have."""
        self._changed = threading.Condition()
        self._pid, self._pending, self._publishing, self._running = -1, [], set(), False

    def add(self, events: Iterable[Pending]) -> None:
        with self._changed:
            if self._pid != os.getpid():  # new, or forked: what the parent had pending is the parent's
                self._pid, self._pending, self._publishing, self._running = os.getpid(), [], set(), False
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="outbox-events", daemon=True).start()
            self._pending.extend(events)
            self._changed.notify_all()

    def unsettled(self) -> set[int]:
        """Outbox ids waiting here or being published: the relay leaves them alone. Read before
        ``SentRows.unsettled``: a row goes from here to there, never back."""
        with self._changed:
            return {outbox_id for outbox_id, *_ in self._pending} | self._publishing

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event handed over so far was published or left to the relay; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending and not self._publishing, timeout)

    def stop(self) -> None:
        with self._changed:
            self._running = False
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._pending) or not self._running)
                if not self._pending:
                    return  # stopped
                batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
                ids = {outbox_id for outbox_id, *_ in batch}
                self._publishing |= ids
            try:
                self._sent.add(self._publish(batch))  # before they leave _publishing: see unsettled()
            finally:
                with self._changed:
                    self._publishing -= ids
                    self._changed.notify_all()

    def _publish(self, batch: list[Pending]) -> list[tuple[int, datetime]]:
        """The (outbox id, created_at) of the events the broker confirmed."""
        try:
            failed = self._send([(envelope, options) for _, _, envelope, options in batch])
        except Unavailable:
            return []  # the broker failed moments ago (that was logged): the relay sends them once it is back
        except Exception as exc:
            log.warning("%d event(s) stay in the outbox for the relay: %s (%s)", len(batch), type(exc).__name__, exc)
            return []
        return [(outbox_id, created_at) for outbox_id, created_at, envelope, _ in batch if envelope.id not in failed]
