"""Each task is declared once, with defaults that a workflow step or a caller may override per call."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.plane.envelope import Envelope
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help (e.g. an undecodable payload): dead-letter now."""


class TaskContext(Protocol):
    """What a handler gets besides its payload."""

    @property
    def envelope(self) -> Envelope: ...

    @property
    def services(self) -> Any: ...


class Default:
    """The spec's own value (for an option where None means something: no timeout)."""


DEFAULT = Default()
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

    def options(self, task: str, queue: str, *, priority: "Priority | str | None" = None,
                delay: timedelta | None = None, eta: datetime | None = None, retry: RetryPolicy | None = None,
                timeout: "timedelta | None | Default" = DEFAULT, unique_key: str | None = None,
                unique_ttl: timedelta | None = None,
                now: datetime | None = None) -> tuple[TaskOptions, timedelta | None]:
        """How ``task`` is delivered, its spec's defaults overridden by what is given, and its uniqueness window;
        ValueError naming what is wrong. The plane enqueues with these; the workflow simulator runs by them."""
        if task not in self._specs:
            raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(self.names())}")
        spec = self._specs[task]
        if delay is not None and eta is not None:
            raise ValueError("give delay or eta, not both")
        if eta is not None and eta.tzinfo is None:
            raise ValueError("eta must be timezone-aware")
        if delay is not None:
            eta = (now or datetime.now(UTC)) + delay
        options = TaskOptions(queue=queue, priority=Priority.parse(priority) if priority is not None else spec.priority,
                              retry=retry or spec.retry,
                              timeout=timeout if not isinstance(timeout, Default) else spec.timeout,
                              eta=eta)
        ttl = unique_ttl or spec.unique_ttl
        if unique_key is not None and ttl is None:
            raise ValueError(f"unique_key needs a unique_ttl (task {task!r} declares no default)")
        return options, ttl
