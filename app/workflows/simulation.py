"""A run in memory, on a virtual clock: the workers' own code (``progress``, hence the engine) with no database,
queue or broker. Task steps take their outcomes from a script, awaited events arrive when the scenario says,
and the clock jumps to whatever is due next: a delayed task, a retry's backoff, a timer, a time-out, an event.

Attempts take no time, and a retry waits the longest its backoff allows (full jitter would pick at random up to
it): the same timeline on every run. Not modelled: handlers' run time, task time-outs (script them as failures),
the timer sweep's second, an operator's retry or wake."""

import heapq
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from app.domain.events import EventCatalogue, InvalidEvent
from app.plane.tasks.registry import TaskRegistry
from app.workflows import progress
from app.workflows.engine import FINISHED, RunStatus, StepStatus
from app.workflows.inputs import check_inputs
from app.workflows.orders import plane_options
from app.workflows.progress import TaskOrder
from app.workflows.rows import RunRecord, StepRecord, is_parked
from app.workflows.simulated import Arrival, Entry, Facts, Result, Scenario, ScenarioError, StepScript
from app.workflows.spec import Step, Workflow
from app.workflows.waits import fields_of, match_key

SIMULATED_QUEUE = "simulated"
HORIZON = timedelta(days=3650)  # virtual time after which what is still waiting is left waiting
MAX_MOVES = 20_000  # a run with more moves is cut short (a retry policy of a million attempts, say)


_ENDINGS = itertools.count()
_ENDED = frozenset(status.value for status in FINISHED)


class _Traced(StepRecord):
    """A step record that notes when it ends, in the order steps end: moves inside one advance happen at one
    virtual moment, and the timeline lists some of them only after it."""

    __slots__ = ("ended",)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "status" and value in _ENDED and getattr(self, "status", None) != value:
            object.__setattr__(self, "ended", next(_ENDINGS))
        object.__setattr__(self, name, value)


class _VirtualClock:
    def __init__(self, start: datetime) -> None:
        self.start = self.moment = start

    def now(self) -> datetime:
        return self.moment


@dataclass(order=True)
class _Due:
    at: datetime
    precedence: int  # at the same moment, higher priority tasks first, as workers take them
    sequence: int
    kind: Literal["attempt", "timer", "arrival"] = field(compare=False)
    step: str = field(compare=False, default="")
    attempt: int = field(compare=False, default=1)
    arrival: Arrival | None = field(compare=False, default=None)


