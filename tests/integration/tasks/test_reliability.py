"""Nothing is lost: killed workers, SIGTERM with long tasks, a Redis restart, Redis down at commit."""

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.api.app import create_app
from app.plane.tasks.inspect import TaskInspector
from app.plane.tasks.worker import SAME_STOP_SECONDS
from tests.e2e.processes import poll
from tests.integration.accounts import new_user
from tests.integration.tasks.conftest import PlaneWorld
from tests.servers import OwnRedis


def _events(rows: list[dict[str, Any]], tag: str) -> list[tuple[str, int]]:
    return [(row["event"], row["pid"]) for row in rows if row["tag"] == tag]


def test_a_task_whose_worker_is_killed_runs_to_completion_on_another(world: PlaneWorld) -> None:
    container = world.container()
    first = world.start_worker(concurrency=1)
    container.plane.enqueue("test.nap", {"log": world.log, "tag": "long", "seconds": 2})
    world.wait_for("the task to start", lambda rows: len(_events(rows, "long")) == 1)
    # When the whole worker dies at once, mid-task (kill -9, as the OOM killer would)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    # Then after the lease (1 s) another worker takes it and finishes it
    world.start_worker(concurrency=1)
    rows = world.wait_for("the task to finish", lambda rows: any(e == "end" for e, _ in _events(rows, "long")))
    events = _events(rows, "long")
    assert [event for event, _ in events] == ["start", "start", "end"]
    assert events[0][1] != events[1][1] == events[2][1]


def test_a_healthy_long_task_keeps_its_lease_and_runs_once(world: PlaneWorld) -> None:
    container = world.container()
    world.start_worker(concurrency=2)
    world.start_worker(concurrency=2)  # a second worker that would steal an expired lease
    container.plane.enqueue("test.nap", {"log": world.log, "tag": "steady", "seconds": 3})  # three leases long
    rows = world.wait_for("the long task", lambda rows: any(e == "end" for e, _ in _events(rows, "steady")))
    assert [event for event, _ in _events(rows, "steady")] == ["start", "end"]


def test_a_task_stuck_past_its_timeout_is_given_up_and_runs_again(world: PlaneWorld) -> None:
    # Given a task that swallows its timeout's interrupt (0.5 s) and would otherwise run for ever
    container = world.container()
    world.start_worker(concurrency=1)
    container.plane.enqueue("test.stubborn", {"log": world.log, "tag": "stubborn"})
    # Then a lease after its timeout its process says where it was stuck, ends the attempt as timed out and exits;
    # the consumer starts another process, where the second attempt ends
    rows = world.wait_for("the stuck task's second attempt",
                          lambda rows: any(row["event"] == "end" for row in rows if row["tag"] == "stubborn"))
    runs = [(row["event"], row["attempt"], row["pid"]) for row in rows if row["tag"] == "stubborn"]
    assert [(event, attempt) for event, attempt, _ in runs] == [("start", 1), ("start", 2), ("end", 2)]
    assert runs[0][2] != runs[1][2] == runs[2][2]
    output = world.worker_output(0)
    assert "ignored the interrupt" in output and "in stubborn" in output, output
    assert "died, restarting" in output


def test_a_task_stuck_at_every_attempt_ends_as_a_dead_letter(world: PlaneWorld) -> None:
    container = world.container()
    world.start_worker(concurrency=1)
    task = container.plane.enqueue("test.stubborn", {"log": world.log, "tag": "always", "always": True})
    inspector = TaskInspector(container.huey, container.plane, container.engine)
    view = poll(lambda: v if (v := inspector.get(task.id)) and v.state == "dead" else None, timeout=30,
                what="the stuck task's dead letter")
    assert view.attempt == 2 and "TaskTimeout: ignored its interrupt" in (view.error or "")
    # and it is not run again: the worker has moved on
    container.plane.enqueue("test.record", {"log": world.log, "tag": "after"})
    rows = world.wait_for("the next task", lambda rows: any(row["tag"] == "after" for row in rows))
    assert [row["attempt"] for row in rows if row["tag"] == "always"] == [1, 2]


def test_sigterm_lets_a_short_task_finish_within_the_grace(world: PlaneWorld) -> None:
    container = world.container()
    worker = world.start_worker(concurrency=1)
    container.plane.enqueue("test.nap", {"log": world.log, "tag": "short", "seconds": 1.5})
    world.wait_for("the task to start", lambda rows: len(_events(rows, "short")) == 1)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 0
    assert [event for event, _ in _events(world.records(), "short")] == ["start", "end"]


def test_sigterm_hands_back_a_task_that_outlasts_the_grace(world: PlaneWorld) -> None:
    container = world.container()
    worker = world.start_worker(concurrency=1, FLOWPLANE_TASKS__SHUTDOWN_GRACE="500ms")
    container.plane.enqueue("test.nap", {"log": world.log, "tag": "outlasts", "seconds": 2})
    world.wait_for("the task to start", lambda rows: len(_events(rows, "outlasts")) == 1)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=20)
    assert "interrupting workers" in world.worker_output(0)
    # It went straight back to the queue (no lease wait), and the next worker finishes it
    assert container.huey.leased.counts().active == 0
    world.start_worker(concurrency=1)
    rows = world.wait_for("the handed-back task", lambda rows: any(e == "end" for e, _ in _events(rows, "outlasts")))
    assert [event for event, _ in _events(rows, "outlasts")] == ["start", "start", "end"]


