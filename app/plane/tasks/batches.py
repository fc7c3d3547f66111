"""A worker's batch. While its tasks run quickly, a worker takes several at once (one round trip, which
also acks the last ones) and records their steps' successes together (one transaction). A success is
recorded before its task is acked, as one at a time; what cannot be recorded runs again. The steps those
outcomes dispatch are leased to the same worker, which runs them after what it took already."""

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from huey.api import Task

from app.db.errors import unreachable
from app.plane.tasks.handling import StepObserver, Succeeded
from app.plane.tasks.storage import Ack, LeasedStorage

log = logging.getLogger(__name__)
QUICK = 0.02  # seconds: a task that ran longer makes its worker take one task at a time (none waits behind it)
LINGER = 0.02  # seconds a success may wait, unrecorded, for the rest of its batch


@dataclass
class Deferred:
    """A step's task that succeeded, its outcome to be recorded with its batch's, then its ack sent."""

    task: Task
    outcome: Succeeded
    finished: float  # time.monotonic()
    ack: Ack | None = None


@dataclass
class Batch:
    """A worker thread's batch: tasks taken and not run yet, successes not recorded yet, acks not sent yet."""

    taken: deque[Task] = field(default_factory=deque)
    deferred: list[Deferred] = field(default_factory=list)
    acks: list[Ack] = field(default_factory=list)
    quick: bool = False  # the last task ran quickly: take several
    keeping: bool = False  # recording its outcomes: what they dispatch, this worker runs


Read = Callable[[Any, bytes], Task | None]  # a taken task's (handle, data) -> the task, None if unreadable
NotRecorded = Callable[[Deferred, Exception], Ack | None]  # a success that cannot be recorded -> the ack to send


class Batches:
    """Each worker thread's batch (the heartbeat, another thread, reads them all)."""

    def __init__(self, storage: LeasedStorage, size: int, steps: Callable[[], StepObserver | None],
                 not_recorded: NotRecorded) -> None:
        self.storage = storage
        self.size = size  # tasks a worker takes at once while they run quickly
        self._steps = steps
        self._not_recorded = not_recorded
        self._by_thread: dict[int, Batch] = {}

    @property
    def on(self) -> bool:
        return self.size > 1

    def current(self) -> Batch:
        batch = self._by_thread.get(threading.get_ident())
        if batch is None:
            batch = self._by_thread[threading.get_ident()] = Batch()
        return batch

    def keeping(self) -> Batch | None:
        """This thread's batch while it records its outcomes: what they dispatch goes to it."""
        batch = self._by_thread.get(threading.get_ident())
        return batch if batch is not None and batch.keeping else None

    def held(self) -> list[Any]:
        """The leases of every batch's tasks waiting to run, to have their success recorded or to be acked."""
        held: list[Any] = []
        for batch in list(self._by_thread.values()):
            held += [task._lease for task in list(batch.taken)]
            held += [entry.task._lease for entry in list(batch.deferred)]
            held += [ack.handle for ack in list(batch.acks)]
        return held

    # -- taking --------------------------------------------------------------------------------
    def next(self, read: Read) -> Task | None:
        """The next task of this thread's batch; once it is spent, its successes are recorded and a new batch is
        taken in the round trip that acks the last one's tasks."""
        batch = self.current()
        if batch.taken:
            return batch.taken.popleft()
        self.record()
        acks = batch.acks
        leased = self.storage.take_many(acks, self.size if batch.quick else 1)
        batch.acks = batch.acks[len(acks):]  # sent (kept if the take failed: sent with the next one)
        tasks = [task for task in (read(handle, data) for handle, data in leased) if task is not None]
        if not tasks:
            return None
        batch.taken.extend(tasks[1:])
        return tasks[0]

    def defer(self, task: Task, outcome: Succeeded) -> None:
        """Record ``task``'s success with its batch, before its ack."""
        task._deferred = Deferred(task, outcome, time.monotonic())
        self.current().deferred.append(task._deferred)

    def finished(self, task: Task, ack: Ack | None, seconds: float) -> None:
        """``task`` ran for ``seconds``: its ack waits for its success to be recorded, or for the next take. A
        slow task hands the rest of its batch back; successes are recorded once the batch is spent or lingered."""
        batch = self.current()
        if ack is not None:
            if (deferred := getattr(task, "_deferred", None)) is not None:
                deferred.ack = ack  # sent once its success is recorded
            else:
                batch.acks.append(ack)
        batch.quick = seconds < QUICK
        if not batch.quick:  # the rest of its batch waited behind it: other workers may be free for them
            self.hand_back()
        if batch.deferred and (not batch.taken or not batch.quick
                               or time.monotonic() - batch.deferred[0].finished > LINGER):
            self.record()

    # -- recording -----------------------------------------------------------------------------
    def record(self) -> None:
        """Record the batch's successes in one transaction, then queue their acks. One that cannot be recorded
        goes to ``not_recorded``; when the database is reachable, the others are recorded each alone first."""
        batch = self.current()
        deferred, batch.deferred = batch.deferred, []
        steps = self._steps()
        if not deferred or steps is None:
            return
        try:
            with self._keeping():
                steps.steps_succeeded([entry.outcome for entry in deferred])
        except Exception as exc:
            if len(deferred) > 1 and not unreachable(exc):  # one that cannot be recorded holds no other back
                log.warning("could not record %d step outcomes together (%s: %s); recording each alone",
                            len(deferred), type(exc).__name__, exc)
                for entry in deferred:
                    self._record_alone(steps, entry)
            else:
                for entry in deferred:
                    self._queue_ack(self._not_recorded(entry, exc))
            return
        batch.acks += [entry.ack for entry in deferred if entry.ack is not None]

    def _record_alone(self, steps: StepObserver, entry: Deferred) -> None:
        try:
            with self._keeping():
                steps.step_succeeded(*entry.outcome)
        except Exception as exc:
            self._queue_ack(self._not_recorded(entry, exc))
            return
        self._queue_ack(entry.ack)

    def _queue_ack(self, ack: Ack | None) -> None:
        if ack is not None:
            self.current().acks.append(ack)

    @contextlib.contextmanager
    def _keeping(self) -> Iterator[None]:
        batch = self.current()
        batch.keeping = True
        try:
            yield
        finally:
            batch.keeping = False

    # -- ending ----------------------------------------------------------------------------------
    def hand_back(self) -> None:
        """Return the tasks taken and not run yet to the queue; any it cannot return it runs itself."""
        batch = self.current()
        while batch.taken:
            try:
                self.storage.release(batch.taken[0]._lease)
            except Exception as exc:
                log.warning("could not hand %d taken task(s) back to the queue: %s", len(batch.taken), exc)
                return
            batch.taken.popleft()

    def send_acks(self) -> None:
        batch = self.current()
        if acks := batch.acks:
            self.storage.take_many(acks, 0)
            batch.acks = batch.acks[len(acks):]

    def flush(self) -> None:
        """The worker is stopping: record the batch's successes, hand back the tasks it has not run, and send the
        acks now instead of with the next take."""
        self.record()
        self.hand_back()
        self.send_acks()
