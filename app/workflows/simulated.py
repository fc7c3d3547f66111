"""What a simulation is given (a scenario: the input, task steps' scripted attempts, events that arrive) and what
it gives back (a result: the timeline, the steps as they ended, what was published, the paths exercised)."""

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from app.workflows.engine import StepStatus
from app.workflows.rows import StepRecord
from app.workflows.spec import Workflow

START = datetime(2026, 1, 1, tzinfo=UTC)  # a fixed start: rendered times are the same on every run


class ScenarioError(ValueError):
    """The scenario cannot be played on this workflow (an input the workflow refuses, an event its catalogue
    does not accept); ``path`` is the scenario's key it concerns."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class StepScript:
    """How a task step's attempts go: ``failures`` retryable failures first, then ``then``."""

    failures: int = 0
    then: Literal["ok", "fail", "permanent"] = "ok"  # fail: every attempt fails, retried until its policy gives up
    output: Mapping[str, Any] | None = None  # what a successful attempt returns
    error: str = "scripted failure"

    def outcome(self, attempt: int) -> Literal["ok", "fail", "permanent"]:
        return "fail" if attempt <= self.failures else self.then


@dataclass(frozen=True)
class Arrival:
    """An event published by someone else ``at`` after the run started."""

    at: timedelta
    type: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    input: Mapping[str, Any]
    steps: Mapping[str, StepScript] = field(default_factory=dict)  # unscripted task steps succeed, no output
    events: tuple[Arrival, ...] = ()
    events_enabled: bool = True
    start: datetime = START


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: timedelta  # since the run started
    step: str | None  # None: the run itself, or an event arriving
    what: str  # enqueued | published | ok | retrying | dead | skipped | cancelled | waiting | woke | timed out |
    #            arrived | succeeded | failed (the run)
    attempt: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.total_seconds(), "step": self.step, "what": self.what, "attempt": self.attempt,
                "detail": dict(self.detail)}


@dataclass
class Facts:
    """What a run exercised, for the scenarios' coverage report."""

    conditions: dict[str, set[bool]] = field(default_factory=dict)  # step -> the values its `when` took
    retried: set[str] = field(default_factory=set)  # task steps that failed and ran again
    exhausted: set[str] = field(default_factory=set)  # task steps dead once their retries ran out
    timed_out: set[str] = field(default_factory=set)  # wait_for steps whose time-out came
    event_came: set[str] = field(default_factory=set)  # wait_for steps whose event came

    def merge(self, other: "Facts") -> None:
        for step_id, values in other.conditions.items():
            self.conditions.setdefault(step_id, set()).update(values)
        for name in ("retried", "exhausted", "timed_out", "event_came"):
            getattr(self, name).update(getattr(other, name))


@dataclass
class Result:
    workflow: Workflow
    status: str  # the run's: running (still waiting at the end), succeeded or failed
    timeline: list[Entry]
    steps: dict[str, StepRecord]
    payloads: dict[str, Any]  # each dispatched step's last rendered payload
    published: list[tuple[str, dict[str, Any]]]  # (event type, payload) the run published, in order
    facts: Facts
    ended: timedelta  # the virtual time of the run's last move
    cut_short: bool = False  # MAX_MOVES or HORIZON reached with moves still due

    def in_order(self, *statuses: StepStatus) -> list[str]:
        """Ids of the steps that ended with one of ``statuses``, in the order they did."""
        wanted = {status.value for status in statuses}
        return sorted((step_id for step_id, row in self.steps.items() if row.status in wanted),
                      key=lambda step_id: getattr(self.steps[step_id], "ended", math.inf))

    def as_json(self) -> dict[str, Any]:
        return {"workflow": self.workflow.name, "version": self.workflow.version, "status": self.status,
                "ended": self.ended.total_seconds(),
                "steps": {step_id: {"status": row.status, "attempts": row.attempts,
                                    "output": json.loads(row.output) if row.output else None, "error": row.error}
                          for step_id, row in self.steps.items()},
                "published": [{"type": type_, "payload": payload} for type_, payload in self.published],
                "timeline": [entry.as_json() for entry in self.timeline]}
