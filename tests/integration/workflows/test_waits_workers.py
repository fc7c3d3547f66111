"""Waits with real worker processes: the worker's sweep fires timers when the test's clock (shared through
FLOWPLANE_TEST_CLOCK) says so, parked runs outlive every process (kill -9 of the worker, a new api
container), and runs parked on a workflow version finish on it after the file is edited."""

import os
import signal
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, col

from app.clock import TEST_CLOCK, FileOffsetClock
from app.db.models import StepRun, WorkflowRun
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import PRODUCTION_AND_EMBEDDED, start, write_workflow

PARKED = """name = "parked"

[input]
user_id = "str"

[[steps]]
id = "nap"
wait = "1h"

[[steps]]
id = "verified"
wait_for = "user.created"
match = { user_id = "{{ input.user_id }}" }
timeout = "3h"

[[steps]]
id = "done"
task = "test.record"
after = ["nap", "verified"]
payload = { log = "{{ input.log }}", tag = "{{ input.user_id }}" }
"""


def _setup(world: PlaneWorld, database_url: str, tmp_path: Path, text: str = PARKED) -> FileOffsetClock:
    directory = tmp_path / "workflows"
    write_workflow(directory, "parked", text.replace('user_id = "str"', 'user_id = "str"\nlog = "str"'))
    clock_file = tmp_path / "clock"
    world.env |= {"FLOWPLANE_DATABASE__URL": database_url, "FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory),
                  TEST_CLOCK: str(clock_file)}
    return FileOffsetClock(clock_file)


def _count(world: PlaneWorld, *where: object) -> int:
    with Session(world.containers[0].engine) as db:
        return int(db.execute(select(func.count()).select_from(StepRun).where(*where)).scalar_one())


LEASE = "5s"


@pytest.mark.parametrize(("backend", "database_url"), PRODUCTION_AND_EMBEDDED, indirect=True)
def test_parked_runs_outlive_every_process_and_finish_once(world: PlaneWorld, database_url: str, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 1,000 runs parked on a timer and an event wait, and a worker running
    clock = _setup(world, database_url, tmp_path)
    monkeypatch.setenv(TEST_CLOCK, world.env[TEST_CLOCK])  # this process's containers read the same clock
    api = world.container()
    # A lease of 5 s, not the task tests' 1 s: 2,000 steps through 4 processes on a loaded CI machine can miss a
    # second of heartbeats, and a lapsed lease runs a task twice (at least once), which this test would count
    worker = world.start_worker(concurrency=4, FLOWPLANE_TASKS__LEASE=LEASE)
    users = [f"u{number}-{uuid.uuid4().hex[:4]}" for number in range(1000)]
    for user_id in users:
        start(api, "parked", {"user_id": user_id, "log": world.log})
    assert _count(world, col(StepRun.status) == "waiting", col(StepRun.due_at).is_not(None)) == 2000
    # When every process goes: the worker killed -9, the api's container dropped
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    api.close()
    world.containers.clear()
    # Then new ones carry on: half the users verify, an hour passes (the timers), then three (the time-outs)
    api = world.container()
    world.start_worker(concurrency=4, FLOWPLANE_TASKS__LEASE=LEASE)
    for user_id in users[:500]:
        api.plane.publish("user.created", {"user_id": user_id, "email": "x@example.com", "name": "X"})
    clock.advance(timedelta(hours=1))
    poll(lambda: _count(world, col(StepRun.step_id) == "nap", col(StepRun.status) == "succeeded") == 1000 or None,
         timeout=120, what="the timers to fire")
    clock.advance(timedelta(hours=2))
    rows = world.wait_for("every run to finish", lambda rows: len(rows) >= 1000, timeout=180)
    # And each run finished exactly once, with the outcome its event (or its absence) says
    assert sorted(row["tag"] for row in rows) == sorted(users)
    with Session(api.engine) as db:
        statuses = db.execute(select(WorkflowRun.status, func.count()).group_by(WorkflowRun.status)).all()
        timed_out = db.execute(select(func.count()).select_from(StepRun).where(
            col(StepRun.step_id) == "verified", col(StepRun.output).contains('"timed_out": true'))).scalar_one()
    poll(lambda: dict(_statuses(api)) == {"succeeded": 1000} or None, timeout=60, what="the runs to succeed")
    assert timed_out == 500, statuses


def _statuses(container: object) -> list[tuple[str, int]]:
    with Session(container.engine) as db:  # type: ignore[attr-defined]
        return [(status, count) for status, count in
                db.execute(select(WorkflowRun.status, func.count()).group_by(WorkflowRun.status))]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_runs_parked_on_a_version_finish_on_it_after_an_edit(world: PlaneWorld, database_url: str,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _setup(world, database_url, tmp_path)
    monkeypatch.setenv(TEST_CLOCK, world.env[TEST_CLOCK])
    api = world.container(FLOWPLANE_WORKFLOWS__RELOAD_INTERVAL="0s")
    world.start_worker(concurrency=2, FLOWPLANE_WORKFLOWS__RELOAD_INTERVAL="200ms")
    old = start(api, "parked", {"user_id": "before", "log": world.log})
    # When the file is edited while the run is parked: the final step renamed, the timer made a week
    edited = PARKED.replace('id = "done"', 'id = "finished"').replace('wait = "1h"', 'wait = "7d"')
    _setup(world, database_url, tmp_path, edited)
    clock.advance(timedelta(hours=1))
    api.plane.publish("user.created", {"user_id": "before", "email": "x@example.com", "name": "X"})
    # Then the parked run finishes on its own version: its hour-long timer, its step names
    world.wait_for("the old run to finish", lambda rows: any(row["tag"] == "before" for row in rows), timeout=60)
    with Session(api.engine) as db:
        names = set(db.execute(select(StepRun.step_id).where(col(StepRun.run_id) == old)).scalars())
    assert names == {"nap", "verified", "done"}
    assert clock.now()  # the clock only moved forward