class _Memory:
    """The simulator's outlet: what the run sends is noted, tasks go on the agenda, events become signals."""

    def __init__(self, simulation: "_Simulation") -> None:
        self.sim = simulation

    def publish(self, run: RunRecord, step: Step, payload: dict[str, Any],
                headers: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        sim = self.sim
        payload = sim.catalogue.validate(step.target, payload)  # as the plane does: InvalidEvent for a bad one
        sim.payloads[step.id] = payload
        sim.signal(step.target, payload)  # kept for waits that park later, events on or off (as the hook)
        if not sim.scenario.events_enabled:
            return None, payload
        message_id = f"simulated-message-{next(sim.ids)}"
        sim.note(step.id, "published", detail={"event": step.target, "payload": payload, "headers": headers,
                                               "message_id": message_id})
        sim.published.append((step.target, payload))
        return message_id, payload

    def enqueue(self, run: RunRecord, step: Step, payload: dict[str, Any], order: TaskOrder) -> tuple[str, bool]:
        sim = self.sim
        sim.payloads[step.id] = payload
        options, ttl = sim.registry.options(step.target, SIMULATED_QUEUE, now=sim.clock.now(), **plane_options(order))
        task_id = f"simulated-task-{next(sim.ids)}"
        if order.unique_key is not None and ttl is not None:
            holder, until = sim.unique.get(order.unique_key, ("", sim.clock.start))
            if holder and until > sim.clock.now():
                return holder, False
            sim.unique[order.unique_key] = (task_id, sim.clock.now() + ttl)
        sim.policies[step.id] = options.retry
        runs_at = options.eta or sim.clock.now()
        detail: dict[str, Any] = {"task": step.target, "payload": payload, "priority": options.priority.name.lower(),
                                  "attempts": options.retry.attempts}
        if runs_at > sim.clock.now():
            detail["runs_in"] = (runs_at - sim.clock.now()).total_seconds()
        sim.note(step.id, "enqueued", detail=detail)
        sim.schedule(_Due(runs_at, -int(options.priority), next(sim.sequence), "attempt", step.id, 1))
        return task_id, True

    def earlier_event(self, run: RunRecord, step: Step, key: str) -> Mapping[str, Any] | None:
        for event_type, signal_key, payload in self.sim.signals:
            if event_type == step.target and signal_key == key:
                return payload
        return None


class _Simulation:
    def __init__(self, workflow: Workflow, scenario: Scenario, registry: TaskRegistry,
                 catalogue: EventCatalogue) -> None:
        self.workflow, self.scenario, self.registry, self.catalogue = workflow, scenario, registry, catalogue
        self.clock = _VirtualClock(scenario.start)
        self.ids, self.sequence = itertools.count(1), itertools.count()
        self.agenda: list[_Due] = []
        self.timeline: list[Entry] = []
        self.payloads: dict[str, Any] = {}
        self.policies: dict[str, Any] = {}
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.signals: list[tuple[str, str, dict[str, Any]]] = []
        self.unique: dict[str, tuple[str, datetime]] = {}
        self.facts = Facts()
        self.outlet = _Memory(self)

    # -- what the outlet and the agenda use ---------------------------------------------------------
    def note(self, step: str | None, what: str, attempt: int | None = None, detail: Mapping[str, Any] | None = None,
             ) -> None:
        self.timeline.append(Entry(self.clock.now() - self.clock.start, step, what, attempt, detail or {}))

    def schedule(self, due: _Due) -> None:
        heapq.heappush(self.agenda, due)

    def signal(self, event_type: str, payload: Mapping[str, Any]) -> list[str]:
        """An event was published: kept for waits that park later; the ids of the steps parked on it now (the
        run's own publish wakes those in ``progress``, as the runner's does; someone else's, ``_arrive``)."""
        parked: list[str] = []
        for step in self.workflow.steps:
            if step.kind != "wait_for" or step.target != event_type:
                continue
            fields = fields_of(step).split(",") if step.match_fields else []
            if any(name not in payload for name in fields):
                continue
            key = match_key(event_type, {name: payload[name] for name in fields})
            self.signals.append((event_type, key, dict(payload)))
            row = self.rows.get(step.id)
            if row is not None and is_parked(row) and row.awaiting == event_type and row.match_key == key:
                parked.append(step.id)
        return parked

    # -- the run ------------------------------------------------------------------------------------
    def play(self) -> Result:
        try:
            inputs = check_inputs(self.workflow, dict(self.scenario.input))
        except ValueError as exc:
            raise ScenarioError(("input",), str(exc)) from None
        now = self.clock.now()
        self.run = RunRecord(id="simulated", workflow=self.workflow.name, version=self.workflow.version,
                             status=RunStatus.RUNNING.value, input=json.dumps(inputs), correlation_id="simulated",
                             error=None, created_at=now, updated_at=now, finished_at=None)
        self.rows: dict[str, StepRecord] = {
            step.id: _Traced(run_id=self.run.id, step_id=step.id, kind=step.kind, target=step.target,
                             status=StepStatus.WAITING.value, updated_at=now) for step in self.workflow.steps}
        for arrival in self.scenario.events:
            self.schedule(_Due(self.clock.start + arrival.at, 0, next(self.sequence), "arrival", arrival=arrival))
        self._advance()
        moves = 0
        while self.agenda:
            if moves >= MAX_MOVES or self.agenda[0].at > self.clock.start + HORIZON:
                break
            due = heapq.heappop(self.agenda)
            self.clock.moment = max(self.clock.moment, due.at)
            moves += 1
            if due.kind == "attempt":
                self._attempt(due)
            elif due.kind == "timer":
                self._timer(due.step, due.at)
            elif due.arrival is not None:
                self._arrive(due.arrival)
        ended = self.timeline[-1].at if self.timeline else timedelta(0)
        return Result(self.workflow, self.run.status, self.timeline, self.rows, self.payloads, self.published,
                      self.facts, ended, cut_short=bool(self.agenda))

    def _advance(self) -> None:
        """The engine's next moves, then what they changed, on the timeline."""
        before = {step_id: (row.status, row.due_at, row.awaiting) for step_id, row in self.rows.items()}
        was = self.run.status
        progress.advance(self.run, self.workflow, self.rows, self.clock, self.outlet)
        self._note_changes(before)
        if self.run.status != was and StepStatus.RUNNING.value != self.run.status:
            self.note(None, self.run.status, detail={"error": self.run.error} if self.run.error else {})

    def _note_changes(self, before: Mapping[str, tuple[str, datetime | None, str | None]]) -> None:
        for step in self.workflow.steps:
            row, (status, due_at, awaiting) = self.rows[step.id], before[step.id]
            if (row.status, row.due_at, row.awaiting) == (status, due_at, awaiting):
                continue
            if step.when is not None and status == StepStatus.WAITING.value and not before_parked(due_at, awaiting):
                self._note_condition(step, row)
            if is_parked(row):
                detail: dict[str, Any] = {}
                if row.due_at is not None:
                    detail["until"] = (row.due_at - self.clock.start).total_seconds()
                    self.schedule(_Due(row.due_at, 0, next(self.sequence), "timer", step.id))
                if row.awaiting is not None:
                    detail["event"] = row.awaiting
                self.note(step.id, "waiting", detail=detail)
            elif row.status == StepStatus.SKIPPED.value:
                reason = json.loads(row.output) if row.output else {}
                self.note(step.id, "skipped", detail=reason or ({"when": step.when.source} if step.when else {}))
            elif row.status == StepStatus.CANCELLED.value:
                self.note(step.id, "cancelled")
            elif row.status == StepStatus.DEAD.value:
                self.note(step.id, "dead", detail={"error": row.error})
            elif row.status == StepStatus.SUCCEEDED.value and step.kind.startswith("wait"):
                output = json.loads(row.output) if row.output else {}
                if "event" in output:  # its event came before it parked, or the run's own publish woke it
                    self.facts.event_came.add(step.id)
                self.note(step.id, "woke", detail={"output": output})

    def _note_condition(self, step: Step, row: StepRecord) -> None:
        """Which way the step's `when` went, when the engine decided on it."""
        if step.id in self.workflow.compensations or row.status == StepStatus.CANCELLED.value:
            return
        if row.status == StepStatus.SKIPPED.value and row.output is None:  # events off, a duplicate: an output
            value = False
        elif row.status == StepStatus.DEAD.value and (row.error or "").startswith("condition "):
            return  # it could not be evaluated
        else:
            value = True
        self.facts.conditions.setdefault(step.id, set()).add(value)

    def _attempt(self, due: _Due) -> None:
        step_id, attempt = due.step, due.attempt
        row = self.rows[step_id]
        if StepStatus(row.status) in FINISHED:
            return  # the run failed meanwhile and cancelled it, or it ended otherwise
        script = self.scenario.steps.get(step_id, StepScript())
        outcome = script.outcome(attempt)
        now = self.clock.now()
        if outcome == "ok":
            self.note(step_id, "ok", attempt, {"output": dict(script.output)} if script.output is not None else {})
            if progress.record_outcome(self.run, self.rows, step_id, StepStatus.SUCCEEDED, attempt=attempt, now=now,
                                       output=script.output, began=now):
                self._advance()
            return
        policy = self.policies[step_id]
        error = f"PermanentError: {script.error}" if outcome == "permanent" else f"RuntimeError: {script.error}"
        if outcome == "fail" and attempt < policy.attempts:
            backoff = policy.ceiling(attempt)
            self.note(step_id, "retrying", attempt, {"error": error, "next_in": backoff.total_seconds()})
            row.status, row.attempts, row.error, row.updated_at = StepStatus.RETRYING.value, attempt, error, now
            self.facts.retried.add(step_id)
            self.schedule(_Due(now + backoff, due.precedence, next(self.sequence), "attempt", step_id, attempt + 1))
            return
        if outcome == "fail":
            self.facts.exhausted.add(step_id)
        if progress.record_outcome(self.run, self.rows, step_id, StepStatus.DEAD, attempt=attempt, now=now,
                                   error=error, began=now):
            self._advance()

    def _timer(self, step_id: str, due_at: datetime) -> None:
        row = self.rows[step_id]
        if not is_parked(row) or row.due_at is None or row.due_at > self.clock.now():
            return  # its event came first
        step = self.workflow.step(step_id)
        if step.kind == "wait_for":
            self.facts.timed_out.add(step_id)
        self._wake(step_id, progress.timed_out(step, row.due_at, woken=False))

    def _arrive(self, arrival: Arrival) -> None:
        try:
            payload = self.catalogue.validate(arrival.type, dict(arrival.payload))
        except (InvalidEvent, KeyError) as exc:
            index = next(index for index, given in enumerate(self.scenario.events) if given is arrival)
            raise ScenarioError(("events", index, "payload"), str(exc)) from None
        self.note(None, "arrived", detail={"event": arrival.type, "payload": payload})
        for step_id in self.signal(arrival.type, payload):
            self._wake(step_id, {"event": dict(payload), "timed_out": False})

    def _wake(self, step_id: str, output: dict[str, Any]) -> None:
        row = self.rows[step_id]
        if not is_parked(row):
            return
        if "event" in output:
            self.facts.event_came.add(step_id)
        progress.wake(row, output, self.clock.now())
        self.note(step_id, "timed out" if output.get("timed_out") else "woke", detail={"output": output})
        self._advance()


def before_parked(due_at: datetime | None, awaiting: str | None) -> bool:
    return due_at is not None or awaiting is not None


def simulate(workflow: Workflow, scenario: Scenario, registry: TaskRegistry, catalogue: EventCatalogue) -> Result:
    """Play ``scenario`` on ``workflow``; ScenarioError when the scenario does not fit the workflow."""
    try:
        return _Simulation(workflow, scenario, registry, catalogue).play()
    except OverflowError:  # a delay or backoff that ends past year 9999
        raise ScenarioError(("start",), "a time in this run falls past year 9999") from None
