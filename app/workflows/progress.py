"""How a run moves on: the engine's decisions carried out on the run's records, and a step's outcome recorded.

Pure. What leaves the run (a task for the plane, an event to publish, the look-up of an event a wait may have
missed) goes through an ``Outlet``: the runner's writes outbox rows in the run's transaction, the simulator's
keeps everything in memory. So ``flowplane workflows simulate`` runs the code the workers run, not a copy."""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from app.clock import Clock
from app.domain.events import InvalidEvent
from app.workflows.engine import FINISHED, RunStatus, StepState, StepStatus, context, decide
from app.workflows.rows import RunRecord, StepRecord, is_parked, unpark
from app.workflows.spec import Retry, Step, Workflow
from app.workflows.waits import due_time, iso, match_key, timeout_time

log = logging.getLogger(__name__)
DISPATCH_ERRORS = (InvalidEvent, ValueError, KeyError, TypeError)  # a payload or option the plane refuses


@dataclass(frozen=True)
class TaskOrder:
    """What a task step asks of the plane, beyond its payload; None is the task's own default."""

    priority: str | None = None
    delay: timedelta | None = None
    timeout: timedelta | None = None
    retry: Retry | None = None
    unique_key: str | None = None
    unique_ttl: timedelta | None = None


class Outlet(Protocol):
    def publish(self, run: RunRecord, step: Step, payload: dict[str, Any],
                headers: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """(the event's message id, None when events are off; its payload as published, checked against the
        catalogue). Raises one of DISPATCH_ERRORS for a bad one."""

    def enqueue(self, run: RunRecord, step: Step, payload: dict[str, Any], order: TaskOrder) -> tuple[str, bool]:
        """(task id, created): created is False when its unique key matched a task already enqueued."""

    def earlier_event(self, run: RunRecord, step: Step, key: str) -> Mapping[str, Any] | None:
        """The payload of an awaited event published with ``key`` since the run started, if any."""


def states(rows: Mapping[str, StepRecord]) -> dict[str, StepState]:
    return {step_id: StepState(StepStatus(row.status), json.loads(row.output) if row.output else None,
                               parked=is_parked(row))
            for step_id, row in rows.items()}


def set_status(row: StepRecord, status: StepStatus, now: datetime, *, output: Mapping[str, Any] | None = None,
               error: str | None = None) -> None:
    row.status, row.updated_at = status.value, now
    row.finished_at = now if status in FINISHED else None
    unpark(row)
    if output is not None:
        row.output = json.dumps(dict(output))
    if error is not None:
        row.error = error


def reopen(run: RunRecord, rows: Mapping[str, StepRecord]) -> None:
    """Resume a run that had failed: what it cancelled may start again."""
    for row in rows.values():
        if row.status == StepStatus.CANCELLED.value:
            row.status, row.finished_at = StepStatus.WAITING.value, None
    run.status, run.error, run.finished_at = RunStatus.RUNNING.value, None, None


def record_outcome(run: RunRecord, rows: dict[str, StepRecord], step_id: str, status: StepStatus, *, attempt: int,
                   now: datetime, output: Mapping[str, Any] | None = None, error: str | None = None,
                   began: datetime | None = None, worker: str | None = None) -> bool:
    """Record a task step's last attempt (succeeded or dead); False when it is to be ignored (the step finished
    already, or the run has no such step). The caller advances the run after a True."""
    row = rows.get(step_id)
    if row is not None and row.status == StepStatus.DEAD.value and status is StepStatus.SUCCEEDED:
        reopen(run, rows)  # an operator retried the step's dead letter and it went through
        row.status = StepStatus.RUNNING.value
    if row is None or StepStatus(row.status) in FINISHED:
        log.info("step %s of run %s already finished; %s ignored", step_id, run.id, status.value)
        return False
    row.status, row.finished_at, row.updated_at = status.value, now, now
    row.attempts = max(row.attempts, attempt)
    if began is not None:  # a quick step's start is recorded here, with its outcome
        row.started_at, row.worker = row.started_at or began, worker
    row.output = json.dumps(dict(output)) if output is not None else row.output
    row.error = error[:10_000] if error else (None if status is StepStatus.SUCCEEDED else row.error)
    return True


def wake(row: StepRecord, output: Mapping[str, Any], now: datetime) -> None:
    """A parked wait is over (its time, its event, or an operator): it succeeded with ``output``."""
    row.status, row.output = StepStatus.SUCCEEDED.value, json.dumps(dict(output))
    row.finished_at = row.updated_at = now
    unpark(row)


def timed_out(step: Step, due_at: datetime, *, woken: bool) -> dict[str, Any]:
    """A wait's output when its time came (or an operator cut it short): a timer's, or an event wait's time-out."""
    if step.kind == "wait_for":
        return {"timed_out": True, "woken": True} if woken else {"timed_out": True}
    return {"due_at": iso(due_at), "woken": woken}


def advance(run: RunRecord, workflow: Workflow, rows: dict[str, StepRecord], clock: Clock, outlet: Outlet,
            *, resend: bool = False) -> None:
    """Ask the engine what comes next and do it, until nothing changes (a skip can make another step ready);
    then finish the run if the engine says it is over."""
    inputs = json.loads(run.input)
    while True:
        decision = decide(workflow, inputs, states(rows))
        now = clock.now()
        for step_id in decision.skip:
            set_status(rows[step_id], StepStatus.SKIPPED, now)
        for step_id, why in decision.broken.items():
            set_status(rows[step_id], StepStatus.DEAD, now, error=why)
        for step_id in decision.cancel:
            set_status(rows[step_id], StepStatus.CANCELLED, now)
        for step_id in decision.dispatch:
            dispatch(run, workflow.step(step_id), rows, clock, outlet, resend=resend, waits=_event_waits(workflow))
        if not decision.changes:
            if decision.run_status is not RunStatus.RUNNING and run.status != decision.run_status.value:
                run.status, run.finished_at, run.updated_at = decision.run_status.value, now, now
                failed = [row for row in rows.values() if row.status == StepStatus.DEAD.value]
                run.error = "; ".join(f"{row.step_id}: {row.error}" for row in failed)[:10_000] or None
                log.info("run %s of %s %s", run.id, run.workflow, run.status)
            return


def dispatch(run: RunRecord, step: Step, rows: dict[str, StepRecord], clock: Clock, outlet: Outlet, *,
             resend: bool = False, waits: tuple[Step, ...] = ()) -> None:
    """Start ``step``: a task to the plane, an event published (waking the run's own ``waits`` parked for it), a
    wait parked."""
    row = rows[step.id]
    values = context(json.loads(run.input), states(rows))
    payload = step.payload.render(values) if step.payload is not None else {}
    now = clock.now()
    row.attempts = 0 if not resend else row.attempts
    if step.kind in ("wait", "wait_for"):
        park(run, step, row, values, now, outlet)
        return
    try:
        if step.kind == "event":
            headers = step.headers.render(values) if step.headers is not None else {}
            message_id, published = outlet.publish(run, step, payload, headers)
            _wake_own(step.target, published, rows, waits, now)
            if message_id is None:
                set_status(row, StepStatus.SKIPPED, now, output={"skipped": "events are disabled"})
            else:  # the outbox row commits with this transaction: from here on delivery is the plane's job
                row.task_id, row.ready_at = message_id, now
                set_status(row, StepStatus.SUCCEEDED, now, output={"message_id": message_id})
            return
        task_id, created = outlet.enqueue(run, step, payload, task_order(step, values, resend))
    except DISPATCH_ERRORS as exc:
        set_status(row, StepStatus.DEAD, now, error=f"could not dispatch: {type(exc).__name__}: {exc}")
        return
    row.task_id = task_id
    if not created:  # its unique key matched a task another run already enqueued
        set_status(row, StepStatus.SKIPPED, now, output={"duplicate_of": task_id})
        return
    row.status, row.ready_at, row.updated_at, row.finished_at = StepStatus.READY.value, now, now, None


def _event_waits(workflow: Workflow) -> tuple[Step, ...]:
    return tuple(step for step in workflow.steps if step.kind == "wait_for")


def _wake_own(event_type: str, payload: Mapping[str, Any], rows: dict[str, StepRecord], waits: tuple[Step, ...],
              now: datetime) -> None:
    """A run that publishes an event one of its own parked steps awaits wakes that step here, in memory: the
    publish hook wakes other runs' steps from the database, where this run's are not saved yet (the runner's
    outlet tells the hook to leave this run alone). Whether events are on or off, as the hook."""
    for step in waits:
        row = rows[step.id]
        if not is_parked(row) or row.awaiting != event_type or any(name not in payload for name in step.match_fields):
            continue
        if row.match_key == match_key(event_type, {name: payload[name] for name in step.match_fields}):
            wake(row, {"event": dict(payload), "timed_out": False}, now)


def task_order(step: Step, values: Mapping[str, Any], resend: bool) -> TaskOrder:
    unique = step.unique is not None and not resend  # a resend is the same step: it must not collide with itself
    return TaskOrder(priority=step.priority, delay=step.delay if not resend else None, timeout=step.timeout,
                     retry=step.retry,
                     unique_key=str(step.unique.key.render(values)) if unique and step.unique else None,
                     unique_ttl=step.unique.ttl if unique and step.unique else None)


def park(run: RunRecord, step: Step, row: StepRecord, values: Mapping[str, Any], now: datetime,
         outlet: Outlet) -> None:
    """Start a wait step: finish it at once when it is due already (or its event was published already),
    else leave it parked, status waiting, for the timer sweep or the event to wake."""
    row.ready_at, row.updated_at = now, now
    if step.kind == "wait":
        try:
            due = due_time(step, step.until.render(values) if step.until is not None else None, now)
        except (ValueError, OverflowError) as exc:  # overflow: a time past the calendar's end (year 9999)
            set_status(row, StepStatus.DEAD, now, error=f"could not start the wait: {exc}")
            return
        if due <= now:
            wake(row, {"due_at": iso(due), "woken": False}, now)
        else:
            row.due_at = due
        return
    match = step.match.render(values) if step.match is not None else {}
    if not isinstance(match, dict):
        set_status(row, StepStatus.DEAD, now,
                   error=f"could not start the wait: match rendered to {match!r}, not a table")
        return
    key = match_key(step.target, match)
    earlier = outlet.earlier_event(run, step, key)
    if earlier is not None:  # published between the run's start and now: the wait is over before it began
        wake(row, {"event": dict(earlier), "timed_out": False}, now)
        return
    try:
        timeout = timeout_time(step, now)
    except OverflowError:
        set_status(row, StepStatus.DEAD, now, error="could not start the wait: its timeout ends past year 9999")
        return
    row.awaiting, row.match_key, row.due_at = step.target, key, timeout
