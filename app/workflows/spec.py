"""A workflow definition once its file has been read and validated: plain, immutable values.

The loader builds these from ``workflows/*.toml``; the engine and the runner only ever see these.
Conditions and payload templates arrive compiled, so nothing downstream parses user text again.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

# What a condition or a template sees: {"input": {...}, "steps": {step_id: {"output": {...}, "status": "..."}}}
Context = Mapping[str, Any]
Reference = tuple[str, ...]  # a looked-up path such as ("steps", "welcome_email", "output", "message_id")


class Condition(Protocol):
    """A compiled ``when`` expression."""

    source: str

    def evaluate(self, context: Context) -> bool: ...

    def references(self) -> frozenset[Reference]: ...


class Template(Protocol):
    """A compiled payload (or header, or unique key) value: strings with ``{{ path }}``, nested in tables
    and arrays. Rendering only looks paths up."""

    def render(self, context: Context) -> Any: ...

    def references(self) -> frozenset[Reference]: ...


class InputType(StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    EMAIL = "email"
    UUID = "uuid"
    DATETIME = "datetime"
    JSON = "json"  # any JSON value


@dataclass(frozen=True)
class InputField:
    name: str
    type: InputType
    required: bool = True
    default: Any = None


StepKind = Literal["task", "event", "wait", "wait_for"]
FAIL_RUN = "fail_run"
CONTINUE = "continue"


@dataclass(frozen=True)
class Retry:
    attempts: int = 1
    backoff: Literal["exponential", "fixed"] = "exponential"
    first: timedelta = timedelta(seconds=2)
    max: timedelta = timedelta(minutes=10)
    jitter: Literal["full", "none"] = "full"


@dataclass(frozen=True)
class Unique:
    key: Template
    ttl: timedelta


@dataclass(frozen=True)
class Step:
    id: str
    kind: StepKind
    target: str  # the task name, or the event type (its routing key)
    after: tuple[str, ...] = ()
    when: Condition | None = None
    payload: Template | None = None
    # tasks
    priority: str | None = None  # high | medium | low; None = the task's default
    delay: timedelta | None = None
    timeout: timedelta | None = None
    retry: Retry | None = None  # None = the task's default
    unique: Unique | None = None
    # events
    headers: Template | None = None
    event_priority: int = 0
    # waits: a timer (`wait`, or `until` a time or duration its template gives), or an event (the target) with
    # the payload values it must `match`, waited for at most `timeout`
    wait: timedelta | None = None
    until: Template | None = None
    match: Template | None = None
    match_fields: tuple[str, ...] = ()  # the payload fields `match` names
    # either: fail_run | continue | the id of a compensation step
    on_failure: str = FAIL_RUN
    line: int = 0  # where the step starts in its file, for messages


@dataclass(frozen=True)
class Workflow:
    name: str
    description: str
    inputs: tuple[InputField, ...]
    steps: tuple[Step, ...]
    version: str  # sha256 of the file's bytes: a run is pinned to it
    source: str  # the file's text, kept with each version so a run can finish on it
    path: str = ""
    compensations: frozenset[str] = field(default_factory=frozenset)  # steps only run by an on_failure

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"workflow {self.name!r} has no step {step_id!r}")

    @property
    def step_ids(self) -> tuple[str, ...]:
        return tuple(step.id for step in self.steps)
