"""How a task is retried: exponential or fixed backoff, full jitter, a cap. Pure maths."""

import json
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Literal


class Priority(IntEnum):
    """Higher runs first; within a priority, oldest first."""

    LOW = 0
    MEDIUM = 5
    HIGH = 10

    @classmethod
    def parse(cls, value: "str | int | Priority") -> "Priority":
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(f"expected a priority of high, medium or low, got {value!r}") from None
        return cls(value)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # runs in all, the first included
    backoff: Literal["exponential", "fixed"] = "exponential"
    first: timedelta = timedelta(seconds=2)
    max: timedelta = timedelta(minutes=10)
    jitter: Literal["full", "none"] = "full"

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a task runs at least once: attempts must be >= 1")
        if self.first < timedelta(0) or self.max < self.first:
            raise ValueError("backoff needs 0 <= first <= max")

    def with_changes(self, **changes: object) -> "RetryPolicy":
        return replace(self, **changes)  # type: ignore[arg-type]

    def ceiling(self, failed_attempt: int) -> timedelta:
        """The longest wait after attempt ``failed_attempt`` (1-based) fails."""
        if self.backoff == "fixed":
            return self.first
        exponent = min(failed_attempt - 1, 62)  # 2**62 seconds already exceeds any cap
        seconds = self.first.total_seconds() * (2**exponent)
        return min(timedelta(seconds=min(seconds, self.max.total_seconds())), self.max)

    def delay(self, failed_attempt: int, rng: random.Random | None = None) -> timedelta:
        """Wait before the next attempt: the ceiling, or with full jitter uniform in [0, ceiling]."""
        ceiling = self.ceiling(failed_attempt)
        if self.jitter == "none":
            return ceiling
        return timedelta(seconds=(rng or random).uniform(0, ceiling.total_seconds()))


@dataclass(frozen=True)
class TaskOptions:
    """How one task is delivered: resolved from its spec's defaults and the caller's overrides."""

    queue: str
    priority: Priority
    retry: RetryPolicy
    timeout: timedelta | None
    eta: datetime | None = None

    def to_json(self) -> str:
        return json.dumps({
            "queue": self.queue,
            "priority": int(self.priority),
            "retry": {"attempts": self.retry.attempts, "backoff": self.retry.backoff,
                      "first": self.retry.first.total_seconds(), "max": self.retry.max.total_seconds(),
                      "jitter": self.retry.jitter},
            "timeout": self.timeout.total_seconds() if self.timeout else None,
            "eta": self.eta.isoformat() if self.eta else None,
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "TaskOptions":
        data = json.loads(text)
        retry = data["retry"]
        return cls(
            queue=data["queue"],
            priority=Priority(data["priority"]),
            retry=RetryPolicy(attempts=retry["attempts"], backoff=retry["backoff"],
                              first=timedelta(seconds=retry["first"]), max=timedelta(seconds=retry["max"]),
                              jitter=retry["jitter"]),
            timeout=timedelta(seconds=data["timeout"]) if data.get("timeout") else None,
            eta=datetime.fromisoformat(data["eta"]) if data.get("eta") else None,
        )
