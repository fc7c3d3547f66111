"""What the plane needs of a queue backend beyond Huey's storage API: leases, atomic promotion of
due tasks, one copy per task id, pause, outcome counters and inspection. Redis and SQLite implement it."""

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

STATES = ("pending", "scheduled", "active")
# Prometheus' default buckets, then up to 5 minutes (the default task timeout).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 30.0, 60.0,
                    120.0, 300.0)
BUCKET_LABELS = (*map(repr, DURATION_BUCKETS), "+Inf")  # Prometheus' `le` labels: "0.005" … "300.0", "+Inf"


class Ack(NamedTuple):
    """A finished task's lease to drop and what to count with it (the worker sends it with its next take)."""

    handle: Any
    outcome: str | None = None  # processed | failed; None counts nothing
    minute: int = 0
    task: str = ""
    seconds: float = 0.0  # how long it ran: one observation of the duration histogram
    task_id: str = ""  # whose hold on the queue ends with the lease


def minute_of(now: datetime | None = None) -> int:
    """The minute bucket outcome counters use."""
    return int((now or datetime.now(UTC)).timestamp() // 60)


def total_fields(outcome: str, task: str, seconds: float) -> tuple[str, str, int]:
    """What a finished attempt adds to the all-time totals: one to the count of its (outcome, duration bucket,
    task) — outcome counts and histogram buckets both derive from these — and its microseconds to the task's
    duration sum (an integer: exact, and cheaper to add than a float)."""
    le = BUCKET_LABELS[bisect.bisect_left(DURATION_BUCKETS, seconds)]  # the smallest bound >= seconds
    return f"{outcome}|{le}|{task}", f"us|{task}", round(seconds * 1_000_000)


@dataclass(frozen=True)
class TaskTotals:
    """Counters since the queue was created, kept in the storage so every process sees the same numbers."""

    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)  # (task, processed | failed) -> count
    buckets: dict[str, dict[str, int]] = field(default_factory=dict)  # task -> {le: count in that bucket alone}
    sums: dict[str, float] = field(default_factory=dict)  # task -> seconds

    @classmethod
    def parse(cls, fields: Mapping[str, int]) -> "TaskTotals":
        """Read the fields :func:`total_fields` names."""
        totals = cls()
        for name, value in fields.items():
            kind, _, rest = name.partition("|")
            if kind == "us":
                totals.sums[rest] = value / 1_000_000
                continue
            le, _, task = rest.partition("|")
            totals.outcomes[(task, kind)] = totals.outcomes.get((task, kind), 0) + value
            bucket = totals.buckets.setdefault(task, {})
            bucket[le] = bucket.get(le, 0) + value
        return totals


@dataclass(frozen=True)
class QueueCounts:
    pending: dict[str, int]
    scheduled: int
    active: int
    paused: bool


class LeasedStorage(Protocol):
    name: str
    lease_seconds: float
    blocking: bool

    def enqueue(self, data: bytes, priority: int | None = None, task_id: str = "") -> bool: ...
    def add_to_schedule(self, data: bytes, ts: datetime, priority: int | None = None, task_id: str = "",
                        moving: bool = False) -> bool: ...
    def promote_due(self, now: datetime, limit: int = 1000) -> int: ...
    def enqueue_many(self, tasks: Sequence[tuple[bytes, int | None, str]]) -> list[bool]: ...
    def lease_many(self, tasks: Sequence[tuple[bytes, int | None, str]]) -> list[Any | None]: ...
    def take(self, ack: Ack | None = None) -> tuple[Any, bytes] | None: ...
    def take_many(self, acks: Sequence[Ack], count: int) -> list[tuple[Any, bytes]]: ...
    def extend(self, handle: Any) -> bool: ...
    def ack(self, handle: Any, outcome: str | None = None, minute: int = 0, task: str = "",
            seconds: float = 0.0, task_id: str = "") -> None: ...
    def release(self, handle: Any) -> None: ...
    def reap(self, now: float | None = None) -> int: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def is_paused(self) -> bool: ...
    def outcomes(self, outcome: str, minutes: list[int]) -> list[int]: ...
    def totals(self) -> TaskTotals: ...
    def counts(self) -> QueueCounts: ...
    def members(self, state: str, offset: int, limit: int) -> list[tuple[bytes, float]]: ...
    def remove(self, state: str, task_id_matches: Callable[[bytes], bool], task_id: str = "") -> bool: ...
    def close(self) -> bool: ...
    def adopt_legacy_keys(self) -> int: ...
    def flush_all(self) -> None: ...
