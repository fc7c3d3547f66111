"""One copy per task id: a task sent again while the queue holds it (queued, scheduled or leased) adds
nothing, so a resend never runs beside the first copy. On Redis and on SQLite."""

import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import func, select
from sqlmodel import Session

from app.db.models import OutboxMessage
from app.plane.envelope import Envelope
from app.plane.tasks import dead
from app.plane.tasks.policy import TaskOptions
from app.plane.tasks.storage import Ack
from tests.e2e.processes import poll
from tests.integration.tasks.conftest import PlaneWorld


def _task(world: PlaneWorld, tag: str, task_type: str = "test.record", **payload: Any) -> tuple[Envelope, TaskOptions]:
    container = world.containers[0] if world.containers else world.container()
    spec = container.registry[task_type]
    return (Envelope(kind="task", type=task_type, payload={"log": world.log, "tag": tag, **payload}),
            TaskOptions(queue=container.settings.tasks.queue, priority=spec.priority, retry=spec.retry,
                        timeout=spec.timeout))


def _held(world: PlaneWorld) -> tuple[int, int, int]:
    counts = world.containers[0].huey.leased.counts()
    return sum(counts.pending.values()), counts.scheduled, counts.active


def test_a_task_sent_twice_is_queued_once(world: PlaneWorld) -> None:
    container = world.container()
    envelope, options = _task(world, "twice")
    container.huey.send(envelope, options)
    container.huey.send(envelope, options)
    assert _held(world) == (1, 0, 0)


def test_a_scheduled_task_sent_again_is_not_queued_beside_it(world: PlaneWorld) -> None:
    container = world.container()
    envelope, options = _task(world, "later")
    later = replace(options, eta=datetime.now(UTC) + timedelta(hours=1))
    container.huey.send(envelope, later)
    container.huey.send(envelope, options)  # a resend without its delay
    assert _held(world) == (0, 1, 0)


def test_a_running_task_holds_its_id_until_its_ack(world: PlaneWorld) -> None:
    container = world.container()
    storage = container.huey.leased
    envelope, options = _task(world, "leased")
    container.huey.send(envelope, options)
    leased = storage.take()
    assert leased is not None
    container.huey.send(envelope, options)  # the relay's resend while the first copy runs
    assert _held(world) == (0, 0, 1)
    storage.ack(leased[0], task_id=envelope.id)
    container.huey.send(envelope, options)  # after the ack, a send is a new delivery (handlers dedupe it)
    assert _held(world) == (1, 0, 0)


def test_a_retry_keeps_the_hold_when_its_old_lease_is_acked(world: PlaneWorld) -> None:
    container = world.container()
    huey, storage = container.huey, container.huey.leased
    envelope, options = _task(world, "retried")
    huey.send(envelope, options)
    handle, data = storage.take() or (None, b"")
    task = huey.deserialize_task(data)
    task._lease = handle  # as the worker's dequeue marks it
    # Given the task failed and was scheduled again under its id (a retry), then its old lease acked
    huey._requeue_task(task, datetime.now(UTC).replace(tzinfo=None))
    storage.take(Ack(handle, task_id=envelope.id))
    # Then the retry still holds the id: a resend adds nothing
    huey.send(envelope, options)
    assert _held(world) == (0, 1, 0)


PRODUCER = """
import os, sys
from app.bootstrap import build
from app.config import load_settings
container = build(load_settings())
container.huey.leased.pause()
container.plane.enqueue("test.record", {"log": sys.argv[1], "tag": "resent"})
os._exit(0)  # killed after the fast path sent the row, before the row's delete (it lingers 0.1 s)
"""


