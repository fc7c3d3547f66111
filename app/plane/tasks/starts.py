"""When a workflow step shows as running. A step whose handler returns quickly has its start written
with its outcome, in that one transaction; only a handler still running after ``after`` seconds gets
a transaction of its own that marks the step running. A quick step so skips one PostgreSQL
transaction, and nobody could have watched it run anyway."""

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime

from app.plane.envelope import Envelope
from app.plane.forks import on_fork

log = logging.getLogger(__name__)
RUNNING_AFTER = 0.2  # seconds

Record = Callable[[Envelope, datetime], None]  # (the step's envelope, when its handler began)


class StartMarks:
    def __init__(self, record: Record, *, after: float = RUNNING_AFTER) -> None:
        self._record = record
        self._after = after
        self._lock = threading.Lock()
        self._running: dict[int, tuple[Envelope, datetime, float]] = {}  # thread id -> (envelope, began, due)
        self._thread_pid = -1  # the watcher is started in the process that uses it: threads don't cross a fork
        on_fork(self._forget_parent)

    def _forget_parent(self) -> None:
        """In a forked child: the parent's lock may have been held by its watcher, which the child lacks."""
        self._lock = threading.Lock()
        self._running, self._thread_pid = {}, -1

    def begin(self, envelope: Envelope, began: datetime) -> None:
        with self._lock:
            if self._thread_pid != os.getpid():
                self._thread_pid = os.getpid()
                self._running.clear()  # what the parent had running is not ours
                threading.Thread(target=self._watch, name="step-start-marks", daemon=True).start()
            self._running[threading.get_ident()] = (envelope, began, time.monotonic() + self._after)

    def end(self) -> None:
        with self._lock:
            self._running.pop(threading.get_ident(), None)

    def _watch(self) -> None:
        # It looks a few times per marking delay rather than being woken per task: a task's begin and end
        # then cost a dictionary write each, and no thread switch.
        while True:
            time.sleep(self._after / 4)
            now = time.monotonic()
            with self._lock:
                due = [(key, envelope, began) for key, (envelope, began, at) in self._running.items() if at <= now]
                for key, _, _ in due:
                    del self._running[key]
            for _, envelope, began in due:
                try:
                    self._record(envelope, began)
                except Exception:  # only visibility is lost: the outcome records the start too
                    log.warning("could not mark step %s of run %s running", envelope.step_id, envelope.run_id,
                                exc_info=True)