@pytest.fixture
def own_redis(tmp_path: Path) -> Any:
    if not OwnRedis.available():
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_a_worker_survives_a_redis_restart_and_nothing_is_lost(world: PlaneWorld, own_redis: OwnRedis) -> None:
    world.env["FLOWPLANE_REDIS__URL"] = own_redis.url
    container = world.container()
    world.start_worker(concurrency=2)
    before = [container.plane.enqueue("test.record", {"log": world.log, "tag": f"b{i}"}).id for i in range(5)]
    world.wait_for("tasks before the restart", lambda rows: len(rows) == 5)
    # When Redis goes away: tasks enqueued now stay in the outbox, tasks queued earlier are on disk
    container.huey.leased.pause()
    queued = [container.plane.enqueue("test.record", {"log": world.log, "tag": f"q{i}"}).id for i in range(5)]
    own_redis.stop()
    during = [container.plane.enqueue("test.record", {"log": world.log, "tag": f"d{i}"}).id for i in range(5)]
    own_redis.start()
    container.huey.leased.resume()
    # Then the worker reconnects and every task runs exactly once
    rows = world.wait_for("every task after the restart", lambda rows: len(rows) == 15, timeout=45)
    assert sorted(row["id"] for row in rows) == sorted(before + queued + during)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_registration_with_redis_down_still_sends_the_welcome_mail(world: PlaneWorld, own_redis: OwnRedis) -> None:
    world.env["FLOWPLANE_REDIS__URL"] = own_redis.url
    container = world.container()
    own_redis.stop()
    # Given Redis is down at commit time, registration still succeeds
    with TestClient(create_app(container)) as client:
        response = client.post("/api/users", json=new_user(email="late.mail@example.com"))
    assert response.status_code == 201
    # When Redis is back and a worker runs, the relay sends the welcome mail
    own_redis.start()
    world.start_worker(concurrency=1)
    mail_dir = world.directory / "mail"
    mails = poll(lambda: list(mail_dir.glob("*.eml")) or None, timeout=30, what="the welcome mail")
    assert len(mails) == 1
    assert "To: late.mail@example.com" in mails[0].read_text()
    assert "password" not in mails[0].read_text().lower()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("also_to_the_main_process", [False, True], ids=["group", "group-and-supervisor"])
def test_a_signal_to_the_whole_process_group_lets_every_task_finish(world: PlaneWorld, signum: int,
                                                                    also_to_the_main_process: bool) -> None:
    # Given four tasks running at once on four worker processes
    container = world.container()
    worker = world.start_worker(concurrency=4)
    tags = [f"group-{n}" for n in range(4)]
    for tag in tags:
        container.plane.enqueue("test.nap", {"log": world.log, "tag": tag, "seconds": 1.5})
    world.wait_for("all four to start", lambda rows: all(_events(rows, tag) for tag in tags))
    # When the signal reaches every process of the worker (systemd's KillMode, Ctrl-C in a terminal)
    os.killpg(worker.pid, signum)
    if also_to_the_main_process:  # `flowplane up` forwards the stop while systemd signals the whole cgroup
        worker.send_signal(signum)
    assert worker.wait(timeout=20) == 0
    # Then each finished once, within the grace: none was interrupted, none runs again
    rows = world.records()
    assert {tag: [event for event, _ in _events(rows, tag)] for tag in tags} == {tag: ["start", "end"] for tag in tags}
    counts = container.huey.leased.counts()
    assert (sum(counts.pending.values()), counts.scheduled, counts.active) == (0, 0, 0)


def test_a_group_signal_still_hands_back_a_task_that_outlasts_the_grace(world: PlaneWorld) -> None:
    container = world.container()
    worker = world.start_worker(concurrency=1, FLOWPLANE_TASKS__SHUTDOWN_GRACE="500ms")
    container.plane.enqueue("test.nap", {"log": world.log, "tag": "long", "seconds": 3})
    world.wait_for("the task to start", lambda rows: len(_events(rows, "long")) == 1)
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(timeout=20)
    assert "interrupting workers" in world.worker_output(0)
    counts = container.huey.leased.counts()
    assert (sum(counts.pending.values()), counts.active) == (1, 0)  # back in the queue at once, no lease wait


def test_a_second_stop_request_interrupts_at_once(world: PlaneWorld) -> None:
    container = world.container()
    worker = world.start_worker(concurrency=1)
    container.plane.enqueue("test.nap", {"log": world.log, "tag": "impatient", "seconds": 30})
    world.wait_for("the task to start", lambda rows: len(_events(rows, "impatient")) == 1)
    worker.send_signal(signal.SIGTERM)
    poll(lambda: "Shutting down gracefully" in world.worker_output(0) or None, timeout=10, what="the graceful stop")
    # The operator insists: a second request, later than one stop delivered twice could be
    time.sleep(SAME_STOP_SECONDS + 0.2)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0
    assert [event for event, _ in _events(world.records(), "impatient")] == ["start"]  # interrupted, not finished
    counts = container.huey.leased.counts()
    assert (sum(counts.pending.values()), counts.active) == (1, 0)  # and handed back
