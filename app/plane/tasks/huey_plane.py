"""Huey, extended where it is at-most-once: leased dequeue, ack after execution, hand-back on
interrupt, backoff with jitter, dead letters. Everything else — task classes, serialisation, the
consumer's processes, SIGALRM timeouts — is Huey's own. A worker's batches are app/plane/tasks/batches.py."""

import contextlib
import json
import logging
import math
import random
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import Huey
from huey import signals as S
from huey.api import Task
from huey.exceptions import RetryTask

from app import logs
from app.db.errors import unreachable
from app.plane.envelope import Envelope
from app.plane.tasks.batches import Batches, Deferred
from app.plane.tasks.handling import Context, Failure, ProcessLocal, StepObserver, Succeeded, unknown_options
from app.plane.tasks.policy import TaskOptions
from app.plane.tasks.registry import PermanentError, TaskRegistry, TaskSpec
from app.plane.tasks.starts import StartMarks
from app.plane.tasks.storage import Ack, LeasedStorage, minute_of

log = logging.getLogger(__name__)
STALL_DELAY = (1.0, 5.0)  # seconds before a task that found the database unreachable runs again
STALL_WARNING_EVERY = 10.0  # seconds: an outage stalls every task, and one warning a while says so
QUICK = 0.02  # seconds: a task that ran longer makes its worker take one task at a time (none waits behind it)
LINGER = 0.02  # seconds a success may wait, unrecorded, for the rest of its batch


def _log_fields(task: Task) -> dict[str, Any]:
    """The ids the lines logged about ``task`` carry: read from its envelope's JSON, without building it."""
    fields = {"task": task.name, "task_id": task.id}
    try:
        envelope = json.loads(task.args[0])
        return fields | {key: envelope.get(key) for key in ("run_id", "step_id", "correlation_id")}
    except (ValueError, TypeError, IndexError, AttributeError):  # undecodable: run() dead-letters it
        return fields


