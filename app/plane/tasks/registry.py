"""Each task is declared once, with defaults that a workflow step or a caller may override per call."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from app.plane.envelope import Envelope
from app.plane.tasks.policy import Priority, RetryPolicy


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help (e.g. an undecodable payload): dead-letter now."""


class TaskContext(Protocol):
    """What a handler gets besides its payload."""

    @property
    def envelope(self) -> Envelope: ...

    @property
    def services(self) -> Any: ...


Handler = Callable[[TaskContext, dict[str, Any]], Mapping[str, Any] | None]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    handler: Handler
    priority: Priority = Priority.MEDIUM
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: timedelta | None = timedelta(minutes=5)
    unique_ttl: timedelta | None = None  # a default uniqueness window, keyed by the caller's unique key
    description: str = ""


class TaskRegistry:
    """Task name → spec: one table, read at a glance."""

    def __init__(self, specs: Iterable[TaskSpec] = ()) -> None:
        self._specs: dict[str, TaskSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: TaskSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"task {spec.name!r} is declared twice")
        self._specs[spec.name] = spec

    def __getitem__(self, name: str) -> TaskSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"no task named {name!r}; known: {', '.join(sorted(self._specs))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Any:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        return sorted(self._specs)
