"""What the task plane gives a handler (its Context, a value built once per process) and tells others: the
dead-letter store a Failure, a workflow's runner each step's progress."""

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from app.plane.envelope import Envelope
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions


@dataclass(frozen=True)
class Failure:
    """A task that will not be retried again: what the dead-letter store keeps."""

    envelope: Envelope
    options: TaskOptions
    error: str
    traceback: str
    attempts: int

    @classmethod
    def of(cls, task_id: str, name: str, args: tuple[Any, ...], error: str, trace: str, queue: str) -> "Failure":
        """A task's failure from its arguments (envelope, options), with whatever of them can be read."""
        envelope_json, options_json = args[0], args[1]
        try:
            envelope = Envelope.from_json(envelope_json)
        except (ValueError, KeyError, TypeError):  # kept under a fresh id when its own is not one an envelope takes
            undecodable = {"undecodable": str(envelope_json), "task_id": task_id}
            try:
                envelope = Envelope(kind="task", type=name, payload=undecodable, id=task_id)
            except ValueError:
                envelope = Envelope(kind="task", type=name, payload=undecodable)
        try:
            options = TaskOptions.from_json(options_json)
        except (ValueError, KeyError, TypeError):
            options = unknown_options(queue)
        return cls(envelope=envelope, options=options, error=error, traceback=trace, attempts=envelope.attempt)


def unknown_options(queue: str) -> TaskOptions:
    """What a dead letter records of a task whose own options cannot be read."""
    return TaskOptions(queue=queue, priority=Priority.MEDIUM, retry=RetryPolicy(attempts=1), timeout=None)


@dataclass(frozen=True)
class Context:
    envelope: Envelope
    services: Any


class Succeeded(NamedTuple):
    """A step's task that succeeded: what its outcome records."""

    envelope: Envelope
    output: Mapping[str, Any] | None
    began: datetime | None


class StepObserver(Protocol):
    """Told about tasks that carry a workflow step (their envelope has run and step ids)."""

    def step_started(self, envelope: Envelope, began: datetime) -> None: ...

    def step_succeeded(self, envelope: Envelope, output: Mapping[str, Any] | None,
                       began: datetime | None = None) -> None: ...

    def steps_succeeded(self, outcomes: Sequence[Succeeded]) -> None:
        """Several at once, all or none: a worker's batch."""
        ...

    def step_retrying(self, envelope: Envelope, error: str, began: datetime | None = None) -> None: ...

    def step_dead(self, envelope: Envelope, error: str, began: datetime | None = None) -> None: ...


class ProcessLocal:
    """Builds a value once per process: connections made before a fork must not cross it."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._pid = -1
        self._value: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():
                self._value, self._pid = self._factory(), os.getpid()
            return self._value