class PlaneHuey(Huey):  # type: ignore[misc]
    def __init__(self, storage: LeasedStorage, registry: TaskRegistry, *,
                 services: Callable[[], Any] = lambda: None,
                 on_dead: Callable[[Failure], None] = lambda failure: None, batch: int = 1) -> None:
        self._given_storage = storage
        super().__init__(name=storage.name, results=False, utc=True)
        self.registry = registry
        self.services = ProcessLocal(services)
        self._on_dead = on_dead
        self.steps: StepObserver | None = None  # set once the workflow runner exists (it needs the plane)
        self._starts = StartMarks(self._mark_running)
        self.at_process_stop: list[Callable[[], None]] = []  # each worker and housekeeper process, as it stops
        self._interrupted: set[str] = set()
        self._stall_warned = float("-inf")
        self._unrecorded: set[str] = set()
        self.batches = Batches(storage, batch, lambda: self.steps, self._not_recorded)
        self.current_lease: Any = None  # read by the worker's heartbeat thread
        self.current_task: tuple[Task, float] | None = None  # (it, when its timeout runs out): for the heartbeat
        self.task_classes: dict[str, type[Task]] = {}
        for spec in registry:
            self._register(spec)
        self._signal.connect(self._count_success, S.SIGNAL_COMPLETE)
        self._signal.connect(self._handle_error, S.SIGNAL_ERROR)
        self._signal.connect(self._handle_timeout, S.SIGNAL_TIMEOUT)
        self._signal.connect(self._note_interrupted, S.SIGNAL_INTERRUPTED)

    @property
    def leased(self) -> LeasedStorage:
        return self._given_storage

    def create_storage(self) -> LeasedStorage:
        return self._given_storage

    # -- declaring -----------------------------------------------------------------------------
    def _register(self, spec: TaskSpec) -> None:
        def run(envelope_json: str, options_json: str, task: Task) -> Any:
            try:
                envelope = Envelope.from_json(envelope_json)
            except (ValueError, KeyError, TypeError) as exc:
                task.retries = 0
                raise PermanentError(f"undecodable envelope: {exc}") from exc
            step = self.steps if envelope.run_id and envelope.step_id else None
            task._began = began = datetime.now(UTC)  # the step's outcome records it as its start
            if step is not None:
                self._starts.begin(envelope, began)
            try:
                result = spec.handler(Context(envelope, self.services.get()), envelope.payload)
                output = dict(result) if result is not None else None
                if step is not None and self.batches.on and getattr(task, "_lease", None) is not None:
                    self.batches.defer(task, Succeeded(envelope, output, began))
                elif step is not None:  # before the ack: if recording fails, the task runs again (handlers dedupe)
                    step.step_succeeded(envelope, output, began)
            except PermanentError:
                task.retries = 0  # Huey then treats this failure as final
                raise
            except Exception as exc:
                if unreachable(exc):
                    raise self._wait_for_database(task, exc) from exc
                raise
            finally:
                if step is not None:
                    self._starts.end()
            return output

        run.__name__ = spec.name
        run.__module__ = "flowplane"  # Huey names the task "flowplane.<name>"
        wrapper = self.task(name=spec.name, context=True)(run)
        self.task_classes[spec.name] = wrapper.task_class

    def _wait_for_database(self, task: Task, exc: BaseException) -> RetryTask:
        """The database is unreachable: no fault of the task's. It runs again later as the same attempt,
        however long the outage lasts, and is never dead-lettered for it."""
        task._stalled = True
        delay = random.uniform(*STALL_DELAY)  # noqa: S311 - jitter, not secrecy
        now = time.monotonic()
        quiet = now < self._stall_warned + STALL_WARNING_EVERY  # one warning per process every so often
        if not quiet:
            self._stall_warned = now
        log.log(logging.INFO if quiet else logging.WARNING,
                "task %s %s waits for the database (%s); again in %.1f s, not counted as an attempt",
                task.name, task.id, type(exc).__name__, delay)
        return RetryTask(delay=delay)

    def _mark_running(self, envelope: Envelope, began: datetime) -> None:
        if self.steps is not None:
            self.steps.step_started(envelope, began)

    def build_task(self, envelope: Envelope, options: TaskOptions) -> Task:
        if envelope.type not in self.task_classes:
            raise KeyError(f"no task named {envelope.type!r}")
        eta = options.eta.astimezone(UTC).replace(tzinfo=None) if options.eta else None
        return self.task_classes[envelope.type](
            args=(envelope.to_json(), options.to_json()),
            id=envelope.id,
            eta=eta,
            retries=options.retry.attempts - envelope.attempt,
            priority=int(options.priority),
            timeout=options.timeout.total_seconds() if options.timeout else None,
        )

    def send(self, envelope: Envelope, options: TaskOptions) -> None:
        """Put a task on the queue, or on the schedule when it has a future eta. A copy whose id the queue
        holds already (queued, scheduled or running) adds nothing: the task is there."""
        task = self.build_task(envelope, options)
        if task.eta is not None and task.eta > self._get_timestamp():
            self.add_schedule(task)
        else:
            self.enqueue(task)

    def send_many(self, tasks: list[tuple[Envelope, TaskOptions]]) -> None:
        """``send`` for several: those due now go to the queue in one round trip. Those a worker's own outcomes
        dispatched go straight to its leases instead, and it runs them itself, after what it took already: no hop
        through the queue, and if it dies they return to the queue when their lease runs out."""
        due: list[Task] = []
        for envelope, options in tasks:
            task = self.build_task(envelope, options)
            if task.eta is not None and task.eta > self._get_timestamp():
                self.add_schedule(task)
            else:
                due.append(task)
        for task in due:
            self._emit(S.SIGNAL_ENQUEUED, task)
        batch = self.batches.keeping()
        if due and batch is not None:
            handles = self.leased.lease_many([(self.serialize_task(task), task.priority, task.id) for task in due])
            kept = [task for task, handle in zip(due, handles, strict=True) if handle is not None]
            for task, handle in zip(due, handles, strict=True):
                task._lease = handle
            batch.taken.extend(kept)  # after the tasks it took already: they have waited longer
            due = [task for task in due if task._lease is None]
        if not due:
            return
        added = self.leased.enqueue_many([(self.serialize_task(task), task.priority, task.id) for task in due])
        for task, queued in zip(due, added, strict=True):
            if not queued:
                log.info("task %s is queued, scheduled or running already; the copy sent again adds nothing",
                         task.id)

    def enqueue(self, task: Task) -> None:
        self._emit(S.SIGNAL_ENQUEUED, task)
        if not self.leased.enqueue(self.serialize_task(task), task.priority, task_id=task.id):
            log.info("task %s is queued, scheduled or running already; the copy sent again adds nothing", task.id)

    # -- consuming -----------------------------------------------------------------------------
    def held_leases(self) -> list[Any]:
        """The leases this process holds: its running task's, and its batches'. The heartbeat keeps them alive."""
        held: list[Any] = [self.current_lease] if self.current_lease is not None else []
        return held + self.batches.held()

    def dequeue(self) -> Task | None:
        return self.batches.next(self._read)

    def _read(self, handle: Any, data: bytes) -> Task | None:
        try:
            task = self.deserialize_task(data)
        except Exception as exc:  # a message no registered task can read (a type this worker does not know)
            self._dead_letter_unreadable(handle, data, exc)
            return None
        task._lease = handle
        return task

    def _not_recorded(self, entry: Deferred, exc: Exception) -> Ack | None:
        """A success its batch could not record runs again: as the same attempt when the database is unreachable,
        else as a failed attempt. The ack to send, None while the task stays leased (to be delivered again)."""
        task = entry.task
        with logs.context(**_log_fields(task)):
            if unreachable(exc):
                retry = self._wait_for_database(task, exc)
                task.eta = self._get_timestamp() + timedelta(seconds=retry.delay or 0)
                self.add_schedule(task)  # leased: its hold on the id moves with it
                outcome = None  # it runs again as the same attempt: nothing to count yet
            else:
                log.warning("could not record the success of task %s: %s: %s", task.id, type(exc).__name__, exc)
                self._fail_attempt(task, f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc)))
                outcome = "failed"
        if task.id in self._unrecorded:
            self._unrecorded.discard(task.id)  # the lease runs out and it is delivered again
            return None
        if entry.ack is None:
            return None
        ack: Ack = entry.ack._replace(outcome=outcome)
        if getattr(task, "_dead", False):  # at once: see execute
            with contextlib.suppress(Exception):
                self.leased.ack(*ack)
                return None
        return ack

    def _dead_letter_unreadable(self, handle: Any, data: bytes, exc: Exception) -> None:
        """Keep it as a dead letter (an operator retries it once a worker knows it), and end its hold."""
        try:
            message = self.serializer.deserialize(data)  # Huey's message: its id and args, whatever its task
            task_id, name, args = str(message.id), str(message.name), tuple(message.args or ())
        except Exception:
            task_id, name, args = "", "unreadable", ()
        if len(args) < 2:
            args = (data.decode("utf-8", "replace")[:10_000], unknown_options(self.name).to_json())
        if self._dead_letter(task_id, name, args, f"{type(exc).__name__}: {exc}", "", None):
            self.leased.ack(handle, task_id=task_id)

    def execute(self, task: Task, timestamp: datetime | None = None) -> Any:
        handle = getattr(task, "_lease", None)
        self.current_lease = handle
        started = time.perf_counter()
        self.current_task = (task, time.monotonic() + task.timeout if task.timeout else math.inf)
        try:
            with logs.context(**_log_fields(task)):  # every line logged until its outcome is recorded
                return super().execute(task, timestamp)
        finally:
            self.current_lease, self.current_task = None, None
            seconds, ack = time.perf_counter() - started, None
            if handle is not None:
                if task.id in self._interrupted:
                    self._interrupted.discard(task.id)
                    self.leased.release(handle)  # shutting down: another worker takes it now
                elif task.id in self._unrecorded:
                    self._unrecorded.discard(task.id)  # the lease runs out and it is delivered again
                else:
                    ack = Ack(handle, getattr(task, "_outcome", None), minute_of(), task.name, seconds, task.id)
            self.batches.finished(task, ack, seconds)
            if ack is not None and getattr(task, "_dead", False):
                # At once, not with the next take: an operator's retry of the dead letter is refused while the
                # queue still holds its id. (If this fails, the lease lapses, the task runs once more as its last
                # attempt, and is kept again.)
                with contextlib.suppress(Exception):
                    self.batches.send_acks()

    def give_up(self, task: Task, error: str, seconds: float) -> None:
        """End the attempt of a task stuck past its timeout, from the heartbeat thread of a worker process about
        to exit: it counts as a timed-out attempt, retried per its policy or kept as a dead letter, so a task
        that always gets stuck ends, rather than running again as the same attempt for ever. If recording fails,
        the lease lapses and it runs again as the same attempt."""
        self._fail_attempt(task, error, "")
        if task.id not in self._unrecorded:
            self.leased.ack(task._lease, "failed", minute_of(), task.name, seconds, task.id)

    def _fail_attempt(self, task: Task, error: str, trace: str) -> None:
        """A failed attempt outside Huey's own handling: retried per its policy (its hold on the id moves to the
        schedule), or a dead letter. On a failure to record either, the task is left in ``_unrecorded``."""
        task._outcome = "failed"
        if task.retries == 0:
            self._dead(task, error, trace)
        else:
            self._retrying(task, error)
            self._requeue_task(task, self._get_timestamp())

    def flush_ack(self) -> None:
        """The worker is stopping: record the batch's successes, hand back the tasks it has not run, and send
        the acks now instead of with the next take."""
        self.batches.flush()

    # The plane offers delete instead of Huey's revocation, so a task costs two Redis round trips
    # (take, ack) rather than Huey's revocation look-up and clean-up on top.
    def is_revoked(self, task: Any, timestamp: datetime | None = None, peek: bool = True) -> bool:
        return False

    def delete(self, key: str) -> bool:
        return False if key.startswith("r:") else bool(super().delete(key))

    def add_schedule(self, task: Task, *, moving: bool = False) -> None:
        """Schedule ``task``. A task this worker holds the lease of (a retry, or one taken before its eta on a
        clock behind the housekeeper's) moves there with its hold; if that fails it is not acked, so its
        lease lapses and it is delivered again rather than lost."""
        eta = task.eta or datetime.fromtimestamp(0, UTC).replace(tzinfo=None)
        leased = getattr(task, "_lease", None) is not None
        try:
            scheduled = self.leased.add_to_schedule(self.serialize_task(task), eta, task.priority, task_id=task.id,
                                                    moving=moving or leased)
        except Exception as exc:
            if not leased:
                raise
            log.warning("could not schedule task %s again (%s); its lease lapses and it runs again", task.id,
                        type(exc).__name__)
            self._unrecorded.add(task.id)
            return
        if not scheduled:
            log.info("task %s is queued, scheduled or running already; the copy sent again adds nothing", task.id)
            return
        self._emit(S.SIGNAL_SCHEDULED, task)

    def _requeue_task(self, task: Task, timestamp: datetime, retry_eta: datetime | None = None) -> None:
        if getattr(task, "_stalled", False):  # the same attempt again, once the database may be back
            task.retries -= 1  # Huey added one for RetryTask
            task.eta = retry_eta
            self.add_schedule(task)
            return
        envelope_json, options_json = task.args
        envelope = Envelope.from_json(envelope_json)
        options = TaskOptions.from_json(options_json)
        delay = options.retry.delay(envelope.attempt)
        task.args = (replace(envelope, attempt=envelope.attempt + 1).to_json(), options_json)
        task.retries -= 1
        task.eta = retry_eta or timestamp + delay
        log.info("retrying %s %s in %.3f s (attempt %d of %d)", envelope.type, task.id, delay.total_seconds(),
                 envelope.attempt + 1, options.retry.attempts)
        self.add_schedule(task)  # leased: its hold on the id moves with it

    # -- outcomes ------------------------------------------------------------------------------
    def _count_success(self, signal: str, task: Task) -> None:
        task._outcome = "processed"  # counted with the ack, in the same round trip

    def _handle_error(self, signal: str, task: Task, exc: BaseException | None = None) -> None:
        task._outcome = "failed"
        error = f"{type(exc).__name__}: {exc}" if exc else "failed"
        if task.retries == 0:
            self._dead(task, error, "".join(traceback.format_exception(exc)) if exc else "")
        else:
            self._retrying(task, error)

    def _retrying(self, task: Task, error: str) -> None:
        try:
            envelope = Envelope.from_json(task.args[0])
        except (ValueError, KeyError, TypeError):
            return
        if self.steps is not None and envelope.run_id and envelope.step_id:
            try:
                self.steps.step_retrying(envelope, error, getattr(task, "_began", None))
            except Exception:  # only visibility is lost: the outcome that matters is recorded on finish
                log.warning("could not record progress of step %s of run %s", envelope.step_id, envelope.run_id,
                            exc_info=True)

    def _handle_timeout(self, signal: str, task: Task) -> None:
        task._outcome = "failed"
        error = f"TaskTimeout: ran longer than {task.timeout} s"
        if task.retries == 0:
            self._dead(task, error, "")
        else:
            self._retrying(task, error)

    def _note_interrupted(self, signal: str, task: Task) -> None:
        self._interrupted.add(task.id)

    def _dead(self, task: Task, error: str, trace: str) -> None:
        if self._dead_letter(task.id, type(task).__name__, task.args, error, trace, getattr(task, "_began", None)):
            task._dead = True
        else:
            self._unrecorded.add(task.id)

    def _dead_letter(self, task_id: str, name: str, args: tuple[Any, ...], error: str, trace: str,
                     began: datetime | None) -> bool:
        """Record a task that will not run again; False (it stays leased, for redelivery) if that failed."""
        failure = Failure.of(task_id, name, args, error, trace, self.name)
        envelope = failure.envelope
        log.error("task %s %s is dead after %d attempt(s): %s", envelope.type, task_id, envelope.attempt, error)
        try:
            self._on_dead(failure)
            if self.steps is not None and envelope.run_id and envelope.step_id:
                self.steps.step_dead(envelope, error, began)
        except Exception:
            log.exception("could not record dead letter %s; leaving it leased for redelivery", task_id)
            return False
        return True
