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

log = logging.getLogger(__name__)
RUNNING_AFTER = 0.2  # seconds

Record = Callable[[Envelope, datetime], None]  # (the step's envelope, when its handler began)


class StartMarks:
    def __init__(self, record: Record, *, after: float = RUNNING_AFTER) -> None:
        self._record = record
        self._after = after
        self._changed = threading.Condition()
        self._running: dict[int, tuple[Envelope, datetime, float]] = {}  # thread id -> (envelope, began, due)
        self._thread_pid = -1  # the watcher is started in the process that uses it: threads don't cross a fork

    def begin(self, envelope: Envelope, began: datetime) -> None:
        with self._changed:
            if self._thread_pid != os.getpid():
                self._thread_pid = os.getpid()
                self._running.clear()  # what the parent had running is not ours
                threading.Thread(target=self._watch, name="step-start-marks", daemon=True).start()
            self._running[threading.get_ident()] = (envelope, began, time.monotonic() + self._after)
            self._changed.notify()

    def end(self) -> None:
        with self._changed:
            self._running.pop(threading.get_ident(), None)

    def _watch(self) -> None:
        while True:
            with self._changed:
                due = [(key, envelope, began) for key, (envelope, began, at) in self._running.items()
                       if at <= time.monotonic()]
                for key, _, _ in due:
                    del self._running[key]
                if not due:
                    soonest = min((at for _, _, at in self._running.values()), default=None)
                    self._changed.wait(None if soonest is None else max(0.0, soonest - time.monotonic()))
                    continue
            for _, envelope, began in due:
                try:
                    self._record(envelope, began)
                except Exception:  # only visibility is lost: the outcome records the start too
                    log.warning("could not mark step %s of run %s running", envelope.step_id, envelope.run_id,
                                exc_info=True)
