"""Every task Flowplane knows, with its defaults: one table, read at a glance."""

from datetime import timedelta
from typing import Any

from app.handlers.email import send_welcome
from app.plane.tasks.policy import Priority, RetryPolicy
from app.plane.tasks.registry import TaskContext, TaskSpec


def noop(context: TaskContext, payload: dict[str, Any]) -> None:
    """Does nothing: `just bench` measures the plane with it, operators use it to probe workers."""


TASKS = [
    TaskSpec("email.welcome", send_welcome, priority=Priority.HIGH,
             retry=RetryPolicy(attempts=8, first=timedelta(seconds=2), max=timedelta(minutes=10)),
             timeout=timedelta(seconds=30), unique_ttl=timedelta(hours=24),
             description="Send the welcome mail to a new user."),
    TaskSpec("plane.noop", noop, priority=Priority.MEDIUM, retry=RetryPolicy(attempts=1), timeout=None,
             description="Do nothing (benchmarks, probes)."),
]
