"""A worker's batch, driven in this process the way a worker process drives it (take, run, take): quick step
tasks are taken several at once and their successes recorded in one transaction, before their acks; a batch
whose recording meets a database outage loses nothing and spends no attempt; a slow task hands the rest of
its batch back to the queue, so nothing waits behind it."""

import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.availability import Unavailable
from app.bootstrap import Container
from app.plane.tasks.handling import Succeeded
from app.workflows.views import run_detail
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import PlaneWorld
from tests.integration.workflows.conftest import start, step_lines, write_workflow
from tests.proxy import TcpProxy

CHAIN = """name = "chain"

[input]
log = "str"

[[steps]]
id = "first"
task = "test.step"
payload = { log = "{{ input.log }}", seconds = 0 }

[[steps]]
id = "second"
task = "test.step"
after = ["first"]
payload = { log = "{{ input.log }}", seconds = 0 }
"""

pytestmark = pytest.mark.parametrize(("backend", "database_url"), [("redis", "postgresql")], indirect=True)


def _plane(world: PlaneWorld, tmp_path: Path, database_url: str, **env: str) -> Container:
    directory = tmp_path / "flows"
    write_workflow(directory, "chain", CHAIN)
    world.env |= {"FLOWPLANE_WORKFLOWS__DIRECTORY": str(directory), "FLOWPLANE_DATABASE__URL": database_url,
                  "FLOWPLANE_TASKS__BATCH": "16"}
    return world.container(**env)


def _work(container: Container, done: Callable[[], bool], timeout: float = 30) -> None:
    """A worker process's loop, here: take, run, until ``done``; due retries promoted as the housekeeper would."""
    huey, deadline = container.huey, time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the work did not finish in time"
        task = huey.dequeue()
        if task is not None:
            huey.execute(task)
        else:
            huey.leased.promote_due(datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=10))
    huey.flush_ack()


def _statuses(container: Container, run_ids: list[str]) -> dict[str, list[tuple[str, int]]]:
    """Each run's status, and each step's (status, attempts)."""
    details = {run_id: run_detail(container.engine, run_id) for run_id in run_ids}
    return {run_id: [detail["status"], *((step["status"], step["attempts"]) for step in detail["steps"])]
            for run_id, detail in details.items() if detail is not None}


def _finished(container: Container, run_ids: list[str]) -> bool:
    try:
        return all(status[0] != "running" for status in _statuses(container, run_ids).values())
    except Unavailable:  # the database just came back: the engine's backoff after the outage has not run out
        return False


