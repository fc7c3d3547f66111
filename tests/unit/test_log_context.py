"""Log lines carry the ids of the work in hand: a task's run, step and correlation ids, as JSON keys."""

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import logs
from app.plane.envelope import Envelope
from app.plane.tasks.huey_plane import PlaneHuey
from app.plane.tasks.policy import Priority, RetryPolicy, TaskOptions
from app.plane.tasks.registry import TaskContext, TaskRegistry, TaskSpec
from app.plane.tasks.sqlite_storage import LeasedSqliteStorage


@pytest.fixture
def json_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """logs.configure as the processes call it, with stderr a buffer; the root logger restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    logs.configure("info", json_lines=True)
    yield lambda: [json.loads(line) for line in stderr.getvalue().splitlines()]
    root.handlers[:], root.level = handlers, level


def test_lines_inside_a_context_carry_its_fields_and_lines_after_it_do_not(json_lines: Any) -> None:
    log = logging.getLogger("app.example")
    with logs.context(run_id="run-1", step_id=None, correlation_id="corr-1"):
        with logs.context(task="email.welcome", task_id="task-1"):
            log.info("inner")
        log.info("outer", extra={"correlation_id": "explicit"})
    log.info("after")

    inner, outer, after = json_lines()
    assert inner["message"] == "inner" and inner["run_id"] == "run-1" and inner["correlation_id"] == "corr-1"
    assert inner["task"] == "email.welcome" and inner["task_id"] == "task-1"
    assert "step_id" not in inner  # None is left out
    assert outer["run_id"] == "run-1" and "task_id" not in outer
    assert outer["correlation_id"] == "explicit"  # what the call passes wins
    assert not {"run_id", "task", "task_id", "correlation_id"} & set(after)


def test_every_line_about_a_task_a_worker_runs_carries_its_ids(json_lines: Any, tmp_path: Path) -> None:
    def handler(context: TaskContext, payload: dict[str, Any]) -> None:
        logging.getLogger("app.handlers.example").info("handling %s", payload["n"])

    # Given a task of a workflow step (no step observer: only the log lines are of interest here)
    registry = TaskRegistry([TaskSpec("example.log", handler, retry=RetryPolicy(attempts=1), timeout=None)])
    huey = PlaneHuey(LeasedSqliteStorage("test", str(tmp_path / "tasks.db"), lease_seconds=30), registry)
    envelope = Envelope(kind="task", type="example.log", payload={"n": 1}, correlation_id="corr-9", run_id="run-9",
                        step_id="welcome_email")
    options = TaskOptions(queue="test", priority=Priority.MEDIUM, retry=RetryPolicy(attempts=1), timeout=None)

    # When it runs
    huey.execute(huey.build_task(envelope, options))
    huey.leased.close()

    # Then the handler's line and Huey's own lines around it carry the task's ids
    lines = json_lines()
    assert any(line["message"] == "handling 1" for line in lines)
    assert len(lines) >= 3  # "Executing …", the handler's, "… executed in …"
    for line in lines:
        assert (line["task"], line["task_id"]) == ("example.log", envelope.id), line
        assert (line["run_id"], line["step_id"], line["correlation_id"]) == ("run-9", "welcome_email", "corr-9"), line
