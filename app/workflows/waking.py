"""What ends a parked wait: its time (the worker's sweep, once a second), its event (in the transaction that
publishes it), or an operator. Each wake locks the run, checks the step is still parked, records the step's
output and advances the run, in one transaction: two sweepers, or a sweep and an event, never wake it twice."""

import logging
import time
from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.plane.envelope import Envelope
from app.workflows import parking, progress
from app.workflows.progress import timed_out
from app.workflows.records import Loaded
from app.workflows.rows import is_parked
from app.workflows.runner import RunNotFound, WorkflowRunner
from app.workflows.spec import Step, Workflow
from app.workflows.waits import match_key

log = logging.getLogger(__name__)
FIRE_TOGETHER = 50  # due steps woken in one transaction
_WAKING = "flowplane_waking"  # events published during a wake, handled after it in the same transaction


class NotWaiting(LookupError):
    """The step is not parked (it has not started waiting, or it is over)."""


class NoSuchStep(NotWaiting):
    """The run has no step of that id (a NotWaiting too: callers that need not tell them apart don't)."""


class Waits:
    def __init__(self, runner: WorkflowRunner) -> None:
        self.runner = runner

    def fire_due(self, batch: int = 500, budget: float = 2.0) -> int:
        """Wake the parked steps whose timer or time-out has come, a batch at a time for up to ``budget``
        seconds (the sweep has other chores); how many."""
        deadline, fired = time.monotonic() + budget, 0
        while True:
            woken, found = self._fire_batch(batch)
            fired += woken
            if found < batch or time.monotonic() >= deadline:
                return fired

    def _fire_batch(self, batch: int) -> tuple[int, int]:
        now = self.runner.clock.now()
        with Session(self.runner.engine) as db:
            due = parking.due(db.connection(), now, batch)
        fired = 0
        # A few runs per transaction (one commit for them all), locked in run-id order as every waker locks
        # them, so two sweepers, or a sweep and an event, wait for each other and never deadlock.
        ordered = sorted(due)
        for start in range(0, len(ordered), FIRE_TOGETHER):
            chunk = ordered[start:start + FIRE_TOGETHER]
            try:
                fired += self._fire(chunk, now)
            except Exception:
                log.warning("waking %d due steps together failed; waking them one by one", len(chunk), exc_info=True)
                for run_id, step_id in chunk:  # one bad run must not hold back the others
                    try:
                        fired += self._fire([(run_id, step_id)], now)
                    except Exception:
                        log.exception("could not wake step %s of run %s; the next sweep tries again", step_id, run_id)
        return fired, len(due)

    def _fire(self, chunk: list[tuple[str, str]], now: datetime) -> int:
        fired = 0
        with Session(self.runner.engine, expire_on_commit=False) as db, db.begin():
            for run_id, step_id in chunk:
                try:
                    loaded, workflow = self.runner.lock(db, run_id)
                except RunNotFound:
                    continue  # deleted meanwhile
                row = loaded.steps.get(step_id)
                if row is None or not is_parked(row) or row.due_at is None or row.due_at > now:
                    continue  # woken meanwhile, by its event or another sweeper
                step = workflow.step(step_id)
                self._wake(db, loaded, workflow, step, timed_out(step, row.due_at, woken=False), now)
                fired += 1
        return fired

    def on_published(self, db: Session, envelope: Envelope) -> None:
        """A plane hook: wake what waits for this event, in the publishing transaction."""
        queued: list[Envelope] | None = db.info.get(_WAKING)
        if queued is not None:  # a woken run published an event of its own: handled next, not nested
            queued.append(envelope)
            return
        db.info[_WAKING] = queued = [envelope]
        try:
            while queued:
                self._wake_for(db, queued.pop(0))
        finally:
            db.info.pop(_WAKING, None)

    def wake(self, run_id: str, step_id: str) -> dict[str, Any]:
        """Cut a wait short (an operator): a timer succeeds now, an event wait times out now. Its output."""
        with Session(self.runner.engine, expire_on_commit=False) as db, db.begin():
            loaded, workflow = self.runner.lock(db, run_id)
            row = loaded.steps.get(step_id)
            if row is None:
                raise NoSuchStep(f"run {run_id} has no step {step_id!r}")
            if not is_parked(row):
                raise NotWaiting(f"step {step_id!r} of run {run_id} is not waiting (it is {row.status})")
            now = self.runner.clock.now()
            step = workflow.step(step_id)
            output = timed_out(step, row.due_at or now, woken=True)
            self._wake(db, loaded, workflow, step, output, now)
            return output

    def _wake_for(self, db: Session, envelope: Envelope) -> None:
        connection = db.connection()
        shapes = parking.shapes_for(connection, envelope.type)  # no workflow awaits it: one look-up, done
        if not shapes:
            return
        now = self.runner.clock.now()
        for fields in shapes:
            if any(field not in envelope.payload for field in fields):
                continue
            key = match_key(envelope.type, {field: envelope.payload[field] for field in fields})
            parking.record_signal(connection, envelope.type, key, envelope.id, envelope.payload, now)
            parking.serialise_on(connection, key)
            for run_id, step_id in sorted(parking.parked_on(connection, envelope.type, key)):
                if run_id == db.info.get(parking.ADVANCING_RUN):
                    continue  # the publishing run itself: it wakes its own waits in memory (progress)
                try:
                    loaded, workflow = self.runner.lock(db, run_id)
                except RunNotFound:
                    continue
                row = loaded.steps.get(step_id)
                if row is None or not is_parked(row) or row.awaiting != envelope.type or row.match_key != key:
                    continue
                output = {"event": dict(envelope.payload), "timed_out": False}
                self._wake(db, loaded, workflow, workflow.step(step_id), output, now)

    def _wake(self, db: Session, loaded: Loaded, workflow: Workflow, step: Step, output: dict[str, Any],
              now: datetime) -> None:
        progress.wake(loaded.steps[step.id], output, now)
        log.info("step %s of run %s woke: %s", step.id, loaded.run.id,
                 "timed out" if output.get("timed_out") else "its event came" if "event" in output else "due")
        self.runner.advance(db, loaded, workflow)
