"""What the task plane gives a handler (its Context, a value built once per process) and tells others: the
dead-letter store a Failure, a workflow's runner each step's progress."""

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from app.plane.envelope import Envelope
from app.plane.tasks.policy import TaskOptions


@dataclass(frozen=True)
class Failure:
    """A task that will not be retried again: what the dead-letter store keeps."""

    envelope: Envelope
    options: TaskOptions
    error: str
    traceback: str
    attempts: int


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
