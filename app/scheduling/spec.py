"""A schedule once its file has been read and validated: plain, immutable values."""

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal


class Overlap(StrEnum):
    """What a tick does while the previous tick's run is unfinished (Kubernetes' concurrencyPolicy)."""

    ALLOW = "allow"  # start another
    FORBID = "forbid"  # skip this tick
    REPLACE = "replace"  # cancel the previous run, then start


TargetKind = Literal["task", "workflow"]


@dataclass(frozen=True)
class Schedule:
    name: str
    target_kind: TargetKind
    target: str  # a task name or a workflow name
    payload: dict[str, Any] = field(default_factory=dict)  # the task's payload, or the workflow's input
    cron: str | None = None  # five fields: minute hour day-of-month month day-of-week
    every: timedelta | None = None  # or an interval; exactly one of cron / every is set
    timezone: str = "UTC"  # an IANA name; cron fields are read in it
    enabled: bool = True
    misfire_grace: timedelta = timedelta(minutes=5)  # a tick later than this is skipped, not caught up
    coalesce: bool = True  # several missed ticks inside the grace fire once
    overlap: Overlap = Overlap.ALLOW
    description: str = ""
    version: str = ""  # sha256 of the file
    path: str = ""