def _batches(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    record = container.runner.steps_succeeded

    def counted(outcomes: list[Succeeded]) -> None:
        record(outcomes)
        sizes.append(len(outcomes))  # once recorded

    monkeypatch.setattr(container.runner, "steps_succeeded", counted)
    return sizes


def test_quick_steps_are_taken_together_and_recorded_in_one_transaction(
        world: PlaneWorld, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    container = _plane(world, tmp_path, database_url)
    recorded = _batches(container, monkeypatch)
    log = tmp_path / "steps.log"
    # Given 20 runs whose first steps are queued
    runs = [start(container, "chain", {"log": str(log)}) for _ in range(20)]
    # When one worker works them off
    _work(container, lambda: _finished(container, runs))
    # Then every run succeeded, every step once, in one attempt
    assert _statuses(container, runs) == {run: ["succeeded", ("succeeded", 1), ("succeeded", 1)] for run in runs}
    assert len(step_lines(log)) == 40
    # And the successes were recorded in batches, every one of them
    assert sum(recorded) == 40 and max(recorded) > 1, recorded
    # And nothing is left queued, running or held
    counts = container.huey.leased.counts()
    assert (sum(counts.pending.values()), counts.scheduled, counts.active) == (0, 0, 0)


def test_a_batch_whose_recording_meets_a_database_outage_runs_again_as_the_same_attempt(
        world: PlaneWorld, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    address = urlsplit(database_url)
    proxy = TcpProxy(address.hostname or "127.0.0.1", address.port or 5432)
    try:
        through = database_url.replace(f"{address.hostname}:{address.port}", f"127.0.0.1:{proxy.port}")
        container = _plane(world, tmp_path, through, FLOWPLANE_DATABASE__BACKOFF="0.2s")
        log = tmp_path / "steps.log"
        runs = [start(container, "chain", {"log": str(log)}) for _ in range(8)]
        huey = container.huey
        first = huey.dequeue()  # one, then the others together once it ran quickly
        assert first is not None
        huey.execute(first)
        # Given the database refuses connections while the worker runs a batch of first steps
        proxy.refuse()
        ran = len(step_lines(log))
        while (task := huey.dequeue()) is not None:
            huey.execute(task)
        huey.flush_ack()
        # Then their tasks ran (7 first steps, and the second step of the run recorded before), and each waits on
        # the schedule to run again: none is lost, none left leased
        assert len(step_lines(log)) - ran == 8
        counts = huey.leased.counts()
        assert (sum(counts.pending.values()), counts.scheduled, counts.active) == (0, 8, 0)
        # When the database is back
        proxy.forward()
        _work(container, lambda: _finished(container, runs))
        # Then every run finished, and the outage spent no attempt of any step
        assert _statuses(container, runs) == {run: ["succeeded", ("succeeded", 1), ("succeeded", 1)]
                                              for run in runs}
    finally:
        proxy.close()


def test_a_slow_task_hands_the_rest_of_its_batch_back(world: PlaneWorld, tmp_path: Path, database_url: str) -> None:
    container = _plane(world, tmp_path, database_url)
    huey, log = container.huey, str(tmp_path / "tasks.log")
    container.plane.enqueue("test.record", {"log": log, "tag": "quick"})
    tags = [f"nap-{uuid.uuid4().hex[:4]}-{n}" for n in range(5)]
    for tag in tags:
        container.plane.enqueue("test.nap", {"log": log, "tag": tag, "seconds": 0.1})
    quick = huey.dequeue()
    assert quick is not None
    huey.execute(quick)
    # Given a worker whose last task ran quickly takes the five naps at once
    slow = huey.dequeue()
    assert slow is not None
    assert huey.leased.counts().active == 5
    # When the first of them runs slowly
    huey.execute(slow)
    # Then the other four are back in the queue for any worker, and this one holds none
    counts = huey.leased.counts()
    assert (sum(counts.pending.values()), counts.active) == (4, 1)  # its own, acked with the next take
    assert huey.held_leases() == [huey.batches.current().acks[0].handle]
    # And they all still run, once each
    seen: dict[str, Any] = {}
    _work(container, lambda: len(seen.update({row["tag"]: row for row in _ended(log)}) or seen) == 5)
    assert sorted(seen) == sorted(tags)


def _ended(log: str) -> list[dict[str, Any]]:
    return [row for row in step_lines(Path(log)) if row.get("event") == "end"]


def test_the_worker_that_records_a_step_runs_the_next_itself_and_a_lost_worker_loses_it_to_the_queue(
        world: PlaneWorld, tmp_path: Path, database_url: str) -> None:
    container = _plane(world, tmp_path, database_url)
    huey, storage, log = container.huey, container.huey.leased, tmp_path / "steps.log"
    run = start(container, "chain", {"log": str(log)})
    first = huey.dequeue()
    assert first is not None
    # When the worker runs the first step and records it
    huey.execute(first)
    # Then the second step is leased to this worker, not queued: no hop through the queue, no other taker
    counts = storage.counts()
    assert (sum(counts.pending.values()), counts.active) == (0, 2)  # the first's lease goes with the next take
    assert _statuses(container, [run])[run][2] == ("ready", 0)
    # And if the worker is lost now, its lease runs out and the step goes back to the queue for another
    assert storage.reap(now=time.time() + storage.lease_seconds + 1) == 2
    other = world.container()
    _work(other, lambda: _finished(other, [run]))
    assert _statuses(container, [run]) == {run: ["succeeded", ("succeeded", 1), ("succeeded", 1)]}
    assert [line["step"] for line in step_lines(log)] == ["first", "first", "second"]  # the first ran again: unacked


def test_a_worker_killed_mid_batch_loses_no_step(world: PlaneWorld, tmp_path: Path, database_url: str) -> None:
    container = _plane(world, tmp_path, database_url)
    log = tmp_path / "steps.log"
    runs = [start(container, "chain", {"log": str(log)}) for _ in range(300)]
    worker = world.start_worker(concurrency=1)
    # Given a worker working off quick steps in batches, when it is killed -9 halfway
    poll(lambda: len(step_lines(log)) >= 150 or None, timeout=60, what="half the steps to run")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    # Then another worker finishes every run: what the first had taken, run or not, comes back after its lease
    world.start_worker(concurrency=1)
    poll(lambda: _finished(container, runs) or None, timeout=120, what="every run to finish")
    assert _statuses(container, runs) == {run: ["succeeded", ("succeeded", 1), ("succeeded", 1)] for run in runs}
    ran = {(line["run"], line["step"]) for line in step_lines(log)}
    assert ran == {(run, step) for run in runs for step in ("first", "second")}
    # Some ran twice (at least once): what it had taken or not yet acked, and sends whose outbox rows it had not yet
    # deleted, which the relay sends again; their second outcome changes nothing, as the statuses show
