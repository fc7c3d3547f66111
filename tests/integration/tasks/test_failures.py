"""Timeouts, permanent errors, dead letters and their retry, on Redis and on SQLite."""

from pathlib import Path

from app.plane.tasks.inspect import TaskInspector
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import PlaneWorld


def _inspector(world: PlaneWorld) -> TaskInspector:
    container = world.container()
    return TaskInspector(container.huey, container.plane, container.engine)


def test_timeout_is_retried_then_dead_and_the_worker_keeps_working(world: PlaneWorld) -> None:
    inspector = _inspector(world)
    world.start_worker(concurrency=1)
    # Given a task that naps 30 s with a 0.5 s timeout and 2 attempts
    slow = inspector.plane.enqueue("test.nap", {"log": world.log, "tag": "slow", "seconds": 30},
                                   timeout=__import__("datetime").timedelta(milliseconds=500))
    # Then both attempts are stopped, and it is dead with a timeout error
    view = poll(lambda: inspector.get(slow.id) if (v := inspector.get(slow.id)) and v.state == "dead" else None,
                timeout=30, what="the timed-out task to be dead")
    assert view.attempt == 2 and "TaskTimeout" in (view.error or "")
    starts = [row for row in world.records() if row["tag"] == "slow"]
    assert [row["event"] for row in starts] == ["start", "start"]
    # And the single worker process still runs the next task
    inspector.plane.enqueue("test.record", {"log": world.log, "tag": "after"})
    world.wait_for("the task after the timeouts", lambda rows: any(r["tag"] == "after" for r in rows))


def test_permanent_error_skips_retries_and_dead_letter_retry_runs_again(world: PlaneWorld) -> None:
    inspector = _inspector(world)
    world.start_worker()
    task = inspector.plane.enqueue("test.permanent", {"log": world.log, "tag": "perm"})
    view = poll(lambda: v if (v := inspector.get(task.id)) and v.state == "dead" else None, timeout=30,
                what="a dead letter")
    assert view.attempt == 1 and view.max_attempts == 4
    assert "PermanentError: the payload cannot be handled" in (view.error or "")
    assert "Traceback" in (view.traceback or "") and "raise PermanentError" in (view.traceback or "")
    assert view.payload == {"log": world.log, "tag": "perm"}
    assert inspector.list("dead").total == 1
    assert inspector.stats()["dead"] == 1
    # When the cause is fixed and an operator retries it
    Path(world.log + ".fixed").touch()
    assert inspector.retry(task.id)
    # Then it runs again, under the same id, and is no longer dead
    rows = world.wait_for("the retried task", lambda rows: len([r for r in rows if r["tag"] == "perm"]) == 2)
    assert {row["id"] for row in rows} == {task.id}
    assert inspector.get(task.id) is None or inspector.get(task.id).state != "dead"  # type: ignore[union-attr]
    assert inspector.list("dead").total == 0


def test_exhausted_retries_are_dead_with_every_attempt_counted(world: PlaneWorld) -> None:
    inspector = _inspector(world)
    world.start_worker()
    task = inspector.plane.enqueue("test.flaky", {"log": world.log, "tag": "never", "fail_times": 99})
    view = poll(lambda: v if (v := inspector.get(task.id)) and v.state == "dead" else None, timeout=30,
                what="a dead letter")
    assert view.attempt == 4 and "RuntimeError: planned failure 4" in (view.error or "")
    assert [row["attempt"] for row in world.records()] == [1, 2, 3, 4]
    stats = inspector.stats()
    assert stats["failed_last_hour"] == 4 and stats["processed_last_hour"] == 0
    # Delete and purge
    assert inspector.delete(task.id)
    assert inspector.list("dead").total == 0
    assert inspector.purge_dead() == 0
