"""Tasks the task-plane tests register in real worker processes (FLOWPLANE_TASKS__MODULES)."""

import contextlib
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.plane.tasks.policy import RetryPolicy
from app.plane.tasks.registry import PermanentError, TaskContext, TaskSpec


def note(context: TaskContext, payload: dict[str, Any], event: str) -> None:
    line = {"id": context.envelope.id, "tag": payload.get("tag"), "attempt": context.envelope.attempt,
            "pid": os.getpid(), "t": time.time(), "event": event}
    with Path(payload["log"]).open("a") as sink:
        sink.write(json.dumps(line) + "\n")


def record(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    note(context, payload, "ran")
    return {"ok": True}


def flaky(context: TaskContext, payload: dict[str, Any]) -> None:
    note(context, payload, "ran")
    if context.envelope.attempt <= payload["fail_times"]:
        raise RuntimeError(f"planned failure {context.envelope.attempt}")


def permanent(context: TaskContext, payload: dict[str, Any]) -> None:
    note(context, payload, "ran")
    if not Path(payload["log"] + ".fixed").exists():
        raise PermanentError("the payload cannot be handled (until fixed)")


def nap(context: TaskContext, payload: dict[str, Any]) -> None:
    note(context, payload, "start")
    deadline = time.monotonic() + payload["seconds"]
    while time.monotonic() < deadline:  # one long sleep would do too; SIGALRM interrupts either
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    note(context, payload, "end")


def stubborn(context: TaskContext, payload: dict[str, Any]) -> None:
    """Swallows the timeout's interrupt, as a handler's ``except Exception`` around a retried wait would, and is
    stuck until its worker gives it up; a later attempt finds the mark of the first and ends, unless it is stuck
    for good (``always``)."""
    from huey.exceptions import TaskTimeout

    note(context, payload, "start")
    mark = Path(payload["log"] + ".stubborn")
    if payload.get("always") or not mark.exists():
        mark.touch()
        while True:
            with contextlib.suppress(TaskTimeout):
                time.sleep(0.05)
    note(context, payload, "end")


def step(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any]:
    """A workflow step that notes when it started and ended, taking a moment so parallel steps overlap."""
    envelope = context.envelope
    started = time.time()
    time.sleep(payload.get("seconds", 0.01))
    line = {"run": envelope.run_id, "step": envelope.step_id, "start": started, "end": time.time(),
            "attempt": envelope.attempt, "pid": os.getpid()}
    with Path(payload["log"]).open("a") as sink:
        sink.write(json.dumps(line) + "\n")
    return {"step": envelope.step_id, "end": line["end"]}


def database(context: TaskContext, payload: dict[str, Any]) -> None:
    """Needs the database: notes each attempt, then reads from it."""
    from sqlalchemy import text
    from sqlmodel import Session

    note(context, payload, "ran")
    with Session(context.services.engine) as db:
        db.execute(text("SELECT 1"))
    note(context, payload, "end")


QUICK = RetryPolicy(attempts=4, first=timedelta(milliseconds=300), max=timedelta(seconds=1))

def scripted(context: TaskContext, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Fails its first ``fail`` attempts, then does what ``then`` says: a workflow simulator's StepScript, for real."""
    if context.envelope.attempt <= payload["fail"] or payload["then"] == "fail":
        raise RuntimeError("scripted failure")
    if payload["then"] == "permanent":
        raise PermanentError("scripted failure")
    output: dict[str, Any] | None = payload.get("output")
    return output


TASKS = [
    TaskSpec("test.record", record, retry=RetryPolicy(attempts=1), timeout=None),
    TaskSpec("test.flaky", flaky, retry=QUICK, timeout=None),
    TaskSpec("test.permanent", permanent, retry=QUICK, timeout=None),
    TaskSpec("test.database", database, retry=QUICK, timeout=timedelta(seconds=30)),
    TaskSpec("test.step", step, retry=RetryPolicy(attempts=3, first=timedelta(milliseconds=100)),
             timeout=timedelta(seconds=60)),
    TaskSpec("test.stubborn", stubborn, retry=RetryPolicy(attempts=2, first=timedelta(milliseconds=100)),
             timeout=timedelta(milliseconds=500)),
    TaskSpec("test.scripted", scripted, retry=RetryPolicy(attempts=3, first=timedelta(0), jitter="none"),
             timeout=timedelta(seconds=60)),
    TaskSpec("test.nap", nap, retry=RetryPolicy(attempts=2, first=timedelta(milliseconds=100)),
             timeout=timedelta(seconds=60)),
]