def test_a_resend_of_a_waiting_task_after_the_sender_died_runs_once(world: PlaneWorld) -> None:
    # Given a producer that sent a task and died before deleting its outbox row, while the queue is paused
    # (the first copy waits in a backlog)
    subprocess.run([sys.executable, "-c", PRODUCER, world.log], cwd=world.directory, env={**world.env},
                   check=True, timeout=60)
    container = world.container()
    with Session(container.engine) as db:
        assert db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1
    # When a worker's relay sends the row again
    world.start_worker()

    def outbox_empty() -> bool | None:
        with Session(container.engine) as db:
            return db.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0 or None

    poll(outbox_empty, timeout=30, what="the relay to resend the row")
    assert _held(world) == (1, 0, 0)  # the queue refused the second copy
    container.huey.leased.resume()
    # Then the task runs once
    world.wait_for("the task to run", lambda rows: len(rows) >= 1)
    poll(lambda: _held(world) == (0, 0, 0) or None, timeout=30, what="the queue to drain")
    assert [row["tag"] for row in world.records()] == ["resent"]


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_every_redis_key_starts_with_the_key_prefix(world: PlaneWorld) -> None:
    container = world.container()
    storage = container.huey.leased
    prefix = world.env["FLOWPLANE_REDIS__KEY_PREFIX"]
    # Given every kind of key the plane writes: queued, scheduled, leased, acked and counted, paused
    now, later = _task(world, "now"), _task(world, "later")
    container.huey.send(*now)
    container.huey.send(later[0], replace(later[1], eta=datetime.now(UTC) + timedelta(hours=1)))
    container.huey.send(*_task(world, "leased"))
    handle, _ = storage.take() or (None, b"")
    storage.ack(handle, "processed", task="test.record", seconds=0.01, task_id=now[0].id)
    storage.pause()
    # Then each one starts with redis.key_prefix, as docs/task-plane.md says
    client = Redis.from_url(world.env["FLOWPLANE_REDIS__URL"])
    keys = sorted(key.decode() for key in client.scan_iter(f"*{prefix}*"))
    client.close()
    assert keys and all(key.startswith(prefix) for key in keys), keys


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_tasks_under_hueys_own_key_names_are_moved_under_the_prefix(world: PlaneWorld) -> None:
    name = world.env["FLOWPLANE_REDIS__KEY_PREFIX"] + "default"
    client = Redis.from_url(world.env["FLOWPLANE_REDIS__URL"])
    # Given a task a version before this one queued under Huey's key name
    older = world.container()
    envelope, options = _task(world, "older")
    older.huey.send(envelope, options)
    member = client.zrange(f"{name}:queue", 0, -1)[0]
    client.delete(f"{name}:queue")
    client.zadd(f"huey.redis.{name}", {member: -5})
    # When a process of this version starts, it moves it under the prefix
    world.container()
    assert client.exists(f"huey.redis.{name}") == 0
    assert client.zrange(f"{name}:queue", 0, -1) == [member]
    client.close()


def _leased(world: PlaneWorld, tag: str, task_type: str = "test.record", **payload: Any) -> Any:
    """A task sent, then taken as a worker takes it: (huey, its Huey task with the lease, the envelope)."""
    container = world.containers[0] if world.containers else world.container()
    envelope, options = _task(world, tag, task_type, **payload)
    container.huey.send(envelope, options)
    handle, data = container.huey.leased.take() or (None, b"")
    task = container.huey.deserialize_task(data)
    task._lease = handle
    return container.huey, task, envelope


def test_a_task_taken_before_its_eta_goes_back_to_the_schedule_and_keeps_its_hold(world: PlaneWorld) -> None:
    # Given a worker whose clock is behind the housekeeper's: it takes a task it finds not yet due
    huey, task, envelope = _leased(world, "early")
    task.eta = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    huey.execute(task)
    huey.flush_ack()
    # Then it is scheduled again, not lost, and still holds its id
    assert _held(world) == (0, 1, 0)
    huey.send(envelope, _task(world, "early")[1])
    assert _held(world) == (0, 1, 0)


def test_a_retry_that_cannot_be_scheduled_is_not_acked(world: PlaneWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    huey, task, _ = _leased(world, "unlucky", "test.flaky", fail_times=9)

    def broken(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("the schedule could not be written")

    # Given its handler fails and the retry cannot be written to the schedule
    monkeypatch.setattr(huey.leased, "add_to_schedule", broken)
    huey.execute(task)
    huey.flush_ack()
    # Then the task stays leased: the lease lapses and it runs again, instead of being acked and lost
    assert _held(world) == (0, 0, 1)


def test_a_message_no_worker_can_read_is_dead_lettered_and_frees_its_id(world: PlaneWorld) -> None:
    container = world.container()
    huey, storage = container.huey, container.huey.leased
    envelope, options = _task(world, "unknown")
    # Given a message for a task type this worker does not know (a newer version sent it)
    message = huey._registry.create_message(huey.build_task(envelope, options))._replace(name="flowplane.newer.task")
    assert storage.enqueue(huey.serializer.serialize(message), 5, task_id=envelope.id)
    # When a worker takes it
    assert huey.dequeue() is None
    # Then it is kept as a dead letter, and its id is free for the operator's retry
    assert dead.get(container.engine, envelope.id) is not None
    assert _held(world) == (0, 0, 0)
    assert dead.retry(container.engine, container.plane, envelope.id)
    assert _held(world) == (1, 0, 0)


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_the_plane_runs_under_a_redis_acl_scoped_to_its_prefix(world: PlaneWorld) -> None:
    prefix = world.env["FLOWPLANE_REDIS__KEY_PREFIX"]
    user, password = f"fp-acl-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = Redis.from_url(world.env["FLOWPLANE_REDIS__URL"])
    admin.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=[f"{prefix}*"], channels=["*"],
                      commands=["+@all"])
    try:
        # Given a Redis user that may touch only keys under the prefix (docs/task-plane.md promises nothing else)
        url = world.env["FLOWPLANE_REDIS__URL"].replace("redis://", f"redis://{user}:{password}@", 1)
        container = world.container(FLOWPLANE_REDIS__URL=url)
        # Then a process starts, sends, takes and acks
        envelope, options = _task(world, "scoped")
        container.huey.send(envelope, options)
        handle, _ = container.huey.leased.take() or (None, b"")
        container.huey.leased.ack(handle, "processed", task="test.record", task_id=envelope.id)
        assert container.huey.leased.counts().active == 0
    finally:
        admin.acl_deluser(user)
        admin.close()
